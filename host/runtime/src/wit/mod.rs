//! The WIT contract, one module per frozen version (like Zed's `since_vX_Y_Z`).
//!
//! `v0_2_0` is the newest: it alone converts between WIT and backend types. `v0_1_0` adapts
//! its own types onto 0.2.0's. One linker serves both (their instance names differ by
//! version); a plugin's version is read from the agent export it provides.

pub(crate) mod v0_1_0;
pub(crate) mod v0_2_0;

use wasmtime::component::Linker;

use crate::run::RunState;

/// A WIT version this host implements.
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

    /// The export a plugin of this version provides.
    pub fn agent_export(self) -> String {
        format!("gamecode:plugin/agent@{}", self.as_str())
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

/// The newest WIT package this host implements.
pub const WIT_PACKAGE: &str = "gamecode:plugin@0.2.0";
/// The export every plugin of the newest version provides.
pub const AGENT_EXPORT: &str = "gamecode:plugin/agent@0.2.0";
/// The function of the agent export the host calls.
pub const AGENT_RUN: &str = "run";

/// A linker with WASI 0.2 (sandboxed by the store's `WasiCtx`) and every version's imports.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<RunState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    v0_1_0::add_to_linker(&mut linker)?;
    v0_2_0::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A plugin pre-instantiated for the version it targets.
#[derive(Clone)]
pub(crate) enum AgentPre {
    V0_1_0(v0_1_0::BindingsPre<RunState>),
    V0_2_0(v0_2_0::BindingsPre<RunState>),
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
        pre: wasmtime::component::InstancePre<RunState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V0_1_0 => Self::V0_1_0(v0_1_0::BindingsPre::new(pre)?),
            WitVersion::V0_2_0 => Self::V0_2_0(v0_2_0::BindingsPre::new(pre)?),
        })
    }

    pub(crate) fn version(&self) -> WitVersion {
        match self {
            Self::V0_1_0(_) => WitVersion::V0_1_0,
            Self::V0_2_0(_) => WitVersion::V0_2_0,
        }
    }

    /// Instantiates without calling (for measurements).
    pub(crate) async fn instantiate(
        &self,
        store: &mut wasmtime::Store<RunState>,
    ) -> wasmtime::Result<()> {
        match self {
            Self::V0_1_0(pre) => pre.instantiate_async(store).await.map(drop),
            Self::V0_2_0(pre) => pre.instantiate_async(store).await.map(drop),
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
            Self::V0_2_0(pre) => {
                let bindings = match pre.instantiate_async(&mut *store).await {
                    Ok(b) => b,
                    Err(e) => return AgentCall::Instantiate(e),
                };
                let task = v0_2_0::task_out(task);
                match bindings
                    .gamecode_plugin_agent()
                    .call_run(&mut *store, &task)
                    .await
                {
                    Ok(r) => AgentCall::Returned(r.map_err(v0_2_0::agent_error_in)),
                    Err(e) => AgentCall::Call(e),
                }
            }
        }
    }
}
