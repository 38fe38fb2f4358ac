//! The provider-neutral retry policy: backoff with jitter, a shared retry budget, server
//! retry-after hints, and status events for whoever shows progress to a user.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::{BackendError, ErrorCategory};
use crate::rate_limit::AdaptiveRateLimiter;

/// How the delay grows between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackoffStrategy {
    /// Every retry waits `initial_delay`.
    Fixed,
    /// Retry `n` (0-based) waits `initial_delay * multiplier^n`.
    Exponential { multiplier: u32 },
    /// Retry `n` (0-based) waits `initial_delay + n * increment`.
    Linear { increment: Duration },
}

impl Default for BackoffStrategy {
    fn default() -> Self {
        Self::Exponential { multiplier: 2 }
    }
}

/// A retry policy.
///
/// Attempts are exactly `1 + max_retries` at most; the retry budget and non-retryable errors
/// can only make them fewer.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The base delay before the first retry.
    pub initial_delay: Duration,
    pub backoff_strategy: BackoffStrategy,
    /// Log every retry decision at `info` (otherwise `debug`).
    pub verbose: bool,
    /// No computed delay (nor server hint) exceeds this.
    pub max_delay: Duration,
    /// Fraction of each delay that is randomised away, in `0.0..=1.0`: the actual delay is
    /// uniform in `[delay * (1 - jitter), delay]`. Jitter keeps many clients that were throttled
    /// together from retrying together.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(500),
            backoff_strategy: BackoffStrategy::default(),
            verbose: false,
            max_delay: Duration::from_secs(20),
            jitter: 0.5,
        }
    }
}

impl RetryConfig {
    /// One attempt, no retries.
    pub fn disabled() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The un-jittered delay before retry number `retry` (0-based), capped at `max_delay`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let delay = match &self.backoff_strategy {
            BackoffStrategy::Fixed => self.initial_delay,
            BackoffStrategy::Exponential { multiplier } => {
                let factor = (*multiplier as u64).checked_pow(retry).unwrap_or(u64::MAX);
                let factor = u32::try_from(factor).unwrap_or(u32::MAX);
                self.initial_delay.saturating_mul(factor)
            }
            BackoffStrategy::Linear { increment } => self
                .initial_delay
                .saturating_add(increment.saturating_mul(retry)),
        };
        delay.min(self.max_delay)
    }

    /// The delay before retry `retry`, jittered with `unit` in `0.0..1.0`, and stretched to a
    /// server hint when one is given (the hint is capped at `max_delay` too).
    pub fn delay(&self, retry: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let base = self.base_delay(retry);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let jittered = base.mul_f64(1.0 - jitter * unit.clamp(0.0, 1.0));
        match retry_after {
            Some(hint) => jittered.max(hint.min(self.max_delay)),
            None => jittered,
        }
    }
}

/// A retry status event, for progress displays. Delivered before the wait it announces.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RetryStatus {
    /// Attempt `attempt` failed with a retryable error; attempt `attempt + 1` follows after `delay`.
    RetryAttempt {
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
        error: BackendError,
    },
    /// Like `RetryAttempt`, for a throttling error.
    RateLimited {
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
        retry_after: Option<Duration>,
        error: BackendError,
    },
    /// The error cannot be fixed by retrying; it is returned as is.
    NonRetryableError { attempt: u32, error: BackendError },
    /// Every allowed attempt failed; the last error is returned.
    RetriesExhausted { attempts: u32, error: BackendError },
    /// The shared retry budget is empty, so no retry is made; the error is returned.
    BudgetExhausted { attempt: u32, error: BackendError },
}

/// Receives [`RetryStatus`] events. Must not block: it runs on the request's task.
pub type StatusCallback = Arc<dyn Fn(&RetryStatus) + Send + Sync>;

/// A token bucket bounding retries across every request that shares it.
///
/// Each retry spends tokens (more for network failures, which are often timeouts that held a
/// connection long), each success returns some. When a provider is throttling a fleet of
/// callers, the bucket drains and callers fail fast instead of multiplying the load. Modelled
/// on the AWS SDKs' standard retry quota.
#[derive(Debug)]
pub struct RetryBudget {
    tokens: AtomicU32,
    capacity: u32,
    retry_cost: u32,
    network_retry_cost: u32,
    success_refund: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(500)
    }
}

