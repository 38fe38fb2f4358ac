//! The embedding API's entry point: build a [`PluginHost`], then load plugins from it.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn gamecode_backend::LLMBackend>) -> Result<(), Box<dyn std::error::Error>> {
//! use gamecode_host::{PluginHost, Policy};
//! use std::time::Duration;
//!
//! let host = PluginHost::builder()
//!     .backend(backend)
//!     .policy(Policy::default().with_deadline(Duration::from_secs(60)))
//!     .build()?;
//! let plugin = host.load_file("agent.wasm")?;          // compiled once
//! let outcome = plugin.run("What is 6 * 7?").await?;   // a fresh sandbox per run
//! println!("{}", outcome.answer);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use gamecode_backend::LLMBackend;
use gamecode_state::StateStore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::Component;

use crate::approval::Approvals;
use crate::cache::{ArtifactCache, CacheStatus};
use crate::engine::{EngineOptions, HostEngine};
use crate::error::{BuildError, LoadError, WorldMismatch};
use crate::inspect::{self, Inspection};
use crate::journal::JournalWriter;
use crate::observer::RunObserver;
use crate::plugin::Plugin;
use crate::policy::Policy;
pub use crate::shared::LoadInfo;
use crate::shared::{HostInner, JournalStore, PluginSource};
use crate::tools::{HostTool, ToolRegistry};
use crate::wit;

/// Builds a [`PluginHost`].
#[derive(Default)]
pub struct PluginHostBuilder {
    backend: Option<Arc<dyn LLMBackend>>,
    tools: Vec<Arc<dyn HostTool>>,
    policy: Policy,
    observer: Option<Arc<dyn RunObserver>>,
    cache: Option<ArtifactCache>,
    engine: EngineOptions,
    state: Option<Arc<dyn StateStore>>,
    approvals: Approvals,
}

impl PluginHostBuilder {
    /// The model backend every plugin of this host chats with. It is shared, with no lock
    /// around it: plugins call it concurrently. A host built without one inspects plugins
    /// but cannot load them to run.
    pub fn backend(mut self, backend: Arc<dyn LLMBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Offers a host tool to plugins (each plugin's policy may narrow the set).
    pub fn tool(mut self, tool: Arc<dyn HostTool>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Offers several host tools.
    pub fn tools(mut self, tools: impl IntoIterator<Item = Arc<dyn HostTool>>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// The policy plugins get unless [`Plugin::with_policy`] gives them another.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Receives live events of every run (chat calls, tool calls, output lines).
    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Keeps compiled components in this on-disk cache (default: no cache).
    pub fn cache(mut self, cache: Option<ArtifactCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Host tools whose every call waits for a person's approval. A durable run (see
    /// [`state`](Self::state)) stops there, journaled, with
    /// [`RunError::AwaitingApproval`](crate::RunError::AwaitingApproval) and costs nothing
    /// while it waits; [`Plugin::decide`] continues it. A run that is not durable cannot
    /// wait: the call is refused.
    pub fn approvals(mut self, approvals: Approvals) -> Self {
        self.approvals = approvals;
        self
    }

    /// Makes every run durable: journaled in `store` as it goes, so that after a crash
    /// [`Plugin::resume`] continues it without repeating a model or tool call that completed.
    /// Each run's id is in its [`RunReport`](crate::RunReport).
    pub fn state(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Some(store);
        self
    }

    /// Engine settings (pooling allocator, fuel, epoch tick).
    pub fn engine_options(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Uses the pooling allocator with slots for `max_concurrent_runs` runs; further runs
    /// wait for a free slot. Where the kernel can list the pages a run wrote (Linux 6.7+), a
    /// slot stays mapped and only those pages are reset for the next run (each slot keeps up
    /// to 1 MiB resident).
    pub fn pooling(mut self, max_concurrent_runs: u32) -> Self {
        self.engine.pooling = Some(max_concurrent_runs.max(1));
        self
    }

    /// Enables fuel metering (needed for policies that set `fuel`).
    pub fn fuel(mut self, enabled: bool) -> Self {
        self.engine.fuel = enabled;
        self
    }

    pub fn build(mut self) -> Result<PluginHost, BuildError> {
        self.policy.validate()?;
        if self.policy.fuel.is_some() {
            self.engine.fuel = true;
        }
        let mut tools = ToolRegistry::default();
        for tool in self.tools {
            tools.register(tool).map_err(BuildError::Tool)?;
        }
        for name in self.policy.allowed_tools.iter().flatten() {
            if tools.get(name).is_none() && !name.starts_with("mcp:") {
                tracing::warn!(
                    tool = %name,
                    "the policy allows a host tool this host does not offer (a typo?)"
                );
            }
        }
        let engine =
            HostEngine::new(self.engine).map_err(|e| BuildError::Engine(format!("{e:#}")))?;
        let linker =
            wit::linker(&engine.engine).map_err(|e| BuildError::Engine(format!("{e:#}")))?;
        let slots = engine
            .options
            .pooling
            .map(|n| Arc::new(Semaphore::new(n as usize)));
        let state = match self.state {
            Some(store) => Some(JournalStore {
                store,
                writer: JournalWriter::start().map_err(|e| {
                    BuildError::Engine(format!("cannot start the journal's writer thread: {e}"))
                })?,
            }),
            None => None,
        };
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                linker,
                backend: self.backend,
                tools: Arc::new(tools),
                policy: Arc::new(self.policy),
                observer: self.observer,
                cache: self.cache,
                slots,
                state,
                approvals: Arc::new(self.approvals),
            }),
        })
    }
}

/// A plugin host: one wasmtime engine, one backend, the host tools, a default policy.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("engine", &self.inner.engine)
            .field("tools", &self.inner.tools)
            .field("policy", &self.inner.policy)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    pub fn builder() -> PluginHostBuilder {
        PluginHostBuilder::default()
    }

    /// The wasmtime engine (e.g. for embedders' own tooling around components).
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.inner.engine.engine
    }

