//! `BedrockBackend`: the `LLMBackend` implementation on `aws-sdk-bedrockruntime`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::timeout::TimeoutConfig;
use gamecode_backend::{
    AdaptiveRateLimiter, BackendError, BackendResult, ChatCall, ChatReply, ChatRequest,
    ChatResponse, ChatStream, ConversationCache, LLMBackend, RetryBudget, RetryConfig,
    RetryContext, RetryStatus, StatusCallback, StreamEvent, retry_with,
};
use tracing::Instrument;

use crate::catalogue::name_successor;
use crate::classify::classify_sdk_error;
use crate::convert::{ConverseParts, from_converse};
use crate::kept::KeptTurns;
use crate::models::check_model_id;
use crate::stream::EventMapper;

const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the AWS SDKs read a Bedrock API key from.
pub const API_KEY_VAR: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// ConverseStream answers with its headers as soon as Bedrock has accepted the request, before
/// the model generates anything (the first event follows, bounded by the idle timeout): a
/// stream whose headers have not come within seconds is stalled, not slow.
const DEFAULT_STREAM_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);

/// A non-streamed Converse answers only when the whole reply is generated, which takes
/// minutes for a long answer from a large model: its bound must be generous.
const DEFAULT_CONVERSE_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(300);

/// Fills a Converse or ConverseStream request builder from prepared parts (the two fluent
/// builders share these setters but no trait).
macro_rules! with_parts {
    ($builder:expr, $parts:expr) => {
        $builder
            .model_id(&$parts.model_id)
            .set_messages(Some($parts.sdk_messages()))
            .set_system($parts.system.clone())
            .set_tool_config($parts.tool_config.clone())
            .set_inference_config($parts.inference_config.clone())
            .set_additional_model_request_fields($parts.additional_model_request_fields.clone())
            .set_additional_model_response_field_paths(
                $parts.additional_model_response_field_paths.clone(),
            )
            .set_output_config($parts.output_config.clone())
            .set_service_tier($parts.service_tier.clone())
            .set_performance_config($parts.performance_config.clone())
            .set_request_metadata($parts.request_metadata.clone())
    };
}

/// Transport settings that shape the SDK client, and the bounds of one attempt.
#[derive(Clone, PartialEq)]
struct ClientOptions {
    endpoint_url: Option<String>,
    connect_timeout: Duration,
    attempt_timeout: Option<Duration>,
    /// From sending a ConverseStream request to its response headers.
    stream_first_byte_timeout: Duration,
    /// From sending a Converse request to its response.
    converse_first_byte_timeout: Duration,
    /// A Bedrock API key (bearer auth) instead of AWS credentials.
    api_key: Option<String>,
    /// Where every exchange is recorded, as a cassette.
    recorder: Option<crate::recorder::Recorder>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            connect_timeout: Duration::from_secs(5),
            // Long answers from large models take minutes; this bounds a hung attempt.
            attempt_timeout: Some(Duration::from_secs(300)),
            stream_first_byte_timeout: DEFAULT_STREAM_FIRST_BYTE_TIMEOUT,
            converse_first_byte_timeout: DEFAULT_CONVERSE_FIRST_BYTE_TIMEOUT,
            api_key: None,
            recorder: None,
        }
    }
}

/// AWS Bedrock backend (Converse API) with a retry policy of its own.
///
/// Cheap to clone; clones share the SDK client (its connection pool) and the retry budget, so
/// a fleet of callers holding clones backs off together when Bedrock throttles.
///
/// The SDK's own retries are off: [`RetryConfig`] alone decides how many attempts are made.
#[derive(Clone)]
pub struct BedrockBackend {
    sdk_config: SdkConfig,
    options: ClientOptions,
    client: Client,
    default_model: String,
    retry_config: RetryConfig,
    budget: Arc<RetryBudget>,
    limiter: Option<Arc<AdaptiveRateLimiter>>,
    on_status: Option<StatusCallback>,
    stream_idle_timeout: Duration,
}

