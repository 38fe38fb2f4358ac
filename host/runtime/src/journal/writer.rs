//! The one thread that writes a host's journals. A run hands it each entry and goes on; it
//! waits for its entries only before its next call goes out (write-ahead: nothing leaves the
//! host on the strength of an answer the journal may yet lose), so the store's latency
//! overlaps the plugin's own work, and no tokio worker ever blocks on the disk.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use gamecode_state::StateStore;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Hands jobs to the writer thread, in order. Cheap to clone; the thread ends with the last
/// clone.
#[derive(Clone)]
pub(crate) struct JournalWriter {
    jobs: Sender<Job>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter").finish_non_exhaustive()
    }
}

impl JournalWriter {
    pub(crate) fn start() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gamecode-journal".into())
            .spawn(move || {
                for job in queue {
                    // A panicking store (an embedder's) fails that write, not the thread
                    // every durable run of the host writes through: the job's receiver then
                    // reports the write as lost.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `write` on the writer thread after every job handed to it before; the receiver
    /// gets its result. If the thread is gone the receiver says so (its sender is dropped).
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        store: &Arc<dyn StateStore>,
        write: impl FnOnce(&dyn StateStore) -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (done, result) = oneshot::channel();
        let store = store.clone();
        let _ = self.jobs.send(Box::new(move || {
            let _ = done.send(write(store.as_ref()));
        }));
        result
    }
}

/// A run's writes in flight: the last one's receipt (jobs run in order, so it settles every
/// earlier one) and the first failure among them.
#[derive(Default)]
pub(crate) struct InFlight {
    last: Option<oneshot::Receiver<()>>,
    failed: Arc<Mutex<Option<String>>>,
}

impl InFlight {
    /// Tracks a write whose result comes on `result`.
    pub(crate) fn track(
        &mut self,
        writer: &JournalWriter,
        store: &Arc<dyn StateStore>,
        write: impl FnOnce(&dyn StateStore) -> Result<(), String> + Send + 'static,
    ) {
        let failed = self.failed.clone();
        self.last = Some(writer.submit(store, move |store| {
            let mut failed = failed.lock().unwrap_or_else(PoisonError::into_inner);
            // After a lost entry nothing more is written: the journal stays a whole prefix.
            if failed.is_none()
                && let Err(e) = write(store)
            {
                *failed = Some(e);
            }
        }));
    }

    /// Waits for every write handed over so far; the first failure, if any.
    pub(crate) async fn settle(&mut self) -> Result<(), String> {
        if let Some(last) = self.last.take()
            && last.await.is_err()
        {
            return Err(
                "a write of the journal was lost (its store panicked, or the writer \
                        thread is gone)"
                    .into(),
            );
        }
        match self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
