//! A loaded plugin and its runs.
//!
//! A [`Plugin`] holds the pre-instantiated component (compiled and linked once); each
//! [`Plugin::run`] makes a fresh `Store` (its own memory, WASI context, limits and meters),
//! instantiates, calls `agent.run`, and throws the store away. Nothing is shared between runs
//! but the code, the backend and the host tools, so runs are independent and concurrent.
//!
//! The deadline is enforced twice, because a plugin can be stuck in two places:
//! - in wasm: the engine's epoch ticks make the store call back every tick; the callback
//!   yields to tokio (so a spinning plugin cannot starve others, nor their I/O) and traps once
//!   the deadline has passed;
//! - in a host call (waiting on a slow model): `tokio::time::timeout` around the whole run
//!   drops the call, and with it the request. A run cut off while waiting on the model is
//!   reported as the model's failure ([`RunError::ModelDeadline`]), with the attempts made.

use gamecode_backend::LLMBackend;
use gamecode_state::{NewRun, RunStatus, StateStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use tracing::Instrument;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::approval::{Decision, PendingCall};
use crate::error::{AgentError, RunError};
use crate::journal::{ActiveRun, Journal, JournalWriter, Start};
use crate::limits::MemoryLimiter;
use crate::observer::{OutputStream, RunEvent, RunObserver};
use crate::policy::{Meter, Policy, PolicyError, PolicyViolation, ViolationKind};
use crate::run::{RunSession, RunState, RunStats};
use crate::sandbox::{OutputCapture, Replayable, wasi_ctx};
use crate::session::SessionAt;
use crate::shared::{HostInner, LoadInfo, PluginSource};
use crate::task::Task;
use crate::tools::ToolError;
use crate::wit::{AgentCall, AgentPre, WitVersion};

/// Numbers runs for log correlation (the backend sees it as the session id).
static RUN_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A durable run about to go: its id, what it started from, its journal.
struct Durable {
    id: String,
    start: Start,
    journal: Journal,
    resumed: bool,
}

/// Whether a run is new (with the embedder's note, if durable, and its session) or resumes a
/// journaled one.
enum Origin {
    New {
        context: Option<String>,
        session: Option<String>,
        id: Option<String>,
    },
    Resume(String, Option<(PendingCall, Decision)>),
}

/// Checks that run `id` was journaled with the plugin of `digest` and can start again, claims
/// it and loads its journal.
fn take_over(
    store: Arc<dyn StateStore>,
    writer: JournalWriter,
    digest: &str,
    id: &str,
    decision: Option<(PendingCall, Decision)>,
    active: ActiveRun,
) -> Result<Durable, RunError> {
    let journal_err = |e: gamecode_state::StateError| RunError::Journal(e.to_string());
    let record = store.run(id).map_err(journal_err)?;
    if record.plugin_digest != digest {
        let short = |d: &str| d.chars().take(12).collect::<String>();
        return Err(RunError::Journal(format!(
            "run {id} was journaled with another plugin (SHA-256 {}…, this one is {}…): \
             resume it with the plugin it ran",
            short(&record.plugin_digest),
            short(digest)
        )));
    }
    let start =
        Start::decode(&record.start).map_err(|e| RunError::Journal(format!("run {id}: {e}")))?;
    start
        .seed()
        .map_err(|e| RunError::Journal(format!("run {id}: {e}")))?;
    match (&decision, record.status) {
        (None, RunStatus::Waiting) => {
            return Err(RunError::Journal(format!(
                "run {id} waits for a person's decision on a tool call: continue it with the \
                 decision (gamecode approve {id} [--deny REASON], Plugin::decide)"
            )));
        }
        (Some(_), status) if status != RunStatus::Waiting => {
            return Err(RunError::Journal(format!(
                "run {id} is {status}, not waiting for a decision"
            )));
        }
        _ => {}
    }
    store.claim(id).map_err(journal_err)?;
    if let Some((call, decision)) = decision {
        Journal::decide(store.as_ref(), id, &call, decision).map_err(|h| h.run_error())?;
    }
    let journal = Journal::resume(writer, store, id, active).map_err(|h| h.run_error())?;
    Ok(Durable {
        id: id.to_string(),
        start,
        journal,
        resumed: true,
    })
}

/// An embedder's run id ([`Run::id`]): a key in any store (and a NATS subject token).
fn checked_run_id(id: String) -> Result<String, RunError> {
    if gamecode_state::is_portable_run_id(&id) {
        Ok(id)
    } else {
        Err(RunError::Journal(format!(
            "run id `{}`: letters, digits, `-` and `_`, at most 128",
            crate::text::echo(&id)
        )))
    }
}

/// A new durable run's id: its start time (ms, hex, so ids sort by age) and 48 random bits.
fn new_run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let random: u64 = rand::Rng::next_u64(&mut rand::rng());
    format!("{ms:011x}-{:012x}", random & 0xffff_ffff_ffff)
}

