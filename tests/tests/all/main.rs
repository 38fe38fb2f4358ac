//! The end-to-end tests, one binary: the plugin host, the guests, `BedrockBackend` (real SDK)
//! and the emulator together. One module per subject; the helpers are this crate's lib
//! (`tests/src`), one module per concern.
//!
//! The modules' tests run as threads of one process. A test that sets the environment or
//! measures the whole process runs in a process of its own (`own_process`); one that keeps
//! the cores busy for long holds `busy_machine`, and one whose figures assume free cores holds
//! `quiet_machine` (the two never overlap). Add new test files here as modules, not as new
//! binaries (each would link wasmtime and the AWS SDK again).

mod approval;
mod bad_input;
mod cassette;
mod containment;
mod conversation;
mod durable;
mod escape;
mod fleet;
mod holes;
mod json_bounds;
mod mcp;
mod polyglot;
mod readme_blocks;
mod readme_plugins;
mod sessions;
mod storm;
mod streaming;
mod tool_loop;
mod versions;
