//! Which attempts a caller's request made, for the caller alone.
//!
//! A backend is shared by many callers, and its status callback sees everyone's retries. A
//! caller that needs to know what *its* request went through — the plugin host, when a run's
//! deadline cuts a model call short and it must say "after 3 attempts: no response within
//! 10 s" — runs the call inside [`AttemptLog::scope`]; the retry loop records each attempt
//! into the log of the task it runs on. The log outlives the call's future, so it can be read
//! after the call was cancelled.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::BackendError;

tokio::task_local! {
    static CURRENT: Arc<AttemptLog>;
}

/// The attempts of the calls made inside one [`AttemptLog::scope`].
#[derive(Debug, Default)]
pub struct AttemptLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    started: u32,
    last_error: Option<BackendError>,
}

impl AttemptLog {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Runs `future` with this log receiving the attempts of the calls it makes.
    pub async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attempts started so far (the last may still be in flight).
    pub fn attempts(&self) -> u32 {
        self.lock().started
    }

    /// The error of the last attempt that failed.
    pub fn last_error(&self) -> Option<BackendError> {
        self.lock().last_error.clone()
    }

    /// Forgets what was recorded (to reuse one log for the next call).
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    pub(crate) fn record_start() {
        let _ = CURRENT.try_with(|log| log.lock().started += 1);
    }

    pub(crate) fn record_failure(error: &BackendError) {
        let _ = CURRENT.try_with(|log| log.lock().last_error = Some(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_are_recorded_into_the_scope_only() {
        let log = AttemptLog::new();
        AttemptLog::record_start(); // outside any scope: nowhere
        log.scope(async {
            AttemptLog::record_start();
            AttemptLog::record_failure(&BackendError::network("reset"));
            AttemptLog::record_start();
        })
        .await;
        assert_eq!(log.attempts(), 2);
        assert_eq!(log.last_error().unwrap().message(), "reset");
        log.reset();
        assert_eq!(log.attempts(), 0);
    }
}