impl fmt::Debug for ClientOptionsRedacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        f.debug_struct("ClientOptions")
            .field("endpoint_url", &o.endpoint_url)
            .field("connect_timeout", &o.connect_timeout)
            .field("attempt_timeout", &o.attempt_timeout)
            .field("stream_first_byte_timeout", &o.stream_first_byte_timeout)
            .field(
                "converse_first_byte_timeout",
                &o.converse_first_byte_timeout,
            )
            .field("api_key", &o.api_key.as_ref().map(|_| "(set)"))
            .field("recording", &o.recorder.is_some())
            .finish()
    }
}

/// The options for `Debug`, without the API key.
struct ClientOptionsRedacted<'a>(&'a ClientOptions);

impl fmt::Debug for BedrockBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockBackend")
            .field("region", &self.sdk_config.region())
            .field("options", &ClientOptionsRedacted(&self.options))
            .field("default_model", &self.default_model)
            .field("retry_config", &self.retry_config)
            .field("retry_budget", &self.budget.available())
            .field("rate_limit", &self.limiter.as_ref().map(|l| l.rate()))
            .finish_non_exhaustive()
    }
}

impl BedrockBackend {
    /// Uses the default AWS credential chain and region resolution (environment, profile,
    /// SSO, container and instance metadata). Fails clearly when no region or no credentials
    /// can be found.
    pub async fn new() -> Result<Self, BackendError> {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::checked(config).await
    }

