use async_trait::async_trait;

use crate::{BackendError, ChatRequest, ChatResponse, ChatStream, RetryConfig};

/// Result alias used throughout the backend API.
pub type BackendResult<T> = Result<T, BackendError>;

/// An LLM provider the gamecode host can talk to.
///
/// Implementations must be cheap to share (`Arc<dyn LLMBackend>`) and safe to call from many
/// tasks at once: the plugin host runs many plugins concurrently against one backend and holds
/// no lock around it.
#[async_trait]
pub trait LLMBackend: Send + Sync {
    /// Sends one chat request, applying the backend's configured default retry policy.
    async fn chat(&self, request: ChatRequest) -> BackendResult<ChatResponse>;

    /// Sends one chat request and streams the reply as it is generated.
    async fn chat_stream(&self, request: ChatRequest) -> BackendResult<ChatStream>;

    /// Sends one chat request under an explicit retry policy; the number of attempts is
    /// exactly `1 + retry_config.max_retries` at most.
    async fn chat_with_retry(
        &self,
        request: ChatRequest,
        retry_config: RetryConfig,
    ) -> BackendResult<ChatResponse>;

    /// Streams a reply under an explicit retry policy (attempts are retried only until the
    /// first event). Backends without a policy of their own ignore `retry_config`.
    async fn chat_stream_with_retry(
        &self,
        request: ChatRequest,
        retry_config: RetryConfig,
    ) -> BackendResult<ChatStream> {
        let _ = retry_config;
        self.chat_stream(request).await
    }

    /// Sends `request` without taking it (under `retry_config`, or the backend's own policy
    /// with `None`): a caller that keeps a long conversation need not copy it for every
    /// turn. Backends that work from a borrowed request override this; the default copies.
    async fn chat_ref(
        &self,
        request: &ChatRequest,
        retry_config: Option<RetryConfig>,
    ) -> BackendResult<ChatResponse> {
        match retry_config {
            Some(retry) => self.chat_with_retry(request.clone(), retry).await,
            None => self.chat(request.clone()).await,
        }
    }

    /// Streams a reply to `request` without taking it (see [`chat_ref`](Self::chat_ref)).
    async fn chat_stream_ref(
        &self,
        request: &ChatRequest,
        retry_config: Option<RetryConfig>,
    ) -> BackendResult<ChatStream> {
        match retry_config {
            Some(retry) => self.chat_stream_with_retry(request.clone(), retry).await,
            None => self.chat_stream(request.clone()).await,
        }
    }

    /// The input tokens `request` would be billed for, without running the model
    /// (Bedrock's CountTokens). Backends that cannot count answer `unsupported`.
    async fn count_tokens(&self, request: &ChatRequest) -> BackendResult<u32> {
        let _ = request;
        Err(crate::BackendError::unsupported(
            "this backend cannot count tokens",
        ))
    }

    /// What the backend knows of `model` (an id, inference profile or ARN): what it takes and
    /// its limits. `None` for a model the backend has no facts about.
    fn model_info(&self, model: &str) -> Option<crate::ModelInfo> {
        let _ = model;
        None
    }

    /// Whether the backend can offer tools to the model.
    fn supports_tools(&self) -> bool;

    /// Model ids this backend knows; it may accept others (profiles, ARNs) too.
    fn supported_models(&self) -> Vec<String>;

    /// The model used when a request names none.
    fn default_model(&self) -> &str;
}
