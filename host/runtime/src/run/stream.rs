//! Open reply streams of a run: pulling an event (a wait on the model), accounting for what
//! it carries, folding it into the conversation turn it answers, settling the call at its end.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use gamecode_backend::{AttemptLog, BackendError, ChatStream, StreamEvent, Usage};
use wasmtime::component::Resource;

use super::conversation::StreamedTurn;
use super::journaled::StreamTape;
use super::model_wait::waiting_on_model;
use super::{ChatFailure, RunState};
use crate::journal::StreamEnd;
use crate::observer::RunEvent;
use crate::policy::Grant;

/// A stream the guest is pulling from (the WIT `reply-stream` resource).
pub struct ReplyStreamState {
    stream: ChatStream,
    done: bool,
    /// The conversation turn this stream answers, if it came from `send-stream`.
    pub(super) turn: Option<StreamedTurn>,
    meta: StreamMeta,
    /// What a journaled run's live stream gave so far, journaled at its end.
    tape: Option<StreamTape>,
}

/// What the run tracks about an open stream.
#[derive(Debug, Clone)]
pub(super) struct StreamMeta {
    model: String,
    started: Instant,
    usage: Option<Usage>,
    /// What the policy charged and reserved for this call.
    grant: Grant,
    /// The attempts made to open it.
    attempts: Arc<AttemptLog>,
    /// Output bytes seen and not yet charged (charged in whole tokens).
    uncharged_bytes: usize,
    /// Whether the stream was settled and `ChatFinished` emitted (at the end, on error, or
    /// on drop).
    finished: bool,
}

impl ReplyStreamState {
    pub(super) fn new(stream: ChatStream, meta: StreamMeta) -> Self {
        Self {
            stream,
            done: false,
            turn: None,
            meta,
            tape: None,
        }
    }

    /// This stream, journaled as it goes.
    pub(super) fn taped(mut self, tape: StreamTape) -> Self {
        self.tape = Some(tape);
        self
    }

    /// Drains one event, once the stream has not ended.
    async fn next_item(&mut self) -> Option<Result<StreamEvent, BackendError>> {
        if self.done {
            return None;
        }
        let item = self.stream.next().await;
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl StreamMeta {
    pub(super) fn new(
        model: String,
        started: Instant,
        grant: Grant,
        attempts: Arc<AttemptLog>,
    ) -> Self {
        Self {
            model,
            started,
            usage: None,
            grant,
            attempts,
            uncharged_bytes: 0,
            finished: false,
        }
    }
}

impl RunState {
    /// The next event of a reply stream that `keep` maps (each version's `next`: a version
    /// maps the backend's events onto its own and skips what it cannot carry).
    pub(crate) async fn next_event<E>(
        &mut self,
        stream: &Resource<ReplyStreamState>,
        keep: impl Fn(StreamEvent) -> Option<E>,
    ) -> wasmtime::Result<Result<Option<E>, ChatFailure>> {
        loop {
            match self.pull(stream).await? {
                Ok(Some(event)) => {
                    if let Some(event) = keep(event) {
                        return Ok(Ok(Some(event)));
                    }
                }
                Ok(None) => return Ok(Ok(None)),
                Err(f) => return Ok(Err(f)),
            }
        }
    }

    /// Pulls the next backend event of a reply stream, folding it into the conversation turn
    /// it answers, if any.
    async fn pull(
        &mut self,
        stream: &Resource<ReplyStreamState>,
    ) -> wasmtime::Result<Result<Option<StreamEvent>, ChatFailure>> {
        let state = self.table.get_mut(stream)?;
        let attempts = state.meta.attempts.clone();
        let item = waiting_on_model(&mut self.model_wait, attempts, state.next_item()).await;
        let (mut meta, mut tape) = (state.meta.clone(), state.tape.take());
        if tape.is_some() {
            self.tape_stream(&mut tape, item.as_ref());
        }
        let result = self.stream_item(&mut meta, item);
        let state = self.table.get_mut(stream)?;
        state.meta = meta;
        state.tape = tape;
        let turn = match &result {
            Ok(Some(event)) => {
                if let Some(turn) = &mut state.turn {
                    turn.push(event);
                }
                None
            }
            Ok(None) => state.turn.take().map(|turn| (turn, true)),
            Err(_) => state.turn.take().map(|turn| (turn, false)),
        };
        if let Some((turn, completed)) = turn {
            self.turn_finished(turn, completed);
        }
        Ok(result)
    }

    /// A streamed turn ended: completed, its reply joins the conversation.
    fn turn_finished(&mut self, turn: StreamedTurn, completed: bool) {
        self.held.grow(turn.finish(completed));
    }

    /// Drops a reply stream (each version's): the upstream request is cancelled, an
    /// unfinished conversation turn is abandoned.
    pub(crate) fn drop_stream(
        &mut self,
        stream: Resource<ReplyStreamState>,
    ) -> wasmtime::Result<()> {
        let mut state = self.table.delete(stream)?;
        if let Some(turn) = state.turn.take() {
            self.turn_finished(turn, false);
        }
        self.stream_taped(state.tape.take(), StreamEnd::Dropped);
        self.stream_finished(&mut state.meta, Some("cancelled".into()));
        Ok(())
    }

    /// Accounts for an event pulled from a stream, or for the end or error that ended it.
    fn stream_item(
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
    fn stream_finished(&mut self, meta: &mut StreamMeta, error: Option<String>) {
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
}
