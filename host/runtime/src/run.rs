//! One run's state (the `T` of its `Store`) and the policy layer between the WIT host
//! implementation and the backend and tools.
//!
//! Data flows guest → WIT host impl (type conversion only, in `wit::v0_2_0`) → the methods
//! here (policy admission, accounting, events) → backend / host tool. Every refusal is both
//! returned (for the guest, as a typed error) and recorded (for the embedder's report).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use gamecode_backend::{
    AttemptLog, BackendError, ChatRequest, ChatResponse, ChatStream, LLMBackend, StreamEvent, Usage,
};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::MemoryLimiter;
use crate::observer::{RunEvent, RunObserver};
use crate::policy::{ChatAsk, Grant, Meter, Policy, PolicyViolation, ViolationKind};
use crate::tools::{ToolError, ToolRegistry};
use crate::wit::json_cache::JsonCache;

/// Why a chat call did not produce a reply.
#[derive(Debug, Clone)]
pub(crate) enum ChatFailure {
    Policy(PolicyViolation),
    Backend(BackendError),
    /// The guest's request could not be built (e.g. a JSON text that is not JSON).
    Invalid(String),
    /// The conversation cannot take this call now.
    State(String),
}

/// Everything a run's store holds.
pub(crate) struct RunState {
    pub(crate) plugin: Arc<str>,
    pub(crate) session_id: String,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) policy: Arc<Policy>,
    pub(crate) backend: Arc<dyn LLMBackend>,
    pub(crate) tools: Arc<ToolRegistry>,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) meter: Meter,
    pub(crate) usage: Usage,
    pub(crate) tool_calls: u32,
    pub(crate) violations: Vec<PolicyViolation>,
    pub(crate) backend_errors: Vec<BackendError>,
    pub(crate) deadline_hit: bool,
    /// JSON texts this run's requests carried, parsed (see [`JsonCache`]).
    pub(crate) json: JsonCache,
    /// While the run waits on the model: the attempts of the call it waits on. A deadline
    /// that passes meanwhile is the model's to answer for, not the plugin's.
    pub(crate) model_wait: Option<Arc<AttemptLog>>,
    /// Host memory held by this run's live conversations (bounded by the memory limit).
    pub(crate) held_bytes: usize,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A stream the guest is pulling from (the WIT `reply-stream` resource).
pub struct ReplyStreamState {
    pub(crate) stream: ChatStream,
    pub(crate) done: bool,
    /// The conversation turn this stream answers, if it came from `send-stream`.
    pub(crate) turn: Option<crate::conversation::StreamedTurn>,
    pub(crate) meta: StreamMeta,
}

/// What the run tracks about an open stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamMeta {
    model: String,
    started: Instant,
    usage: Option<Usage>,
    /// What the policy charged and reserved for this call.
    grant: Grant,
    /// The attempts made to open it.
    pub(crate) attempts: Arc<AttemptLog>,
    /// Output bytes seen and not yet charged (charged in whole tokens).
    uncharged_bytes: usize,
    /// Whether the stream was settled and `ChatFinished` emitted (at the end, on error, or
    /// on drop).
    finished: bool,
}

impl RunState {
    fn emit(&self, event: RunEvent) {
        if let Some(observer) = &self.observer {
            observer.on_event(&self.plugin, &event);
        }
    }

    pub(crate) fn record_violation(&mut self, violation: PolicyViolation) -> PolicyViolation {
        tracing::warn!(
            plugin = %self.plugin,
            kind = %violation.kind,
            "policy refused the plugin: {}",
            violation.message
        );
        self.emit(RunEvent::PolicyViolation(violation.clone()));
        self.violations.push(violation.clone());
        violation
    }

    fn record_backend_error(&mut self, error: &BackendError) {
        tracing::warn!(plugin = %self.plugin, category = %error.category(), "chat failed: {error}");
        self.backend_errors.push(error.clone());
    }

    fn account(&mut self, usage: &Usage) {
        let u = &mut self.usage;
        u.cache_read_input_tokens = u
            .cache_read_input_tokens
            .saturating_add(usage.cache_read_input_tokens);
        u.cache_write_input_tokens = u
            .cache_write_input_tokens
            .saturating_add(usage.cache_write_input_tokens);
        self.usage.input_tokens = self.usage.input_tokens.saturating_add(usage.input_tokens);
        self.usage.output_tokens = self.usage.output_tokens.saturating_add(usage.output_tokens);
        self.usage.total_tokens = self.usage.total_tokens.saturating_add(usage.total_tokens);
    }

