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

use std::collections::VecDeque;
use std::sync::Arc;

use gamecode_backend::{BackendError, ChatRequest, ChatResponse, StreamEvent};
use gamecode_state::{NewRun, StateError, StateStore};
use sha2::{Digest, Sha256};

pub(crate) use clock::{ClockTape, JournaledMonotonicClock, JournaledWallClock};
pub(crate) use record::{ModelReply, Record, Start, StreamEnd, ToolReply};
pub use show::{describe, task_of};

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
    pub(crate) fn create(store: Arc<dyn StateStore>, run: &NewRun) -> Result<Self, StateError> {
        store.create_run(run)?;
        Ok(Self {
            store,
            run_id: run.id.clone(),
            next_seq: 0,
            models: VecDeque::new(),
            tools: VecDeque::new(),
            clocks: Arc::new(ClockTape::live()),
        })
    }

    /// An interrupted run taken over by this process, its journal loaded for replay.
    pub(crate) fn resume(store: Arc<dyn StateStore>, run_id: &str) -> Result<Self, JournalHalt> {
        let entries = store
            .journal(run_id)
            .map_err(|e| JournalHalt::Store(e.to_string()))?;
        let (mut models, mut tools) = (VecDeque::new(), VecDeque::new());
        let (mut wall, mut mono) = (Vec::new(), Vec::new());
        for entry in &entries {
            match Record::decode(&entry.body)
                .map_err(|e| JournalHalt::Store(format!("journal entry {}: {e}", entry.seq)))?
            {
                Record::Model { ask, reply } => models.push_back((ask, reply)),
                Record::Tool { ask, reply } => tools.push_back((ask, reply)),
                Record::Clock {
                    wall: w, mono: m, ..
                } => {
                    wall.extend(w);
                    mono.extend(m);
                }
            }
        }
        Ok(Self {
            store,
            run_id: run_id.to_string(),
            next_seq: entries.last().map_or(0, |e| e.seq + 1),
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

    /// Writes `record`, after the clock readings the plugin made before it.
    pub(crate) fn write(&mut self, record: &Record) -> Result<(), JournalHalt> {
        self.flush_clocks()?;
        self.append(record)
    }

    /// Writes the clock readings not yet journaled.
    pub(crate) fn flush_clocks(&mut self) -> Result<(), JournalHalt> {
        match self.clocks.take_new() {
            Some(readings) => self.append(&readings),
            None => Ok(()),
        }
    }

    fn append(&mut self, record: &Record) -> Result<(), JournalHalt> {
        let body = record.encode();
        self.store
            .append(&self.run_id, self.next_seq, record.kind(), &body)
            .map_err(|e| {
                JournalHalt::Store(format!("the run's journal could not be written: {e}"))
            })?;
        self.next_seq += 1;
        Ok(())
    }

    /// Marks the run ended in the store.
    pub(crate) fn finish(&mut self, outcome: &Result<String, String>) -> Result<(), JournalHalt> {
        self.flush_clocks()?;
        let (status, text) = match outcome {
            Ok(answer) => (gamecode_state::RunStatus::Finished, answer.as_str()),
            Err(error) => (gamecode_state::RunStatus::Failed, error.as_str()),
        };
        self.store
            .finish(&self.run_id, status, text)
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
