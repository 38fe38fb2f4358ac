//! `gamecode worker`: joins a fleet. Takes orders from the fleet's task queue, runs each in
//! this machine's host under this worker's policy, credentials and backend, journals it in
//! the fleet's JetStream (so another worker resumes it if this one dies), streams its events
//! and publishes its result. SIGTERM drains: no new orders, the runs going finish within the
//! grace period or are handed back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use gamecode_fleet::async_nats::jetstream::{self, AckKind};
use gamecode_fleet::protocol::{Limits, TaskOrder, TaskResult};
use gamecode_fleet::{Fleet, JetStreamStore};
use gamecode_host::state::{RunStatus, StateError, StateStore};
use gamecode_host::{Policy, RunError, RunEvent, RunObserver, RunReport};
use tokio::sync::{OnceCell, Semaphore, watch};

use crate::fleet::{FleetArgs, category, fleet_failure, to_wire};
use crate::progress::Progress;
use crate::run::{self, Started};
use crate::{EXIT_OTHER, EXIT_USAGE, Failure, HostArgs, RunArgs};

/// How many times an order is delivered before the fleet gives up on it (a plugin that
/// kills every worker it runs on).
const MAX_DELIVER: i64 = 20;

/// The largest plugin a worker fetches (a Python or JavaScript component is ~20–40 MB).
const MAX_PLUGIN_BYTES: usize = 256 << 20;

/// The largest attachment a worker fetches: Bedrock's own limit (the policy's is checked
/// again when the run starts).
const MAX_ATTACHMENT_BYTES: usize =
    if gamecode_backend::media::MAX_DOCUMENT_BYTES > gamecode_backend::media::MAX_IMAGE_BYTES {
        gamecode_backend::media::MAX_DOCUMENT_BYTES
    } else {
        gamecode_backend::media::MAX_IMAGE_BYTES
    };

#[derive(Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Runs at once on this worker.
    #[arg(long, value_name = "N", default_value_t = 4)]
    concurrency: usize,
    /// Seconds before an order whose worker went silent goes to another worker; this
    /// worker says it is still at it every third of that. The same for every worker of a
    /// fleet.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    ack_wait: f64,
    /// On SIGTERM, seconds the runs going get to finish before they are handed back.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    grace: f64,
    /// This worker's name in results (default: HOST:PID).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

/// What every run of this worker shares.
struct Worker {
    fleet: Fleet,
    store: Arc<JetStreamStore>,
    name: String,
    ack_wait: Duration,
    verbose: u8,
    host: HostArgs,
    progress: Arc<Progress>,
    /// Plugins by digest, loaded (compiled) once each.
    plugins: std::sync::Mutex<HashMap<String, Arc<OnceCell<Started>>>>,
    plugin_dir: PathBuf,
}

/// What became of an order.
enum Handled {
    /// The run ended (or was refused): its result goes to the submitter.
    Done(TaskResult),
    /// Another worker should take it (after this delay, if any).
    HandBack(Option<Duration>),
    /// Another worker holds the run and will answer it; this delivery ends here.
    LeaveTo,
}

