//! A run's journal: what the plugin cannot recompute (model replies, tool results, clock
//! readings), written to the state store as each happens and served back on resume, so that
//! no model or tool call that completed is made twice.
//!
//! A resumed run starts the plugin again from the beginning with the same task and random
//! seed. The plugin is deterministic given what the host answers, so it asks again for what
//! it asked before: each ask is answered from the journal (matched by what was asked), until
//! the journal runs out and the run goes on live, journaling again. An ask the journal does
//! not hold where it should halts the run: the plugin is not the one that was journaled, or
//! is not deterministic.

mod clock;
mod record;
mod show;
mod writer;

use std::collections::VecDeque;
use std::sync::Arc;

use gamecode_backend::{BackendError, ChatRequest, ChatResponse, StreamEvent};
use gamecode_state::{NewRun, StateError, StateStore};
use sha2::{Digest, Sha256};

pub(crate) use clock::{ClockTape, JournaledMonotonicClock, JournaledWallClock};
pub(crate) use record::{Call, ModelReply, Record, Start, StreamEnd, ToolReply};
pub use show::{describe, task_of};
use writer::InFlight;
pub(crate) use writer::JournalWriter;

use crate::tools::ToolError;

/// Why a journaled run cannot go on: the host's store failed, or the plugin does not replay.
#[derive(Debug, Clone)]
pub(crate) enum JournalHalt {
    Store(String),
    Diverged(String),
}

impl JournalHalt {
    /// The run's error.
    pub(crate) fn run_error(&self) -> crate::RunError {
        match self {
            Self::Store(m) => crate::RunError::Journal(m.clone()),
            Self::Diverged(m) => crate::RunError::Diverged(m.clone()),
        }
    }
}