    /// Runs a backend call (made by `call` with the backend and the plugin's retry policy) as
    /// a wait on the model: its attempts are logged, and a deadline that passes meanwhile is
    /// the model's to answer for (see [`RunState::model_wait`]).
    async fn wait_on_model<T, F>(
        &mut self,
        call: impl FnOnce(Arc<dyn LLMBackend>, Option<gamecode_backend::RetryConfig>) -> F,
    ) -> (T, Arc<AttemptLog>)
    where
        F: std::future::Future<Output = T>,
    {
        let log = AttemptLog::new();
        self.model_wait = Some(log.clone());
        let out = log
            .scope(call(self.backend.clone(), self.policy.retry.clone()))
            .await;
        self.model_wait = None;
        (out, log)
    }

    /// Admits a chat call under the policy before anything is built from the request (see
    /// [`Policy::admit_chat`]); the grant is settled when the call ends.
    pub(crate) fn admit(&mut self, ask: &ChatAsk<'_>) -> Result<Grant, ChatFailure> {
        let default_model = self.backend.default_model();
        self.policy
            .admit_chat(&mut self.meter, ask, default_model)
            .map_err(|v| ChatFailure::Policy(self.record_violation(v)))
    }

    /// Withdraws an admitted call whose request could not be built.
    pub(crate) fn unbuilt(&mut self, mut grant: Grant, failure: ChatFailure) -> ChatFailure {
        self.meter.withdraw(&mut grant);
        match failure {
            ChatFailure::Policy(v) => ChatFailure::Policy(self.record_violation(v)),
            other => other,
        }
    }

    fn prepare(&self, grant: &Grant, request: &mut ChatRequest) -> String {
        grant.apply(request);
        request.session_id = Some(self.session_id.clone());
        request
            .model
            .clone()
            .unwrap_or_else(|| self.backend.default_model().to_string())
    }

    /// Applies the grant and announces a call; returns the model it goes to.
    fn chat_started(&self, grant: &Grant, request: &mut ChatRequest, streaming: bool) -> String {
        let model = self.prepare(grant, request);
        self.emit(RunEvent::ChatStarted {
            model: model.clone(),
            streaming,
        });
        model
    }

    /// One whole chat call, admitted with `grant`.
    pub(crate) async fn chat(
        &mut self,
        grant: Grant,
        mut request: ChatRequest,
    ) -> Result<ChatResponse, ChatFailure> {
        let model = self.chat_started(&grant, &mut request, false);
        let started = Instant::now();
        let (result, _) = self
            .wait_on_model(|backend, retry| async move {
                match retry {
                    Some(retry) => backend.chat_with_retry(request, retry).await,
                    None => backend.chat(request).await,
                }
            })
            .await;
        self.chat_ended(grant, model, started.elapsed(), result)
    }

    /// Like [`chat`](Self::chat), for a request the caller keeps (a conversation's): the
    /// backend borrows it, so a long conversation is not copied for each turn.
    pub(crate) async fn chat_kept(
        &mut self,
        grant: Grant,
        request: &mut ChatRequest,
    ) -> Result<ChatResponse, ChatFailure> {
        let model = self.chat_started(&grant, request, false);
        let started = Instant::now();
        let sent: &ChatRequest = request;
        let (result, _) = self
            .wait_on_model(|backend, retry| async move { backend.chat_ref(sent, retry).await })
            .await;
        self.chat_ended(grant, model, started.elapsed(), result)
    }

