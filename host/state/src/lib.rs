//! `gamecode-state`: what outlives a `gamecode` process — each run's journal — behind the
//! [`StateStore`] trait, kept by default in one crash-safe SQLite file ([`SqliteStore`]).
//!
//! A journal is an append-only list of entries, numbered from 0, that the host writes while a
//! run goes: everything the plugin cannot recompute (model replies, tool results, clock
//! readings, random bytes). The store does not read the entries: each is a kind and a text
//! (the host writes JSON), so embedders and other hosts can keep the same data elsewhere by
//! implementing the trait.
//!
//! A *session* is a named list of turns: what each of its runs added to the conversations its
//! plugin keeps by key (JSON messages, as the host wrote them). A run reads its session as it
//! was when the run started (up to the session's *head* then), and adds its turns when it
//! ends, each with the next number, so runs of one session going at once lose none.
//!
//! Runs are owned by one process at a time. A run whose owner died without finishing it is
//! *interrupted*; [`StateStore::claim`] hands it to a new owner, one at a time, so two
//! `gamecode resume` of the same run cannot both continue it.

mod location;
mod owner;
mod sqlite;

pub use location::{STATE_DIR_ENV, default_path};
pub use owner::Owner;
pub use sqlite::{Durability, SqliteStore};

/// Whether `id` can name a run in any store: letters, digits, `-` and `_`, 1 to 128 of them
/// (a key in a KV bucket and a token of a NATS subject as well as a SQLite text).
pub fn is_portable_run_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A run as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's id (what `gamecode resume` takes).
    pub id: String,
    /// The plugin's name.
    pub plugin: String,
    /// Where the plugin was loaded from, when it was a file.
    pub plugin_path: Option<String>,
    /// The SHA-256 of the plugin's bytes (hex): a resume refuses any other plugin.
    pub plugin_digest: String,
    /// What the host needs to start the run again, as the host wrote it (JSON).
    pub start: String,
    /// The embedder's note on how to start its host again (the CLI keeps its arguments).
    pub context: Option<String>,
    /// Where the run is.
    pub status: RunStatus,
    /// The process that owns the run (while it is running).
    pub owner: Option<Owner>,
    /// When the run was created and last written, in ms since the Unix epoch.
    pub created_ms: i64,
    pub updated_ms: i64,
    /// How it ended (the answer or the error, as the host wrote it), once it did.
    pub outcome: Option<String>,
    /// How many journal entries it has.
    pub entries: u64,
    /// The session it is a turn of, if any.
    pub session: Option<String>,
    /// What it waits for a person to approve (as the host wrote it), while it waits.
    pub waiting: Option<String>,
}

