//! Client-side adaptive rate limiting, shared by every caller of one backend: the AWS SDKs'
//! *adaptive* retry mode, provider-neutral.
//!
//! The retry budget stops retry storms, but first attempts still flood a throttling provider:
//! a thousand plugins send a thousand requests into every throttled second. This limiter
//! stays out of the way until the provider first throttles; from then on every attempt takes
//! a token from a bucket whose fill rate is cut multiplicatively (×0.7) on each throttle and
//! grows back along a cubic curve (CUBIC, as in TCP) after successes, never more than twice
//! the rate actually measured. Under 100 % throttling the rate falls to the floor (0.5
//! requests/s) within seconds; when throttling stops it climbs back.
//!
//! Unlike the SDKs' limiter, a caller that would have to wait longer than its bound for a
//! token does not wait at all: its attempt fails at once as `rate-limited` (nothing is sent)
//! and the retry policy decides what follows. Tokens are handed out in order (a caller that
//! waits reserves its token), so the callers waiting at any moment are at most
//! `max_wait × rate`, and nobody waits for a token the bucket will not have in time.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The lowest fill rate, requests per second.
const MIN_FILL_RATE: f64 = 0.5;

/// The shortest bound on a wait for a token: a little more than one token takes at the lowest
/// rate, so a caller alone on its backend always gets its token (and sends every attempt its
/// retry policy allows); only callers queued behind others can be refused.
pub const MIN_TOKEN_WAIT: Duration = Duration::from_millis(2500);
/// The smallest bucket.
const MIN_CAPACITY: f64 = 1.0;
/// Weight of the newest measurement in the smoothed send rate.
const SMOOTH: f64 = 0.8;
/// Multiplicative decrease on a throttle.
const BETA: f64 = 0.7;
/// CUBIC's scale constant.
const SCALE_CONSTANT: f64 = 0.4;

/// An adaptive client-side rate limiter (see the module docs). Share one per backend.
#[derive(Debug)]
pub struct AdaptiveRateLimiter {
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Off until the first throttle.
    enabled: bool,
    fill_rate: f64,
    max_capacity: f64,
    /// Tokens in the bucket; negative when callers are waiting for tokens they reserved.
    capacity: f64,
    last_refill: f64,
    measured_rate: f64,
    rate_bucket: f64,
    requests_in_bucket: f64,
    last_max_rate: f64,
    last_throttle: f64,
    time_window: f64,
}

/// Why an attempt may not be sent now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitedLocally {
    /// How long the caller would have had to wait for a token.
    pub wait: Duration,
    /// The current send rate allowed, requests per second.
    pub rate: f64,
}

impl Default for AdaptiveRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl AdaptiveRateLimiter {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: Mutex::new(State {
                enabled: false,
                fill_rate: 0.0,
                max_capacity: 0.0,
                capacity: 0.0,
                last_refill: 0.0,
                measured_rate: 0.0,
                rate_bucket: 0.0,
                requests_in_bucket: 0.0,
                last_max_rate: 0.0,
                last_throttle: 0.0,
                time_window: 0.0,
            }),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a few float assignments; a poisoned state is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the limiter is limiting (the provider has throttled since it was created).
    pub fn is_limiting(&self) -> bool {
        self.lock().enabled
    }

    /// The send rate allowed now (requests per second), or `None` while not limiting.
    pub fn rate(&self) -> Option<f64> {
        let s = self.lock();
        s.enabled.then_some(s.fill_rate)
    }

    /// Takes a token for one attempt: `Ok(wait)` — send after waiting `wait` (the token is
    /// reserved) — or `Err` when the wait would exceed `max_wait` (nothing is reserved).
    pub fn reserve(&self, max_wait: Duration) -> Result<Duration, RateLimitedLocally> {
        self.reserve_at(self.now(), max_wait)
    }

    fn reserve_at(&self, now: f64, max_wait: Duration) -> Result<Duration, RateLimitedLocally> {
        let mut s = self.lock();
        if !s.enabled {
            return Ok(Duration::ZERO);
        }
        s.refill(now);
        if s.capacity >= 1.0 {
            s.capacity -= 1.0;
            return Ok(Duration::ZERO);
        }
        let wait = Duration::from_secs_f64(((1.0 - s.capacity) / s.fill_rate).max(0.0));
        if wait > max_wait {
            return Err(RateLimitedLocally {
                wait,
                rate: s.fill_rate,
            });
        }
        s.capacity -= 1.0;
        Ok(wait)
    }

