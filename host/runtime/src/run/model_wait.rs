//! The one wait on the model of a run: opening a call and pulling a stream both go through it.

use std::sync::Arc;

use gamecode_backend::AttemptLog;

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
