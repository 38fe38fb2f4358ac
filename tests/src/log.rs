//! The tests' log subscriber.
//!
//! Besides this crate's lib, the Bedrock backend's test binary (a crate this one depends on)
//! includes it by `#[path]`.

use std::sync::OnceLock;

/// Installs a log subscriber writing through the test harness's capture, once per process
/// (`RUST_LOG` if set, else `default_filter`). Tests of every module share it: a later call,
/// with whatever filter, changes nothing.
pub fn init_tracing_with(default_filter: &str) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.into());
        // `try_init`: a subscriber installed otherwise (by a test of its own) is left alone.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(filter)
            .try_init();
    });
}
