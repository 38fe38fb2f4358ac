//! What `gamecode worker`, `gamecode submit` and `gamecode run --nats` share: how to reach
//! the fleet, a task's result as an exit code and category, and the run events streamed
//! between them.

use std::sync::Arc;
use std::time::Duration;

/// How long `submit` and `run --nats` wait for the fleet's servers to answer.
pub(crate) const SUBMIT_PATIENCE: Duration = Duration::from_secs(10);

use clap::Args;
use gamecode_fleet::protocol::{self, TaskResult};
use gamecode_fleet::{FleetConfig, FleetError};
use gamecode_host::{OutputStream, RunEvent, RunObserver};

use crate::{EXIT_BACKEND, EXIT_OTHER, EXIT_PLUGIN, EXIT_USAGE, EXIT_WAITING, Failure};

/// The fleet's servers and namespace. Credentials and TLS come from the environment only
/// (GAMECODE_NATS_USER/PASSWORD, _TOKEN, _NKEY, _CREDS, _CA, _CERT, _KEY), never a flag
/// that `ps` would show.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct FleetArgs {
    /// The fleet's NATS servers (nats://HOST:PORT, tls://HOST:PORT); default
    /// $GAMECODE_NATS_URL.
    #[arg(long, value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// The fleet's subject prefix (several fleets can share a cluster); default
    /// $GAMECODE_NATS_PREFIX, else `gamecode`.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,
}

impl FleetArgs {
    /// The fleet's configuration, waiting up to `patience` for its servers.
    pub(crate) fn config(&self, patience: Duration) -> Result<FleetConfig, Failure> {
        let config = FleetConfig::from_env(self.nats.clone())
            .map_err(fleet_failure)?
            .with_patience(patience);
        match &self.prefix {
            Some(prefix) => config.with_prefix(prefix.clone()).map_err(fleet_failure),
            None => Ok(config),
        }
    }
}

/// A fleet that cannot be used: its configuration is the user's to fix, anything else is
/// the environment's.
pub(crate) fn fleet_failure(e: FleetError) -> Failure {
    let code = match e {
        FleetError::Config(_) => EXIT_USAGE,
        _ => EXIT_OTHER,
    };
    Failure::new(code, e.to_string())
}

/// The word for an exit code in results files.
pub(crate) fn category(exit: u8) -> &'static str {
    match exit {
        0 => "ok",
        EXIT_USAGE => "usage",
        EXIT_PLUGIN => "plugin",
        EXIT_BACKEND => "backend",
        EXIT_WAITING => "waiting",
        _ => "other",
    }
}

/// A result as `gamecode run` ends: the answer, or the failure with its exit code.
pub(crate) fn outcome(result: TaskResult) -> Result<String, Failure> {
    match result.answer {
        Some(answer) if result.exit == 0 => Ok(answer),
        _ => Err(Failure::new(
            result.exit.max(1),
            result.error.unwrap_or_else(|| "the run failed".into()),
        )),
    }
}

/// The host's events of one run, as the fleet streams them.
pub(crate) fn to_wire(event: &RunEvent) -> Option<protocol::RunEvent> {
    Some(match event {
        RunEvent::TextDelta { text } => protocol::RunEvent::Text { text: text.clone() },
        RunEvent::Output { stream, line } => protocol::RunEvent::Output {
            stream: stream.as_str().into(),
            line: line.clone(),
        },
        RunEvent::ToolCall { name, ok, .. } => protocol::RunEvent::Tool {
            name: name.clone(),
            ok: *ok,
        },
        RunEvent::ChatFinished {
            model,
            error: Some(error),
            ..
        } => protocol::RunEvent::Progress {
            line: format!("model call to {model} failed: {error}"),
        },
        _ => return None,
    })
}

/// A streamed event shown as the local run would show it.
pub(crate) fn show(observer: &Arc<dyn RunObserver>, plugin: &str, event: protocol::RunEvent) {
    let event = match event {
        protocol::RunEvent::Text { text } => RunEvent::TextDelta { text },
        protocol::RunEvent::Output { stream, line } => RunEvent::Output {
            stream: if stream == "stdout" {
                OutputStream::Stdout
            } else {
                OutputStream::Stderr
            },
            line,
        },
        protocol::RunEvent::Tool { name, ok } => RunEvent::ToolCall {
            name,
            ok,
            error: None,
        },
        protocol::RunEvent::Started { .. } | protocol::RunEvent::Progress { .. } => return,
    };
    observer.on_event(plugin, &event);
}
