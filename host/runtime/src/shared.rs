//! What a host and every plugin loaded from it share: the engine, the linker, the backend,
//! the tools, the default policy. Its own module so that `host` (which builds it and loads
//! plugins) and `plugin` (which runs them) depend on it, not on each other.

use std::sync::Arc;
use std::time::Duration;

use gamecode_backend::LLMBackend;
use tokio::sync::Semaphore;
use wasmtime::component::Linker;

use crate::cache::{ArtifactCache, CacheStatus};
use crate::engine::HostEngine;
use crate::observer::RunObserver;
use crate::policy::Policy;
use crate::run::RunState;
use crate::tools::ToolRegistry;

/// Shared by a host and every plugin loaded from it; the engine (and its epoch ticker) lives
/// as long as any of them.
pub(crate) struct HostInner {
    pub(crate) engine: HostEngine,
    pub(crate) linker: Linker<RunState>,
    /// `None` for a host built to inspect plugins, not run them.
    pub(crate) backend: Option<Arc<dyn LLMBackend>>,
    pub(crate) tools: Arc<ToolRegistry>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) cache: Option<ArtifactCache>,
    /// Admission control for the pooling allocator's fixed number of slots.
    pub(crate) slots: Option<Arc<Semaphore>>,
    /// Where durable runs are journaled (`None`: runs live only in memory).
    pub(crate) state: Option<JournalStore>,
    /// Host tools whose calls wait for a person.
    pub(crate) approvals: Arc<crate::approval::Approvals>,
}

/// The state store of a host's durable runs, and the thread that writes to it.
pub(crate) struct JournalStore {
    pub(crate) store: Arc<dyn gamecode_state::StateStore>,
    pub(crate) writer: crate::journal::JournalWriter,
}

/// What a durable run records of its plugin.
#[derive(Debug)]
pub(crate) struct PluginSource {
    /// SHA-256 of the component's bytes (hex).
    pub(crate) digest: String,
    /// The file it was loaded from, absolute.
    pub(crate) path: Option<String>,
}

/// How a load went, for diagnostics and measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadInfo {
    pub cache: CacheStatus,
    /// Compile or cache-load time plus linking.
    pub duration: Duration,
}
