//! The helpers of this crate's tests, one module per concern. Those shared with the other
//! crates' tests are the end-to-end crate's (`tests/src`), included by path: this crate cannot
//! depend on that one, which depends on it. Not every test binary uses every helper of them.

#![allow(dead_code)]

#[path = "../../../../../tests/src/emulator.rs"]
pub mod emulator;
#[path = "../../../../../tests/src/paths.rs"]
pub mod paths;
pub mod raw;
#[path = "../../../../../tests/src/venv.rs"]
pub mod venv;