pub(crate) async fn worker(args: WorkerArgs, verbose: u8) -> Result<(), Failure> {
    // An hour at most: JetStream's own bound is far above, a worker's use far below.
    if !(1.0..=3600.0).contains(&args.ack_wait) {
        return Err(Failure::new(EXIT_USAGE, "--ack-wait: 1 to 3600 seconds"));
    }
    if !(0.0..=86400.0).contains(&args.grace) || args.concurrency == 0 {
        return Err(Failure::new(
            EXIT_USAGE,
            "--grace must be 0 to 86400 seconds and --concurrency 1 or more",
        ));
    }
    // A worker is a service: it waits for its servers however long they take (saying so
    // when they are not there at once).
    let config = args.fleet.config(Duration::from_secs(365 * 24 * 3600))?;
    let ack_wait = Duration::from_secs_f64(args.ack_wait);
    let fleet = match Fleet::open(&config.clone().with_patience(Duration::ZERO)).await {
        Ok(fleet) => fleet,
        Err(gamecode_fleet::FleetError::Unreachable { .. }) => {
            eprintln!("waiting for the fleet's servers at\n  {}", config.url);
            Fleet::open(&config).await.map_err(fleet_failure)?
        }
        Err(e) => return Err(fleet_failure(e)),
    };
    let store = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || JetStreamStore::open(&config, ack_wait))
            .await
            .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?
            .map_err(fleet_failure)?
    };
    let consumer = fleet
        .workers(ack_wait, MAX_DELIVER)
        .await
        .map_err(fleet_failure)?;
    let name = args.name.clone().unwrap_or_else(default_name);
    let plugin_dir = private_dir()?;
    let progress = Progress::new(false, false);
    progress.line(&format!(
        "worker {name} joined fleet `{}`\n  at {} ({} runs at once)",
        config.prefix, config.url, args.concurrency
    ));
    let worker = Arc::new(Worker {
        fleet,
        store: Arc::new(store),
        name,
        ack_wait,
        verbose,
        host: args.host,
        progress,
        plugins: std::sync::Mutex::new(HashMap::new()),
        plugin_dir,
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::new(EXIT_OTHER, format!("SIGTERM: {e}")))?;
    let (drain, drained) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let mut running = tokio::task::JoinSet::new();
    'take: loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = term.recv() => break 'take,
            _ = tokio::signal::ctrl_c() => break 'take,
        };
        let Ok(slot) = slot else { break };
        // One order per pull: an order waits in the queue, not in this worker, until a
        // slot is free (its redelivery clock starts when it is delivered).
        let next = async {
            let mut batch = consumer
                .batch()
                .max_messages(1)
                .expires(Duration::from_secs(5))
                .messages()
                .await?;
            batch.next().await.transpose()
        };
        let message: Result<Option<jetstream::Message>, gamecode_fleet::async_nats::Error> = tokio::select! {
            m = next => m,
            _ = term.recv() => break 'take,
            _ = tokio::signal::ctrl_c() => break 'take,
        };
        while running.try_join_next().is_some() {}
        match message {
            Ok(Some(message)) => {
                let (worker, drained) = (worker.clone(), drained.clone());
                running.spawn(async move {
                    worker.handle(message, drained).await;
                    drop(slot);
                });
            }
            Ok(None) => {}
            Err(e) => {
                // The server is away (a restart): the client reconnects; ask again soon.
                tracing::warn!(error = %e, "could not pull an order");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let going = running.len();
    worker.progress.line(&format!(
        "draining: {going} run{} going; handed back unless done within {}s",
        if going == 1 { "" } else { "s" },
        args.grace
    ));
    let finish = async { while running.join_next().await.is_some() {} };
    tokio::select! {
        _ = finish => {}
        _ = tokio::time::sleep(Duration::from_secs_f64(args.grace)) => {
            let _ = drain.send(true);
            while running.join_next().await.is_some() {}
        }
        _ = term.recv() => {
            let _ = drain.send(true);
            while running.join_next().await.is_some() {}
        }
    }
    let _ = std::fs::remove_dir_all(&worker.plugin_dir);
    worker.progress.line("worker stopped");
    Ok(())
}

/// Completes when the worker stops waiting for its runs to finish.
async fn until_drained(drained: &mut watch::Receiver<bool>) {
    if drained.wait_for(|d| *d).await.is_err() {
        // The worker is gone without draining: nothing will hand this run back.
        std::future::pending::<()>().await;
    }
}

/// A folder of this worker's own for the plugins it fetches: a new name, readable by this
/// user alone, so that nobody else can put a file where a checked plugin was written.
fn private_dir() -> Result<PathBuf, Failure> {
    use std::os::unix::fs::DirBuilderExt;
    let mut nonce = [0u8; 8];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    let dir = std::env::temp_dir().join(format!(
        "gamecode-worker-{}-{}",
        std::process::id(),
        gamecode_fleet::hex(&nonce)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}:{}", std::process::id())
}

impl Worker {
    /// One order, from delivery to acknowledgement. The order is kept alive (progress acks)
    /// while it runs; it is acknowledged only once its result is published.
    async fn handle(self: Arc<Self>, message: jetstream::Message, drained: watch::Receiver<bool>) {
        let message = Arc::new(message);
        let beat = {
            let (message, every) = (message.clone(), self.ack_wait / 3);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(error = %e, "could not say an order is in progress");
                    }
                }
            })
        };
        let order: TaskOrder = match serde_json::from_slice(&message.payload) {
            Ok(order) => order,
            Err(e) => {
                beat.abort();
                self.progress
                    .line(&format!("an order that is not one was dropped: {e}"));
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        // The result goes where the run id says (`RUN = BATCH-ITEM` answers on
        // `P.results.BATCH.ITEM`), and nowhere an order names instead.
        if self.fleet.reply_subject(&order.run_id).as_deref() != Some(order.reply.as_str()) {
            beat.abort();
            self.progress.line(&format!(
                "order {} does not name its run's result subject: dropped",
                gamecode_host::text::echo(&order.run_id)
            ));
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
        let delivered = message.info().map_or(1, |i| i.delivered);
        let handled = if delivered >= MAX_DELIVER {
            // The last delivery is answered, not run: a run that killed every worker it went
            // to would kill this one too, and then nobody would answer it.
            self.last_delivery(&order, delivered).await
        } else {
            self.execute(&order, drained).await
        };
        beat.abort();
        match handled {
            Handled::Done(result) => {
                // Published before the order is acknowledged: a worker that dies between
                // the two leaves the order to another, which finds the run ended and
                // publishes the same result (the same message id: the stream keeps one).
                for attempt in 0..5 {
                    match self.fleet.publish_result(&order.reply, &result).await {
                        Ok(()) => break,
                        Err(e) if attempt < 4 => {
                            tracing::warn!(error = %e, "publishing a result, again");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            self.progress.line(&format!(
                                "run {}: its result could not be published ({e}); handed back",
                                order.run_id
                            ));
                            let _ = message.ack_with(AckKind::Nak(None)).await;
                            return;
                        }
                    }
                }
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(error = %e, run = %order.run_id, "the order's ack was not confirmed");
                }
            }
            Handled::HandBack(delay) => {
                let _ = message.ack_with(AckKind::Nak(delay)).await;
            }
            Handled::LeaveTo => {
                let _ = message.ack_with(AckKind::Term).await;
            }
        }
    }

    /// An order at its last delivery: the run's result if it ended, else an answer saying
    /// it was given up (left alone while another worker holds it: that one answers).
    async fn last_delivery(&self, order: &TaskOrder, delivered: i64) -> Handled {
        let store = self.store.clone();
        let id = order.run_id.clone();
        let known = tokio::task::spawn_blocking(move || store.run(&id)).await;
        match known {
            Ok(Ok(record)) if record.status.ended() => {
                Handled::Done(self.ended(order, record.status, record.outcome))
            }
            Ok(Ok(record)) if record.status == RunStatus::Running => Handled::LeaveTo,
            _ => Handled::Done(self.result(
                order,
                Err((
                    EXIT_OTHER,
                    format!(
                        "run {} was delivered {delivered} times without ending (its workers \
                         died or handed it back each time): given up",
                        order.run_id
                    ),
                )),
                0,
            )),
        }
    }

    async fn execute(&self, order: &TaskOrder, mut drained: watch::Receiver<bool>) -> Handled {
        let id = order.run_id.clone();
        if self.store.holds(&id) {
            // This worker is running it already (the order came back while it ran).
            return Handled::HandBack(Some(self.ack_wait / 3));
        }
        let digest = order_digest(order);
        // An order seen before: the store says where its run is.
        let store = self.store.clone();
        let known = {
            let id = id.clone();
            tokio::task::spawn_blocking(move || store.run(&id)).await
        };
        let resume = match known {
            Ok(Ok(record)) if record.context.as_deref() != Some(digest.as_str()) => {
                // Not answered at all: an answer would go to the subject of the run this
                // order does not own.
                self.progress.line(&format!(
                    "order for run {id} dropped: the run belongs to another order"
                ));
                return Handled::LeaveTo;
            }
            Ok(Ok(record)) => match record.status {
                RunStatus::Finished | RunStatus::Failed => {
                    return Handled::Done(self.ended(order, record.status, record.outcome));
                }
                RunStatus::Running => {
                    // Another worker holds it (its lease is live): let the lease run out.
                    return Handled::HandBack(Some(self.ack_wait / 3));
                }
                RunStatus::Waiting => {
                    return Handled::Done(self.result(
                        order,
                        Err((
                            crate::EXIT_WAITING,
                            format!("run {id} waits for a person's approval"),
                        )),
                        0,
                    ));
                }
                _ => true,
            },
            Ok(Err(StateError::NoSuchRun(_))) => false,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, run = %id, "the fleet's store");
                return Handled::HandBack(Some(Duration::from_secs(1)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "the store's call");
                return Handled::HandBack(Some(Duration::from_secs(1)));
            }
        };
        let cell = match self.plugin(order).await {
            Ok(cell) => cell,
            Err(refused) => return Handled::Done(refused),
        };
        let Some(started) = cell.get() else {
            return Handled::HandBack(Some(self.ack_wait / 3));
        };
        let policy = match narrow(started.plugin.policy(), &order.limits) {
            Ok(mut policy) => {
                policy.config.extend(order.config.clone());
                policy
            }
            Err(why) => {
                return Handled::Done(TaskResult {
                    category: "refused".into(),
                    ..self.result(order, Err((EXIT_USAGE, why)), 0)
                });
            }
        };
        let plugin = match started.plugin.clone().with_policy(policy) {
            Ok(plugin) => plugin,
            Err(e) => {
                return Handled::Done(TaskResult {
                    category: "refused".into(),
                    ..self.result(order, Err((EXIT_USAGE, e.to_string())), 0)
                });
            }
        };
        let task = if resume {
            // A resumed run's task is its journal's.
            gamecode_host::Task::default()
        } else {
            match self.task(order).await {
                Ok(task) => task,
                Err(result) => return Handled::Done(result),
            }
        };
        let mut run = if resume {
            plugin.resume(id.clone())
        } else {
            let mut run = plugin.run(task).id(id.clone()).context(digest);
            if let Some(session) = &order.session {
                run = run.session(session.clone());
            }
            run
        };
        if order.events {
            let events = Events::new(self.fleet.clone(), self.fleet.events_subject(&id));
            events.send(&gamecode_fleet::protocol::RunEvent::Started {
                worker: self.name.clone(),
                resumed: resume,
            });
            run = run.observer(Arc::new(events));
        }
        if !resume {
            // A resumed run is said by the host ("resuming run … from its journal").
            self.progress.line(&format!("starting run {id}"));
        }
        let report = tokio::select! {
            report = run.report() => report,
            () = until_drained(&mut drained) => {
                // Dropped mid-run: its journal stays, and the next worker resumes it at once.
                let store = self.store.clone();
                let _ = tokio::task::spawn_blocking(move || store.release(&id)).await;
                return Handled::HandBack(None);
            }
        };
        if let (Err(RunError::Journal(why)), Some(hopeless)) =
            (&report.result, self.store.hopeless(&id))
        {
            // No other worker would do better: the run fails here, and says why.
            let why = format!("{why} ({hopeless})");
            let store = self.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.release(&id)).await;
            return Handled::Done(self.result(
                order,
                Err((EXIT_OTHER, why)),
                report.stats.chat_calls,
            ));
        }
        if let Err(RunError::Journal(why)) = &report.result {
            // The fleet's store failed (its servers away too long), or another worker
            // claimed the run first: the run is not over, and another delivery resumes it.
            self.progress
                .line(&format!("run {id}: handed back ({why})"));
            let store = self.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.release(&id)).await;
            return Handled::HandBack(Some(self.ack_wait / 3));
        }
        if report.result.is_err() && self.store.holds(&id) {
            // Ended without the store hearing (a plugin that diverged from its journal): let
            // the run go, so that no lease is renewed for it from here on.
            let store = self.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.release(&id)).await;
        }
        self.reported(order, report)
    }

    /// The plugin of an order, fetched and loaded in a host once per digest.
    async fn plugin(&self, order: &TaskOrder) -> Result<Arc<OnceCell<Started>>, TaskResult> {
        let digest = &order.plugin.digest;
        // One cell per digest: orders of one plugin wait for its first load, others do not;
        // a load that failed is not kept (the next order tries again).
        let cell = self
            .plugins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(digest.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.load(order))
            .await
            .map_err(|(exit, why)| self.result(order, Err((exit, why)), 0))?;
        Ok(cell)
    }

    /// Fetches a plugin (checked against its digest) into this worker's folder and loads it
    /// in a host built from the worker's flags.
    async fn load(&self, order: &TaskOrder) -> Result<Started, (u8, String)> {
        let digest = &order.plugin.digest;
        let bytes = self
            .fleet
            .get_file(digest, MAX_PLUGIN_BYTES)
            .await
            .map_err(|e| (EXIT_OTHER, e.to_string()))?;
        let stem: String = order
            .plugin
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(64)
            .collect();
        let dir = self.plugin_dir.join(digest);
        let path = dir.join(format!(
            "{}.wasm",
            if stem.is_empty() { "plugin" } else { &stem }
        ));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, &bytes))
            .map_err(|e| (EXIT_OTHER, format!("{}: {e}", path.display())))?;
        let args = RunArgs {
            plugin: path,
            task: String::new(),
            attach: Vec::new(),
            session: None,
            stream: false,
            no_stream: true,
            no_journal: false,
            fleet: FleetArgs::default(),
            host: self.host.clone(),
        };
        let store: Arc<dyn StateStore> = self.store.clone();
        run::start(&args, self.verbose, &self.progress, Some(store), false)
            .await
            .map_err(|f| (f.code, f.message))
    }

    /// An order's task with its attachments from the object store.
    async fn task(&self, order: &TaskOrder) -> Result<gamecode_host::Task, TaskResult> {
        let mut task = gamecode_host::Task::from(order.task.as_str());
        for file in &order.attachments {
            let bytes = self
                .fleet
                .get_file(&file.digest, MAX_ATTACHMENT_BYTES)
                .await
                .map_err(|e| self.result(order, Err((EXIT_OTHER, e.to_string())), 0))?;
            let attachment =
                gamecode_host::Attachment::from_bytes(&file.name, bytes).ok_or_else(|| {
                    let why = format!(
                        "attachment {} is neither an image nor a document Bedrock takes",
                        gamecode_host::text::echo(&file.name)
                    );
                    self.result(order, Err((EXIT_USAGE, why)), 0)
                })?;
            task.attachments.push(attachment);
        }
        Ok(task)
    }

    fn result(
        &self,
        order: &TaskOrder,
        outcome: Result<String, (u8, String)>,
        calls: u32,
    ) -> TaskResult {
        let (answer, error, exit) = match outcome {
            Ok(answer) => (Some(answer), None, 0),
            Err((exit, error)) => (None, Some(error), exit),
        };
        TaskResult {
            run_id: order.run_id.clone(),
            answer,
            error,
            exit,
            category: category(exit).into(),
            worker: self.name.clone(),
            chat_calls: calls,
        }
    }

    fn reported(&self, order: &TaskOrder, report: RunReport) -> Handled {
        let calls = report.stats.chat_calls;
        let outcome = match report.result {
            Ok(answer) => Ok(answer),
            Err(e) => {
                let failure = run::run_failure(e, 0);
                Err((failure.code, failure.message))
            }
        };
        Handled::Done(self.result(order, outcome, calls))
    }

    /// The result of a run that had ended before this delivery (its worker died before
    /// acknowledging the order): its answer, or its error as the store kept it.
    fn ended(&self, order: &TaskOrder, status: RunStatus, outcome: Option<String>) -> TaskResult {
        let text = outcome.unwrap_or_default();
        match status {
            RunStatus::Finished => self.result(order, Ok(text), 0),
            _ => self.result(order, Err((EXIT_OTHER, text)), 0),
        }
    }
}