    /// Waits for a token for one attempt (see [`reserve`](Self::reserve)).
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), RateLimitedLocally> {
        let wait = self.reserve(max_wait)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Records the outcome of an attempt that reached the provider.
    pub fn record(&self, throttled: bool) {
        self.record_at(self.now(), throttled)
    }

    /// [`record`](Self::record) at `now` seconds since the limiter was created.
    fn record_at(&self, now: f64, throttled: bool) {
        let mut s = self.lock();
        s.update_measured_rate(now);
        let calculated = if throttled {
            let rate = if s.enabled {
                s.measured_rate.min(s.fill_rate)
            } else {
                s.measured_rate
            };
            s.last_max_rate = rate;
            s.update_time_window();
            s.last_throttle = now;
            s.enabled = true;
            rate * BETA
        } else {
            s.update_time_window();
            SCALE_CONSTANT * (now - s.last_throttle - s.time_window).powi(3) + s.last_max_rate
        };
        let new_rate = calculated.min(2.0 * s.measured_rate);
        s.refill(now);
        s.fill_rate = new_rate.max(MIN_FILL_RATE);
        s.max_capacity = new_rate.max(MIN_CAPACITY);
        s.capacity = s.capacity.min(s.max_capacity);
    }
}

impl State {
    fn refill(&mut self, now: f64) {
        let elapsed = (now - self.last_refill).max(0.0);
        self.capacity = (self.capacity + elapsed * self.fill_rate).min(self.max_capacity);
        self.last_refill = now;
    }

    fn update_time_window(&mut self) {
        self.time_window = (self.last_max_rate * (1.0 - BETA) / SCALE_CONSTANT).cbrt();
    }

    /// The smoothed send rate, measured in half-second buckets.
    fn update_measured_rate(&mut self, now: f64) {
        let bucket = (now * 2.0).floor() / 2.0;
        self.requests_in_bucket += 1.0;
        if bucket > self.rate_bucket {
            let current = self.requests_in_bucket / (bucket - self.rate_bucket);
            self.measured_rate = current * SMOOTH + self.measured_rate * (1.0 - SMOOTH);
            self.requests_in_bucket = 0.0;
            self.rate_bucket = bucket;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_until_the_first_throttle() {
        let l = AdaptiveRateLimiter::new();
        for _ in 0..100 {
            assert_eq!(l.reserve(Duration::ZERO), Ok(Duration::ZERO));
            l.record(false);
        }
        assert!(!l.is_limiting());
        l.record(true);
        assert!(l.is_limiting());
    }

    #[test]
    fn full_throttling_drives_the_rate_to_the_floor_and_success_brings_it_back() {
        let l = AdaptiveRateLimiter::new();
        // 100 requests/s, all throttled, for 5 s.
        let mut t = 0.0;
        for _ in 0..500 {
            t += 0.01;
            l.record_at(t, true);
        }
        assert_eq!(l.rate(), Some(MIN_FILL_RATE));
        // Then every request succeeds, at whatever rate is allowed.
        let mut rate = MIN_FILL_RATE;
        let mut sent = 0;
        while t < 60.0 && rate < 50.0 {
            t += 1.0 / rate;
            l.record_at(t, false);
            rate = l.rate().unwrap_or(f64::MAX);
            sent += 1;
        }
        assert!(
            rate >= 50.0,
            "rate {rate} after {sent} requests, at t = {t}"
        );
        assert!(t < 40.0, "recovery took until t = {t}");
    }

    #[test]
    fn waiters_reserve_in_order_and_long_waits_fail_at_once() {
        let l = AdaptiveRateLimiter::new();
        {
            let mut s = l.lock();
            s.enabled = true;
            s.fill_rate = 2.0;
            s.max_capacity = 1.0;
            s.capacity = 0.0;
            s.last_refill = 10.0;
        }
        // 2 tokens/s: the k-th waiter waits about k/2 s; past 2 s nobody queues.
        let waits: Vec<_> = (0..6)
            .map(|_| l.reserve_at(10.0, Duration::from_secs(2)))
            .collect();
        let ok: Vec<f64> = waits
            .iter()
            .filter_map(|w| w.ok())
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(ok.len(), 4, "{waits:?}");
        for (k, w) in ok.iter().enumerate() {
            let expected = (k + 1) as f64 / 2.0;
            assert!((w - expected).abs() < 0.05, "{k}: {w} vs {expected}");
        }
        let refused = waits[4].unwrap_err();
        assert!(refused.wait > Duration::from_secs(2));
        assert_eq!(refused.rate, 2.0);
    }
}
