//! `gamecode-host`: runs sandboxed WASI agent plugins (components of the
//! `gamecode:plugin/plugin` world, version 0.2.0 or 0.1.0) against any
//! [`LLMBackend`](gamecode_backend::LLMBackend).
//!
//! Builder → host → load → run:
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn gamecode_backend::LLMBackend>) -> Result<(), Box<dyn std::error::Error>> {
//! use gamecode_host::{PluginHost, Policy, tools::fs::FsRoot};
//!
//! let host = PluginHost::builder()
//!     .backend(backend)
//!     .tools(FsRoot::new("./docs")?.tools())       // read-only access to ./docs
//!     .policy(Policy::from_file("policy.toml")?)
//!     .build()?;
//! let plugin = host.load_file("agent.wasm")?;
//! let outcome = plugin.run("Summarize the docs").await?; // or .report().await
//! println!("{} ({} chat calls)", outcome.answer, outcome.stats.chat_calls);
//! # Ok(()) }
//! ```
//!
//! One module per capability: [`engine`] (one wasmtime engine, epoch ticker), `wit` (the
//! bindings and thin host impl of each WIT version), `run` (one run's state behind the WIT
//! calls: chat, streams, host-held conversations, tool calls), [`task`] (the task and its
//! attachments), [`policy`] (per-plugin limits, their file format, admission and metering),
//! `limits` (the memory limiter), `sandbox` (the WASI context: nothing granted, output
//! captured), [`tools`] (host tools; [`tools::fs`] is read-only file access), `mcp` (MCP
//! servers' tools, feature `mcp`) and `mcp_serve` (a plugin as an MCP server), [`cache`]
//! (compiled artifacts on disk), [`inspect`] (what a component imports and exports),
//! `host`/`plugin` (the embedding API, over what they `shared`), `error` (why a load or a
//! run failed), [`observer`] (live events), [`text`] (guest text made safe to show),
//! [`journal`] (durable runs: what is journaled, replayed on resume, and shown).
//!
//! # Stable surface
//!
//! [`PluginHost`] and its builder, [`Plugin`] and [`Run`] (`plugin.run(task)`, awaited for
//! a [`RunOutcome`] or `.report()` for a [`RunReport`]), [`Task`] and [`Attachment`],
//! [`Policy`] (its builder methods and TOML form), the errors ([`BuildError`],
//! [`LoadError`], [`RunError`], [`PolicyViolation`]), [`RunObserver`] and [`RunEvent`],
//! [`HostTool`], [`tools::fs`], [`ArtifactCache`], [`Inspection`]. Enums that will gain
//! cases (errors, events, violation kinds) are `#[non_exhaustive]`: match them with a `_`
//! arm; records the host fills in (stats, outcomes, reports) are `#[non_exhaustive]` too:
//! read their fields. [`engine`], [`cache`] internals and `#[doc(hidden)]` items may change.
//! CI runs `cargo semver-checks` against the last release.
//!
//! With `default-features = false` this crate compiles no AWS code; the `cli` feature (on by
//! default) adds the `gamecode` binary with the Bedrock backend and the emulator.

pub mod approval;
pub mod cache;
pub mod engine;
mod error;
mod host;
pub mod inspect;
pub mod journal;
mod limits;
#[cfg(feature = "mcp")]
pub mod mcp;
#[cfg(feature = "mcp")]
pub mod mcp_serve;
pub mod observer;
mod plugin;
pub mod policy;
mod run;
mod sandbox;
mod session;
mod shared;
pub mod task;
pub mod text;
pub mod tools;
mod wit;

pub use approval::{Approvals, Decision, PendingCall};
pub use cache::{ArtifactCache, CacheEntry, CacheStatus};
pub use engine::EngineOptions;
pub use error::{
    AgentError, BuildError, ChatErrorKind, GuestChatError, LoadError, RunError, WorldMismatch,
};
/// Where durable runs are kept ([`PluginHostBuilder::state`]): the `gamecode-state` crate.
pub use gamecode_state as state;
pub use host::{LoadInfo, PluginHost, PluginHostBuilder};
pub use inspect::Inspection;
pub use observer::{OutputStream, RunEvent, RunObserver};
pub use plugin::{Plugin, Run, RunOutcome, RunReport};
pub use policy::{Policy, PolicyError, PolicyViolation, ViolationKind};
pub use run::RunStats;
pub use task::{Attachment, AttachmentError, Task};
pub use tools::{HostTool, ToolError, ToolSpec};
pub use wit::{AGENT_EXPORT, WIT_PACKAGE, WitVersion};

// Re-exported so embedders can name the backend types without a separate dependency.
pub use gamecode_backend;