    /// Accounts for a whole chat call that ended.
    fn chat_ended(
        &mut self,
        mut grant: Grant,
        model: String,
        elapsed: Duration,
        result: Result<ChatResponse, BackendError>,
    ) -> Result<ChatResponse, ChatFailure> {
        match result {
            Ok(response) => {
                match &response.usage {
                    Some(usage) => {
                        self.account(usage);
                        self.meter
                            .settle(&mut grant, Some(u64::from(usage.total_tokens)));
                    }
                    None => {
                        let output = crate::policy::estimate_tokens(text_bytes(&response));
                        self.meter.charge(&mut grant, output);
                        self.meter.settle(&mut grant, None);
                    }
                }
                tracing::info!(
                    plugin = %self.plugin,
                    model = %response.model,
                    tokens = response.usage.map(|u| u.total_tokens).unwrap_or(0),
                    elapsed_ms = elapsed.as_millis() as u64,
                    stop_reason = response.stop_reason.as_wire(),
                    "chat finished"
                );
                self.emit(RunEvent::ChatFinished {
                    model,
                    usage: response.usage,
                    elapsed,
                    error: None,
                });
                Ok(response)
            }
            Err(e) => Err(self.chat_failed(grant, model, elapsed, e)),
        }
    }

    /// Accounts for a chat call the backend refused, before any reply. A call refused as
    /// unsupported never reached a model: it does not count against the chat-call limit (so
    /// a plugin may fall back from streaming to `chat`). Throttling, validation and
    /// authentication failures are not billed; a network or provider failure may have been,
    /// so its input estimate stays charged.
    fn chat_failed(
        &mut self,
        mut grant: Grant,
        model: String,
        elapsed: Duration,
        e: BackendError,
    ) -> ChatFailure {
        use gamecode_backend::ErrorCategory as C;
        self.record_backend_error(&e);
        match e.category() {
            C::Unsupported => self.meter.withdraw(&mut grant),
            C::Network | C::Provider => self.meter.settle(&mut grant, None),
            C::RateLimited | C::Validation | C::Authentication => {
                self.meter.settle(&mut grant, Some(0))
            }
        }
        self.emit(RunEvent::ChatFinished {
            model,
            usage: None,
            elapsed,
            error: Some(e.category().to_string()),
        });
        ChatFailure::Backend(e)
    }

    /// Opens a streamed chat call, admitted with `grant`.
    pub(crate) async fn chat_stream(
        &mut self,
        grant: Grant,
        mut request: ChatRequest,
    ) -> Result<ReplyStreamState, ChatFailure> {
        let model = self.chat_started(&grant, &mut request, true);
        let started = Instant::now();
        let (result, log) = self
            .wait_on_model(|backend, retry| async move {
                match retry {
                    Some(retry) => backend.chat_stream_with_retry(request, retry).await,
                    None => backend.chat_stream(request).await,
                }
            })
            .await;
        self.stream_opened(grant, model, started, log, result)
    }

    /// Like [`chat_stream`](Self::chat_stream), for a request the caller keeps.
    pub(crate) async fn chat_stream_kept(
        &mut self,
        grant: Grant,
        request: &mut ChatRequest,
    ) -> Result<ReplyStreamState, ChatFailure> {
        let model = self.chat_started(&grant, request, true);
        let started = Instant::now();
        let sent: &ChatRequest = request;
        let (result, log) = self
            .wait_on_model(
                |backend, retry| async move { backend.chat_stream_ref(sent, retry).await },
            )
            .await;
        self.stream_opened(grant, model, started, log, result)
    }

    fn stream_opened(
        &mut self,
        grant: Grant,
        model: String,
        started: Instant,
        log: Arc<AttemptLog>,
        result: Result<ChatStream, BackendError>,
    ) -> Result<ReplyStreamState, ChatFailure> {
        match result {
            // `ChatFinished` follows when the stream ends, with its usage.
            Ok(stream) => {
                self.meter.open_streams += 1;
                Ok(ReplyStreamState {
                    stream,
                    done: false,
                    turn: None,
                    meta: StreamMeta {
                        model,
                        started,
                        usage: None,
                        grant,
                        attempts: log,
                        uncharged_bytes: 0,
                        finished: false,
                    },
                })
            }
            Err(e) => Err(self.chat_failed(grant, model, started.elapsed(), e)),
        }
    }