/// What binds a run to the order that started it (kept as the run's context): an order
/// naming the id of another's run is refused, not given that run's answer.
fn order_digest(order: &TaskOrder) -> String {
    use sha2::Digest;
    let what = serde_json::json!({
        "plugin": order.plugin.digest,
        "task": order.task,
        "attachments": order.attachments.iter().map(|a| &a.digest).collect::<Vec<_>>(),
        "config": order.config,
        "limits": order.limits,
        "session": order.session,
    });
    format!(
        "fleet-order:{}",
        gamecode_fleet::hex(&sha2::Sha256::digest(what.to_string().as_bytes()))
    )
}

/// The worker's policy narrowed by an order: each limit the order asks for must be within
/// the worker's, and each tool or model it names one the worker allows.
fn narrow(worker: &Policy, limits: &Limits) -> Result<Policy, String> {
    let mut policy = worker.clone();
    if let Some(secs) = limits.timeout_secs {
        let asked = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("timeout_secs {secs} is not a duration"))?;
        if asked > worker.deadline {
            return Err(format!(
                "the order asks for a {secs}s deadline; this worker allows at most {}s",
                worker.deadline.as_secs_f64()
            ));
        }
        policy.deadline = asked;
    }
    /// `asked`, when it is within `allowed`; else why not.
    fn within<T: PartialOrd + std::fmt::Display>(
        asked: Option<T>,
        allowed: T,
        what: &str,
    ) -> Result<Option<T>, String> {
        match asked {
            Some(asked) if asked > allowed => Err(format!(
                "the order asks for {asked} {what}; this worker allows at most {allowed}"
            )),
            asked => Ok(asked),
        }
    }
    if let Some(calls) = within(limits.max_chat_calls, worker.max_chat_calls, "model calls")? {
        policy.max_chat_calls = calls;
    }
    if let Some(tokens) = within(limits.token_budget, worker.token_budget, "tokens")? {
        policy.token_budget = tokens;
    }
    if let Some(bytes) = within(
        limits.memory_limit_bytes,
        worker.memory_limit_bytes,
        "bytes of memory",
    )? {
        policy.memory_limit_bytes = bytes;
    }
    if let Some(tools) = &limits.allowed_tools {
        if let Some(tool) = tools.iter().find(|t| !worker.tool_allowed(t)) {
            return Err(format!(
                "the order asks for tool `{}`, which this worker's policy does not allow",
                gamecode_host::text::echo(tool)
            ));
        }
        policy.allowed_tools = Some(tools.clone());
    }
    if let Some(models) = &limits.allowed_models {
        if let Some(model) = models.iter().find(|m| !worker.model_allowed(m)) {
            return Err(format!(
                "the order asks for model `{}`, which this worker's policy does not allow",
                gamecode_host::text::echo(model)
            ));
        }
        policy.allowed_models = Some(models.clone());
    }
    Ok(policy)
}

