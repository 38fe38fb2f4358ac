//! Retry policies for tests against the emulator.
//!
//! Besides this crate's lib, the Bedrock backend's test binary (a crate this one depends on)
//! includes it by `#[path]`.

use std::time::Duration;

use gamecode_backend::{BackoffStrategy, RetryConfig};

/// A retry policy with small delays (20 ms doubling, at most 500 ms), so that tests of
/// failures and retries stay quick. Verbose: each retry is logged at info.
pub fn fast_retry(max_retries: u32) -> RetryConfig {
    RetryConfig {
        max_retries,
        initial_delay: Duration::from_millis(20),
        backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
        verbose: true,
        max_delay: Duration::from_millis(500),
        jitter: 0.5,
    }
}

/// The retry policy of the throttling-storm test and benchmark: a client's ordinary backoff
/// (100 ms doubling to 1 s), so the adaptive limiter, not long sleeps, is what sheds load.
pub fn storm_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        initial_delay: Duration::from_millis(100),
        backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
        verbose: false,
        max_delay: Duration::from_secs(1),
        jitter: 0.5,
    }
}