    /// Accounts for an event pulled from a stream, or for the end or error that ended it.
    pub(crate) fn stream_item(
        &mut self,
        meta: &mut StreamMeta,
        item: Option<Result<StreamEvent, BackendError>>,
    ) -> Result<Option<StreamEvent>, ChatFailure> {
        match item {
            Some(Ok(event)) => {
                match &event {
                    StreamEvent::Metadata { usage } => {
                        self.account(usage);
                        meta.usage = Some(*usage);
                        self.meter
                            .settle(&mut meta.grant, Some(u64::from(usage.total_tokens)));
                    }
                    StreamEvent::TextDelta { text, .. } => {
                        self.charge_output(meta, text.len());
                        self.emit(RunEvent::TextDelta { text: text.clone() })
                    }
                    StreamEvent::ToolUseInputDelta { fragment, .. } => {
                        self.charge_output(meta, fragment.len())
                    }
                    _ => {}
                }
                Ok(Some(event))
            }
            None => {
                self.stream_finished(meta, None);
                Ok(None)
            }
            Some(Err(e)) => {
                self.record_backend_error(&e);
                self.stream_finished(meta, Some(e.category().to_string()));
                Err(ChatFailure::Backend(e))
            }
        }
    }

    /// Charges streamed output as it arrives, so a stream the guest drops before its usage
    /// report still costs what it produced (in whole estimated tokens).
    fn charge_output(&mut self, meta: &mut StreamMeta, bytes: usize) {
        if meta.usage.is_some() {
            return;
        }
        meta.uncharged_bytes += bytes;
        let whole = meta.uncharged_bytes / 4;
        if whole > 0 {
            meta.uncharged_bytes -= whole * 4;
            self.meter.charge(&mut meta.grant, whole as u64);
        }
    }

    /// Settles a stream and emits `ChatFinished` for it, once.
    pub(crate) fn stream_finished(&mut self, meta: &mut StreamMeta, error: Option<String>) {
        if meta.finished {
            return;
        }
        meta.finished = true;
        self.meter.open_streams = self.meter.open_streams.saturating_sub(1);
        if meta.usage.is_none() && meta.uncharged_bytes > 0 {
            self.meter.charge(&mut meta.grant, 1);
        }
        self.meter.settle(&mut meta.grant, None);
        let elapsed = meta.started.elapsed();
        let tokens = meta.usage.map(|u| u.total_tokens).unwrap_or(0);
        let elapsed_ms = elapsed.as_millis() as u64;
        match &error {
            None => tracing::info!(
                plugin = %self.plugin,
                model = %meta.model,
                tokens,
                elapsed_ms,
                "chat stream finished"
            ),
            Some(error) => tracing::info!(
                plugin = %self.plugin,
                model = %meta.model,
                tokens,
                elapsed_ms,
                error = %error,
                "chat stream ended early"
            ),
        }
        self.emit(RunEvent::ChatFinished {
            model: meta.model.clone(),
            usage: meta.usage,
            elapsed,
            error,
        });
    }

    /// The models this plugin may use: the policy's list, else the backend's.
    pub(crate) fn models(&self) -> Vec<String> {
        match &self.policy.allowed_models {
            Some(allowed) => allowed.clone(),
            None => self.backend.supported_models(),
        }
    }

    pub(crate) fn default_model(&self) -> String {
        self.backend.default_model().to_string()
    }

