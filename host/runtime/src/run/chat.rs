//! One chat call of a run: admit → build → call → settle. Stateless requests come from the
//! WIT layer; conversation turns from `conversation`, with a request the conversation keeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gamecode_backend::{
    AttemptLog, BackendError, ChatCall, ChatRequest, ChatResponse, ChatStream, ConversationCache,
    LLMBackend, RetryConfig, Usage,
};

use super::journaled::Answer;
use super::model_wait::waiting_on_model;
use super::stream::{ReplyStreamState, StreamMeta};
use super::{ChatFailure, GuestRequest, RunState};
use crate::journal::{self, ModelReply};
use crate::observer::RunEvent;
use crate::policy::{ChatAsk, Grant, estimate_tokens};

impl RunState {
    /// A stateless chat call, whole.
    pub(crate) async fn chat(
        &mut self,
        request: impl GuestRequest,
    ) -> Result<ChatResponse, ChatFailure> {
        let (grant, mut request) = self.admit_request(request, false)?;
        let model = self.prepare(&grant, &mut request, false);
        self.call_whole(grant, model, &request, None).await
    }

    /// A stateless chat call, streamed.
    pub(crate) async fn chat_stream(
        &mut self,
        request: impl GuestRequest,
    ) -> Result<ReplyStreamState, ChatFailure> {
        let (grant, mut request) = self.admit_request(request, true)?;
        let model = self.prepare(&grant, &mut request, true);
        self.call_stream(grant, model, &request, None).await
    }

    /// The policy admits a stateless request as measured; only then is it built.
    fn admit_request(
        &mut self,
        request: impl GuestRequest,
        streaming: bool,
    ) -> Result<(Grant, ChatRequest), ChatFailure> {
        let size = request.size();
        if let Err(v) = self.policy.admit_attachments(&size) {
            return Err(ChatFailure::Policy(self.record_violation(v)));
        }
        let grant = self.admit(&ChatAsk::of(
            request.model(),
            &size,
            request.max_tokens(),
            streaming,
        ))?;
        match self.build(request, size.items, String::new()) {
            Ok(request) => Ok((grant, request)),
            Err(failure) => Err(self.unbuilt(grant, failure)),
        }
    }

    /// Admits a chat call under the policy before anything is built from the request (see
    /// [`Policy::admit_chat`](crate::policy::Policy)); the grant is settled when the call ends.
    pub(super) fn admit(&mut self, ask: &ChatAsk<'_>) -> Result<Grant, ChatFailure> {
        let default_model = self.backend.default_model();
        self.policy
            .admit_chat(&mut self.meter, ask, default_model)
            .map_err(|v| ChatFailure::Policy(self.record_violation(v)))
    }

    /// Withdraws an admitted call whose request could not be built (its refusal is already
    /// recorded).
    pub(super) fn unbuilt(&mut self, mut grant: Grant, failure: ChatFailure) -> ChatFailure {
        self.meter.withdraw(&mut grant);
        failure
    }

