//! `gamecode-backend`: the contract between gamecode tooling and LLM providers.
//!
//! This crate holds the [`LLMBackend`] trait, the chat types it speaks, the typed
//! [`BackendError`] with its retry categories, and the provider-neutral retry policy
//! ([`RetryConfig`], [`RetryBudget`], [`retry_with_policy`]). It depends on neither AWS
//! nor wasmtime, so a plugin host and a backend implementation can both use it without
//! pulling in each other's dependencies.
//!
//! # Stable surface
//!
//! What embedders may hold on to across minor versions: [`LLMBackend`] (implement
//! [`send`](LLMBackend::send); the other chat methods are written on it), [`ChatCall`] and
//! [`ChatReply`], [`ConversationCache`], the request types ([`ChatRequest`], [`Message`], [`ContentBlock`] and
//! what they hold), [`BackendError`] and its [`ErrorCategory`], [`RetryConfig`] and
//! [`retry_with_policy`], [`StreamEvent`] and [`collect_stream`], [`ModelInfo`].
//!
//! How they grow without breaking you:
//! - Enums that will gain cases are `#[non_exhaustive]` (errors and their categories,
//!   content blocks, tool-result parts, stream events, stop reasons, retry statuses, model
//!   facts): match them with a `_` arm.
//! - Records that will gain fields and that backends build are `#[non_exhaustive]` with
//!   constructors ([`ChatResponse::new`], [`Usage::new`], [`ModelInfo::new`]); their fields
//!   stay public to read and to set.
//! - Records callers build ([`ChatRequest`], [`RetryConfig`], [`ChatOptions`],
//!   [`InferenceConfig`]) implement `Default`: write literals with `..Default::default()`,
//!   so that a new field (always with a default) does not break them.
//!
//! CI runs `cargo semver-checks` against the last release.

mod attempts;
mod backend;
mod cache;
mod error;
pub mod media;
pub mod model;
pub mod rate_limit;
pub mod retry;
mod stream;
mod types;

pub use attempts::AttemptLog;
pub use backend::{BackendResult, ChatCall, ChatReply, LLMBackend};
pub use cache::ConversationCache;
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