/// A plugin ready to run. Cheap to clone (the compiled code is shared).
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    host: Arc<HostInner>,
    backend: Arc<dyn LLMBackend>,
    pre: AgentPre,
    policy: Arc<Policy>,
    load: LoadInfo,
    /// The plugin's digest and file, when the host journals runs.
    source: Option<Arc<PluginSource>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

/// One run of a plugin, before it starts: its options, then `.await` (the answer or the
/// error) or [`report`](Self::report) (everything about the run).
#[must_use = "a run does nothing until awaited"]
pub struct Run<'a> {
    plugin: &'a Plugin,
    task: Task,
    observer: Option<Arc<dyn RunObserver>>,
    /// The journaled run this continues ([`Plugin::resume`]), with a person's decision
    /// ([`Plugin::decide`]).
    resume: Option<(String, Option<(PendingCall, Decision)>)>,
    /// The embedder's note kept with a durable run ([`Run::context`]).
    context: Option<String>,
    /// The session this run is a turn of ([`Run::session`]).
    session: Option<String>,
    /// The durable run's id, when the embedder names it ([`Run::id`]).
    id: Option<String>,
    /// Cancels the run when it completes ([`Run::cancel_on`]). In a mutex only so that a
    /// `Run` stays `Sync` (it is never locked while shared).
    cancel: Option<std::sync::Mutex<Cancel<'a>>>,
}

impl<'a> Run<'a> {
    /// Also tells `observer` this run's events (besides the host's observer, if any): for
    /// an embedder that routes each run's progress to its own client.
    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Keeps `context` with a durable run in the state store
    /// ([`RunRecord::context`](gamecode_state::RunRecord::context)): what an embedder needs
    /// to build the same host again to resume it (the `gamecode` CLI keeps its arguments).
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Makes the run a turn of session `name` (created by its first turn): the plugin's
    /// `chat.session-conversation` (WIT 0.2.1) continues the conversations the session's
    /// earlier runs left, and an answer adds this run's turn to them. Sessions are kept in
    /// the host's state store ([`PluginHostBuilder::state`](crate::PluginHostBuilder::state));
    /// without one the run is refused. Ignored by [`Plugin::resume`] (a resumed run continues
    /// its own session).
    pub fn session(mut self, name: impl Into<String>) -> Self {
        self.session = Some(name.into());
        self
    }