impl RetryBudget {
    /// A full budget of `capacity` tokens; a retry costs 5 (10 after a network error), a success
    /// returns 1.
    pub fn new(capacity: u32) -> Self {
        Self::with_costs(capacity, 5, 10, 1)
    }

    pub fn with_costs(
        capacity: u32,
        retry_cost: u32,
        network_retry_cost: u32,
        success_refund: u32,
    ) -> Self {
        Self {
            tokens: AtomicU32::new(capacity),
            capacity,
            retry_cost,
            network_retry_cost,
            success_refund,
        }
    }

    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        Self::with_costs(u32::MAX, 0, 0, 0)
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }

    fn cost_of(&self, error: &BackendError) -> u32 {
        match error.category() {
            ErrorCategory::Network => self.network_retry_cost,
            _ => self.retry_cost,
        }
    }

    /// Takes the cost of retrying after `error`; `None` when the budget cannot pay it.
    fn try_spend(&self, error: &BackendError) -> Option<u32> {
        let cost = self.cost_of(error);
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .ok()
            .map(|_| cost)
    }

    fn refund(&self, amount: u32) {
        if amount == 0 {
            return;
        }
        let capacity = self.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(capacity))
            });
    }
}

fn log_status(verbose: bool, status: &RetryStatus) {
    macro_rules! emit {
        ($($arg:tt)*) => {
            if verbose { tracing::info!($($arg)*) } else { tracing::debug!($($arg)*) }
        };
    }
    match status {
        RetryStatus::RetryAttempt {
            attempt,
            max_attempts,
            delay,
            error,
        } => emit!(attempt, max_attempts, ?delay, %error, "retrying after error"),
        RetryStatus::RateLimited {
            attempt,
            max_attempts,
            delay,
            retry_after,
            error,
        } => {
            emit!(attempt, max_attempts, ?delay, ?retry_after, %error, "rate limited, backing off")
        }
        RetryStatus::NonRetryableError { attempt, error } => {
            emit!(attempt, %error, "non-retryable error")
        }
        RetryStatus::RetriesExhausted { attempts, error } => {
            emit!(attempts, %error, "retries exhausted")
        }
        RetryStatus::BudgetExhausted { attempt, error } => {
            emit!(attempt, %error, "retry budget exhausted, not retrying")
        }
    }
}

/// The `code` a [`BackendError::RateLimited`] produced by the client-side rate limiter itself
/// carried. No longer produced: waiting for the limiter's capacity is not a failure, and not
/// an attempt. Kept so that code matching on it still compiles.
pub const LOCAL_RATE_LIMIT_CODE: &str = "ClientRateLimit";

/// Everything a retry loop works with; built by a backend for each call.
#[derive(Clone, Copy)]
pub struct RetryContext<'a> {
    pub config: &'a RetryConfig,
    /// Bounds retries across every request that shares it.
    pub budget: &'a RetryBudget,
    /// Client-side adaptive rate limiting across every request that shares it (`None`: off).
    pub limiter: Option<&'a AdaptiveRateLimiter>,
    pub on_status: Option<&'a StatusCallback>,
}

/// Runs `op` under `config`: retryable errors are retried after a jittered backoff (or the
/// server's hint) while attempts and `budget` last; status events go to `on_status` and to
/// `tracing`. `op` receives the 1-based attempt number.
pub async fn retry_with_policy<T, F, Fut>(
    config: &RetryConfig,
    budget: &RetryBudget,
    on_status: Option<&StatusCallback>,
    op: F,
) -> Result<T, BackendError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    retry_with(
        RetryContext {
            config,
            budget,
            limiter: None,
            on_status,
        },
        op,
    )
    .await
}