impl std::fmt::Display for JournalHalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(m) | Self::Diverged(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for JournalHalt {}

/// The journal of one run, live or resuming.
pub(crate) struct Journal {
    store: Arc<dyn StateStore>,
    run_id: String,
    next_seq: u64,
    writer: JournalWriter,
    /// Entries handed to the writer and not yet known to be written.
    in_flight: InFlight,
    /// Journaled answers not yet asked for again, in journal order.
    models: VecDeque<(String, ModelReply)>,
    tools: VecDeque<(String, ToolReply)>,
    clocks: Arc<ClockTape>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("run_id", &self.run_id)
            .field("next_seq", &self.next_seq)
            .field("replaying", &self.replaying())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A new journaled run in `store`.
    pub(crate) async fn create(
        writer: JournalWriter,
        store: Arc<dyn StateStore>,
        run: NewRun,
    ) -> Result<Self, StateError> {
        let run_id = run.id.clone();
        writer
            .submit(&store, move |store| store.create_run(&run))
            .await
            .map_err(|_| StateError::Storage("the journal's writer thread is gone".into()))??;
        Ok(Self {
            store,
            run_id,
            next_seq: 0,
            writer,
            in_flight: InFlight::default(),
            models: VecDeque::new(),
            tools: VecDeque::new(),
            clocks: Arc::new(ClockTape::live()),
        })
    }

    /// An interrupted run taken over by this process, its journal loaded for replay.
    pub(crate) fn resume(
        writer: JournalWriter,
        store: Arc<dyn StateStore>,
        run_id: &str,
    ) -> Result<Self, JournalHalt> {
        let entries = store
            .journal(run_id)
            .map_err(|e| JournalHalt::Store(e.to_string()))?;
        let (mut models, mut tools) = (VecDeque::new(), VecDeque::new());
        let (mut wall, mut mono) = (Vec::new(), Vec::new());
        for entry in &entries {
            let record = Record::decode(&entry.body)
                .map_err(|e| JournalHalt::Store(format!("journal entry {}: {e}", entry.seq)))?;
            wall.extend(record.clock.wall);
            mono.extend(record.clock.mono);
            match record.call {
                Call::Model { ask, reply } => models.push_back((ask, reply)),
                Call::Tool { ask, reply } => tools.push_back((ask, reply)),
            }
        }
        Ok(Self {
            store,
            run_id: run_id.to_string(),
            next_seq: entries.last().map_or(0, |e| e.seq + 1),
            writer,
            in_flight: InFlight::default(),
            models,
            tools,
            clocks: Arc::new(ClockTape::replaying(wall, mono)),
        })
    }

    pub(crate) fn clocks(&self) -> Arc<ClockTape> {
        self.clocks.clone()
    }

    /// Whether journaled answers remain to be asked for again.
    pub(crate) fn replaying(&self) -> bool {
        !self.models.is_empty() || !self.tools.is_empty()
    }

    /// The journaled reply to a model call asked as `ask`, if the journal holds one.
    pub(crate) fn replayed_model(&mut self, ask: &str) -> Result<Option<ModelReply>, JournalHalt> {
        take(&mut self.models, ask, "model call")
    }

    /// The journaled result of a tool call asked as `ask`, if the journal holds one.
    pub(crate) fn replayed_tool(&mut self, ask: &str) -> Result<Option<ToolReply>, JournalHalt> {
        take(&mut self.tools, ask, "tool call")
    }

    /// Hands a call's answer to the writer, with the clock readings the plugin made before
    /// it; [`settle`](Self::settle) waits for it.
    pub(crate) fn write(&mut self, call: Call) {
        let record = Record {
            call,
            clock: self.clocks.take_new(),
        };
        let (run, seq) = (self.run_id.clone(), self.next_seq);
        self.next_seq += 1;
        // Encoded on the writer thread too: off the run's path.
        self.in_flight
            .track(&self.writer, &self.store, move |store| {
                store
                    .append(&run, seq, record.kind(), &record.encode())
                    .map_err(|e| format!("the run's journal could not be written: {e}"))
            });
    }

    /// Waits until every answer handed over is written: before a call goes out, and before
    /// the run ends.
    pub(crate) async fn settle(&mut self) -> Result<(), JournalHalt> {
        self.in_flight.settle().await.map_err(JournalHalt::Store)
    }

    /// Marks the run ended in the store, once its entries are written.
    pub(crate) async fn finish(
        &mut self,
        outcome: Result<String, String>,
    ) -> Result<(), JournalHalt> {
        self.settle().await?;
        let (status, text) = match outcome {
            Ok(answer) => (gamecode_state::RunStatus::Finished, answer),
            Err(error) => (gamecode_state::RunStatus::Failed, error),
        };
        let run = self.run_id.clone();
        self.writer
            .submit(&self.store, move |store| store.finish(&run, status, &text))
            .await
            .map_err(|_| JournalHalt::Store("the journal's writer thread is gone".into()))?
            .map_err(|e| JournalHalt::Store(e.to_string()))
    }
}

/// Takes the first journaled answer asked as `ask`. Answers are journaled as calls complete,
/// so calls that overlapped (two open streams) may be journaled in another order than they
/// were asked: the first match is taken, not the head.
fn take<T>(
    queue: &mut VecDeque<(String, T)>,
    ask: &str,
    what: &str,
) -> Result<Option<T>, JournalHalt> {
    if queue.is_empty() {
        return Ok(None);
    }
    match queue.iter().position(|(a, _)| a == ask) {
        Some(i) => Ok(queue.remove(i).map(|(_, reply)| reply)),
        None => Err(JournalHalt::Diverged(format!(
            "the plugin made a {what} its journal does not hold ({} journaled {what}s are \
             still to be asked for): it is not deterministic, or not the plugin that was \
             journaled",
            queue.len()
        ))),
    }
}

/// What identifies a model call in the journal: the model, the number of messages and the
/// last one. It is computed from the new content only, so that journaling stays O(new
/// content) per turn; a deterministic plugin asks the same again.
pub(crate) fn model_ask(request: &ChatRequest) -> String {
    let mut h = Sha256::new();
    h.update(request.model.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update((request.messages.len() as u64).to_le_bytes());
    if let Some(last) = request.messages.last() {
        // Serializing a message cannot fail (no maps with non-string keys).
        h.update(serde_json::to_vec(last).unwrap_or_default());
    }
    hex(&h.finalize()[..16])
}

/// What identifies a tool call in the journal: the tool and its input.
pub(crate) fn tool_ask(name: &str, input: &str) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(input.as_bytes());
    hex(&h.finalize()[..16])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A whole reply as the journal keeps it.
pub(crate) fn whole_reply(result: &Result<ChatResponse, BackendError>) -> ModelReply {
    match result {
        Ok(response) => ModelReply::Whole(response.clone()),
        Err(e) => ModelReply::Failed(e.clone()),
    }
}

/// A tool result as the journal keeps it.
pub(crate) fn tool_reply(
    result: &Result<Vec<gamecode_backend::ToolResultContent>, ToolError>,
) -> ToolReply {
    match result {
        Ok(content) => ToolReply::Ok(content.clone()),
        Err(e) => ToolReply::Err(e.clone()),
    }
}

/// The events a replayed stream gives, and how it ends.
pub(crate) fn replayed_stream(
    events: Vec<StreamEvent>,
    end: StreamEnd,
) -> gamecode_backend::ChatStream {
    let tail = match end {
        StreamEnd::Failed(e) => Some(Err(e)),
        StreamEnd::Completed | StreamEnd::Dropped => None,
    };
    Box::pin(futures::stream::iter(
        events.into_iter().map(Ok).chain(tail),
    ))
}