    /// Journals the run under `id` rather than a new one: for an embedder that names its
    /// runs (a fleet's submitter does, so that an order delivered again finds its journal).
    /// Letters, digits, `-` and `_`, at most 128. The run is refused when the store has a run
    /// of this id already (resume that one). Ignored by [`Plugin::resume`].
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Cancels the run when `signal` completes (a person's Ctrl-C, a client gone): the
    /// plugin is stopped where it is, as at its deadline, and the run ends with
    /// [`RunError::Cancelled`] (a durable run is marked failed; a session keeps nothing of
    /// it). Dropping the run's future instead stops it too, but leaves a durable run to be
    /// resumed.
    pub fn cancel_on(mut self, signal: impl Future<Output = ()> + Send + 'a) -> Self {
        self.cancel = Some(std::sync::Mutex::new(Box::pin(signal)));
        self
    }

    /// Runs it: the answer or the error, with output and stats either way.
    pub async fn report(self) -> RunReport {
        let Self {
            plugin,
            task,
            observer,
            resume,
            context,
            session,
            id,
            cancel,
        } = self;
        let origin = match resume {
            Some((run_id, decision)) => Origin::Resume(run_id, decision),
            None => Origin::New {
                context,
                session,
                id,
            },
        };
        let cancel = cancel.map(|c| c.into_inner().unwrap_or_else(PoisonError::into_inner));
        plugin.run_with(task, observer, origin, cancel).await
    }
}

impl<'a> std::future::IntoFuture for Run<'a> {
    type Output = Result<RunOutcome, RunError>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.report().await.into_result() })
    }
}

/// Two observers of one run: the host's and the run's own.
struct Both(Arc<dyn RunObserver>, Arc<dyn RunObserver>);

impl RunObserver for Both {
    fn on_event(&self, plugin: &str, event: &RunEvent) {
        self.0.on_event(plugin, event);
        self.1.on_event(plugin, event);
    }
}

/// A successful run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// The plugin's answer.
    pub answer: String,
    pub stats: RunStats,
    /// What the plugin printed (bounded by the policy's output cap).
    pub stdout: String,
    pub stderr: String,
    /// Requests the policy refused along the way (the plugin coped).
    pub violations: Vec<PolicyViolation>,
}

/// Everything about a run, whether it succeeded or not.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunReport {
    pub plugin: String,
    /// The run's id in the host's state store, when the run is durable
    /// ([`PluginHostBuilder::state`](crate::PluginHostBuilder::state)): what
    /// [`Plugin::resume`] takes.
    pub run_id: Option<String>,
    pub result: Result<String, RunError>,
    pub stats: RunStats,
    pub stdout: String,
    pub stderr: String,
    /// Whether output beyond the policy's cap was dropped.
    pub output_truncated: bool,
    pub violations: Vec<PolicyViolation>,
}

impl RunReport {
    /// The answer and run data, or the error.
    pub fn into_result(self) -> Result<RunOutcome, RunError> {
        let answer = self.result?;
        Ok(RunOutcome {
            answer,
            stats: self.stats,
            stdout: self.stdout,
            stderr: self.stderr,
            violations: self.violations,
        })
    }
}

/// The trap raised by the epoch callback once the deadline has passed.
#[derive(Debug)]
struct DeadlineTrap;

impl std::fmt::Display for DeadlineTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin's deadline passed")
    }
}

impl std::error::Error for DeadlineTrap {}

/// How the wasm part of a run ended.
enum Ended {
    Ran(AgentCall),
    TimedOut,
    Cancelled,
}

/// What cancels a run when it completes ([`Run::cancel_on`]).
type Cancel<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

impl Plugin {
    pub(crate) fn new(
        name: Arc<str>,
        host: Arc<HostInner>,
        backend: Arc<dyn LLMBackend>,
        pre: AgentPre,
        policy: Arc<Policy>,
        load: LoadInfo,
        source: Option<Arc<PluginSource>>,
    ) -> Self {
        Self {
            name,
            host,
            backend,
            pre,
            policy,
            load,
            source,
        }
    }

    /// The plugin's name (file stem, or the name given to `load_bytes`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy runs of this plugin get.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The WIT version the plugin targets.
    pub fn wit_version(&self) -> WitVersion {
        self.pre.version()
    }

    /// The exact WIT package the plugin targets, `gamecode:plugin@0.2.1` (within its
    /// [`wit_version`](Self::wit_version) line).
    pub fn wit_package(&self) -> String {
        format!("gamecode:plugin@{}", self.pre.release())
    }

    /// How the load went (cache hit or compile, and how long it took).
    pub fn load_info(&self) -> LoadInfo {
        self.load
    }