/// [`retry_with_policy`] with every part of the context, the adaptive rate limiter included:
/// each attempt first waits for a token from the limiter — a wait that is not an attempt and
/// spends no retry budget, bounded only by the caller's deadline — and each outcome that
/// reached the provider is recorded in it. Attempts are also recorded in the caller's
/// [`AttemptLog`](crate::AttemptLog), if it runs in one.
pub async fn retry_with<T, F, Fut>(ctx: RetryContext<'_>, mut op: F) -> Result<T, BackendError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let RetryContext {
        config,
        budget,
        limiter,
        on_status,
    } = ctx;
    let max_attempts = config.max_retries.saturating_add(1);
    let report = |status: RetryStatus| {
        log_status(config.verbose, &status);
        if let Some(cb) = on_status {
            cb(&status);
        }
    };
    let mut spent = 0u32;
    let mut attempt = 1u32;
    loop {
        // Waiting for the shared limiter's capacity is not an attempt (as in the AWS SDKs'
        // adaptive retry mode): nothing is sent, so nothing is spent; only the caller's own
        // deadline bounds the wait.
        if let Some(l) = limiter {
            let max_wait = config.max_delay.max(crate::rate_limit::MIN_TOKEN_WAIT);
            loop {
                match l.reserve(max_wait) {
                    Ok(wait) => {
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        break;
                    }
                    // No token within `max_wait`: wait, then ask again (the rate may have
                    // grown meanwhile).
                    Err(refused) => tokio::time::sleep(refused.wait.min(max_wait)).await,
                }
            }
        }
        crate::attempts::AttemptLog::record_start();
        let outcome = op(attempt).await;
        if let Some(l) = limiter {
            record_outcome(l, &outcome);
        }
        let error = match outcome {
            Ok(value) => {
                // A success pays back what its retries cost, plus a little, so the budget
                // refills while the provider is healthy.
                budget.refund(spent.saturating_add(budget.success_refund));
                return Ok(value);
            }
            Err(error) => error,
        };
        crate::attempts::AttemptLog::record_failure(&error);
        if !error.is_retryable() {
            report(RetryStatus::NonRetryableError {
                attempt,
                error: error.clone(),
            });
            return Err(error);
        }
        if attempt >= max_attempts {
            report(RetryStatus::RetriesExhausted {
                attempts: attempt,
                error: error.clone(),
            });
            return Err(error);
        }
        let Some(cost) = budget.try_spend(&error) else {
            report(RetryStatus::BudgetExhausted {
                attempt,
                error: error.clone(),
            });
            return Err(error);
        };
        spent = spent.saturating_add(cost);
        let retry_after = error.retry_after();
        let delay = config.delay(attempt - 1, fastrand::f64(), retry_after);
        report(if error.category() == ErrorCategory::RateLimited {
            RetryStatus::RateLimited {
                attempt,
                max_attempts,
                delay,
                retry_after,
                error,
            }
        } else {
            RetryStatus::RetryAttempt {
                attempt,
                max_attempts,
                delay,
                error,
            }
        });
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Feeds an attempt's outcome to the limiter: throttling cuts the rate, anything else that
/// the provider answered lets it grow. Failures that never reached the provider (no
/// connection, a timeout before the first byte) say nothing about its capacity.
fn record_outcome<T>(limiter: &AdaptiveRateLimiter, outcome: &Result<T, BackendError>) {
    // (Only attempts that were sent get here.)
    match outcome {
        Ok(_) => limiter.record(false),
        Err(e) if e.category() == ErrorCategory::RateLimited => limiter.record(true),
        Err(e) if e.category() == ErrorCategory::Network => {}
        Err(_) => limiter.record(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    fn cfg(strategy: BackoffStrategy) -> RetryConfig {
        RetryConfig {
            max_retries: 5,
            initial_delay: Duration::from_millis(100),
            backoff_strategy: strategy,
            verbose: false,
            max_delay: Duration::from_secs(1),
            jitter: 0.0,
        }
    }

    #[test]
    fn strategies_grow_as_documented_and_cap() {
        let fixed = cfg(BackoffStrategy::Fixed);
        assert_eq!(fixed.base_delay(0), Duration::from_millis(100));
        assert_eq!(fixed.base_delay(4), Duration::from_millis(100));
        let exp = cfg(BackoffStrategy::Exponential { multiplier: 2 });
        assert_eq!(exp.base_delay(0), Duration::from_millis(100));
        assert_eq!(exp.base_delay(1), Duration::from_millis(200));
        assert_eq!(exp.base_delay(3), Duration::from_millis(800));
        assert_eq!(exp.base_delay(4), Duration::from_secs(1), "capped");
        assert_eq!(exp.base_delay(200), Duration::from_secs(1), "no overflow");
        let lin = cfg(BackoffStrategy::Linear {
            increment: Duration::from_millis(50),
        });
        assert_eq!(lin.base_delay(0), Duration::from_millis(100));
        assert_eq!(lin.base_delay(2), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_hint_stretches_but_is_capped() {
        let c = cfg(BackoffStrategy::Fixed);
        assert_eq!(
            c.delay(0, 0.0, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            c.delay(0, 0.0, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
        assert_eq!(
            c.delay(0, 0.0, Some(Duration::from_millis(1))),
            Duration::from_millis(100)
        );
    }

    proptest! {
        #[test]
        fn jittered_delay_stays_within_bounds(retry in 0u32..20, unit in 0.0f64..1.0, jitter in 0.0f64..=1.0) {
            let c = RetryConfig { jitter, ..cfg(BackoffStrategy::Exponential { multiplier: 3 }) };
            let base = c.base_delay(retry);
            let d = c.delay(retry, unit, None);
            prop_assert!(d <= base);
            prop_assert!(d >= base.mul_f64(1.0 - jitter) - Duration::from_nanos(1));
        }
    }

    fn fast(max_retries: u32) -> RetryConfig {
        RetryConfig {
            max_retries,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryConfig::default()
        }
    }

    #[tokio::test]
    async fn attempts_are_exactly_what_the_config_says() {
        let budget = RetryBudget::unlimited();
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_with_policy(&fast(4), &budget, None, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(BackendError::provider("down")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn non_retryable_errors_are_not_retried_and_reported() {
        let budget = RetryBudget::unlimited();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let cb: StatusCallback = Arc::new(move |s| sink.lock().unwrap().push(s.clone()));
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_with_policy(&fast(4), &budget, Some(&cb), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(BackendError::validation("bad")) }
        })
        .await;
        assert_eq!(r, Err(BackendError::validation("bad")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(
            seen.lock().unwrap().as_slice(),
            [RetryStatus::NonRetryableError { attempt: 1, .. }]
        ));
    }

    #[tokio::test]
    async fn budget_stops_retries_and_success_refills_it() {
        let budget = RetryBudget::with_costs(10, 5, 10, 1);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_with_policy(&fast(10), &budget, None, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(BackendError::rate_limited("slow down")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "two retries paid, third refused"
        );
        assert_eq!(budget.available(), 0);
        let ok: Result<u32, BackendError> =
            retry_with_policy(&fast(10), &budget, None, |_| async { Ok(7) }).await;
        assert_eq!(ok, Ok(7));
        assert_eq!(budget.available(), 1);
    }

    #[tokio::test]
    async fn success_after_retries_reports_each_retry() {
        let budget = RetryBudget::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let cb: StatusCallback = Arc::new(move |s| sink.lock().unwrap().push(s.clone()));
        let r = retry_with_policy(&fast(3), &budget, Some(&cb), |attempt| async move {
            match attempt {
                1 => Err(BackendError::rate_limited("throttled")),
                2 => Err(BackendError::network("reset")),
                _ => Ok(attempt),
            }
        })
        .await;
        assert_eq!(r, Ok(3));
        let seen = seen.lock().unwrap();
        assert!(matches!(
            seen.as_slice(),
            [
                RetryStatus::RateLimited {
                    attempt: 1,
                    max_attempts: 4,
                    ..
                },
                RetryStatus::RetryAttempt { attempt: 2, .. }
            ]
        ));
        assert_eq!(budget.available(), 500, "refunded after success");
    }
}
