//! The one wait on the model of a run: opening a call and pulling a stream both go through it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gamecode_backend::{AttemptLog, BackendError, BackendResult};

/// Waits on the model: while `wait` runs, `slot` names the attempts it waits on, so that a
/// deadline passing meanwhile is the model's to answer for, not the plugin's.
pub(super) async fn waiting_on_model<T>(
    slot: &mut Option<Arc<AttemptLog>>,
    attempts: Arc<AttemptLog>,
    wait: impl Future<Output = T>,
) -> T {
    *slot = Some(attempts);
    let out = wait.await;
    *slot = None;
    out
}

/// A backend call running as a task of its own: polled on the runtime's threads rather than
/// the plugin's fiber, whose stack is fresh for every run (the SDK's deep futures there cost
/// page faults and cold caches: figure 12 in BENCHMARKS.md). Dropping the wait (a deadline,
/// a cancelled run) aborts the call.
pub(super) struct ModelCall<T>(tokio::task::JoinHandle<BackendResult<T>>);

impl<T: Send + 'static> ModelCall<T> {
    pub(super) fn spawn(call: impl Future<Output = BackendResult<T>> + Send + 'static) -> Self {
        Self(tokio::spawn(call))
    }
}

impl<T> Future for ModelCall<T> {
    type Output = BackendResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            // A backend that panicked failed this call; the host goes on serving.
            Err(e) => Err(BackendError::provider(format!("the backend failed: {e}"))),
        })
    }
}

impl<T> Drop for ModelCall<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use gamecode_backend::ErrorCategory;

    use super::*;

    #[tokio::test]
    async fn a_dropped_call_is_aborted_and_a_panic_is_a_failed_call() {
        let (held, released) = tokio::sync::oneshot::channel::<()>();
        let call = ModelCall::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
            Ok(())
        });
        drop(call);
        // Aborted: the task dropped what it held.
        assert!(released.await.is_err());

        let panicked = ModelCall::<()>::spawn(async { panic!("a backend bug") }).await;
        let error = panicked.expect_err("a failed call");
        assert_eq!(error.category(), ErrorCategory::Provider);
        assert!(error.message().contains("the backend failed"), "{error}");
    }
}