impl RunRecord {
    /// The record of `run` as created: running, owned by `owner`, no entries yet (for stores
    /// outside this crate, which set the other fields as they keep them).
    pub fn new(run: NewRun, owner: Option<Owner>, created_ms: i64) -> Self {
        Self {
            id: run.id,
            plugin: run.plugin,
            plugin_path: run.plugin_path,
            plugin_digest: run.plugin_digest,
            start: run.start,
            context: run.context,
            status: RunStatus::Running,
            owner,
            created_ms,
            updated_ms: created_ms,
            outcome: None,
            entries: 0,
            session: run.session,
            waiting: None,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunStatus {
    /// Its owner is alive and running it.
    Running,
    /// Marked running, but its owner is gone: resume it.
    Interrupted,
    /// It ended with an answer.
    Finished,
    /// It ended with an error.
    Failed,
    /// It stopped to wait for a person's approval (of a tool call): nobody runs it until
    /// the decision resumes it.
    Waiting,
}

impl RunStatus {
    /// The word `gamecode runs list` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
        }
    }

    /// Whether the run has ended (it can no longer be resumed).
    pub fn ended(self) -> bool {
        matches!(self, Self::Finished | Self::Failed)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub id: String,
    pub plugin: String,
    pub plugin_path: Option<String>,
    pub plugin_digest: String,
    pub start: String,
    pub context: Option<String>,
    /// The session it is a turn of, if any.
    pub session: Option<String>,
}

/// One turn of a session: what one run added to the conversation it keeps under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionTurn {
    /// Its number in the session, from 1, in the order turns were added.
    pub seq: u64,
    /// The conversation it continues (the plugin's key).
    pub key: String,
    /// The run that added it.
    pub run_id: Option<String>,
    /// The messages it added, as the host wrote them (JSON).
    pub messages: String,
    /// When it was added, in ms since the Unix epoch.
    pub created_ms: i64,
}

impl SessionTurn {
    /// A turn (for stores outside this crate).
    pub fn new(
        seq: u64,
        key: String,
        run_id: Option<String>,
        messages: String,
        created_ms: i64,
    ) -> Self {
        Self {
            seq,
            key,
            run_id,
            messages,
            created_ms,
        }
    }
}

/// A session, as `gamecode sessions list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    pub name: String,
    /// How many turns it holds.
    pub turns: u64,
    /// How many conversations (keys) they continue.
    pub keys: u64,
    /// When its first and last turns were added, in ms since the Unix epoch.
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl SessionRecord {
    /// A session's summary (for stores outside this crate).
    pub fn new(name: String, turns: u64, keys: u64, created_ms: i64, updated_ms: i64) -> Self {
        Self {
            name,
            turns,
            keys,
            created_ms,
            updated_ms,
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the journal, from 0.
    pub seq: u64,
    /// What it records (`model`, `tool`, `clock`, …), for listings.
    pub kind: String,
    /// What the host wrote.
    pub body: String,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// No run has this id.
    #[error("no run `{0}` in the state store")]
    NoSuchRun(String),
    /// The run is owned by another live process, or has ended.
    #[error("run `{id}` cannot be taken: {why}")]
    Busy { id: String, why: String },
    /// Another writer appended this entry first (two owners of one run).
    #[error("run `{id}` already has journal entry {seq}: another process is writing it")]
    Conflict { id: String, seq: u64 },
    /// The store's file is newer than this build, or not a gamecode store.
    #[error("the state store at {path} is not one this gamecode can read: {why}")]
    Incompatible { path: String, why: String },
    /// SQLite (or the file system under it) failed.
    #[error("the state store failed: {0}")]
    Storage(String),
}

/// Where runs, their journals and sessions are kept. Every method is one transaction.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// Records a new run, owned by this process, with an empty journal.
    fn create_run(&self, run: &NewRun) -> Result<(), StateError>;
    /// Appends entry `seq` to a run's journal; refuses a `seq` that is already there.
    fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError>;
    /// A run's journal, in order.
    fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError>;
    /// Takes an interrupted or waiting run for this process (refused while its owner is
    /// alive, or once it has ended).
    fn claim(&self, run: &str) -> Result<RunRecord, StateError>;
    /// Stops a run this process owns to wait for a person's approval of `waiting`: it is no
    /// one's until [`claim`](Self::claim)ed with the decision.
    fn suspend(&self, run: &str, waiting: &str) -> Result<(), StateError>;
    /// Marks a run ended, with its outcome.
    fn finish(&self, run: &str, status: RunStatus, outcome: &str) -> Result<(), StateError>;
    /// One run.
    fn run(&self, run: &str) -> Result<RunRecord, StateError>;
    /// Every run, newest first.
    fn runs(&self) -> Result<Vec<RunRecord>, StateError>;
    /// The number of the session's last turn (0 before its first).
    fn session_head(&self, session: &str) -> Result<u64, StateError>;
    /// The session's turns up to turn `upto`, of one conversation (`key`) or all, in order.
    fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError>;
    /// Adds run `run`'s turns (key, messages) as the session's next ones. A run's turns are
    /// added once: adding them again (a resumed run) changes nothing.
    fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError>;
    /// Every session with a turn, the last one used first.
    fn sessions(&self) -> Result<Vec<SessionRecord>, StateError>;
    /// Removes a session's turns; returns how many there were.
    fn remove_session(&self, session: &str) -> Result<u64, StateError>;
}
