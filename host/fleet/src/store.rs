//! The state store of a fleet: runs, journals and sessions in JetStream KV buckets, so that
//! any worker can resume a run another one started. A run is held by a lease, not a pid: its
//! worker renews it while the run goes, and once a dead worker's lease runs out the run is
//! interrupted and another worker may claim it.
//!
//! Buckets (each `PREFIX_WHAT`): `RUNS` (a run's record, changed by compare-and-set on its
//! revision), `JOURNAL` (entry `RUN.SEQ`, written only if absent: two writers of one run
//! cannot both write an entry), `SESSIONS` (per session: a head listing its runs in order,
//! changed by compare-and-set, and each run's turns under their own key, written first).
//!
//! [`StateStore`] is synchronous and called from the host's threads; the store keeps its own
//! runtime and connection, so that a call never waits on the runtime that called it.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv};
use futures::StreamExt;
use gamecode_state::{
    Entry, NewRun, Owner, RunRecord, RunStatus, SessionRecord, SessionTurn, StateError, StateStore,
};
use serde::{Deserialize, Serialize};

use crate::{FleetConfig, FleetError, connect};

/// How many times a compare-and-set is tried again when another writer changed the key.
const CAS_TRIES: usize = 64;

/// How long an operation keeps trying while the servers are away (a restart, a leader
/// election) before the store reports it failed.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `op` until it succeeds, fails for good (`transient` says which errors may pass),
/// or [`PATIENCE`] runs out. `Err((error, retried))`: `retried` when an earlier attempt
/// failed in a way that may have been applied all the same (its reply was lost).
async fn patiently<T, E, Fut>(
    transient: impl Fn(&E) -> bool,
    mut op: impl FnMut() -> Fut,
) -> Result<T, (E, bool)>
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    let since = tokio::time::Instant::now();
    let mut retried = false;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if transient(&e) && since.elapsed() < PATIENCE => {
                tracing::debug!(error = %e, "the fleet's servers are away; trying again");
                retried = true;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err((e, retried)),
        }
    }
}

/// Runs, journals and sessions kept in a fleet's JetStream (see the module's text).
pub struct JetStreamStore {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Inner {
    client: async_nats::Client,
    runs: kv::Store,
    journal: kv::Store,
    sessions: kv::Store,
    me: Owner,
    /// Who holds a run, in the store: unique to this store (two in one process are two
    /// holders), unlike [`Owner`], which says which process it is.
    holder: String,
    lease: Duration,
    /// The runs this store holds a lease on, and the last entry written to each.
    held: Mutex<HashMap<String, Held>>,
    /// Runs that cannot go on in this fleet whoever runs them, and why.
    hopeless: Mutex<HashMap<String, &'static str>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Held {
    entries: u64,
    /// Until when this store may write for the run on its own clock: its lease, less a
    /// margin. Past it (renewals failing) another worker may have claimed the run, so
    /// nothing more is written before a renewal succeeds.
    valid_until: Option<tokio::time::Instant>,
    /// Another worker claimed the run (this one's lease had run out): nothing more is
    /// written for it from here.
    lost: bool,
}

impl std::fmt::Debug for JetStreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamStore")
            .field("runs", &self.inner.runs.name)
            .field("lease", &self.inner.lease)
            .finish_non_exhaustive()
    }
}

/// A run as the `RUNS` bucket keeps it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRun {
    plugin: String,
    plugin_path: Option<String>,
    plugin_digest: String,
    start: String,
    context: Option<String>,
    status: String,
    owner: Option<String>,
    /// The store that holds the run (see [`Inner::holder`]).
    #[serde(default)]
    holder: Option<String>,
    /// Until when (ms since the epoch) the owner holds the run.
    lease_until_ms: i64,
    created_ms: i64,
    updated_ms: i64,
    outcome: Option<String>,
    entries: u64,
    session: Option<String>,
    waiting: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    kind: String,
    body: String,
}

/// A session's head: its runs, in the order their turns were added.
#[derive(Serialize, Deserialize, Default)]
struct SessionHead {
    runs: Vec<String>,
    keys: BTreeSet<String>,
    created_ms: i64,
    updated_ms: i64,
}

/// What one run added to a session.
#[derive(Serialize, Deserialize)]
struct RunTurns {
    created_ms: i64,
    turns: Vec<(String, String)>,
}