/// A run's events, published to its submitter as they happen (in order, at most once).
struct Events {
    queue: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
}

impl Events {
    fn new(fleet: Fleet, subject: String) -> Self {
        let (queue, mut events) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let _ = fleet.client().publish(subject.clone(), event.into()).await;
            }
            let _ = fleet.client().flush().await;
        });
        Self { queue }
    }
}

impl Events {
    fn send(&self, event: &gamecode_fleet::protocol::RunEvent) {
        if let Ok(body) = serde_json::to_vec(event) {
            let _ = self.queue.send(body);
        }
    }
}

impl RunObserver for Events {
    fn on_event(&self, _plugin: &str, event: &RunEvent) {
        if let Some(event) = to_wire(event) {
            self.send(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_narrows_the_policy_and_cannot_widen_it() {
        let worker = Policy::builder()
            .with_max_chat_calls(10)
            .with_deadline(Duration::from_secs(60))
            .with_allowed_tools(["read_file"]);
        let narrowed = narrow(
            &worker,
            &Limits {
                max_chat_calls: Some(3),
                timeout_secs: Some(5.0),
                ..Limits::default()
            },
        )
        .expect("narrower is fine");
        assert_eq!(narrowed.max_chat_calls, 3);
        assert_eq!(narrowed.deadline, Duration::from_secs(5));
        let wider = narrow(
            &worker,
            &Limits {
                max_chat_calls: Some(11),
                ..Limits::default()
            },
        )
        .expect_err("wider is refused");
        assert!(wider.contains("at most 10"), "{wider}");
        let tool = narrow(
            &worker,
            &Limits {
                allowed_tools: Some(vec!["list_dir".into()]),
                ..Limits::default()
            },
        )
        .expect_err("a tool the worker does not allow");
        assert!(tool.contains("list_dir"), "{tool}");
        assert!(narrow(&worker, &Limits::default()).is_ok());
    }
}
