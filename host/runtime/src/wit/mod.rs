//! The WIT contract, one module per frozen version (like Zed's `since_vX_Y_Z`).
//!
//! `v0_1_0` holds the only `bindgen!` of the crate and the thin host implementation of
//! `gamecode:plugin@0.1.0`. A future `v0_2_0` would sit beside it with its own bindings, and
//! the host would pick the module by the version a component imports.

pub(crate) mod json_cache;
pub(crate) mod v0_1_0;

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "gamecode:plugin@0.1.0";
/// The export every plugin must provide.
pub const AGENT_EXPORT: &str = "gamecode:plugin/agent@0.1.0";
/// The function of [`AGENT_EXPORT`] the host calls.
pub const AGENT_RUN: &str = "run";