    /// The host tools this plugin may see.
    pub(crate) fn tool_specs(&self) -> Vec<crate::tools::ToolSpec> {
        self.tools
            .entries()
            .filter(|(s, t)| self.policy.host_tool_allowed(&s.name, t.opt_in()))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// One host tool call under the policy. `input` is the guest's JSON text.
    pub(crate) async fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError> {
        self.call_tool_content(name, input)
            .await
            .map(|content| crate::tools::content_text(&content))
    }

    /// One host tool call under the policy, its output as content (text, JSON, media).
    pub(crate) async fn call_tool_content(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        self.tool_calls = self.tool_calls.saturating_add(1);
        let result = self.call_tool_inner(name, input).await;
        let shown = crate::text::echo(name);
        match &result {
            Ok(out) => {
                let bytes: usize = out.iter().map(crate::tools::content_bytes).sum();
                tracing::info!(plugin = %self.plugin, tool = %shown, bytes, "host tool call")
            }
            Err(e) => {
                tracing::info!(plugin = %self.plugin, tool = %shown, "host tool call failed: {e}")
            }
        }
        self.emit(RunEvent::ToolCall {
            name: shown,
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
        });
        result
    }

    async fn call_tool_inner(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        let Some(tool) = self.tools.get(name).cloned() else {
            return Err(ToolError::NotFound(format!(
                "no host tool is called `{}`",
                crate::text::echo(name)
            )));
        };
        if let Err(v) = self.policy.admit_tool(name, tool.opt_in()) {
            let v = self.record_violation(v);
            return Err(ToolError::NotAllowed(v.message));
        }
        // Size and structure before the parse: the input is the guest's, unbounded.
        if let Err(v) = self.policy.admit_tool_input(input.len()) {
            let v = self.record_violation(v);
            return Err(ToolError::InvalidInput(v.message));
        }
        let mut budget = crate::wit::json_cache::JsonBudget {
            items_left: self.policy.max_request_items,
        };
        let input = self.json.parse(input, &mut budget).map_err(|e| match e {
            crate::wit::json_cache::JsonError::TooLarge { items } => {
                let v = crate::policy::too_many_items(items, self.policy.max_request_items, false);
                ToolError::InvalidInput(self.record_violation(v).message)
            }
            e => ToolError::InvalidInput(format!("the input is not valid JSON: {e}")),
        })?;
        // A panicking tool (embedder code) fails this call, not the host's task.
        std::panic::AssertUnwindSafe(tool.call_content(input))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(ToolError::Failed(format!(
                    "the host tool `{name}` panicked"
                )))
            })
    }

    /// What the run used, for the report.
    pub(crate) fn stats(&self, duration: Duration, fuel_consumed: Option<u64>) -> RunStats {
        RunStats {
            chat_calls: self.meter.chat_calls,
            tool_calls: self.tool_calls,
            usage: self.usage,
            tokens_charged: self.meter.tokens_used,
            duration,
            peak_memory_bytes: self.limiter.peak(),
            fuel_consumed,
        }
    }

    /// The recorded violation of `kind`, or a new one with `message`.
    pub(crate) fn violation_of(&self, kind: ViolationKind, message: &str) -> PolicyViolation {
        self.violations
            .iter()
            .rev()
            .find(|v| v.kind == kind)
            .cloned()
            .unwrap_or_else(|| PolicyViolation::new(kind, message))
    }
}

/// What one run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunStats {
    /// Chat calls admitted (sent to the backend).
    pub chat_calls: u32,
    /// Host tool calls attempted.
    pub tool_calls: u32,
    /// Tokens, as the backend reported them.
    pub usage: Usage,
    /// Tokens charged against the policy's budget: the reported usage, plus estimates for
    /// calls whose usage never arrived (a stream dropped before its end).
    pub tokens_charged: u64,
    /// Wall-clock time from the start of instantiation to the end.
    pub duration: Duration,
    /// The most linear memory the plugin had at once.
    pub peak_memory_bytes: u64,
    /// Fuel used, when the run was metered.
    pub fuel_consumed: Option<u64>,
}

/// The text bytes of a reply, for an output estimate when the backend reports no usage.
fn text_bytes(response: &ChatResponse) -> usize {
    response
        .message
        .content
        .iter()
        .map(|b| match b {
            gamecode_backend::ContentBlock::Text { text } => text.len(),
            gamecode_backend::ContentBlock::ToolUse(c) => c.input.to_string().len(),
            gamecode_backend::ContentBlock::ToolResult(_)
            | gamecode_backend::ContentBlock::Image(_)
            | gamecode_backend::ContentBlock::Document(_)
            | gamecode_backend::ContentBlock::CachePoint(_) => 0,
            gamecode_backend::ContentBlock::Cited(c) => c.text.len(),
            gamecode_backend::ContentBlock::Reasoning(r) => match r {
                gamecode_backend::Reasoning::Text { text, .. } => text.len(),
                gamecode_backend::Reasoning::Redacted { data } => data.len(),
            },
        })
        .sum()
}

/// Drains one event from a reply stream (used by the WIT host impl).
pub(crate) async fn next_stream_item(
    stream: &mut ReplyStreamState,
) -> Option<Result<StreamEvent, BackendError>> {
    if stream.done {
        return None;
    }
    let item = stream.stream.next().await;
    if !matches!(item, Some(Ok(_))) {
        stream.done = true;
    }
    item
}
