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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::Instrument;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::error::{AgentError, RunError};
use crate::limits::MemoryLimiter;
use crate::observer::{OutputStream, RunEvent, RunObserver};
use crate::policy::{Meter, Policy, PolicyError, PolicyViolation, ViolationKind};
use crate::run::{RunState, RunStats};
use crate::sandbox::{OutputCapture, wasi_ctx};
use crate::shared::{HostInner, LoadInfo};
use crate::task::Task;
use crate::tools::ToolError;
use crate::wit::{AgentCall, AgentPre, WitVersion};

/// Numbers runs for log correlation (the backend sees it as the session id).
static RUN_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A plugin ready to run. Cheap to clone (the compiled code is shared).
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    host: Arc<HostInner>,
    backend: Arc<dyn LLMBackend>,
    pre: AgentPre,
    policy: Arc<Policy>,
    load: LoadInfo,
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
}

impl Run<'_> {
    /// Also tells `observer` this run's events (besides the host's observer, if any): for
    /// an embedder that routes each run's progress to its own client.
    pub fn observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs it: the answer or the error, with output and stats either way.
    pub async fn report(self) -> RunReport {
        self.plugin.run_with(self.task, self.observer).await
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
}

impl Plugin {
    pub(crate) fn new(
        name: Arc<str>,
        host: Arc<HostInner>,
        backend: Arc<dyn LLMBackend>,
        pre: AgentPre,
        policy: Arc<Policy>,
        load: LoadInfo,
    ) -> Self {
        Self {
            name,
            host,
            backend,
            pre,
            policy,
            load,
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
        }
    }

    async fn run_with(&self, task: Task, observer: Option<Arc<dyn RunObserver>>) -> RunReport {
        if let Err(v) = self.policy.admit_attachments(&task_size(&task)) {
            return RunReport {
                plugin: self.name.to_string(),
                result: Err(RunError::Policy(v.clone())),
                stats: RunStats::default(),
                stdout: String::new(),
                stderr: String::new(),
                output_truncated: false,
                violations: vec![v],
            };
        }
        // With the pooling allocator, wait for a free slot instead of failing.
        let _slot = match &self.host.slots {
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        let run_id = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("gamecode.run", plugin = %self.name, run = run_id);
        self.run_inner(&task, run_id, observer)
            .instrument(span)
            .await
    }

    /// A fresh store for one run: its sandbox, limits, meters and deadline.
    fn new_store(
        &self,
        run_id: u64,
        started: Instant,
        observer: Option<Arc<dyn RunObserver>>,
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
        let state = RunState {
            plugin: self.name.clone(),
            session_id: format!("{}-{run_id}", self.name),
            wasi: wasi_ctx(&self.name, stdout.clone(), stderr.clone()),
            table: wasmtime::component::ResourceTable::new(),
            limiter: MemoryLimiter::new(policy.memory_limit_bytes),
            policy: policy.clone(),
            backend: self.backend.clone(),
            tools: self.host.tools.clone(),
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
        let (mut store, _, _) = self.new_store(0, started, None);
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
    ) -> RunReport {
        let policy = self.policy.clone();
        let started = Instant::now();
        let (mut store, stdout, stderr) = self.new_store(run_id, started, observer);
        let metered = self.host.engine.options.fuel;
        let fuel_budget = policy.fuel.unwrap_or(u64::MAX);

        let pre = &self.pre;
        let drive = async { Ended::Ran(pre.run(&mut store, task).await) };
        let ended = tokio::time::timeout(policy.deadline, drive)
            .await
            .unwrap_or(Ended::TimedOut);

        let duration = started.elapsed();
        let fuel_consumed = metered
            .then(|| store.get_fuel().ok())
            .flatten()
            .map(|left| fuel_budget.saturating_sub(left));
        let state = store.data();
        let (stdout, out_cut) = stdout.finish();
        let (stderr, err_cut) = stderr.finish();
        let result = classify(ended, state, &policy, &stderr);
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
