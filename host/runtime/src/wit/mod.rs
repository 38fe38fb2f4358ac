//! The WIT contract, one module per frozen version (like Zed's `since_vX_Y_Z`).
//!
//! `v0_2_1` is the newest: it alone converts between WIT and backend types, and serves 0.2.0
//! plugins too (wasmtime links `@0.2.0` names to `@0.2.1` definitions, semver-compatibly;
//! 0.2.1 only adds a function). `v0_1_0` adapts its own types onto 0.2.1's. One linker serves
//! every version (their instance names differ by version); a plugin's version is read from
//! the agent export it provides.

pub(crate) mod v0_1_0;
pub(crate) mod v0_2_1;

use wasmtime::component::Linker;

use crate::run::RunState;

/// A WIT version line this host implements. `V0_2_0` is the 0.2 line: 0.2.0, and 0.2.1
/// (sessions) which runs 0.2.0 plugins unchanged; [`Plugin::wit_package`](crate::Plugin::wit_package)
/// says which one a plugin targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WitVersion {
    V0_1_0,
    V0_2_0,
}

impl WitVersion {
    /// Newest first.
    pub const ALL: [WitVersion; 2] = [Self::V0_2_0, Self::V0_1_0];

    /// `0.1.0`, `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
            Self::V0_2_0 => "0.2.0",
        }
    }

    /// The WIT package, `gamecode:plugin@0.2.0`.
    pub fn package(self) -> String {
        format!("gamecode:plugin@{}", self.as_str())
    }

    /// The export a plugin of this version provides (of the line's first release).
    pub fn agent_export(self) -> String {
        format!("gamecode:plugin/agent@{}", self.as_str())
    }

    /// Every release of this line the host serves, newest first (`0.2.1`, `0.2.0`).
    pub(crate) fn releases(self) -> &'static [&'static str] {
        match self {
            Self::V0_1_0 => &["0.1.0"],
            Self::V0_2_0 => &["0.2.1", "0.2.0"],
        }
    }

    /// The line and exact release whose agent export `component` provides (newest first).
    pub(crate) fn of(
        engine: &wasmtime::Engine,
        ty: &wasmtime::component::types::Component,
    ) -> Option<(Self, &'static str)> {
        Self::ALL.into_iter().find_map(|line| {
            line.releases()
                .iter()
                .find(|r| {
                    ty.get_export(engine, &format!("gamecode:plugin/agent@{r}"))
                        .is_some()
                })
                .map(|r| (line, *r))
        })
    }

    /// The signature of this version's `agent.run`, as its WIT writes it.
    pub fn run_signature(self) -> &'static str {
        match self {
            Self::V0_1_0 => "run: func(task: string) -> result<string, agent-error>",
            Self::V0_2_0 => "run: func(task: task) -> result<string, agent-error>",
        }
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The newest WIT package this host implements (the newest release of the newest line:
/// [`WitVersion::package`] names a line by its first release).
pub const WIT_PACKAGE: &str = "gamecode:plugin@0.2.1";
/// The export every plugin of the newest version provides.
pub const AGENT_EXPORT: &str = "gamecode:plugin/agent@0.2.1";
/// The function of the agent export the host calls.
pub const AGENT_RUN: &str = "run";

/// A linker with WASI 0.2 (sandboxed by the store's `WasiCtx`) and every version's imports.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<RunState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    v0_1_0::add_to_linker(&mut linker)?;
    v0_2_1::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A plugin pre-instantiated for the version it targets (0.2 plugins of either release, by
/// the 0.2.1 bindings).
#[derive(Clone)]
pub(crate) enum AgentPre {
    V0_1_0(v0_1_0::BindingsPre<RunState>),
    V0_2 {
        pre: v0_2_1::BindingsPre<RunState>,
        release: &'static str,
    },
}

/// How a call of the agent export went.
pub(crate) enum AgentCall {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
    Returned(Result<String, crate::error::AgentError>),
}

impl AgentPre {
    /// Pre-instantiates `pre` for `version`; fails when the component's exports do not
    /// match that version's world.
    pub(crate) fn new(
        version: WitVersion,
        release: &'static str,
        pre: wasmtime::component::InstancePre<RunState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V0_1_0 => Self::V0_1_0(v0_1_0::BindingsPre::new(pre)?),
            WitVersion::V0_2_0 => Self::V0_2 {
                pre: v0_2_1::BindingsPre::new(pre)?,
                release,
            },
        })
    }

    pub(crate) fn version(&self) -> WitVersion {
        match self {
            Self::V0_1_0(_) => WitVersion::V0_1_0,
            Self::V0_2 { .. } => WitVersion::V0_2_0,
        }
    }

    /// The exact release the plugin targets (`0.2.1`).
    pub(crate) fn release(&self) -> &'static str {
        match self {
            Self::V0_1_0(_) => "0.1.0",
            Self::V0_2 { release, .. } => release,
        }
    }

    /// Instantiates without calling (for measurements).
    pub(crate) async fn instantiate(
        &self,
        store: &mut wasmtime::Store<RunState>,
    ) -> wasmtime::Result<()> {
        match self {
            Self::V0_1_0(pre) => pre.instantiate_async(store).await.map(drop),
            Self::V0_2 { pre, .. } => pre.instantiate_async(store).await.map(drop),
        }
    }

    /// Instantiates and runs the agent on `task` (0.1.0 plugins get its text).
    pub(crate) async fn run(
        &self,
        store: &mut wasmtime::Store<RunState>,
        task: &crate::task::Task,
    ) -> AgentCall {
        match self {
            Self::V0_1_0(pre) => {
                let bindings = match pre.instantiate_async(&mut *store).await {
                    Ok(b) => b,
                    Err(e) => return AgentCall::Instantiate(e),
                };
                match bindings
                    .gamecode_plugin_agent()
                    .call_run(&mut *store, &task.text)
                    .await
                {
                    Ok(r) => AgentCall::Returned(r.map_err(v0_1_0::agent_error_in)),
                    Err(e) => AgentCall::Call(e),
                }
            }
            Self::V0_2 { pre, .. } => {
                let bindings = match pre.instantiate_async(&mut *store).await {
                    Ok(b) => b,
                    Err(e) => return AgentCall::Instantiate(e),
                };
                let task = v0_2_1::task_out(task);
                match bindings
                    .gamecode_plugin_agent()
                    .call_run(&mut *store, &task)
                    .await
                {
                    Ok(r) => AgentCall::Returned(r.map_err(v0_2_1::agent_error_in)),
                    Err(e) => AgentCall::Call(e),
                }
            }
        }
    }
}
