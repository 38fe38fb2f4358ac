//! The durable runs this process is running: the store's ownership is per process, so a
//! second `resume` of a run from the same process must be refused here.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

fn running() -> &'static Mutex<HashSet<String>> {
    static RUNNING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// This process's hold on a run; released when dropped (with the run's journal).
#[derive(Debug)]
pub(crate) struct ActiveRun(String);

impl ActiveRun {
    /// The hold on `run`, unless this process already runs it.
    pub(crate) fn take(run: &str) -> Option<Self> {
        let mut set = running().lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(run.to_string()).then(|| Self(run.to_string()))
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        running()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}
