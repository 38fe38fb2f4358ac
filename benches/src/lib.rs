//! Shared pieces of the gamecode benchmarks (see `BENCHMARKS.md` at the repository root):
//! the realistic chat request, backends that answer instantly or time the real one, the raw
//! SDK side of each comparison, and the statistics.
//!
//! Everything talks to 127.0.0.1 only.

pub mod backends;
pub mod busy;
pub mod fixture;
pub mod raw;
pub mod setup;
pub mod stats;
