//! One run: the state its `Store` holds, and the layer between the WIT host implementation
//! and the backend and tools.
//!
//! Data flows guest → WIT host impl (bindings and type conversion, `wit::v0_x`) → the rooms
//! here → policy, backend, host tool. `chat` takes a call through admit → build → call →
//! settle; `stream` holds open replies; `model_wait` is the one wait on the model for both;
//! `conversation` is a host-held conversation and `turns` a run's turns on it; `session`
//! keeps the session conversations a run opened; `build` turns what the guest sent into
//! backend types; `tools` calls host tools; `json` parses guest JSON; `journaled` answers a
//! durable run's calls from its journal or journals them. Every refusal is both returned
//! (for the guest, as a typed error) and recorded (for the embedder's report).

mod build;
mod chat;
mod conversation;
mod journaled;
mod json;
mod model_wait;
mod session;
mod stream;
mod tools;
mod turns;

use std::sync::Arc;
use std::time::Duration;

use gamecode_backend::{AttemptLog, BackendError, LLMBackend, Usage};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub(crate) use build::{Builder, Guest, GuestRequest, Unbuilt};
pub use conversation::ConversationHandle;
pub(crate) use conversation::{Held, Setup};
pub(crate) use json::JsonCache;
pub(crate) use session::RunSession;
pub use stream::ReplyStreamState;

use crate::limits::MemoryLimiter;
use crate::observer::{RunEvent, RunObserver};
use crate::policy::{Meter, Policy, PolicyViolation, ViolationKind};
use crate::tools::ToolRegistry;

/// Why a chat call did not produce a reply.
#[derive(Debug, Clone)]
pub(crate) enum ChatFailure {
    Policy(PolicyViolation),
    Backend(BackendError),
    /// The guest's request could not be built (e.g. a JSON text that is not JSON).
    Invalid(String),
    /// The conversation cannot take this call now.
    State(String),
}

/// Everything a run's store holds.
pub(crate) struct RunState {
    pub(crate) plugin: Arc<str>,
    pub(crate) session_id: String,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) policy: Arc<Policy>,
    pub(crate) backend: Arc<dyn LLMBackend>,
    pub(crate) tools: Arc<ToolRegistry>,
    /// Host tools whose calls wait for a person.
    pub(crate) approvals: Arc<crate::approval::Approvals>,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) meter: Meter,
    pub(crate) usage: Usage,
    pub(crate) tool_calls: u32,
    pub(crate) violations: Vec<PolicyViolation>,
    pub(crate) backend_errors: Vec<BackendError>,
    pub(crate) deadline_hit: bool,
    /// JSON texts this run's requests carried, parsed (see [`JsonCache`]).
    pub(crate) json: JsonCache,
    /// While the run waits on the model: the attempts of the call it waits on. A deadline
    /// that passes meanwhile is the model's to answer for, not the plugin's.
    pub(crate) model_wait: Option<Arc<AttemptLog>>,
    /// Host memory held by this run's live conversations (bounded by the memory limit).
    pub(crate) held: Held,
    /// The run's journal, when it is durable.
    pub(crate) journal: Option<crate::journal::Journal>,
    /// Why the journal stopped the run, once it did.
    pub(crate) halt: Option<crate::journal::JournalHalt>,
    /// The session the run is a turn of, with the conversations it continues.
    pub(crate) session: Option<RunSession>,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl RunState {
    pub(crate) fn emit(&self, event: RunEvent) {
        if let Some(observer) = &self.observer {
            observer.on_event(&self.plugin, &event);
        }
    }

    pub(crate) fn record_violation(&mut self, violation: PolicyViolation) -> PolicyViolation {
        tracing::warn!(
            plugin = %self.plugin,
            kind = %violation.kind,
            "policy refused the plugin: {}",
            violation.message
        );
        self.emit(RunEvent::PolicyViolation(violation.clone()));
        self.violations.push(violation.clone());
        violation
    }

    /// The models this plugin may use: the policy's list, else the backend's.
    pub(crate) fn models(&self) -> Vec<String> {
        match &self.policy.allowed_models {
            Some(allowed) => allowed.clone(),
            None => self.backend.supported_models(),
        }
    }

    pub(crate) fn default_model(&self) -> String {
        self.backend.default_model().to_string()
    }

    /// What the run used, for the report.
    pub(crate) fn stats(&self, duration: Duration, fuel_consumed: Option<u64>) -> RunStats {
        RunStats {
            chat_calls: self.meter.chat_calls,
            tool_calls: self.tool_calls,
            usage: self.usage,
            tokens_charged: self.meter.tokens_used,
            duration,
            peak_memory_bytes: self.limiter.peak(),
            fuel_consumed,
        }
    }

    /// The recorded violation of `kind`, or a new one with `message`.
    pub(crate) fn violation_of(&self, kind: ViolationKind, message: &str) -> PolicyViolation {
        self.violations
            .iter()
            .rev()
            .find(|v| v.kind == kind)
            .cloned()
            .unwrap_or_else(|| PolicyViolation::new(kind, message))
    }
}
/// What one run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunStats {
    /// Chat calls admitted (sent to the backend).
    pub chat_calls: u32,
    /// Host tool calls attempted.
    pub tool_calls: u32,
    /// Tokens, as the backend reported them.
    pub usage: Usage,
    /// Tokens charged against the policy's budget: the reported usage, plus estimates for
    /// calls whose usage never arrived (a stream dropped before its end).
    pub tokens_charged: u64,
    /// Wall-clock time from the start of instantiation to the end.
    pub duration: Duration,
    /// The most linear memory the plugin had at once.
    pub peak_memory_bytes: u64,
    /// Fuel used, when the run was metered.
    pub fuel_consumed: Option<u64>,
}
