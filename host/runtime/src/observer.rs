//! Live events from plugin runs, for progress displays (the CLI) and embedders' own logs.
//!
//! Everything here is also logged through `tracing`; the observer exists because a progress
//! display wants structured events as they happen, not log lines.

use std::time::Duration;

use gamecode_backend::Usage;

use crate::policy::PolicyViolation;

/// Which output stream a plugin wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// A chat call was admitted by the policy and sent to the backend.
    ChatStarted { model: String, streaming: bool },
    /// A chat call returned (for a stream: the stream was opened).
    ChatFinished {
        model: String,
        usage: Option<Usage>,
        elapsed: Duration,
        /// The error category (`rate-limited`, `network`, ...) when the call failed.
        error: Option<String>,
    },
    /// The plugin called a host tool (`name` as the plugin gave it, bounded and escaped).
    ToolCall {
        name: String,
        ok: bool,
        /// The error, when the call failed.
        error: Option<String>,
    },
    /// Text of a streamed reply, as the plugin pulls it (for live display).
    TextDelta { text: String },
    /// The policy refused a request; the plugin got a typed error.
    PolicyViolation(PolicyViolation),
    /// One line the plugin wrote to stdout or stderr (without the newline), with control
    /// characters escaped (`\x1b`, `\r`) so it is safe to print on a terminal.
    Output { stream: OutputStream, line: String },
    /// The run is durable: journaled in the host's state store under `run_id`, first of its
    /// events. `resumed`: it continues an interrupted run ([`Plugin::resume`](crate::Plugin::resume)).
    Journaled { run_id: String, resumed: bool },
}

/// Receives [`RunEvent`]s. Called on the run's task, synchronously: keep it quick and never
/// block (a progress display should just print or update state).
pub trait RunObserver: Send + Sync {
    /// `plugin` is the plugin's name (its file stem or the name given to `load_bytes`).
    fn on_event(&self, plugin: &str, event: &RunEvent);
}

impl<F> RunObserver for F
where
    F: Fn(&str, &RunEvent) + Send + Sync,
{
    fn on_event(&self, plugin: &str, event: &RunEvent) {
        self(plugin, event)
    }
}
