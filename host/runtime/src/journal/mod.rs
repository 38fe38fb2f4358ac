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

mod active;

use std::collections::VecDeque;
use std::sync::Arc;

use gamecode_backend::{BackendError, ChatRequest, ChatResponse, StreamEvent};
use gamecode_state::{NewRun, StateError, StateStore};
use sha2::{Digest, Sha256};

pub(crate) use active::ActiveRun;
pub(crate) use clock::{ClockTape, JournaledMonotonicClock, JournaledWallClock};
use record::Readings;
pub(crate) use record::{Call, ModelReply, Record, Start, StreamEnd, ToolReply};
pub use show::{describe, task_of};
use writer::InFlight;
pub(crate) use writer::JournalWriter;

use crate::approval::{Decision, PendingCall};
use crate::tools::ToolError;

/// Why a journaled run cannot go on: the host's store failed, or the plugin does not replay.
#[derive(Debug, Clone)]
pub(crate) enum JournalHalt {
    Store(String),
    Diverged(String),
    /// A tool call waits for a person's decision: the run stops, to be continued with it.
    Waiting(PendingCall),
}

impl JournalHalt {
    /// The run's error.
    pub(crate) fn run_error(&self) -> crate::RunError {
        match self {
            Self::Store(m) => crate::RunError::Journal(m.clone()),
            Self::Diverged(m) => crate::RunError::Diverged(m.clone()),
            Self::Waiting(call) => crate::RunError::AwaitingApproval {
                tool: call.tool.clone(),
                input: call.input.clone(),
            },
        }
    }
}