    /// This plugin under another policy (the compiled code is shared).
    pub fn with_policy(mut self, policy: Policy) -> Result<Self, PolicyError> {
        policy.validate()?;
        if policy.fuel.is_some() && !self.host.engine.options.fuel {
            return Err(PolicyError::Invalid(
                "this policy sets fuel, but the host was built without fuel metering \
                 (PluginHostBuilder::fuel(true))"
                    .into(),
            ));
        }
        self.policy = Arc::new(policy);
        Ok(self)
    }

    /// Runs the plugin's agent on `task` (text, or a [`Task`] with attachments; 0.1.0 plugins
    /// get its text only) in a fresh sandbox. Options go on the returned [`Run`]; awaiting it
    /// gives the answer or the error, [`Run::report`] everything about the run either way.
    pub fn run(&self, task: impl Into<Task>) -> Run<'_> {
        Run {
            plugin: self,
            task: task.into(),
            observer: None,
            resume: None,
            context: None,
            session: None,
            id: None,
            cancel: None,
        }
    }

    /// Continues the durable run `run_id` after the process that ran it died: the plugin
    /// starts again on the run's task and is answered from the run's journal (no model or
    /// tool call that completed is made again) until it goes on live. Refused unless the
    /// host keeps a state store, the run is interrupted (its process is gone) and this is
    /// the plugin it was journaled with.
    pub fn resume(&self, run_id: impl Into<String>) -> Run<'_> {
        Run {
            plugin: self,
            task: Task::default(),
            observer: None,
            resume: Some((run_id.into(), None)),
            context: None,
            session: None,
            id: None,
            cancel: None,
        }
    }

    /// Continues the durable run `run_id`, stopped to wait for a person's approval of `call`
    /// ([`RunError::AwaitingApproval`]; the store's
    /// [`RunRecord::waiting`](gamecode_state::RunRecord::waiting) decoded by
    /// [`PendingCall::decode`]), with their decision: journaled, then the run resumes as
    /// [`resume`](Self::resume) does, and the call goes ahead, or fails with a `not-allowed`
    /// tool error giving the reason. Refused when the run waits on another call than the
    /// one the person decided on.
    pub fn decide(
        &self,
        run_id: impl Into<String>,
        call: PendingCall,
        decision: Decision,
    ) -> Run<'_> {
        Run {
            plugin: self,
            task: Task::default(),
            observer: None,
            resume: Some((run_id.into(), Some((call, decision)))),
            context: None,
            session: None,
            id: None,
            cancel: None,
        }
    }

    /// A report of a run refused before it started.
    fn refused(&self, error: RunError, run_id: Option<String>) -> RunReport {
        let violations = match &error {
            RunError::Policy(v) => vec![v.clone()],
            _ => Vec::new(),
        };
        RunReport {
            plugin: self.name.to_string(),
            run_id,
            result: Err(error),
            stats: RunStats::default(),
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            violations,
        }
    }

    async fn run_with(
        &self,
        task: Task,
        observer: Option<Arc<dyn RunObserver>>,
        origin: Origin,
        cancel: Option<Cancel<'_>>,
    ) -> RunReport {
        let (durable, context, session, id) = match origin {
            Origin::Resume(id, decision) => match self.resumed(&id, decision).await {
                Ok(durable) => (Some(durable), None, None, None),
                Err(e) => return self.refused(e, Some(id)),
            },
            Origin::New {
                context,
                session,
                id,
            } => (None, context, session, id),
        };
        let task = match &durable {
            Some(d) => d.start.task(),
            None => task,
        };
        if let Err(v) = self.policy.admit_attachments(&task_size(&task)) {
            return self.refused(RunError::Policy(v), durable.map(|d| d.id));
        }
        let durable = match durable {
            Some(d) => Some(d),
            None => match self.journaled(&task, context, session, id).await {
                Ok(d) => d,
                Err(e) => return self.refused(e, None),
            },
        };
        // With the pooling allocator, wait for a free slot instead of failing.
        let _slot = match &self.host.slots {
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        let run_id = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("gamecode.run", plugin = %self.name, run = run_id);
        self.run_inner(&task, run_id, observer, durable, cancel)
            .instrument(span)
            .await
    }

    /// A new durable run of `task`, when the host keeps a state store.
    async fn journaled(
        &self,
        task: &Task,
        context: Option<String>,
        session: Option<String>,
        id: Option<String>,
    ) -> Result<Option<Durable>, RunError> {
        let (Some(state), Some(source)) = (&self.host.state, &self.source) else {
            return match session {
                Some(name) => Err(RunError::Journal(format!(
                    "session `{}` would be kept in the host's state store, and this host \
                     keeps none (PluginHostBuilder::state)",
                    crate::text::echo(&name)
                ))),
                None => Ok(None),
            };
        };
        let session = match session {
            Some(name) => Some(
                SessionAt::now(state.store.clone(), name)
                    .await
                    .map_err(RunError::Journal)?,
            ),
            None => None,
        };
        let id = match id {
            Some(id) => checked_run_id(id)?,
            None => new_run_id(),
        };
        let mut seed = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut seed);
        let config = self.policy.config.clone();
        let start = Start::new(
            task,
            format!("{}-{id}", self.name),
            seed,
            config,
            session,
            &self.host.approvals,
        );
        let run = NewRun {
            id: id.clone(),
            plugin: self.name.to_string(),
            plugin_path: source.path.clone(),
            plugin_digest: source.digest.clone(),
            start: start.encode(),
            context,
            session: start.session.as_ref().map(|s| s.name.clone()),
        };
        let journal = Journal::create(state.writer.clone(), state.store.clone(), run)
            .await
            .map_err(|e| RunError::Journal(e.to_string()))?;
        Ok(Some(Durable {
            id,
            start,
            journal,
            resumed: false,
        }))
    }

    /// The interrupted run `id`, taken over by this process with its journal (read and
    /// claimed off the async workers: the store may wait on another process's lock).
    async fn resumed(
        &self,
        id: &str,
        decision: Option<(PendingCall, Decision)>,
    ) -> Result<Durable, RunError> {
        let (Some(state), Some(source)) = (&self.host.state, &self.source) else {
            return Err(RunError::Journal(
                "this host keeps no state store to resume a run from \
                 (PluginHostBuilder::state)"
                    .into(),
            ));
        };
        let active = ActiveRun::take(id).ok_or_else(|| {
            RunError::Journal(format!(
                "run {id} cannot be taken: this process is running it"
            ))
        })?;
        let (store, writer) = (state.store.clone(), state.writer.clone());
        let (digest, id) = (source.digest.clone(), id.to_string());
        let taken = tokio::task::spawn_blocking(move || {
            take_over(store, writer, &digest, &id, decision, active)
        })
        .await
        .map_err(|e| RunError::Journal(format!("taking the run over failed: {e}")))??;
        Ok(taken)
    }

    /// A fresh store for one run: its sandbox, limits, meters and deadline.
    fn new_store(
        &self,
        run_id: u64,
        started: Instant,
        observer: Option<Arc<dyn RunObserver>>,
        durable: Option<(Start, Journal)>,
    ) -> (Store<RunState>, OutputCapture, OutputCapture) {
        let policy = &self.policy;
        let observer = match (self.host.observer.clone(), observer) {
            (Some(host), Some(run)) => Some(Arc::new(Both(host, run)) as Arc<dyn RunObserver>),
            (host, run) => host.or(run),
        };
        let stdout = OutputCapture::new(
            self.name.clone(),
            OutputStream::Stdout,
            policy.max_output_bytes,
            observer.clone(),
        );
        let stderr = OutputCapture::new(
            self.name.clone(),
            OutputStream::Stderr,
            policy.max_output_bytes,
            observer.clone(),
        );
        let approvals = match &durable {
            Some((start, _)) if start.approvals != self.host.approvals.names() => {
                Arc::new(crate::approval::Approvals::tools(start.approvals.clone()))
            }
            _ => self.host.approvals.clone(),
        };
        let session = durable.as_ref().and_then(|(start, _)| {
            let store = self.host.state.as_ref()?.store.clone();
            Some(RunSession::new(store, start.session.clone()?))
        });
        let (session_id, replayable, journal, policy) = match durable {
            Some((start, journal)) => {
                let replayable = start.seed().ok().map(|seed| Replayable {
                    clocks: journal.clocks(),
                    seed,
                });
                // The configuration the run started with, not today's.
                let policy = if start.config == policy.config {
                    policy.clone()
                } else {
                    Arc::new(Policy {
                        config: start.config,
                        ..(**policy).clone()
                    })
                };
                (start.session_id, replayable, Some(journal), policy)
            }
            None => (
                format!("{}-{run_id}", self.name),
                None,
                None,
                policy.clone(),
            ),
        };
        let state = RunState {
            plugin: self.name.clone(),
            session_id,
            wasi: wasi_ctx(&self.name, stdout.clone(), stderr.clone(), replayable),
            table: wasmtime::component::ResourceTable::new(),
            limiter: MemoryLimiter::new(policy.memory_limit_bytes),
            policy: policy.clone(),
            backend: self.backend.clone(),
            tools: self.host.tools.clone(),
            approvals,
            observer,
            meter: Meter::default(),
            usage: Default::default(),
            tool_calls: 0,
            violations: Vec::new(),
            backend_errors: Vec::new(),
            deadline_hit: false,
            json: Default::default(),
            model_wait: None,
            held: Default::default(),
            journal,
            halt: None,
            session,
        };
        let mut store = Store::new(&self.host.engine.engine, state);
        store.limiter(|s| &mut s.limiter);
        if self.host.engine.options.fuel {
            // Cannot fail: fuel is enabled on this engine.
            let _ = store.set_fuel(policy.fuel.unwrap_or(u64::MAX));
        }
        let deadline_at = started + policy.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline_at {
                ctx.data_mut().deadline_hit = true;
                Err(wasmtime::Error::new(DeadlineTrap))
            } else {
                // tokio's own yield defers the task until the scheduler has polled its I/O
                // and timer driver; wasmtime's plain `Yield` wakes the task at once, which
                // tokio re-runs before it looks at I/O again (every 61 polls: 0.6 s of a
                // spinning plugin), stalling every neighbour waiting on a socket.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        (store, stdout, stderr)
    }

    /// Measurement hook: creates a run's store and instantiates the plugin without calling
    /// it, returning how long that took (store creation included). Used by the `measure`
    /// example; not part of the stable API.
    #[doc(hidden)]
    pub async fn measure_instantiation(&self) -> Result<std::time::Duration, RunError> {
        let _slot = match &self.host.slots {
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        let started = Instant::now();
        let (mut store, _, _) = self.new_store(0, started, None, None);
        self.pre
            .instantiate(&mut store)
            .await
            .map_err(|e| RunError::Instantiate(format!("{e:#}")))?;
        let took = started.elapsed();
        drop(store);
        Ok(took)
    }

    async fn run_inner(
        &self,
        task: &Task,
        run_id: u64,
        observer: Option<Arc<dyn RunObserver>>,
        durable: Option<Durable>,
        cancel: Option<Cancel<'_>>,
    ) -> RunReport {
        let policy = self.policy.clone();
        let started = Instant::now();
        let (durable_id, resumed, durable) = match durable {
            Some(d) => (Some(d.id), d.resumed, Some((d.start, d.journal))),
            None => (None, false, None),
        };
        let (mut store, stdout, stderr) = self.new_store(run_id, started, observer, durable);
        if let Some(id) = &durable_id {
            store.data().emit(RunEvent::Journaled {
                run_id: id.clone(),
                resumed,
            });
        }
        let metered = self.host.engine.options.fuel;
        let fuel_budget = policy.fuel.unwrap_or(u64::MAX);

        let pre = &self.pre;
        let drive = async { Ended::Ran(pre.run(&mut store, task).await) };
        let timed = async {
            tokio::time::timeout(policy.deadline, drive)
                .await
                .unwrap_or(Ended::TimedOut)
        };
        // Cancelled: stopped where it is, as at the deadline.
        let ended = match cancel {
            Some(cancel) => tokio::select! {
                ended = timed => ended,
                () = cancel => Ended::Cancelled,
            },
            None => timed.await,
        };

        let duration = started.elapsed();
        let fuel_consumed = metered
            .then(|| store.get_fuel().ok())
            .flatten()
            .map(|left| fuel_budget.saturating_sub(left));
        let (stdout, out_cut) = stdout.finish();
        let (stderr, err_cut) = stderr.finish();
        let state = store.data_mut();
        let mut result = match &state.halt {
            // Stopped by its journal: left as it is, to be resumed (or looked at).
            Some(halt) => Err(halt.run_error()),
            None => classify(ended, state, &policy, &stderr),
        };
        if state.halt.is_some()
            && let Some(journal) = &mut state.journal
        {
            // Stopped: what it handed over is written (or lost) before the run is reported,
            // so that a resume reads all of it.
            let _ = journal.settle().await;
        } else if let Some(journal) = &mut state.journal {
            // An answer adds the run's turn to its session before the run is marked finished:
            // a crash between the two leaves a run that, resumed, adds it again (no change).
            let saved = match (&result, &state.session, &durable_id) {
                (Ok(_), Some(session), Some(id)) => session.save(id.clone()).await,
                _ => Ok(()),
            };
            match saved {
                // Not finished, so not lost: a resume answers it from the journal and saves.
                Err(e) => {
                    let _ = journal.settle().await;
                    result = Err(RunError::Journal(format!(
                        "{e}; the run is kept, unfinished: resume it to save its turn"
                    )));
                }
                Ok(()) => {
                    let outcome = result.clone().map_err(|e| e.to_string());
                    if let Err(halt) = journal.finish(outcome).await {
                        result = Err(halt.run_error());
                    }
                }
            }
        }
        let state = store.data();
        match &result {
            Ok(answer) => tracing::info!(
                chars = answer.chars().count(),
                ms = %format!("{:.1}", duration.as_secs_f64() * 1e3),
                "plugin run finished"
            ),
            Err(e) => tracing::warn!(
                ms = %format!("{:.1}", duration.as_secs_f64() * 1e3),
                "plugin run failed: {e}"
            ),
        }
        RunReport {
            plugin: self.name.to_string(),
            run_id: durable_id,
            result,
            stats: state.stats(duration, fuel_consumed),
            stdout,
            stderr,
            output_truncated: out_cut || err_cut,
            violations: state.violations.clone(),
        }
    }
}

/// What a task's attachments measure, for the policy.
fn task_size(task: &Task) -> crate::policy::Size {
    crate::policy::Size {
        attachments: u32::try_from(task.attachments.len()).unwrap_or(u32::MAX),
        largest_attachment: task.attachments.iter().map(|a| a.len()).max().unwrap_or(0),
        ..Default::default()
    }
}

/// Turns how the run ended into the embedder's result, most specific cause first.
fn classify(
    ended: Ended,
    state: &RunState,
    policy: &Policy,
    stderr: &str,
) -> Result<String, RunError> {
    let deadline = RunError::DeadlineExceeded {
        deadline: policy.deadline,
    };
    let memory = RunError::MemoryLimitExceeded {
        limit_bytes: state.limiter.limit(),
    };
    match ended {
        Ended::Cancelled => Err(RunError::Cancelled),
        // Cut off inside a model call: the model (or the way to it) is what was slow.
        Ended::TimedOut => Err(match &state.model_wait {
            Some(log) => RunError::ModelDeadline {
                deadline: policy.deadline,
                attempts: log.attempts(),
                last_error: log.last_error(),
            },
            None => deadline,
        }),
        Ended::Ran(AgentCall::Instantiate(e)) => {
            if state.deadline_hit || e.is::<DeadlineTrap>() {
                Err(deadline)
            } else if state.limiter.hit_limit() {
                Err(memory)
            } else {
                Err(RunError::Instantiate(format!("{e:#}")))
            }
        }
        Ended::Ran(AgentCall::Call(e)) => Err(if state.deadline_hit || e.is::<DeadlineTrap>() {
            deadline
        } else if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
            RunError::FuelExhausted {
                fuel: policy.fuel.unwrap_or(u64::MAX),
            }
        } else if state.limiter.hit_limit() {
            memory
        } else if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            RunError::Trap {
                message: format!(
                    "the plugin exited with status {} instead of answering",
                    exit.0
                ),
                panic: None,
                detail: format!("{e:?}"),
            }
        } else {
            let message = match e.downcast_ref::<Trap>() {
                Some(trap) => trap.to_string(),
                None => e.root_cause().to_string(),
            };
            RunError::Trap {
                message,
                panic: panic_message(stderr),
                detail: format!("{e:?}"),
            }
        }),
        Ended::Ran(AgentCall::Returned(Ok(answer))) => Ok(answer),
        Ended::Ran(AgentCall::Returned(Err(e))) => Err(agent_failure(e, state)),
    }
}

