//! The errors an embedder sees: building a host, loading a plugin, running it.

use std::time::Duration;

use gamecode_backend::{BackendError, ErrorCategory};

use crate::policy::{PolicyError, PolicyViolation};
use crate::tools::ToolError;

/// A host that could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Tool(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// A plugin that could not be loaded. Each case says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("not a WebAssembly file: {0}")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component: build the plugin for \
         `wasm32-wasip2` (or wrap a module with `wasm-tools component new`)"
    )]
    CoreModuleNotComponent,
    #[error(
        "this is a precompiled wasmtime artifact; load the original .wasm component (the host \
         keeps its own cache of compiled code)"
    )]
    Precompiled,
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error("{0}")]
    WrongWorld(WorldMismatch),
    #[error(
        "this host was built without a backend: it inspects plugins but cannot run them \
         (PluginHostBuilder::backend)"
    )]
    NoBackend,
}

/// Why a valid component is not a runnable gamecode plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldMismatch {
    /// The required export the component lacks (e.g. `gamecode:plugin/agent@0.1.0`), or a
    /// function missing from it.
    pub missing_export: Option<String>,
    /// The host's explanation of an import it cannot satisfy.
    pub unsatisfied_import: Option<String>,
    /// What the component does export, for the message.
    pub exports: Vec<String>,
}

impl std::fmt::Display for WorldMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not a gamecode plugin for this host (world `gamecode:plugin/plugin`, version \
             0.2.0 or 0.1.0)"
        )?;
        if let Some(missing) = &self.missing_export {
            write!(f, "; it does not export {missing}")?;
            if self.exports.is_empty() {
                write!(f, " (it exports nothing)")?;
            } else {
                write!(f, " (it exports: {})", self.exports.join(", "))?;
            }
        }
        if let Some(import) = &self.unsatisfied_import {
            write!(
                f,
                "; it needs an import this host does not provide: {import}"
            )?;
        }
        Ok(())
    }
}

/// The chat error a guest gave up with (the WIT `chat-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct GuestChatError {
    pub kind: ChatErrorKind,
    pub message: String,
}

/// The cases of the WIT `chat-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChatErrorKind {
    RateLimited,
    Validation,
    Authentication,
    Network,
    Provider,
    Unsupported,
    ChatLimitReached,
    TokenBudgetExhausted,
    ModelNotAllowed,
    RequestTooLarge,
    OptionNotAllowed,
    ConversationState,
}

impl ChatErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate-limited",
            Self::Validation => "validation",
            Self::Authentication => "authentication",
            Self::Network => "network",
            Self::Provider => "provider",
            Self::Unsupported => "unsupported",
            Self::ChatLimitReached => "chat-limit-reached",
            Self::TokenBudgetExhausted => "token-budget-exhausted",
            Self::ModelNotAllowed => "model-not-allowed",
            Self::RequestTooLarge => "request-too-large",
            Self::OptionNotAllowed => "option-not-allowed",
            Self::ConversationState => "conversation-state",
        }
    }

    /// The backend category, for the provider-side cases.
    pub fn backend_category(self) -> Option<ErrorCategory> {
        Some(match self {
            Self::RateLimited => ErrorCategory::RateLimited,
            Self::Validation => ErrorCategory::Validation,
            Self::Authentication => ErrorCategory::Authentication,
            Self::Network => ErrorCategory::Network,
            Self::Provider => ErrorCategory::Provider,
            Self::Unsupported => ErrorCategory::Unsupported,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ChatErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the guest's agent said it failed (the WIT `agent-error`), when no more specific
/// [`RunError`] applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("the agent stopped on a chat error: {0}")]
    Chat(GuestChatError),
    #[error("the agent stopped on a host tool error: {0}")]
    Tool(ToolError),
    #[error("the agent gave up after {0} model turns without an answer")]
    TurnLimit(u32),
    #[error("the agent failed: {0}")]
    Failed(String),
}

/// Why a run ended without an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The wall-clock deadline passed while the plugin was running (in wasm, or in a host
    /// call other than a model call); the plugin was stopped.
    #[error("the plugin was stopped at its deadline of {deadline:?}")]
    DeadlineExceeded { deadline: Duration },
    /// The wall-clock deadline passed while the run was waiting on the model: a backend
    /// failure (the provider stalled, or kept failing and being retried), not the plugin's.
    #[error(
        "deadline of {deadline:?} reached while waiting for the model, after {attempts} \
         attempt{}: {}",
        if *attempts == 1 { "" } else { "s" },
        last_error.as_ref().map_or_else(|| "no answer yet".to_string(), ToString::to_string)
    )]
    ModelDeadline {
        deadline: Duration,
        /// Attempts started for the call that was cut off (the last one was in flight).
        attempts: u32,
        /// The error of the last attempt that failed before it.
        last_error: Option<BackendError>,
    },
    /// The plugin needed more linear memory than its cap and then failed.
    #[error("the plugin exceeded its memory limit of {}", human_bytes(*limit_bytes))]
    MemoryLimitExceeded { limit_bytes: u64 },
    /// The plugin used up its fuel.
    #[error("the plugin ran out of fuel ({fuel} units)")]
    FuelExhausted { fuel: u64 },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, `exit`).
    #[error("the plugin crashed: {message}{}", panic.as_deref().map(|p| format!(" (panic: {p})")).unwrap_or_default())]
    Trap {
        /// The trap, e.g. "wasm `unreachable` instruction executed".
        message: String,
        /// The guest's panic message, when it printed one to stderr.
        panic: Option<String>,
        /// The full error with the wasm backtrace, for logs.
        detail: String,
    },
    /// The plugin could not be instantiated (e.g. every pooling slot is busy for too long).
    #[error("cannot instantiate the plugin: {0}")]
    Instantiate(String),
    /// The plugin gave up because the policy refused it something.
    #[error(transparent)]
    Policy(PolicyViolation),
    /// The plugin gave up because the model backend failed.
    #[error("the model backend failed: {0}")]
    Backend(BackendError),
    /// The plugin reported another failure.
    #[error(transparent)]
    Agent(AgentError),
    /// The run's journal could not be written or read (the host's state store failed). The
    /// run is stopped where it was: what was journaled stays, and it can be resumed.
    #[error("durable run: {0}")]
    Journal(String),
    /// A resumed plugin did not ask for what its journal holds: it is not the plugin that
    /// was journaled, or it is not deterministic.
    #[error("the resumed plugin left its journal: {0}")]
    Diverged(String),
    /// The run stopped to wait for a person to approve a host tool call
    /// ([`PluginHostBuilder::approvals`](crate::PluginHostBuilder::approvals)). It is
    /// journaled and holds no memory; [`Plugin::decide`](crate::Plugin::decide) continues
    /// it with the decision.
    #[error(
        "the run waits for a person to approve the tool call {}",
        crate::approval::shown(tool, input)
    )]
    AwaitingApproval { tool: String, input: String },
    /// The embedder cancelled the run ([`Run::cancel_on`](crate::Run::cancel_on)).
    #[error("the run was cancelled")]
    Cancelled,
}

/// Bytes as a person set them: `64 MiB` (as `memory_mib` says), else exact.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

impl RunError {
    /// Whether the plugin failed or was stopped (everything but a backend failure and a
    /// deadline that passed while waiting on the model).
    pub fn is_plugin_failure(&self) -> bool {
        !matches!(
            self,
            Self::Backend(_)
                | Self::ModelDeadline { .. }
                | Self::Journal(_)
                | Self::AwaitingApproval { .. }
                | Self::Cancelled
        )
    }
}
