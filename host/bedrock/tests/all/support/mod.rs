//! The helpers of this crate's tests, one module per concern. Those shared with the other
//! crates' tests are the end-to-end crate's (`tests/src`), included by path: this crate cannot
//! depend on that one, which depends on it. Not every test binary uses every helper of them.

#![allow(dead_code)]

pub mod backend;
#[path = "../../../../../tests/src/emulator.rs"]
pub mod emulator;
#[path = "../../../../../tests/src/log.rs"]
pub mod log;
#[path = "../../../../../tests/src/process.rs"]
pub mod process;
#[path = "../../../../../tests/src/retry.rs"]
pub mod retry;

pub use backend::*;
pub use emulator::emulator;
pub use process::own_process;
pub use retry::fast_retry;
