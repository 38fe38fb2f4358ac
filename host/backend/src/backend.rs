use std::borrow::Cow;

use async_trait::async_trait;

use crate::cache::ConversationCache;
use crate::error::BackendError;
use crate::retry::RetryConfig;
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ChatResponse};

/// Result alias used throughout the backend API.
pub type BackendResult<T> = Result<T, BackendError>;

/// One chat call: the request (owned, or borrowed from a caller that keeps it, such as a
/// long conversation), whether the reply is streamed, and the retry policy it runs under.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChatCall<'a> {
    /// What to send. Borrowed requests are not copied by backends that convert them anyway.
    pub request: Cow<'a, ChatRequest>,
    /// Stream the reply as it is generated ([`ChatReply::Stream`]) instead of whole.
    pub stream: bool,
    /// The retry policy of this call; `None` for the backend's own. With a policy, the
    /// attempts are at most `1 + max_retries`; a streamed call is retried only until its first
    /// event.
    pub retry: Option<RetryConfig>,
    /// What the backend kept of this conversation's earlier calls, so that it converts only
    /// what is new; `None` for a request on its own.
    pub cache: Option<&'a ConversationCache>,
}

impl<'a> ChatCall<'a> {
    /// A whole-reply call of `request` under the backend's own retry policy.
    pub fn new(request: impl Into<Cow<'a, ChatRequest>>) -> Self {
        Self {
            request: request.into(),
            stream: false,
            retry: None,
            cache: None,
        }
    }

    /// Streams the reply (or not).
    pub fn streamed(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Runs under `retry` instead of the backend's own policy (`None`: the backend's).
    pub fn retry(mut self, retry: Option<RetryConfig>) -> Self {
        self.retry = retry;
        self
    }

    /// Lets the backend keep, in `cache`, what it derives from this conversation's messages
    /// for its next call (see [`ConversationCache`] for what the messages may do between
    /// calls).
    pub fn cached(mut self, cache: &'a ConversationCache) -> Self {
        self.cache = Some(cache);
        self
    }
}

// So that `ChatCall::new` takes a request or a reference to one.
impl From<ChatRequest> for Cow<'_, ChatRequest> {
    fn from(request: ChatRequest) -> Self {
        Cow::Owned(request)
    }
}

impl<'a> From<&'a ChatRequest> for Cow<'a, ChatRequest> {
    fn from(request: &'a ChatRequest) -> Self {
        Cow::Borrowed(request)
    }
}

/// The reply to a [`ChatCall`]: whole, or a stream when the call asked for one.
#[non_exhaustive]
pub enum ChatReply {
    Whole(ChatResponse),
    Stream(ChatStream),
}

impl ChatReply {
    /// The whole response; a stream is read to its end first.
    pub async fn into_response(self, request: &ChatRequest) -> BackendResult<ChatResponse> {
        match self {
            Self::Whole(response) => Ok(response),
            Self::Stream(stream) => {
                let model = request.model.clone().unwrap_or_default();
                crate::collect_stream(stream, model, request.session_id.clone()).await
            }
        }
    }

    /// The stream; a backend that answered a streamed call whole cannot stream.
    pub fn into_stream(self) -> BackendResult<ChatStream> {
        match self {
            Self::Stream(stream) => Ok(stream),
            Self::Whole(_) => Err(BackendError::unsupported("this backend does not stream")),
        }
    }
}

impl std::fmt::Debug for ChatReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Whole(response) => f.debug_tuple("Whole").field(response).finish(),
            Self::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// An LLM provider the gamecode host can talk to.
///
/// Implementations must be cheap to share (`Arc<dyn LLMBackend>`) and safe to call from many
/// tasks at once: the plugin host runs many plugins concurrently against one backend and holds
/// no lock around it.
///
/// A backend implements one chat method, [`send`](Self::send); the others are the seed's
/// names for common calls, written on top of it.
#[async_trait]
pub trait LLMBackend: Send + Sync {
    /// Sends one chat call (see [`ChatCall`]) and answers it whole or streamed, as asked.
    async fn send(&self, call: ChatCall<'_>) -> BackendResult<ChatReply>;

    /// Sends one chat request, applying the backend's configured default retry policy.
    async fn chat(&self, request: ChatRequest) -> BackendResult<ChatResponse> {
        let reply = self.send(ChatCall::new(&request)).await?;
        reply.into_response(&request).await
    }

    /// Sends one chat request and streams the reply as it is generated.
    async fn chat_stream(&self, request: ChatRequest) -> BackendResult<ChatStream> {
        self.send(ChatCall::new(request).streamed(true))
            .await?
            .into_stream()
    }

    /// Sends one chat request under an explicit retry policy; the number of attempts is
    /// exactly `1 + retry_config.max_retries` at most.
    async fn chat_with_retry(
        &self,
        request: ChatRequest,
        retry_config: RetryConfig,
    ) -> BackendResult<ChatResponse> {
        let reply = self
            .send(ChatCall::new(&request).retry(Some(retry_config)))
            .await?;
        reply.into_response(&request).await
    }

    /// The input tokens `request` would be billed for, without running the model
    /// (Bedrock's CountTokens). Backends that cannot count answer `unsupported`.
    async fn count_tokens(&self, request: &ChatRequest) -> BackendResult<u32> {
        let _ = request;
        Err(crate::error::BackendError::unsupported(
            "this backend cannot count tokens",
        ))
    }

    /// What the backend knows of `model` (an id, inference profile or ARN): what it takes and
    /// its limits. `None` for a model the backend has no facts about.
    fn model_info(&self, model: &str) -> Option<crate::model::ModelInfo> {
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
