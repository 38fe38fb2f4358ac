//! A journaled run's side of each model and tool call: answered from the journal while the
//! run replays, journaled once it is live (see [`crate::journal`]).

use gamecode_backend::{BackendError, ChatRequest, StreamEvent, ToolResultContent};

use super::{ChatFailure, RunState};
use crate::approval::{Decision, PendingCall};
use crate::journal::{self, Call, JournalHalt, ModelReply, StreamEnd, ToolReply};
use crate::tools::ToolError;

/// Where a call's answer comes from.
pub(super) enum Answer<T> {
    /// The run is not journaled: call.
    Live,
    /// Call, then journal the answer under this ask.
    Journal(String),
    /// The journal holds it.
    Replayed(T),
}

/// A live stream being journaled: what the plugin was given so far.
#[derive(Debug)]
pub(crate) struct StreamTape {
    ask: String,
    events: Vec<StreamEvent>,
}

impl RunState {
    /// Stops the wasm side once the journal halted the run: each host call that may touch
    /// the journal ends with this, so the plugin never acts on the placeholder error.
    pub(crate) fn halted(&self) -> wasmtime::Result<()> {
        match &self.halt {
            Some(halt) => Err(wasmtime::Error::new(halt.clone())),
            None => Ok(()),
        }
    }

    /// Records why the journal halted the run; what the call returns meanwhile is never seen.
    pub(super) fn halt(&mut self, halt: JournalHalt) -> String {
        match &halt {
            JournalHalt::Waiting(_) => {
                tracing::info!(plugin = %self.plugin, "the run stops: {halt}")
            }
            _ => tracing::error!(plugin = %self.plugin, "the run's journal stopped it: {halt}"),
        }
        let message = halt.to_string();
        self.halt.get_or_insert(halt);
        message
    }

    /// Where a model call's answer comes from. A live call first waits until the journal
    /// holds every answer before it (write-ahead).
    pub(super) async fn model_answer(
        &mut self,
        request: &ChatRequest,
    ) -> Result<Answer<ModelReply>, ChatFailure> {
        let Some(journal) = &mut self.journal else {
            return Ok(Answer::Live);
        };
        let ask = journal::model_ask(request);
        let answer = match journal.replayed_model(&ask) {
            Ok(Some(reply)) => return Ok(Answer::Replayed(reply)),
            Ok(None) => journal.settle().await.map(|()| Answer::Journal(ask)),
            Err(h) => Err(h),
        };
        answer.map_err(|h| ChatFailure::State(self.halt(h)))
    }

    /// A journaled reply of the wrong kind (a stream where a whole reply was asked for).
    pub(super) fn wrong_reply(&mut self, asked: &str) -> ChatFailure {
        ChatFailure::State(self.halt(JournalHalt::Diverged(format!(
            "the plugin asked for a {asked} where its journal holds another kind of reply"
        ))))
    }

    pub(super) fn journal_model(&mut self, ask: String, reply: ModelReply) {
        self.write(Call::Model { ask, reply });
    }

    /// Where a tool call's result comes from (a live call first waits for the journal, as
    /// a model call does).
    pub(super) async fn tool_answer(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Answer<ToolReply>, ToolError> {
        let Some(journal) = &mut self.journal else {
            return Ok(Answer::Live);
        };
        let ask = journal::tool_ask(name, input);
        let answer = match journal.replayed_tool(&ask) {
            Ok(Some(reply)) => return Ok(Answer::Replayed(reply)),
            Ok(None) => journal.settle().await.map(|()| Answer::Journal(ask)),
            Err(h) => Err(h),
        };
        answer.map_err(|h| ToolError::Failed(self.halt(h)))
    }

    /// Whether a call of the host tool `name` may go ahead. One that needs a person's
    /// approval goes ahead once approved (the decision is in the journal); denied, it fails
    /// with the reason; without a decision, the run stops to wait for one. A run that is not
    /// journaled cannot wait: the call is refused.
    pub(super) async fn approved(&mut self, name: &str, input: &str) -> Result<(), ToolError> {
        let Some(tool) = self.tools.get(name).cloned() else {
            return Ok(());
        };
        if !self.approvals.needed(name, tool.opt_in()) {
            return Ok(());
        }
        // A call the policy or its input refuses anyway needs nobody: it is refused as usual.
        if self.policy.admit_tool(name, tool.opt_in()).is_err()
            || self.policy.admit_tool_input(input.len()).is_err()
        {
            return Ok(());
        }
        let Ok(parsed) = serde_json::from_str::<serde_json::Value>(input) else {
            return Ok(());
        };
        let Some(journal) = &mut self.journal else {
            return Err(ToolError::NotAllowed(format!(
                "calls of `{}` need a person's approval, and this run is not durable (the host \
                 keeps no state store): nobody can be asked",
                crate::text::echo(name)
            )));
        };
        let ask = journal::tool_ask(name, input);
        let halt = match journal.decision(&ask) {
            Ok(Some(Decision::Approve)) => return Ok(()),
            Ok(Some(Decision::Deny(reason))) => {
                return Err(ToolError::NotAllowed(format!(
                    "a person denied this call: {reason}"
                )));
            }
            Ok(None) => {
                // The person is shown the input as the tool will read it.
                let call = PendingCall {
                    tool: name.to_string(),
                    input: parsed.to_string(),
                };
                match journal.wait_for(ask, call.clone()).await {
                    Ok(()) => JournalHalt::Waiting(call),
                    Err(h) => h,
                }
            }
            Err(h) => h,
        };
        Err(ToolError::Failed(self.halt(halt)))
    }

    pub(super) fn journal_tool(
        &mut self,
        ask: String,
        result: &Result<Vec<ToolResultContent>, ToolError>,
    ) {
        let reply = journal::tool_reply(result);
        self.write(Call::Tool { ask, reply });
    }

    /// The tape of a live stream opened as `ask` (the journal notes it open).
    pub(super) fn tape_for(&mut self, ask: String) -> StreamTape {
        if let Some(journal) = &mut self.journal {
            journal.stream_opened(&ask);
        }
        StreamTape {
            ask,
            events: Vec::new(),
        }
    }

    /// Adds what a journaled stream gave the plugin; at its end, journals it.
    pub(super) fn tape_stream(
        &mut self,
        tape: &mut Option<StreamTape>,
        item: Option<&Result<StreamEvent, BackendError>>,
    ) {
        let end = match item {
            Some(Ok(event)) => {
                if let Some(tape) = tape {
                    tape.events.push(event.clone());
                }
                return;
            }
            Some(Err(e)) => StreamEnd::Failed(e.clone()),
            None => StreamEnd::Completed,
        };
        self.stream_taped(tape.take(), end);
    }

    /// Journals a stream that ended (or was dropped) with what it gave.
    pub(super) fn stream_taped(&mut self, tape: Option<StreamTape>, end: StreamEnd) {
        if let Some(StreamTape { ask, events }) = tape {
            let reply = ModelReply::Stream { events, end };
            self.write(Call::Model { ask, reply });
        }
    }

    /// Hands an answer to the journal's writer; a failure to write it halts the run at the
    /// next call (or at its end).
    fn write(&mut self, call: Call) {
        if let Some(journal) = &mut self.journal {
            journal.write(call);
        }
    }
}