/// The most specific error for an agent that gave up: the policy refusal or backend error it
/// gave up on (as recorded by the host, with full detail), else the agent's own error.
fn agent_failure(error: AgentError, state: &RunState) -> RunError {
    use crate::error::ChatErrorKind as K;
    match &error {
        AgentError::Chat(c) => {
            let violation = match c.kind {
                K::ChatLimitReached => Some(ViolationKind::ChatLimit),
                K::TokenBudgetExhausted => Some(ViolationKind::TokenBudget),
                K::ModelNotAllowed => Some(ViolationKind::ModelNotAllowed),
                K::RequestTooLarge => Some(ViolationKind::RequestTooLarge),
                K::OptionNotAllowed => Some(ViolationKind::OptionNotAllowed),
                _ => None,
            };
            if let Some(kind) = violation {
                return RunError::Policy(state.violation_of(kind, &c.message));
            }
            if let Some(category) = c.kind.backend_category() {
                let recorded = state
                    .backend_errors
                    .iter()
                    .rev()
                    .find(|e| e.category() == category)
                    .cloned();
                return RunError::Backend(recorded.unwrap_or_else(|| {
                    gamecode_backend::BackendError::of(category, c.message.clone())
                }));
            }
            RunError::Agent(error)
        }
        AgentError::Tool(ToolError::NotAllowed(m)) => {
            RunError::Policy(state.violation_of(ViolationKind::ToolNotAllowed, m))
        }
        _ => RunError::Agent(error),
    }
}