    /// The backend plugins chat with (`None` for a host built only to inspect).
    pub fn backend(&self) -> Option<&Arc<dyn LLMBackend>> {
        self.inner.backend.as_ref()
    }

    /// The default policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Loads a plugin from a `.wasm` component file; its name is the file stem.
    ///
    /// Compilation is CPU-bound (up to seconds for a large component, ~1 ms from the cache):
    /// call it from `spawn_blocking` where that matters.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        self.load_from(name, &bytes, Some(path))
    }

    /// Loads a plugin from component bytes under `name` (used in logs and events).
    pub fn load_bytes(&self, name: impl Into<String>, bytes: &[u8]) -> Result<Plugin, LoadError> {
        self.load_from(name.into(), bytes, None)
    }

    fn load_from(
        &self,
        name: String,
        bytes: &[u8],
        path: Option<&Path>,
    ) -> Result<Plugin, LoadError> {
        let backend = self.inner.backend.clone().ok_or(LoadError::NoBackend)?;
        let started = Instant::now();
        let (component, cache) = self.compile(&name, bytes)?;
        let pre = self.link(&component)?;
        let info = LoadInfo {
            cache,
            duration: started.elapsed(),
        };
        tracing::info!(
            plugin = %name,
            cache = ?info.cache,
            ms = %format!("{:.2}", info.duration.as_secs_f64() * 1e3),
            "plugin loaded"
        );
        // Only a durable run needs the plugin's digest (a resume refuses another plugin).
        let source = self.inner.state.is_some().then(|| PluginSource {
            digest: crate::journal::hex(&Sha256::digest(bytes)),
            path: path.map(|p| {
                std::path::absolute(p)
                    .unwrap_or_else(|_| p.to_path_buf())
                    .display()
                    .to_string()
            }),
        });
        Ok(Plugin::new(
            name.into(),
            self.inner.clone(),
            backend,
            pre,
            self.inner.policy.clone(),
            info,
            source.map(Arc::new),
        ))
    }

    /// Whether loading `path` will compile it (no artifact cache, or nothing cached for it
    /// yet): a compile of a large component takes seconds, worth telling a user about.
    pub fn will_compile(&self, path: impl AsRef<Path>) -> bool {
        match (&self.inner.cache, std::fs::read(path.as_ref())) {
            (Some(cache), Ok(bytes)) => !cache.entry_path(self.engine(), &bytes).is_file(),
            (None, _) => true,
            (_, Err(_)) => false,
        }
    }

    /// Describes a component's world and whether this host can run it. Fails only when the
    /// bytes are not a valid component at all.
    pub fn inspect_bytes(&self, bytes: &[u8]) -> Result<Inspection, LoadError> {
        self.inspect_named("plugin", bytes)
    }

    fn inspect_named(&self, name: &str, bytes: &[u8]) -> Result<Inspection, LoadError> {
        let (component, _) = self.compile(name, bytes)?;
        let runnable = self.link(&component).map(|_| ());
        Ok(inspect::describe(self.engine(), &component, runnable))
    }

    /// Like [`inspect_bytes`](Self::inspect_bytes), for a file.
    pub fn inspect_file(&self, path: impl AsRef<Path>) -> Result<Inspection, LoadError> {
        let path = path.as_ref();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        self.inspect_named(&name, &read_file(path)?)
    }

    fn compile(&self, name: &str, bytes: &[u8]) -> Result<(Component, CacheStatus), LoadError> {
        sniff(bytes)?;
        let engine = self.engine();
        let source = crate::cache::ArtifactSource {
            plugin: name.to_string(),
            wasm_bytes: bytes.len() as u64,
            engine: if self.inner.engine.options.fuel {
                "fuel metering".into()
            } else {
                "default".into()
            },
        };
        let result = match &self.inner.cache {
            Some(cache) => cache.load_or_compile(engine, bytes, &source),
            None => Component::from_binary(engine, bytes).map(|c| (c, CacheStatus::Compiled)),
        };
        result.map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    /// Checks the world and pre-instantiates: after this, each run only instantiates. The
    /// version is the newest whose agent export the component provides.
    fn link(&self, component: &Component) -> Result<wit::AgentPre, LoadError> {
        let engine = self.engine();
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let found = wit::WitVersion::of(engine, &ty).and_then(|(version, release)| {
            let export = format!("gamecode:plugin/agent@{release}");
            ty.get_export(engine, &export)
                .map(|e| (version, release, export, e.ty))
        });
        let (version, missing_export) = match found {
            None => {
                let wanted: Vec<String> = wit::WitVersion::ALL
                    .iter()
                    .flat_map(|v| v.releases())
                    .map(|r| format!("`gamecode:plugin/agent@{r}`"))
                    .collect();
                (None, Some(wanted.join(" or ")))
            }
            Some((
                version,
                release,
                export,
                wasmtime::component::types::ComponentItem::ComponentInstance(inst),
            )) => {
                let missing = match inst.get_export(engine, wit::AGENT_RUN).map(|e| e.ty) {
                    None => Some(format!("`{export}` with a `{}` function", wit::AGENT_RUN)),
                    Some(wasmtime::component::types::ComponentItem::ComponentFunc(run)) => {
                        run_shape_mismatch(version, release, &run)
                    }
                    Some(_) => Some(format!(
                        "`{export}` with `{}` as a function",
                        wit::AGENT_RUN
                    )),
                };
                (Some((version, release)), missing)
            }
            Some((version, release, export, _)) => (
                Some((version, release)),
                Some(format!("`{export}` as an interface")),
            ),
        };
        let pre = self.inner.linker.instantiate_pre(component);
        let unsatisfied_import = pre.as_ref().err().map(|e| format!("{e:#}"));
        let (Some((version, release)), None, None) =
            (version, &missing_export, &unsatisfied_import)
        else {
            return Err(LoadError::WrongWorld(WorldMismatch {
                missing_export,
                unsatisfied_import,
                exports,
            }));
        };
        let pre = pre.map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        wit::AgentPre::new(version, release, pre).map_err(|e| {
            // The export is there under the version's name, but `run` has another shape:
            // say so in the WIT's words, with wasmtime's detail after.
            LoadError::WrongWorld(WorldMismatch {
                missing_export: Some(format!(
                    "`gamecode:plugin/agent@{release}` with gamecode:plugin@{release}'s `{}`: \
                     the component claims gamecode:plugin@{release} but its `{}` has another \
                     signature (wasmtime: {e:#})",
                    version.run_signature(),
                    wit::AGENT_RUN,
                )),
                unsatisfied_import: None,
                exports,
            })
        })
    }
}