impl std::fmt::Display for JournalHalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(m) | Self::Diverged(m) => f.write_str(m),
            Self::Waiting(call) => write!(f, "waiting for a person to approve {call}"),
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
    /// People's decisions on tool calls that waited, not yet asked for again.
    decisions: VecDeque<(String, Decision)>,
    /// Streamed calls journaled as opened and never answered: asked again, they go live.
    opened: Vec<String>,
    /// Live streams open now whose opening is not journaled yet (it is, before any other
    /// call's entry).
    unmarked: Vec<String>,
    clocks: Arc<ClockTape>,
    /// Keeps other runs in this process from taking this one while it goes.
    _active: active::ActiveRun,
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
        let active = active::ActiveRun::take(&run_id).ok_or_else(|| StateError::Busy {
            id: run_id.clone(),
            why: "this process is running it".into(),
        })?;
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
            decisions: VecDeque::new(),
            opened: Vec::new(),
            unmarked: Vec::new(),
            clocks: Arc::new(ClockTape::live()),
            _active: active,
        })
    }

    /// An interrupted run, claimed by this process, its journal loaded for replay. `active`
    /// is this process's hold on the run ([`ActiveRun`]).
    pub(crate) fn resume(
        writer: JournalWriter,
        store: Arc<dyn StateStore>,
        run_id: &str,
        active: active::ActiveRun,
    ) -> Result<Self, JournalHalt> {
        let entries = store
            .journal(run_id)
            .map_err(|e| JournalHalt::Store(e.to_string()))?;
        let (mut models, mut tools, mut opened) = (VecDeque::new(), VecDeque::new(), Vec::new());
        let mut decisions = VecDeque::new();
        let (mut wall, mut mono) = (Vec::new(), Vec::new());
        for (i, entry) in entries.iter().enumerate() {
            // A gap means a lost entry: what follows it cannot be trusted to replay.
            if entry.seq != i as u64 {
                return Err(JournalHalt::Store(format!(
                    "run {run_id}'s journal lacks entry {i} (the next is {})",
                    entry.seq
                )));
            }
            let record = Record::decode(&entry.body)
                .map_err(|e| JournalHalt::Store(format!("journal entry {}: {e}", entry.seq)))?;
            wall.extend(record.clock.wall);
            mono.extend(record.clock.mono);
            match record.call {
                Call::Model { ask, reply } => {
                    if let Some(i) = opened.iter().position(|a| *a == ask) {
                        opened.swap_remove(i);
                    }
                    models.push_back((ask, reply));
                }
                Call::Tool { ask, reply } => tools.push_back((ask, reply)),
                Call::Opened { ask } => opened.push(ask),
                // Asked again, the call finds its decision (or waits again, if there is none).
                Call::Waiting { .. } => {}
                Call::Decision { ask, decision } => decisions.push_back((ask, decision)),
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
            decisions,
            opened,
            unmarked: Vec::new(),
            clocks: Arc::new(ClockTape::replaying(wall, mono)),
            _active: active,
        })
    }

    /// Journals a person's decision on `call`, the call run `run_id` waits on (its last
    /// entry), as the run's owner in the store: before the run is resumed, which then finds
    /// it. A run that now waits on another call (someone decided first, and it went on to
    /// the next) is handed back, waiting, and the decision refused.
    pub(crate) fn decide(
        store: &dyn StateStore,
        run_id: &str,
        call: &PendingCall,
        decision: Decision,
    ) -> Result<(), JournalHalt> {
        let entries = store
            .journal(run_id)
            .map_err(|e| JournalHalt::Store(e.to_string()))?;
        let last = entries.last().and_then(|e| Record::decode(&e.body).ok());
        let Some(Record {
            call: Call::Waiting { ask, call: waiting },
            ..
        }) = last
        else {
            return Err(JournalHalt::Store(format!(
                "run {run_id} is not waiting for a decision"
            )));
        };
        if waiting != *call {
            let handed_back = store.suspend(run_id, &waiting.encode());
            return Err(JournalHalt::Store(format!(
                "run {run_id} now waits for a decision on another call, {waiting}{}",
                match handed_back {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (and could not be handed back: {e})"),
                }
            )));
        }
        let record = Record {
            call: Call::Decision { ask, decision },
            clock: Readings::default(),
        };
        store
            .append(
                run_id,
                entries.len() as u64,
                record.kind(),
                &record.encode(),
            )
            .map_err(|e| JournalHalt::Store(e.to_string()))
    }

    pub(crate) fn clocks(&self) -> Arc<ClockTape> {
        self.clocks.clone()
    }

    /// Whether journaled answers remain to be asked for again.
    pub(crate) fn replaying(&self) -> bool {
        !self.models.is_empty() || !self.tools.is_empty() || !self.decisions.is_empty()
    }

    /// The decision on a tool call asked as `ask` that waited for one. `Ok(None)`: there is
    /// none, and the run may wait for it (nothing journaled is left to ask for).
    pub(crate) fn decision(&mut self, ask: &str) -> Result<Option<Decision>, JournalHalt> {
        match take(&mut self.decisions, ask) {
            Some(decision) => Ok(Some(decision)),
            None => self.spent("tool call waiting for approval").map(|()| None),
        }
    }

    /// Stops the run to wait for a decision on `call`: journaled, written, and the run
    /// handed back to the store as waiting (no process holds it meanwhile).
    pub(crate) async fn wait_for(
        &mut self,
        ask: String,
        call: PendingCall,
    ) -> Result<(), JournalHalt> {
        let waiting = call.encode();
        self.write(Call::Waiting { ask, call });
        self.settle().await?;
        let run = self.run_id.clone();
        self.writer
            .submit(&self.store, move |store| store.suspend(&run, &waiting))
            .await
            .map_err(|_| JournalHalt::Store("the journal's writer thread is gone".into()))?
            .map_err(|e| JournalHalt::Store(e.to_string()))
    }

    /// The journaled reply to a model call asked as `ask`; `None` when it goes live: the
    /// journal is spent, or the call was open, unanswered, when the run stopped.
    pub(crate) fn replayed_model(&mut self, ask: &str) -> Result<Option<ModelReply>, JournalHalt> {
        if let Some(reply) = take(&mut self.models, ask) {
            return Ok(Some(reply));
        }
        if let Some(i) = self.opened.iter().position(|a| a == ask) {
            self.opened.swap_remove(i);
            return Ok(None);
        }
        self.spent("model call").map(|()| None)
    }

    /// The journaled result of a tool call asked as `ask`; `None` once the journal is spent.
    pub(crate) fn replayed_tool(&mut self, ask: &str) -> Result<Option<ToolReply>, JournalHalt> {
        match take(&mut self.tools, ask) {
            Some(reply) => Ok(Some(reply)),
            None => self.spent("tool call").map(|()| None),
        }
    }

    /// A call the journal does not hold may only go live once nothing journaled is left to
    /// ask for, of either kind: otherwise the plugin has left its journal.
    fn spent(&self, what: &str) -> Result<(), JournalHalt> {
        if !self.replaying() {
            return Ok(());
        }
        Err(JournalHalt::Diverged(format!(
            "the plugin made a {what} its journal does not hold, with {} model and {} tool \
             answers and {} decisions still to be asked for: it is not deterministic, or not \
             the plugin that was journaled",
            self.models.len(),
            self.tools.len(),
            self.decisions.len()
        )))
    }

    /// A live stream opened as `ask`: its opening is journaled before any other call's entry.
    pub(crate) fn stream_opened(&mut self, ask: &str) {
        self.unmarked.push(ask.to_string());
    }

    /// Hands a call's answer to the writer, with the clock readings the plugin made before
    /// it; [`settle`](Self::settle) waits for it.
    pub(crate) fn write(&mut self, call: Call) {
        // A stream's own answer needs no opening entry; every other open stream gets one
        // first, so that a resume asks it again live and still replays what follows.
        if let Call::Model { ask, .. } = &call
            && let Some(i) = self.unmarked.iter().position(|a| a == ask)
        {
            self.unmarked.swap_remove(i);
        }
        for ask in std::mem::take(&mut self.unmarked) {
            self.append(Record {
                call: Call::Opened { ask },
                clock: Readings::default(),
            });
        }
        let record = Record {
            call,
            clock: self.clocks.take_new(),
        };
        self.append(record);
    }

    fn append(&mut self, record: Record) {
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
fn take<T>(queue: &mut VecDeque<(String, T)>, ask: &str) -> Option<T> {
    let i = queue.iter().position(|(a, _)| a == ask)?;
    queue.remove(i).map(|(_, reply)| reply)
}

/// What identifies a model call in the journal: the model, the number of messages, the first
/// (a conversation's system prompt) and the last. It reads no more than that, so journaling
/// stays O(new content) per turn; a deterministic plugin asks the same again. Two calls that
/// share all of it and overlap (two streams open at once) could take each other's answers
/// on replay.
pub(crate) fn model_ask(request: &ChatRequest) -> String {
    let mut h = Sha256::new();
    h.update(request.model.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update((request.messages.len() as u64).to_le_bytes());
    let ends = [request.messages.first(), request.messages.last()];
    for message in ends.into_iter().flatten() {
        // Serializing a message cannot fail (no maps with non-string keys).
        h.update(serde_json::to_vec(message).unwrap_or_default());
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

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_state::SqliteStore;

    fn model(ask: &str) -> Call {
        Call::Model {
            ask: ask.into(),
            reply: ModelReply::Failed(BackendError::network("x")),
        }
    }

    fn tool(ask: &str) -> Call {
        Call::Tool {
            ask: ask.into(),
            reply: ToolReply::Ok(Vec::new()),
        }
    }

    /// A journal of `calls` (entry numbers as given) loaded for replay.
    fn replaying(calls: &[(u64, Call)]) -> Result<Journal, JournalHalt> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Arc::new(SqliteStore::open(dir.path().join("s.sqlite")).expect("opens"));
        let id = format!("t-{}", calls.len());
        store
            .create_run(&NewRun {
                id: id.clone(),
                plugin: "p".into(),
                plugin_path: None,
                plugin_digest: "d".into(),
                start: "{}".into(),
                context: None,
                session: None,
            })
            .expect("created");
        for (seq, call) in calls {
            let record = Record {
                call: call.clone(),
                clock: Readings::default(),
            };
            store
                .append(&id, *seq, record.kind(), &record.encode())
                .expect("appended");
        }
        let writer = JournalWriter::start().expect("the writer starts");
        let active = ActiveRun::take(&format!("{id}-{:p}", &*store)).expect("not running");
        let store: Arc<dyn StateStore> = store;
        Journal::resume(writer, store, &id, active)
    }

    #[test]
    fn an_open_stream_goes_live_and_what_followed_it_still_replays() {
        let mut j =
            replaying(&[(0, Call::Opened { ask: "a".into() }), (1, tool("t"))]).expect("loads");
        assert!(
            j.replayed_model("a").expect("no divergence").is_none(),
            "live"
        );
        assert!(j.replayed_tool("t").expect("replays").is_some());
        assert!(!j.replaying());
        // Answered later in the journal: replayed, not live.
        let mut j = replaying(&[
            (0, Call::Opened { ask: "a".into() }),
            (1, tool("t")),
            (2, model("a")),
        ])
        .expect("loads");
        assert!(j.replayed_model("a").expect("replays").is_some());
    }

    #[test]
    fn a_call_of_either_kind_the_journal_lacks_is_divergence_while_it_replays() {
        let mut j = replaying(&[(0, model("m1")), (1, model("m2"))]).expect("loads");
        assert!(j.replayed_model("m1").expect("replays").is_some());
        assert!(matches!(
            j.replayed_tool("x"),
            Err(JournalHalt::Diverged(_))
        ));
        assert!(matches!(
            j.replayed_model("zz"),
            Err(JournalHalt::Diverged(_))
        ));
        assert!(j.replayed_model("m2").expect("replays").is_some());
        assert!(j.replayed_tool("x").expect("spent: live").is_none());
    }

    #[test]
    fn a_decision_answers_its_call_once_and_is_not_skipped() {
        let call = PendingCall {
            tool: "read_file".into(),
            input: "{}".into(),
        };
        let waited = [
            (0, model("m1")),
            (
                1,
                Call::Waiting {
                    ask: "t".into(),
                    call: call.clone(),
                },
            ),
            (
                2,
                Call::Decision {
                    ask: "t".into(),
                    decision: Decision::Deny("no".into()),
                },
            ),
        ];
        let mut j = replaying(&waited).expect("loads");
        assert!(j.replayed_model("m1").expect("replays").is_some());
        assert!(j.replaying(), "the decision is still to be asked for");
        assert_eq!(
            j.decision("t").expect("no divergence"),
            Some(Decision::Deny("no".into()))
        );
        // Asked again later (another call of the same tool and input): it waits again.
        assert_eq!(j.decision("t").expect("spent"), None);
        // A plugin that does not make the call that waited has left its journal.
        let mut j = replaying(&waited).expect("loads");
        assert!(j.replayed_model("m1").expect("replays").is_some());
        assert!(matches!(
            j.replayed_model("m2"),
            Err(JournalHalt::Diverged(_))
        ));
    }

    #[test]
    fn a_journal_with_a_gap_is_refused() {
        let err = replaying(&[(0, model("m1")), (2, model("m2"))]).expect_err("a gap");
        assert!(matches!(err, JournalHalt::Store(m) if m.contains("lacks entry 1")));
    }

    #[test]
    fn a_run_is_held_once_per_process() {
        let held = ActiveRun::take("held-once").expect("free");
        assert!(ActiveRun::take("held-once").is_none());
        drop(held);
        assert!(ActiveRun::take("held-once").is_some());
    }
}
