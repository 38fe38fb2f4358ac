//! The journal's entries and the run's start, as JSON (versioned, like cassettes).

use std::collections::BTreeMap;

use gamecode_backend::{BackendError, ChatResponse, StreamEvent, ToolResultContent};
use serde::{Deserialize, Serialize};

use crate::approval::{Approvals, Decision, PendingCall};
use crate::session::SessionAt;
use crate::task::{Attachment, Task};
use crate::tools::ToolError;

/// The journal format this build writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// What is needed to start a run again: the store's `start` text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Start {
    pub(crate) format: u32,
    pub(crate) task: String,
    /// Kept whole: the resumed run must be given the same bytes.
    #[serde(default)]
    pub(crate) attachments: Vec<Attachment>,
    /// The correlation id the run's requests carry.
    pub(crate) session_id: String,
    /// Seeds the plugin's random numbers (hex, 32 bytes), so a resumed run draws the same.
    pub(crate) seed: String,
    /// The configuration the plugin reads (`config.get`), as it was at the start: a resumed
    /// run reads the same, whatever the policy says now.
    #[serde(default)]
    pub(crate) config: BTreeMap<String, String>,
    /// The session the run continues, as it was when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session: Option<SessionAt>,
    /// The host tools whose calls waited for a person when the run started: a resumed run
    /// asks about the same calls, whatever the host says now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) approvals: Vec<String>,
}

impl Start {
    pub(crate) fn new(
        task: &Task,
        session_id: String,
        seed: [u8; 32],
        config: BTreeMap<String, String>,
        session: Option<SessionAt>,
        approvals: &Approvals,
    ) -> Self {
        Self {
            format: FORMAT,
            task: task.text.clone(),
            attachments: task.attachments.clone(),
            session_id,
            seed: super::hex(&seed),
            config,
            session,
            approvals: approvals.names().to_vec(),
        }
    }

    pub(crate) fn decode(text: &str) -> Result<Self, String> {
        let start: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if start.format > FORMAT {
            return Err(format!(
                "the run was journaled in format {}, this build reads {FORMAT}",
                start.format
            ));
        }
        Ok(start)
    }

    pub(crate) fn encode(&self) -> String {
        // Plain data: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn task(&self) -> Task {
        Task {
            text: self.task.clone(),
            attachments: self.attachments.clone(),
        }
    }

    pub(crate) fn seed(&self) -> Result<[u8; 32], String> {
        let bytes = (0..self.seed.len())
            .step_by(2)
            .map(|i| {
                self.seed
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or("the journaled seed is not hex")?;
        bytes
            .try_into()
            .map_err(|_| "the journaled seed is not 32 bytes".to_string())
    }
}

/// One journal entry: a call's answer, with the clock readings the plugin made before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(flatten)]
    pub(crate) call: Call,
    /// Clock readings (ns) the plugin made since the previous entry, in order. They go with
    /// the next call's answer, in the same write: readings after the last call need no
    /// entry, as nothing durable depends on them.
    #[serde(default, skip_serializing_if = "Readings::is_empty")]
    pub(crate) clock: Readings,
}

/// A call whose answer the plugin cannot recompute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub(crate) enum Call {
    /// A model call's answer. `ask` identifies the call ([`model_ask`](super::model_ask)).
    Model { ask: String, reply: ModelReply },
    /// A host tool call's result.
    Tool { ask: String, reply: ToolReply },
    /// A streamed model call that was open, unanswered, when a later call's entry was
    /// written: its answer comes later in the journal, or, if the run stopped first, it is
    /// asked again live on resume (the only call a resume may make twice) while the calls
    /// journaled after it are still answered from the journal.
    Opened { ask: String },
    /// A host tool call that needs a person's approval, asked for: the run stopped here to
    /// wait (for `gamecode runs show`; nothing replays it).
    Waiting { ask: String, call: PendingCall },
    /// The person's decision on the call asked as `ask`.
    Decision { ask: String, decision: Decision },
}

/// Readings of the plugin's clocks, in ns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Readings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) wall: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) mono: Vec<u64>,
}

impl Readings {
    pub(crate) fn is_empty(&self) -> bool {
        self.wall.is_empty() && self.mono.is_empty()
    }
}

/// How a model call ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ModelReply {
    Whole(ChatResponse),
    Failed(BackendError),
    /// A streamed reply: the events the plugin was given, and how the stream ended.
    Stream {
        events: Vec<StreamEvent>,
        end: StreamEnd,
    },
}

/// How a streamed reply ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StreamEnd {
    Completed,
    Failed(BackendError),
    /// The plugin dropped it before its end (it will again, at the same point).
    Dropped,
}

/// How a tool call ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ToolReply {
    Ok(Vec<ToolResultContent>),
    Err(ToolError),
}

impl Record {
    /// The store's `kind` column.
    pub(crate) fn kind(&self) -> &'static str {
        match self.call {
            Call::Model { .. } => "model",
            Call::Tool { .. } => "tool",
            Call::Opened { .. } => "open",
            Call::Waiting { .. } => "wait",
            Call::Decision { .. } => "decide",
        }
    }

    pub(crate) fn encode(&self) -> String {
        // Plain data (no maps with non-string keys): serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