/// Whether `run` has the shape `version` defines (a `string` task in 0.1.0, a `task` record
/// in 0.2.0; a `result` back): the words for the mismatch if not, checked at load so that a
/// plugin built against the wrong WIT is refused before it runs.
fn run_shape_mismatch(
    version: wit::WitVersion,
    release: &str,
    run: &wasmtime::component::types::ComponentFunc,
) -> Option<String> {
    use wasmtime::component::types::Type;
    let name = |t: &Type| match t {
        Type::String => "string",
        Type::Record(_) => "record",
        Type::Result(_) => "result",
        Type::Variant(_) => "variant",
        Type::List(_) => "list",
        Type::Option(_) => "option",
        _ => "another type",
    };
    let params: Vec<Type> = run.params().map(|(_, t)| t).collect();
    let results: Vec<Type> = run.results().collect();
    let takes_task = matches!(
        (version, params.as_slice()),
        (wit::WitVersion::V0_1_0, [Type::String]) | (wit::WitVersion::V0_2_0, [Type::Record(_)])
    );
    if takes_task && matches!(results.as_slice(), [Type::Result(_)]) {
        return None;
    }
    let list = |types: &[Type]| types.iter().map(name).collect::<Vec<_>>().join(", ");
    Some(format!(
        "`gamecode:plugin/agent@{release}` with gamecode:plugin@{release}'s `{}`: the component \
         claims gamecode:plugin@{release} but its `{}` takes ({}) and returns ({})",
        version.run_signature(),
        wit::AGENT_RUN,
        list(&params),
        list(&results),
    ))
}

fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Tells a component from the things people mistake for one, before compiling.
pub(crate) fn sniff(bytes: &[u8]) -> Result<(), LoadError> {
    if wasmtime::Engine::detect_precompiled(bytes).is_some() {
        return Err(LoadError::Precompiled);
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
        let text = text.trim_start();
        let hint = if text.starts_with("(component") || text.starts_with("(module") {
            "this looks like WebAssembly text (WAT); compile it to a binary component first"
        } else if bytes.is_empty() {
            "the file is empty"
        } else {
            "it does not start with the `\\0asm` magic number"
        };
        return Err(LoadError::NotWasm(hint.into()));
    }
    match &bytes[4..8] {
        [1, 0, 0, 0] => Err(LoadError::CoreModuleNotComponent),
        [_, _, 1, 0] => Ok(()),
        other => Err(LoadError::NotWasm(format!(
            "unknown WebAssembly version/layer {other:02x?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_tells_inputs_apart() {
        assert!(matches!(sniff(b""), Err(LoadError::NotWasm(m)) if m.contains("empty")));
        assert!(matches!(sniff(b"hello world!"), Err(LoadError::NotWasm(_))));
        assert!(matches!(sniff(b"(component)"), Err(LoadError::NotWasm(m)) if m.contains("WAT")));
        assert_eq!(
            sniff(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModuleNotComponent)
        );
        assert_eq!(sniff(b"\0asm\x0d\0\x01\0"), Ok(()));
        assert!(matches!(
            sniff(b"\0asm\x02\0\0\0"),
            Err(LoadError::NotWasm(_))
        ));
    }
}