    /// Like [`new`](Self::new), in the given region.
    pub async fn new_with_region(region: impl Into<String>) -> Result<Self, BackendError> {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.into()))
            .load()
            .await;
        Self::checked(config).await
    }

    /// Uses a configuration the caller loaded. Credentials are resolved on the first call.
    pub fn new_with_config(config: &SdkConfig) -> Result<Self, BackendError> {
        if config.region().is_none() {
            return Err(no_region());
        }
        let options = ClientOptions {
            endpoint_url: None,
            ..ClientOptions::default()
        };
        Ok(Self {
            client: build_client(config, &options),
            sdk_config: config.clone(),
            options,
            default_model: crate::catalogue::default_model_for_region(
                config.region().map(|r| r.as_ref()),
            )
            .to_string(),
            retry_config: RetryConfig::default(),
            budget: Arc::new(RetryBudget::default()),
            limiter: Some(Arc::new(AdaptiveRateLimiter::new())),
            on_status: None,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
        })
    }

    async fn checked(config: SdkConfig) -> Result<Self, BackendError> {
        let backend = Self::new_with_config(&config)?;
        // A Bedrock API key in the environment is enough: the SDK sends it instead of a
        // signature, so AWS credentials are not needed.
        if std::env::var_os(API_KEY_VAR).is_some_and(|v| !v.is_empty()) {
            return Ok(backend);
        }
        let Some(provider) = config.credentials_provider() else {
            return Err(no_credentials("no credentials provider is configured"));
        };
        provider
            .provide_credentials()
            .await
            .map_err(|e| no_credentials(&DisplayErrorContext(&e).to_string()))?;
        Ok(backend)
    }

    /// The model used when a request names none.
    pub fn with_default_model(mut self, model: impl Into<String>) -> Self {
        self.default_model = model.into();
        self
    }

    /// Sends requests to this endpoint instead of the region's (VPC endpoints, proxies,
    /// the emulator). `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` does the same from the environment.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.options.endpoint_url = Some(url.into());
        self.rebuild()
    }

    /// Records every exchange with Bedrock into `recorder`'s cassette (see
    /// [`Recorder`](crate::Recorder)): requests as Converse JSON, responses, stream events
    /// with their timing, errors with their categories. Nothing secret is recorded.
    pub fn with_recorder(mut self, recorder: crate::recorder::Recorder) -> Self {
        self.options.recorder = Some(recorder);
        self.rebuild()
    }

    /// Authenticates with a Bedrock API key (bearer auth) instead of AWS credentials, as
    /// `AWS_BEARER_TOKEN_BEDROCK` does for the default chain.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.options.api_key = Some(key.into());
        self.rebuild()
    }

    /// How long to wait for a TCP/TLS connection (default 5 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self.rebuild()
    }

    /// How long one attempt may take end to end (default 300 s; `None` for no limit).
    pub fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.attempt_timeout = timeout;
        self.rebuild()
    }

    /// How long a ConverseStream request may wait for its response headers before the attempt
    /// is abandoned as a `network` error and retried (default 10 s: Bedrock sends them as soon
    /// as it accepts the request; the model's first event is bounded by the idle timeout).
    pub fn with_stream_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.options.stream_first_byte_timeout = timeout;
        self
    }

    /// How long a Converse request may wait for its response before the attempt is abandoned
    /// as a `network` error and retried (default 300 s: a non-streamed answer arrives only
    /// once it is whole, which takes minutes for long answers).
    pub fn with_converse_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.options.converse_first_byte_timeout = timeout;
        self
    }

    /// Client-side adaptive rate limiting (on by default): once Bedrock throttles, every
    /// request of this backend and its clones takes a token from a shared bucket whose rate
    /// falls on throttling and grows back after successes (see
    /// [`AdaptiveRateLimiter`]). `false` turns it off.
    pub fn with_adaptive_rate_limit(mut self, on: bool) -> Self {
        self.limiter = on.then(|| Arc::new(AdaptiveRateLimiter::new()));
        self
    }

    /// Shares an adaptive rate limiter with other backends (by default each `new*` makes its
    /// own, shared by that backend's clones).
    pub fn with_rate_limiter(mut self, limiter: Arc<AdaptiveRateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The adaptive rate limiter shared by this backend's clones, when it is on.
    pub fn rate_limiter(&self) -> Option<&Arc<AdaptiveRateLimiter>> {
        self.limiter.as_ref()
    }

    /// How long a stream may go without an event before it fails as a network error
    /// (default 60 s). The SDK's stalled-stream protection does not cover ConverseStream.
    pub fn with_stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = timeout;
        self
    }

    /// The retry policy [`chat`](LLMBackend::chat) uses.
    pub fn with_retry_config(mut self, config: RetryConfig) -> Self {
        self.retry_config = config;
        self
    }

    /// Shares a retry budget with other backends (by default each `new*` makes its own,
    /// shared by that backend's clones).
    pub fn with_retry_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Receives retry status events (attempts, throttling, non-retryable errors).
    pub fn with_status_callback(
        mut self,
        callback: impl Fn(&RetryStatus) + Send + Sync + 'static,
    ) -> Self {
        self.on_status = Some(Arc::new(callback));
        self
    }

    /// The retry policy used by [`chat`](LLMBackend::chat).
    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry_config
    }

    /// The retry budget shared by this backend's clones.
    pub fn retry_budget(&self) -> &Arc<RetryBudget> {
        &self.budget
    }

    /// The underlying SDK client, for operations this crate does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A classified error made specific: an end of life names the successor, a network
    /// failure names the endpoint it could not reach.
    fn explain(&self, model: &str, error: BackendError) -> BackendError {
        let error = name_successor(model, self.region(), error);
        if error.category() != gamecode_backend::ErrorCategory::Network {
            return error;
        }
        let endpoint = self.options.endpoint_url.clone().unwrap_or_else(|| {
            format!(
                "https://bedrock-runtime.{}.amazonaws.com",
                self.region().unwrap_or("(no region)")
            )
        });
        BackendError::network(format!("{} (endpoint {endpoint})", error.message()))
    }

    /// The region requests are signed for.
    pub fn region(&self) -> Option<&str> {
        self.sdk_config.region().map(|r| r.as_ref())
    }

    fn rebuild(mut self) -> Self {
        self.client = build_client(&self.sdk_config, &self.options);
        self
    }

    /// Sends a request under the backend's retry policy ([`with_retry_config`](Self::with_retry_config)).
    ///
    /// The seed's name for [`LLMBackend::chat`]; inherent so that callers need not import the
    /// trait. Every chat method goes through [`LLMBackend::send`].
    pub async fn chat(&self, request: ChatRequest) -> BackendResult<ChatResponse> {
        LLMBackend::chat(self, request).await
    }

    /// Sends a request under an explicit retry policy: at most `1 + max_retries` attempts.
    pub async fn chat_with_retry(
        &self,
        request: ChatRequest,
        retry_config: RetryConfig,
    ) -> BackendResult<ChatResponse> {
        LLMBackend::chat_with_retry(self, request, retry_config).await
    }

    /// Streams a reply under the backend's retry policy.
    pub async fn chat_stream(&self, request: ChatRequest) -> BackendResult<ChatStream> {
        LLMBackend::chat_stream(self, request).await
    }

    /// Streams a reply; attempts are retried only until the first event arrives. Errors after
    /// that end the stream (the caller has already seen part of the answer).
    pub async fn chat_stream_with_retry(
        &self,
        request: ChatRequest,
        retry_config: RetryConfig,
    ) -> BackendResult<ChatStream> {
        let call = ChatCall::new(request)
            .streamed(true)
            .retry(Some(retry_config));
        self.send(call).await?.into_stream()
    }

    /// One Converse call, whole, from a borrowed request (it is converted to the SDK's types
    /// anyway).
    async fn converse(
        &self,
        request: &ChatRequest,
        cache: Option<&ConversationCache>,
        retry_config: &RetryConfig,
    ) -> BackendResult<ChatResponse> {
        let parts = self.prepare(request, cache)?;
        let span = tracing::info_span!(
            "bedrock.converse",
            model = %parts.model_id,
            session_id = request.session_id.as_deref().unwrap_or(""),
        );
        let parts = &parts;
        let session_id = &request.session_id;
        retry_with(self.retry_context(retry_config), |attempt| async move {
            tracing::debug!(attempt, "sending Converse request");
            self.converse_once(parts, session_id.clone()).await
        })
        .instrument(span)
        .await
    }

    /// One ConverseStream call, from a borrowed request; attempts are retried only until the
    /// first event arrives.
    async fn converse_stream(
        &self,
        request: &ChatRequest,
        cache: Option<&ConversationCache>,
        retry_config: &RetryConfig,
    ) -> BackendResult<ChatStream> {
        let parts = self.prepare(request, cache)?;
        let span = tracing::info_span!(
            "bedrock.converse_stream",
            model = %parts.model_id,
            session_id = request.session_id.as_deref().unwrap_or(""),
        );
        let parts = &parts;
        let (mapper, first) = retry_with(self.retry_context(retry_config), |attempt| async move {
            tracing::debug!(attempt, "opening ConverseStream");
            self.converse_stream_once(parts).await
        })
        .instrument(span.clone())
        .await?;
        let state = (mapper, first, span);
        let events = futures::stream::unfold(state, |(mut mapper, pending, span)| async move {
            let next = match pending {
                Some(event) => Ok(Some(event)),
                None => mapper.next().instrument(span.clone()).await,
            };
            match next {
                Ok(Some(event)) => Some((Ok(event), (mapper, None, span))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (mapper, None, span))),
            }
        });
        Ok(Box::pin(events))
    }

    /// The input tokens `request` would be billed for (Bedrock's CountTokens), under the
    /// backend's retry policy.
    pub async fn count_tokens(&self, request: &ChatRequest) -> BackendResult<u32> {
        let parts = self.prepare(request, None)?;
        let input = aws_sdk_bedrockruntime::types::ConverseTokensRequest::builder()
            .set_messages(Some(parts.sdk_messages()))
            .set_system(parts.system.clone())
            .set_tool_config(parts.tool_config.clone())
            .set_additional_model_request_fields(parts.additional_model_request_fields.clone())
            .build();
        let input = aws_sdk_bedrockruntime::types::CountTokensInput::Converse(input);
        let (parts, input) = (&parts, &input);
        retry_with(self.retry_context(&self.retry_config), |_| async move {
            let output = self
                .client
                .count_tokens()
                .model_id(&parts.model_id)
                .input(input.clone())
                .send()
                .await
                .map_err(|e| classify_sdk_error(&e))?;
            Ok(u32::try_from(output.input_tokens()).unwrap_or(0))
        })
        .await
    }

    fn retry_context<'a>(&'a self, config: &'a RetryConfig) -> RetryContext<'a> {
        RetryContext {
            config,
            budget: &self.budget,
            limiter: self.limiter.as_deref(),
            on_status: self.on_status.as_ref(),
        }
    }

    /// `request` checked and converted for Converse. With a conversation's `cache`, only
    /// what is new since its last call is (see [`KeptTurns`]).
    fn prepare(
        &self,
        request: &ChatRequest,
        cache: Option<&ConversationCache>,
    ) -> Result<ConverseParts, BackendError> {
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.default_model.clone());
        check_model_id(&model)?;
        let region = self.region();
        match cache {
            Some(cache) => cache.with(|kept: &mut KeptTurns| kept.prepare(model, request, region)),
            None => KeptTurns::default().prepare(model, request, region),
        }
    }

    async fn converse_once(
        &self,
        parts: &ConverseParts,
        session_id: Option<String>,
    ) -> BackendResult<ChatResponse> {
        let bound = self.options.converse_first_byte_timeout;
        let request = with_parts!(self.client.converse(), parts)
            .set_guardrail_config(parts.guardrail.clone());
        let output = tokio::time::timeout(bound, request.send())
            .await
            .map_err(|_| no_first_byte("Converse", bound))?
            .map_err(|e| self.explain(&parts.model_id, classify_sdk_error(&e)))?;
        from_converse(output, parts.model_id.clone(), session_id)
    }

    /// Opens a ConverseStream and waits for its first event, so that failures before the
    /// caller saw anything can still be retried.
    async fn converse_stream_once(
        &self,
        parts: &ConverseParts,
    ) -> BackendResult<(EventMapper, Option<StreamEvent>)> {
        let bound = self.options.stream_first_byte_timeout;
        let request = with_parts!(self.client.converse_stream(), parts)
            .set_guardrail_config(parts.guardrail_stream.clone());
        let output = tokio::time::timeout(bound, request.send())
            .await
            .map_err(|_| no_first_byte("ConverseStream", bound))?
            .map_err(|e| self.explain(&parts.model_id, classify_sdk_error(&e)))?;
        let mut mapper = EventMapper::new(output.stream, self.stream_idle_timeout);
        let first = mapper.next().await?;
        Ok((mapper, first))
    }
}

