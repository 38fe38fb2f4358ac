//! What submitters and workers say to each other, as JSON on the fleet's subjects: a task
//! order, the events of its run, and its result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One run for the fleet: published on the task queue, taken by one worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOrder {
    /// The run's id: the journal a redelivered order continues. Chosen by the submitter
    /// (letters, digits, `-`, `_`), the same when it sends the order again.
    pub run_id: String,
    /// The plugin, in the fleet's object store under its digest.
    pub plugin: FileRef,
    /// The task, in words.
    pub task: String,
    /// Files given with the task (images, documents), in the object store by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<FileRef>,
    /// Configuration values for the plugin (`config.get`), over the worker's policy's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// What the submitter narrows the worker's policy to.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// The session the run is a turn of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Where the result goes (a subject under the fleet's `results.`).
    pub reply: String,
    /// Whether the submitter listens to the run's events (`events.RUN_ID`).
    #[serde(default)]
    pub events: bool,
}

/// A file (a plugin, an attachment) by content: its SHA-256 (hex) names it in the object
/// store; `name` is what it was called where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub name: String,
    pub digest: String,
}

/// A submitter's narrowing of the worker's policy: each field asks for at most this much.
/// A worker refuses an order that asks for more than its own policy allows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chat_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    /// The tools the plugin may call (each one the worker allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// The models the plugin may ask for (each one the worker allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
}

impl Limits {
    /// Whether it narrows nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How a run ended, as its submitter gets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub run_id: String,
    /// The answer, when the run gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The error, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit code `gamecode run` would have given (0 with an answer).
    pub exit: u8,
    /// The exit's category: `ok`, `usage`, `plugin`, `backend`, `other`, `waiting`,
    /// `refused` (the order asked for more than the worker's policy).
    pub category: String,
    /// The worker that ended the run (its name).
    pub worker: String,
    /// Model calls made for the run, across workers (journaled ones not counted twice).
    #[serde(default)]
    pub chat_calls: u32,
}

/// One event of a run, streamed to its submitter as it happens (at most once: the result
/// is what counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    /// A worker took the run (`resumed`: it continues a journal).
    Started { worker: String, resumed: bool },
    /// Text of a streamed reply.
    Text { text: String },
    /// A line the plugin printed (`stdout` or `stderr`).
    Output { stream: String, line: String },
    /// A tool call and how it went.
    Tool { name: String, ok: bool },
    /// A line of progress (a model call, a retry).
    Progress { line: String },
}
