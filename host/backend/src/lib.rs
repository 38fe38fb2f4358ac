//! `gamecode-backend`: the contract between gamecode tooling and LLM providers.
//!
//! This crate holds the [`LLMBackend`] trait, the chat types it speaks, the typed
//! [`BackendError`] with its retry categories, and the provider-neutral retry policy
//! ([`RetryConfig`], [`RetryBudget`], [`retry_with_policy`]). It depends on neither AWS
//! nor wasmtime, so a plugin host and a backend implementation can both use it without
//! pulling in each other's dependencies.

mod attempts;
mod backend;
mod error;
pub mod media;
pub mod model;
pub mod rate_limit;
pub mod retry;
mod stream;
mod types;

pub use attempts::AttemptLog;
pub use backend::{BackendResult, ChatCall, ChatReply, LLMBackend};
pub use error::{BackendError, ErrorCategory};
pub use media::{Document, DocumentFormat, Image, ImageFormat};
pub use model::{LifecycleStage, ModelInfo, ReasoningSupport, Sampling};
pub use rate_limit::AdaptiveRateLimiter;
pub use retry::{
    BackoffStrategy, RetryBudget, RetryConfig, RetryContext, RetryStatus, StatusCallback,
    retry_with, retry_with_policy,
};
pub use stream::{ChatStream, StreamCollector, StreamEvent, collect_stream};
pub use types::{
    CachePoint, CacheTtl, ChatOptions, ChatRequest, ChatResponse, Citation, CitationLocation,
    CitedText, ContentBlock, GuardrailConfig, InferenceConfig, Message, MessageRole, Reasoning,
    ReasoningConfig, ReasoningEffort, ResponseMeta, ServiceTier, StopReason, StructuredOutput,
    Tool, ToolCall, ToolChoice, ToolResult, ToolResultContent, Usage,
};