/// The message of a Rust panic the guest printed to stderr:
/// `thread '…' panicked at src/lib.rs:1:2:\n<message>\nnote: …`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at")?;
    let after = &stderr[start..];
    let (header, rest) = after.split_once('\n').unwrap_or((after, ""));
    let message: Vec<&str> = rest
        .lines()
        .take_while(|l| !l.starts_with("note: ") && !l.starts_with("stack backtrace"))
        .collect();
    let message = message.join("\n").trim().to_string();
    if !message.is_empty() {
        return Some(crate::text::truncate(
            message,
            crate::text::MESSAGE_MAX_BYTES,
        ));
    }
    // Older format: `panicked at 'message', src/lib.rs:1:2`.
    let header = header.trim_start_matches("panicked at").trim();
    (!header.is_empty()).then(|| header.trim_end_matches(':').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_run_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Plugin>();
        send_sync::<crate::PluginHost>();
        send_sync::<RunReport>();
        let check = |p: &Plugin| send(&p.run("task"));
        let _ = check;
    }

    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "starting\nthread '<unnamed>' panicked at src/lib.rs:9:5:\nthe plugin gave up: boom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("the plugin gave up: boom")
        );
        assert_eq!(
            panic_message("thread 'main' panicked at 'old style', src/main.rs:2:5\n").as_deref(),
            Some("'old style', src/main.rs:2:5")
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