impl JetStreamStore {
    /// Connects to the fleet (its own connection, on its own runtime) and opens its buckets,
    /// creating them the first time. A run this store creates or claims is held for `lease`
    /// past each renewal (renewed every third of it): a worker that dies loses its runs to
    /// the others after at most `lease`. Callable from async code and from plain threads.
    pub fn open(config: &FleetConfig, lease: Duration) -> Result<Self, FleetError> {
        if lease < Duration::from_millis(300) {
            return Err(FleetError::Config(format!(
                "a run's lease must be 300 ms or more, not {lease:?}"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gamecode-fleet-store")
            .enable_all()
            .build()
            .map_err(|e| FleetError::Config(format!("the store's runtime: {e}")))?;
        let config = config.clone();
        let opened = on(&runtime, async move { Inner::open(&config, lease).await })
            .map_err(|e| FleetError::Config(e.to_string()))??;
        let inner = Arc::new(opened);
        // Leases are renewed while the store lives; the task ends with the runtime.
        let renewing = Arc::downgrade(&inner);
        runtime.spawn(async move {
            let mut every = tokio::time::interval(lease / 3);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = renewing.upgrade() else {
                    return;
                };
                inner.renew_leases().await;
            }
        });
        Ok(Self {
            inner,
            runtime: Some(runtime),
        })
    }

    /// Gives up this store's hold on `run` at once (a worker draining hands its runs back):
    /// another worker can claim it without waiting for the lease to run out.
    pub fn release(&self, run: &str) -> Result<(), StateError> {
        let inner = self.inner.clone();
        let run = run.to_string();
        self.call(async move { inner.release(&run).await })
    }

    /// Why run `run` cannot go on in this fleet whoever runs it, when this store found out
    /// (an entry too large for the servers): its worker fails it instead of handing it on.
    pub fn hopeless(&self, run: &str) -> Option<&'static str> {
        self.inner.hopeless().get(run).copied()
    }

    /// Whether this store holds run `run` now (a run of this process is going).
    pub fn holds(&self, run: &str) -> bool {
        self.inner.held().get(run).is_some_and(|h| !h.lost)
    }

    /// The connection the store uses (for a worker that has no other).
    pub fn client(&self) -> async_nats::Client {
        self.inner.client.clone()
    }

    /// Runs `work` on the store's runtime and waits for it on this thread.
    fn call<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StateError>> + Send + 'static,
    ) -> Result<T, StateError> {
        let Some(runtime) = &self.runtime else {
            return Err(StateError::Storage("the fleet store is closed".into()));
        };
        on(runtime, work)?
    }
}

impl Drop for JetStreamStore {
    fn drop(&mut self) {
        // Dropped on an async worker, a runtime must not block.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `work` on `runtime` and waits for it on this thread, async worker or not: a std
/// channel never asks which runtime it is on (a tokio one would refuse an async worker).
fn on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, StateError> {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(work.await);
    });
    result.recv().map_err(|_| {
        StateError::Storage("the fleet store's task failed or its runtime is gone".into())
    })
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A fresh SipHash key per call: random enough to tell stores apart.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn storage(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Storage(format!("{what}: {e}"))
}

/// Run ids are KV keys and subject tokens: letters, digits, `-` and `_` only.
fn check_id(run: &str) -> Result<(), StateError> {
    if gamecode_state::is_portable_run_id(run) {
        Ok(())
    } else {
        Err(StateError::Storage(format!(
            "run id `{}` cannot be kept in a fleet (letters, digits, `-`, `_`; at most 128)",
            run.escape_debug()
        )))
    }
}

/// A session's name as a key token (names are free text).
fn session_key(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn session_name(key: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn status_of(text: &str) -> RunStatus {
    match text {
        "finished" => RunStatus::Finished,
        "failed" => RunStatus::Failed,
        "waiting" => RunStatus::Waiting,
        _ => RunStatus::Running,
    }
}

impl StoredRun {
    fn record(&self, id: &str, now: i64) -> RunRecord {
        let owner = self.owner.as_deref().and_then(Owner::from_text);
        let mut status = status_of(&self.status);
        if status == RunStatus::Running && (self.holder.is_none() || self.lease_until_ms <= now) {
            status = RunStatus::Interrupted;
        }
        let mut record = RunRecord::new(
            NewRun {
                id: id.to_string(),
                plugin: self.plugin.clone(),
                plugin_path: self.plugin_path.clone(),
                plugin_digest: self.plugin_digest.clone(),
                start: self.start.clone(),
                context: self.context.clone(),
                session: self.session.clone(),
            },
            owner,
            self.created_ms,
        );
        record.status = status;
        record.updated_ms = self.updated_ms;
        record.outcome = self.outcome.clone();
        record.entries = self.entries;
        record.waiting = self.waiting.clone();
        record
    }
}

impl Inner {
    async fn open(config: &FleetConfig, lease: Duration) -> Result<Self, FleetError> {
        let client = connect(config).await?;
        let js = jetstream::new(client.clone());
        let bucket = |what: &str, history: i64| kv::Config {
            bucket: config.bucket(what),
            history,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let open = |what: &'static str| {
            let js = js.clone();
            let cfg = bucket(what, 1);
            async move {
                js.create_key_value(cfg)
                    .await
                    .map_err(|e| FleetError::JetStream(format!("the {what} bucket: {e}")))
            }
        };
        Ok(Self {
            runs: open("RUNS").await?,
            journal: open("JOURNAL").await?,
            sessions: open("SESSIONS").await?,
            client,
            me: Owner::current(),
            holder: format!("{:016x}", rand_u64()),
            lease,
            held: Mutex::new(HashMap::new()),
            hopeless: Mutex::new(HashMap::new()),
        })
    }

    /// A hold on a run, valid for the lease less a sixth (renewals come every third; the sixth
    /// covers a late renewal, the network and clocks running apart).
    fn fresh_hold(&self, entries: u64) -> Held {
        Held {
            entries,
            valid_until: Some(tokio::time::Instant::now() + self.lease * 5 / 6),
            ..Held::default()
        }
    }

    /// The payload the servers take, less room for a message's headers.
    fn too_large(&self, len: usize) -> Option<usize> {
        let most = self.client.max_payload();
        (most > 0 && len + 256 > most).then_some(most)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hopeless(&self) -> std::sync::MutexGuard<'_, HashMap<String, &'static str>> {
        self.hopeless.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read(&self, run: &str) -> Result<(StoredRun, u64), StateError> {
        check_id(run)?;
        let entry = patiently(|_| true, || self.runs.entry(run))
            .await
            .map_err(|(e, _)| storage("reading a run", e))?
            .filter(|e| e.operation == kv::Operation::Put)
            .ok_or_else(|| StateError::NoSuchRun(run.to_string()))?;
        let stored: StoredRun =
            serde_json::from_slice(&entry.value).map_err(|e| storage("a run's record", e))?;
        Ok((stored, entry.revision))
    }

    /// Changes run `run` with `change` (which may refuse), compare-and-set, trying again
    /// when another writer got there first.
    async fn change(
        &self,
        run: &str,
        mut change: impl FnMut(&mut StoredRun) -> Result<(), StateError>,
    ) -> Result<StoredRun, StateError> {
        for _ in 0..CAS_TRIES {
            let (mut stored, revision) = self.read(run).await?;
            change(&mut stored)?;
            stored.updated_ms = now_ms();
            let body = serde_json::to_vec(&stored).map_err(|e| storage("a run's record", e))?;
            let body: bytes::Bytes = body.into();
            let written = patiently(
                |e: &kv::UpdateError| e.kind() != kv::UpdateErrorKind::WrongLastRevision,
                || self.runs.update(run, body.clone(), revision),
            )
            .await;
            match written {
                Ok(_) => return Ok(stored),
                // Another writer, or this one's own write whose reply was lost: read again.
                Err((e, _)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err((e, _)) => return Err(storage("writing a run", e)),
            }
        }
        Err(StateError::Busy {
            id: run.to_string(),
            why: "its record kept changing under this worker".into(),
        })
    }

    fn mine(&self, stored: &StoredRun) -> bool {
        stored.holder.as_deref() == Some(self.holder.as_str())
    }

    async fn create_run(&self, run: NewRun) -> Result<(), StateError> {
        check_id(&run.id)?;
        let now = now_ms();
        let stored = StoredRun {
            plugin: run.plugin,
            plugin_path: run.plugin_path,
            plugin_digest: run.plugin_digest,
            start: run.start,
            context: run.context,
            status: RunStatus::Running.as_str().into(),
            owner: Some(self.me.to_text()),
            holder: Some(self.holder.clone()),
            lease_until_ms: now.saturating_add(self.lease_ms()),
            created_ms: now,
            updated_ms: now,
            outcome: None,
            entries: 0,
            session: run.session,
            waiting: None,
        };
        let body = serde_json::to_vec(&stored).map_err(|e| storage("a run's record", e))?;
        if let Some(most) = self.too_large(body.len()) {
            self.hopeless().insert(
                run.id.clone(),
                "its start (task and attachments) is larger than the servers' max_payload",
            );
            return Err(StateError::Storage(format!(
                "run {}'s start (its task and attachments) is {} bytes; the fleet's servers take \
                 at most {most} per message (raise max_payload, or attach less)",
                run.id,
                body.len()
            )));
        }
        let body: bytes::Bytes = body.into();
        let created = patiently(
            |e: &kv::CreateError| e.kind() != kv::CreateErrorKind::AlreadyExists,
            || self.runs.create(&run.id, body.clone()),
        )
        .await;
        let ours = match created {
            Ok(_) => true,
            // An attempt whose reply was lost (the client then reads the key and says it
            // exists) may have created it: then it is this store's.
            Err((e, _)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.read(&run.id).await.is_ok_and(|(r, _)| self.mine(&r))
            }
            Err((e, _)) => return Err(storage("creating a run", e)),
        };
        if !ours {
            return Err(StateError::Busy {
                id: run.id,
                why: "a run with this id exists (resume it)".into(),
            });
        }
        let hold = self.fresh_hold(0);
        self.held().insert(run.id, hold);
        Ok(())
    }

    async fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError> {
        check_id(run)?;
        let now = tokio::time::Instant::now();
        let held = self.held().get(run).copied();
        if let Some(held) = held
            && (held.lost || held.valid_until.is_some_and(|until| now > until))
        {
            return Err(StateError::Busy {
                id: run.to_string(),
                why: "this worker's lease on it ran out (another worker may hold it now)".into(),
            });
        }
        let entry = serde_json::to_vec(&StoredEntry {
            kind: kind.into(),
            body: body.into(),
        })
        .map_err(|e| storage("a journal entry", e))?;
        // What the servers would refuse, said at once and for good (not waited on).
        if let Some(most) = self.too_large(entry.len()) {
            self.hopeless().insert(
                run.to_string(),
                "a journal entry larger than the servers' max_payload",
            );
            return Err(StateError::Storage(format!(
                "journal entry {seq} of run {run} is {} bytes; the fleet's servers take at most \
                 {most} per message (raise max_payload in their configuration)",
                entry.len()
            )));
        }
        let key = format!("{run}.{seq:012}");
        let entry: bytes::Bytes = entry.into();
        let created = patiently(
            |e: &kv::CreateError| e.kind() != kv::CreateErrorKind::AlreadyExists,
            || self.journal.create(&key, entry.clone()),
        )
        .await;
        match created {
            Ok(_) => {}
            // An attempt whose reply was lost (the client then reads the key and says it
            // exists) may have written it: the same entry is this store's own.
            Err((e, _)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                match self.journal.get(&key).await {
                    Ok(Some(there)) if there == entry => {}
                    _ => {
                        return Err(StateError::Conflict {
                            id: run.to_string(),
                            seq,
                        });
                    }
                }
            }
            Err((e, _)) => return Err(storage("appending to a journal", e)),
        }
        if let Some(held) = self.held().get_mut(run) {
            held.entries = held.entries.max(seq + 1);
        }
        Ok(())
    }

    async fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        check_id(run)?;
        patiently(|_| true, || self.journal_once(run))
            .await
            .map_err(|(e, _)| e)
    }

    async fn journal_once(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        let prefix = format!("{}{run}.", self.journal.prefix);
        let consumer = self
            .journal
            .stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: format!("{prefix}>"),
                replay_policy: consumer::ReplayPolicy::Instant,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| storage("reading a journal", e))?;
        let mut entries = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(entries);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| storage("reading a journal", e))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| storage("reading a journal", e))?;
            let pending = message
                .info()
                .map_err(|e| storage("reading a journal", e))?
                .pending;
            let seq = message
                .subject
                .strip_prefix(prefix.as_str())
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| storage("a journal entry", "its key is not RUN.SEQ"))?;
            let stored: StoredEntry = serde_json::from_slice(&message.payload)
                .map_err(|e| storage("a journal entry", e))?;
            entries.push(Entry {
                seq,
                kind: stored.kind,
                body: stored.body,
            });
            if pending == 0 {
                break;
            }
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    async fn claim(&self, run: &str) -> Result<RunRecord, StateError> {
        let (me, holder) = (self.me.to_text(), self.holder.clone());
        let lease = self.lease_ms();
        let entries = self.journal(run).await?.len() as u64;
        let stored = self
            .change(run, |stored| {
                let now = now_ms();
                match status_of(&stored.status) {
                    RunStatus::Finished | RunStatus::Failed => {
                        return Err(StateError::Busy {
                            id: run.to_string(),
                            why: format!("it has {}", stored.status),
                        });
                    }
                    RunStatus::Running
                        if stored.holder.is_some()
                            && stored.holder.as_deref() != Some(holder.as_str())
                            && stored.lease_until_ms > now =>
                    {
                        return Err(StateError::Busy {
                            id: run.to_string(),
                            why: format!(
                                "a worker holds it for {} ms more",
                                stored.lease_until_ms - now
                            ),
                        });
                    }
                    _ => {}
                }
                stored.status = RunStatus::Running.as_str().into();
                stored.owner = Some(me.clone());
                stored.holder = Some(holder.clone());
                stored.lease_until_ms = now.saturating_add(lease);
                stored.waiting = None;
                stored.entries = entries;
                Ok(())
            })
            .await?;
        let hold = self.fresh_hold(entries);
        self.held().insert(run.to_string(), hold);
        let mut record = stored.record(run, now_ms());
        record.status = RunStatus::Running;
        Ok(record)
    }

    /// Ends this store's hold on `run` with `change` (finish, suspend), refused unless it
    /// holds it.
    async fn let_go(
        &self,
        run: &str,
        target: RunStatus,
        change: impl Fn(&mut StoredRun),
    ) -> Result<(), StateError> {
        let entries = self.held().get(run).map(|h| h.entries);
        let result = self
            .change(run, |stored| {
                // This store's own write, landed though its reply was lost (the same status
                // and outcome, held by none): write it again. Anything else is another's.
                let mut same = stored.clone();
                change(&mut same);
                let landed = stored.holder.is_none()
                    && status_of(&stored.status) == target
                    && stored.outcome == same.outcome
                    && stored.waiting == same.waiting;
                let held = self.mine(stored) && status_of(&stored.status) == RunStatus::Running;
                if !(held || landed) {
                    return Err(StateError::Busy {
                        id: run.to_string(),
                        why: "this worker does not hold it".into(),
                    });
                }
                change(stored);
                stored.owner = None;
                stored.holder = None;
                stored.lease_until_ms = 0;
                if let Some(entries) = entries {
                    stored.entries = stored.entries.max(entries);
                }
                Ok(())
            })
            .await;
        self.held().remove(run);
        result.map(|_| ())
    }

    async fn release(&self, run: &str) -> Result<(), StateError> {
        // Lost, not forgotten: a write of the run still queued in this process is refused.
        if let Some(held) = self.held().get_mut(run) {
            held.lost = true;
        }
        let holder = self.holder.clone();
        self.change(run, |stored| {
            if stored.holder.as_deref() == Some(holder.as_str()) {
                stored.lease_until_ms = 0;
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Renews the lease of every run this store holds; a run another worker took is marked
    /// lost (its writes stop).
    async fn renew_leases(&self) {
        let runs: Vec<(String, u64)> = self
            .held()
            .iter()
            .filter(|(_, h)| !h.lost)
            .map(|(id, h)| (id.clone(), h.entries))
            .collect();
        let lease = self.lease_ms();
        for (run, entries) in runs {
            let started = tokio::time::Instant::now();
            let renewed = self
                .change(&run, |stored| {
                    if !self.mine(stored) {
                        return Err(StateError::Busy {
                            id: run.clone(),
                            why: "taken".into(),
                        });
                    }
                    stored.lease_until_ms = now_ms().saturating_add(lease);
                    stored.entries = stored.entries.max(entries);
                    Ok(())
                })
                .await;
            match renewed {
                Ok(_) => {
                    if let Some(held) = self.held().get_mut(&run) {
                        held.valid_until = Some(started + self.lease * 5 / 6);
                    }
                }
                Err(StateError::Busy { .. }) | Err(StateError::NoSuchRun(_)) => {
                    tracing::warn!(run = %run, "another worker took this run: its writes stop here");
                    if let Some(held) = self.held().get_mut(&run) {
                        held.lost = true;
                    }
                }
                // The server is away for now: the next tick tries again.
                Err(e) => tracing::warn!(run = %run, error = %e, "could not renew a run's lease"),
            }
        }
    }

    async fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        let mut keys = self
            .runs
            .keys()
            .await
            .map_err(|e| storage("listing runs", e))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            ids.push(key.map_err(|e| storage("listing runs", e))?);
        }
        let now = now_ms();
        let mut records = Vec::new();
        for id in ids {
            match self.read(&id).await {
                Ok((stored, _)) => records.push(stored.record(&id, now)),
                Err(StateError::NoSuchRun(_)) => {}
                Err(e) => return Err(e),
            }
        }
        records.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
        Ok(records)
    }

    async fn head(&self, session: &str) -> Result<Option<(SessionHead, u64)>, StateError> {
        let entry = self
            .sessions
            .entry(format!("{}.head", session_key(session)))
            .await
            .map_err(|e| storage("reading a session", e))?;
        match entry.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => Ok(Some((
                serde_json::from_slice(&e.value).map_err(|e| storage("a session's head", e))?,
                e.revision,
            ))),
            None => Ok(None),
        }
    }

    async fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError> {
        let Some((head, _)) = self.head(session).await? else {
            return Ok(Vec::new());
        };
        let mut turns = Vec::new();
        for (i, run) in head.runs.iter().enumerate().take(upto as usize) {
            let value = self
                .sessions
                .get(format!("{}.run.{run}", session_key(session)))
                .await
                .map_err(|e| storage("reading a session", e))?
                .ok_or_else(|| storage("a session", format!("run {run}'s turns are missing")))?;
            let added: RunTurns =
                serde_json::from_slice(&value).map_err(|e| storage("a session's turns", e))?;
            for (k, messages) in added.turns {
                if key.is_none_or(|want| want == k) {
                    turns.push(SessionTurn::new(
                        i as u64 + 1,
                        k,
                        Some(run.clone()),
                        messages,
                        added.created_ms,
                    ));
                }
            }
        }
        Ok(turns)
    }

    async fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError> {
        check_id(run)?;
        let name = session_key(session);
        let now = now_ms();
        // The turns first, under the run's own key: the head names them only once they are
        // there, and writing them again (a resumed run) writes the same.
        let body = serde_json::to_vec(&RunTurns {
            created_ms: now,
            turns: turns.to_vec(),
        })
        .map_err(|e| storage("a session's turns", e))?;
        self.sessions
            .put(format!("{name}.run.{run}"), body.into())
            .await
            .map_err(|e| storage("writing a session", e))?;
        for _ in 0..CAS_TRIES {
            let (mut head, revision) = match self.head(session).await? {
                Some((head, revision)) => (head, Some(revision)),
                None => (
                    SessionHead {
                        created_ms: now,
                        ..SessionHead::default()
                    },
                    None,
                ),
            };
            if head.runs.iter().any(|r| r == run) {
                return Ok(());
            }
            head.runs.push(run.to_string());
            head.keys.extend(turns.iter().map(|(k, _)| k.clone()));
            head.updated_ms = now_ms();
            let body = serde_json::to_vec(&head).map_err(|e| storage("a session's head", e))?;
            let key = format!("{name}.head");
            let written = match revision {
                Some(revision) => self
                    .sessions
                    .update(&key, body.into(), revision)
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    }),
                None => self.sessions.create(&key, body.into()).await.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            };
            match written {
                Ok(_) => return Ok(()),
                Err((true, _)) => continue,
                Err((false, e)) => return Err(storage("writing a session", e)),
            }
        }
        Err(storage(
            "writing a session",
            "its head kept changing under this worker",
        ))
    }

    async fn sessions(&self) -> Result<Vec<SessionRecord>, StateError> {
        let mut keys = self
            .sessions
            .keys()
            .await
            .map_err(|e| storage("listing sessions", e))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| storage("listing sessions", e))?;
            if let Some(name) = key.strip_suffix(".head").and_then(session_name) {
                names.push(name);
            }
        }
        let mut records = Vec::new();
        for name in names {
            if let Some((head, _)) = self.head(&name).await? {
                records.push(SessionRecord::new(
                    name,
                    head.runs.len() as u64,
                    head.keys.len() as u64,
                    head.created_ms,
                    head.updated_ms,
                ));
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.updated_ms));
        Ok(records)
    }