    /// Applies the grant to a built request and announces the call; returns its model.
    pub(super) fn prepare(
        &self,
        grant: &Grant,
        request: &mut ChatRequest,
        streaming: bool,
    ) -> String {
        grant.apply(request);
        request.session_id = Some(self.session_id.clone());
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.backend.default_model().to_string());
        self.emit(RunEvent::ChatStarted {
            model: model.clone(),
            streaming,
        });
        model
    }

    /// Sends a prepared request for a whole reply, and settles the call. A conversation's
    /// turn comes with what the backend keeps of its earlier turns.
    pub(super) async fn call_whole(
        &mut self,
        grant: Grant,
        model: String,
        request: &ChatRequest,
        cache: Option<&ConversationCache>,
    ) -> Result<ChatResponse, ChatFailure> {
        let started = Instant::now();
        let ask = match self.model_answer(request).await {
            Ok(Answer::Replayed(ModelReply::Whole(response))) => {
                return self.chat_ended(grant, model, started.elapsed(), Ok(response));
            }
            Ok(Answer::Replayed(ModelReply::Failed(e))) => {
                return self.chat_ended(grant, model, started.elapsed(), Err(e));
            }
            Ok(Answer::Replayed(ModelReply::Stream { .. })) => {
                let failure = self.wrong_reply("whole reply");
                return Err(self.unbuilt(grant, failure));
            }
            Ok(Answer::Journal(ask)) => Some(ask),
            Ok(Answer::Live) => None,
            Err(failure) => return Err(self.unbuilt(grant, failure)),
        };
        let (result, _) = self
            .wait_on_model(|backend, retry| async move {
                let reply = backend.send(call(request, retry, cache)).await?;
                reply.into_response(request).await
            })
            .await;
        if let Some(ask) = ask {
            self.journal_model(ask, journal::whole_reply(&result));
        }
        self.chat_ended(grant, model, started.elapsed(), result)
    }

    /// Opens a streamed reply to a prepared request; the call is settled as the stream ends.
    pub(super) async fn call_stream(
        &mut self,
        grant: Grant,
        model: String,
        request: &ChatRequest,
        cache: Option<&ConversationCache>,
    ) -> Result<ReplyStreamState, ChatFailure> {
        let started = Instant::now();
        let ask = match self.model_answer(request).await {
            Ok(Answer::Replayed(ModelReply::Stream { events, end })) => {
                let stream = journal::replayed_stream(events, end);
                return self.stream_opened(grant, model, started, AttemptLog::new(), Ok(stream));
            }
            Ok(Answer::Replayed(ModelReply::Failed(e))) => {
                return self.stream_opened(grant, model, started, AttemptLog::new(), Err(e));
            }
            Ok(Answer::Replayed(ModelReply::Whole(_))) => {
                let failure = self.wrong_reply("streamed reply");
                return Err(self.unbuilt(grant, failure));
            }
            Ok(Answer::Journal(ask)) => Some(ask),
            Ok(Answer::Live) => None,
            Err(failure) => return Err(self.unbuilt(grant, failure)),
        };
        let (result, log) = self
            .wait_on_model(|backend, retry| async move {
                let call = call(request, retry, cache).streamed(true);
                backend.send(call).await?.into_stream()
            })
            .await;
        match (ask, &result) {
            (Some(ask), Err(e)) => {
                self.journal_model(ask, ModelReply::Failed(e.clone()));
                self.stream_opened(grant, model, started, log, result)
            }
            (Some(ask), Ok(_)) => {
                let tape = self.tape_for(ask);
                self.stream_opened(grant, model, started, log, result)
                    .map(|stream| stream.taped(tape))
            }
            (None, _) => self.stream_opened(grant, model, started, log, result),
        }
    }

    /// Runs a backend call (made by `call` with the backend and the plugin's retry policy) as
    /// a wait on the model, its attempts logged.
    async fn wait_on_model<T, F>(
        &mut self,
        call: impl FnOnce(Arc<dyn LLMBackend>, Option<RetryConfig>) -> F,
    ) -> (T, Arc<AttemptLog>)
    where
        F: Future<Output = T>,
    {
        let log = AttemptLog::new();
        let call = call(self.backend.clone(), self.policy.retry.clone());
        let out = waiting_on_model(&mut self.model_wait, log.clone(), log.scope(call)).await;
        (out, log)
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
                        let output = estimate_tokens(text_bytes(&response));
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
    pub(super) fn chat_failed(
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
            // A network or provider failure, or one of a category newer than this host: it
            // may have been billed.
            C::Network | C::Provider => self.meter.settle(&mut grant, None),
            C::RateLimited | C::Validation | C::Authentication => {
                self.meter.settle(&mut grant, Some(0))
            }
            _ => self.meter.settle(&mut grant, None),
        }
        self.emit(RunEvent::ChatFinished {
            model,
            usage: None,
            elapsed,
            error: Some(e.category().to_string()),
        });
        ChatFailure::Backend(e)
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
                Ok(ReplyStreamState::new(
                    stream,
                    StreamMeta::new(model, started, grant, log),
                ))
            }
            Err(e) => Err(self.chat_failed(grant, model, started.elapsed(), e)),
        }
    }

    pub(super) fn record_backend_error(&mut self, error: &BackendError) {
        tracing::warn!(plugin = %self.plugin, category = %error.category(), "chat failed: {error}");
        self.backend_errors.push(error.clone());
    }

    pub(super) fn account(&mut self, usage: &Usage) {
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
}

/// The backend call of a prepared request.
fn call<'a>(
    request: &'a ChatRequest,
    retry: Option<RetryConfig>,
    cache: Option<&'a ConversationCache>,
) -> ChatCall<'a> {
    let call = ChatCall::new(request).retry(retry);
    match cache {
        Some(cache) => call.cached(cache),
        None => call,
    }
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
            gamecode_backend::ContentBlock::Cited(c) => c.text.len(),
            gamecode_backend::ContentBlock::Reasoning(r) => match r {
                gamecode_backend::Reasoning::Text { text, .. } => text.len(),
                gamecode_backend::Reasoning::Redacted { data } => data.len(),
            },
            // Results, media and cache points are not output (nor kinds newer than this host).
            _ => 0,
        })
        .sum()
}