/// A stalled attempt: the connection was abandoned (dropping the request closes it).
fn no_first_byte(operation: &str, bound: Duration) -> BackendError {
    BackendError::network(format!(
        "no response from Bedrock within {:.1}s of sending the {operation} request (time to \
         first byte); the connection was abandoned",
        bound.as_secs_f64()
    ))
}

fn no_region() -> BackendError {
    BackendError::validation(
        "no AWS region configured: set AWS_REGION, a region in your AWS profile, or use \
         BedrockBackend::new_with_region",
    )
}

fn no_credentials(detail: &str) -> BackendError {
    BackendError::authentication(format!(
        "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, \
         or run with an IAM role): {detail}"
    ))
}

fn build_client(config: &SdkConfig, options: &ClientOptions) -> Client {
    let mut timeouts = TimeoutConfig::builder().connect_timeout(options.connect_timeout);
    timeouts.set_operation_attempt_timeout(options.attempt_timeout);
    let mut builder = aws_sdk_bedrockruntime::config::Builder::from(config)
        // Our policy is the only retry loop; stacking the SDK's under it multiplies attempts.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .timeout_config(timeouts.build());
    if let Some(url) = &options.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    if let Some(recorder) = &options.recorder {
        builder = builder.interceptor(recorder.interceptor());
    }
    if let Some(key) = &options.api_key {
        builder = builder
            .bearer_token(aws_sdk_bedrockruntime::config::Token::new(
                key.clone(),
                None,
            ))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ]);
    }
    Client::from_conf(builder.build())
}

#[async_trait]
impl LLMBackend for BedrockBackend {
    async fn send(&self, call: ChatCall<'_>) -> BackendResult<ChatReply> {
        let retry = call.retry.as_ref().unwrap_or(&self.retry_config);
        if call.stream {
            let stream = self
                .converse_stream(&call.request, call.cache, retry)
                .await?;
            Ok(ChatReply::Stream(stream))
        } else {
            let response = self.converse(&call.request, call.cache, retry).await?;
            Ok(ChatReply::Whole(response))
        }
    }

    async fn count_tokens(&self, request: &ChatRequest) -> BackendResult<u32> {
        BedrockBackend::count_tokens(self, request).await
    }

    fn model_info(&self, model: &str) -> Option<gamecode_backend::ModelInfo> {
        crate::catalogue::model_info(model)
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn supported_models(&self) -> Vec<String> {
        crate::models::current_models(self.region())
    }

    fn default_model(&self) -> &str {
        &self.default_model
    }
}