    async fn remove_session(&self, session: &str) -> Result<u64, StateError> {
        let Some((head, _)) = self.head(session).await? else {
            return Ok(0);
        };
        let name = session_key(session);
        let removed = self.session_turns(session, None, u64::MAX).await?.len() as u64;
        self.sessions
            .purge(format!("{name}.head"))
            .await
            .map_err(|e| storage("removing a session", e))?;
        for run in &head.runs {
            self.sessions
                .purge(format!("{name}.run.{run}"))
                .await
                .map_err(|e| storage("removing a session", e))?;
        }
        Ok(removed)
    }
}

impl StateStore for JetStreamStore {
    fn create_run(&self, run: &NewRun) -> Result<(), StateError> {
        let (inner, run) = (self.inner.clone(), run.clone());
        self.call(async move { inner.create_run(run).await })
    }

    fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError> {
        let inner = self.inner.clone();
        let (run, kind, body) = (run.to_string(), kind.to_string(), body.to_string());
        self.call(async move { inner.append(&run, seq, &kind, &body).await })
    }

    fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        let (inner, run) = (self.inner.clone(), run.to_string());
        self.call(async move { inner.journal(&run).await })
    }

    fn claim(&self, run: &str) -> Result<RunRecord, StateError> {
        let (inner, run) = (self.inner.clone(), run.to_string());
        self.call(async move { inner.claim(&run).await })
    }

    fn suspend(&self, run: &str, waiting: &str) -> Result<(), StateError> {
        let (inner, run, waiting) = (self.inner.clone(), run.to_string(), waiting.to_string());
        self.call(async move {
            inner
                .let_go(&run, RunStatus::Waiting, |stored| {
                    stored.status = RunStatus::Waiting.as_str().into();
                    stored.waiting = Some(waiting.clone());
                })
                .await
        })
    }

    fn finish(&self, run: &str, status: RunStatus, outcome: &str) -> Result<(), StateError> {
        let (inner, run, outcome) = (self.inner.clone(), run.to_string(), outcome.to_string());
        self.call(async move {
            inner
                .let_go(&run, status, |stored| {
                    stored.status = status.as_str().into();
                    stored.outcome = Some(outcome.clone());
                    stored.waiting = None;
                })
                .await
        })
    }

    fn run(&self, run: &str) -> Result<RunRecord, StateError> {
        let (inner, id) = (self.inner.clone(), run.to_string());
        self.call(async move {
            let (stored, _) = inner.read(&id).await?;
            Ok(stored.record(&id, now_ms()))
        })
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        let inner = self.inner.clone();
        self.call(async move { inner.runs().await })
    }

    fn session_head(&self, session: &str) -> Result<u64, StateError> {
        let (inner, session) = (self.inner.clone(), session.to_string());
        self.call(async move {
            Ok(inner
                .head(&session)
                .await?
                .map_or(0, |(head, _)| head.runs.len() as u64))
        })
    }

    fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError> {
        let (inner, session) = (self.inner.clone(), session.to_string());
        let key = key.map(str::to_string);
        self.call(async move { inner.session_turns(&session, key.as_deref(), upto).await })
    }

    fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError> {
        let (inner, session, run) = (self.inner.clone(), session.to_string(), run.to_string());
        let turns = turns.to_vec();
        self.call(async move { inner.add_session_turns(&session, &run, &turns).await })
    }

    fn sessions(&self) -> Result<Vec<SessionRecord>, StateError> {
        let inner = self.inner.clone();
        self.call(async move { inner.sessions().await })
    }

    fn remove_session(&self, session: &str) -> Result<u64, StateError> {
        let (inner, session) = (self.inner.clone(), session.to_string());
        self.call(async move { inner.remove_session(&session).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_round_trip_as_key_tokens() {
        for name in ["chat", "a b/c.d", "ünïcode ✓", ""] {
            let key = session_key(name);
            assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
            assert_eq!(session_name(&key).as_deref(), Some(name));
        }
        assert_eq!(session_name("zz"), None);
    }

    #[test]
    fn run_ids_must_be_key_tokens() {
        assert!(check_id("0193a-4f2b_x").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(129)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
