//! Durable runs: a run journaled in the state store, stopped at every point of its journal
//! (the store refusing the next entry, as a crash there would lose it), resumes to the
//! uninterrupted run's answer without repeating a model or tool call that completed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use async_trait::async_trait;
use bedrock_emulator::{Emulator, Operation, Reply};
use gamecode_e2e::*;
use gamecode_host::{HostTool, PluginHost, RunError, ToolError, ToolSpec};
use gamecode_state::{
    Entry, NewRun, RunRecord, RunStatus, SessionRecord, SessionTurn, SqliteStore, StateError,
    StateStore,
};
use serde_json::{Value, json};

/// Model turns of the loop: tool calls on every turn but the last.
pub(crate) const TURNS: usize = 6;

/// A model that calls `read_file` on odd turns and `lookup` on even ones, then answers.
pub(crate) async fn looping_emulator() -> Emulator {
    let emu = emulator().await;
    for turn in 1..TURNS {
        let reply = if turn % 2 == 1 {
            Reply::ToolUse {
                name: "read_file".into(),
                input: json!({"path": "notes.txt"}),
            }
        } else {
            Reply::ToolUse {
                name: "lookup".into(),
                input: json!({"q": turn}),
            }
        };
        emu.add_rule(format!("[turn {turn}]"), reply);
    }
    emu.add_rule(format!("[turn {TURNS}]"), Reply::Text("all done".into()));
    emu
}

/// The host tool `read_file`, counting its real calls.
#[derive(Default)]
struct CountingRead {
    calls: AtomicU32,
}

#[async_trait]
impl HostTool for CountingRead {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: "Reads notes.".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _input: Value) -> Result<String, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok("pineapple".into())
    }
}

/// A store that refuses every entry after the first `allowed` (a crash would lose them).
#[derive(Debug)]
struct RefusingAfter {
    inner: SqliteStore,
    left: AtomicI64,
}

impl StateStore for RefusingAfter {
    fn create_run(&self, run: &NewRun) -> Result<(), StateError> {
        self.inner.create_run(run)
    }
    fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError> {
        if self.left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StateError::Storage("the disk is full (a test)".into()));
        }
        self.inner.append(run, seq, kind, body)
    }
    fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        self.inner.journal(run)
    }
    fn claim(&self, run: &str) -> Result<RunRecord, StateError> {
        self.inner.claim(run)
    }
    fn finish(&self, run: &str, status: RunStatus, outcome: &str) -> Result<(), StateError> {
        self.inner.finish(run, status, outcome)
    }
    fn suspend(&self, run: &str, waiting: &str) -> Result<(), StateError> {
        self.inner.suspend(run, waiting)
    }
    fn run(&self, run: &str) -> Result<RunRecord, StateError> {
        self.inner.run(run)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        self.inner.runs()
    }
    fn session_head(&self, session: &str) -> Result<u64, StateError> {
        self.inner.session_head(session)
    }
    fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError> {
        self.inner.session_turns(session, key, upto)
    }
    fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError> {
        self.inner.add_session_turns(session, run, turns)
    }
    fn sessions(&self) -> Result<Vec<SessionRecord>, StateError> {
        self.inner.sessions()
    }
    fn remove_session(&self, session: &str) -> Result<u64, StateError> {
        self.inner.remove_session(session)
    }
}

fn durable_host(emu: &Emulator, store: Arc<dyn StateStore>, tool: Arc<CountingRead>) -> PluginHost {
    durable_host_with(emu, store, tool, "a")
}

/// A durable host whose policy gives plugins the config value `mode`.
fn durable_host_with(
    emu: &Emulator,
    store: Arc<dyn StateStore>,
    tool: Arc<CountingRead>,
    mode: &str,
) -> PluginHost {
    let mut policy = gamecode_host::Policy::default();
    policy.config.insert("mode".into(), mode.into());
    PluginHost::builder()
        .backend(bedrock(emu))
        .tool(tool)
        .policy(policy)
        .state(store)
        .cache(Some(shared_cache()))
        .build()
        .expect("the host builds")
}

pub(crate) fn model_calls(emu: &Emulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| matches!(r.operation, Operation::Converse | Operation::ConverseStream))
        .count()
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).expect("the store opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_run_journals_every_answer_and_finishes() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir.path().join("state.sqlite")));
    let emu = looping_emulator().await;
    let tool = Arc::new(CountingRead::default());
    let host = durable_host(&emu, store.clone(), tool.clone());
    let plugin = load(&host, &test_guest("guest_durable"));

    let report = plugin.run("loop").report().await;
    let answer = report.result.expect("the run answers");
    assert!(answer.starts_with("all done | 6 turns"), "{answer}");
    let id = report.run_id.expect("a durable run has an id");
    let record = store.run(&id).expect("the run is in the store");
    assert_eq!(record.status, RunStatus::Finished);
    assert_eq!(record.outcome.as_deref(), Some(answer.as_str()));
    assert!(
        record
            .plugin_path
            .is_some_and(|p| p.ends_with("guest_durable.wasm"))
    );
    let journal = store.journal(&id).expect("its journal");
    let kinds: Vec<&str> = journal.iter().map(|e| e.kind.as_str()).collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("model"), TURNS, "{kinds:?}");
    assert_eq!(count("tool"), TURNS / 2, "the host tool calls: {kinds:?}");
    assert!(
        journal.iter().any(|e| e.body.contains(r#""clock":{"#)),
        "the plugin's clock readings go with the calls: {journal:?}"
    );
    assert_eq!(model_calls(&emu), TURNS);
    assert_eq!(tool.calls.load(Ordering::SeqCst) as usize, TURNS / 2);

    // Ended: not resumable.
    let again = plugin.resume(&id).report().await;
    assert!(
        matches!(&again.result, Err(RunError::Journal(m)) if m.contains("finished")),
        "{:?}",
        again.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_at_any_entry_resumes_to_the_same_answer_without_repeating_a_call() {
    init_tracing();
    let emu = looping_emulator().await;
    stopped_anywhere_resumes(&emu, &test_guest("guest_durable"), "loop", None).await;
}

/// For the example plugin, which streams each turn: the model calls its calculator, then
/// answers.
async fn calculating_emulator() -> Emulator {
    let emu = emulator().await;
    emu.add_rule(
        "6 * 7",
        Reply::ToolUse {
            name: "calculator".into(),
            input: json!({"expression": "6*7"}),
        },
    );
    emu
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_stopped_at_any_entry_resumes_the_same() {
    init_tracing();
    let emu = calculating_emulator().await;
    let answer = stopped_anywhere_resumes(&emu, &guest_example(), "What is 6 * 7?", None).await;
    assert!(answer.contains("42"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_turn_stopped_at_any_entry_resumes_on_the_same_history_and_is_kept_once() {
    init_tracing();
    let emu = calculating_emulator().await;
    let answer =
        stopped_anywhere_resumes(&emu, &guest_example(), "What is 6 * 7?", Some("s")).await;
    assert!(answer.contains("42"), "{answer}");
}

/// A first turn of `session` in the store at `path`: "My name is Ada."
async fn first_turn(emu: &Emulator, guest: &Path, path: &Path, session: &str) {
    let host = durable_host(emu, Arc::new(open(path)), Arc::default());
    let first = load(&host, guest)
        .run("My name is Ada.")
        .session(session)
        .report()
        .await;
    first.result.expect("the first turn answers");
    emu.forget_requests();
}

/// The messages of the session's turns, in order, with the tool-use ids the model minted
/// (random) blanked.
fn session_turns(path: &Path, session: &str) -> Vec<Value> {
    fn blank_ids(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "id" || k == "tool_use_id" {
                        *v = Value::Null;
                    } else {
                        blank_ids(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(blank_ids),
            _ => {}
        }
    }
    open(path)
        .session_turns(session, None, u64::MAX >> 1)
        .expect("the session")
        .into_iter()
        .map(|t| {
            let mut v: Value = serde_json::from_str(&t.messages).expect("JSON");
            blank_ids(&mut v);
            v
        })
        .collect()
}

/// Runs `task` whole, then once stopped at each entry of its journal and resumed: every
/// resume answers as the whole run did, and only the call whose entry was lost is made again.
/// The whole run's answer. With a `session`, each run is its second turn: a resume reads the
/// same history as the run it continues, and its turn is kept once, as the whole run's was.
async fn stopped_anywhere_resumes(
    emu: &Emulator,
    guest: &Path,
    task: &str,
    session: Option<&str>,
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("whole.sqlite");
    let tool = Arc::new(CountingRead::default());
    if let Some(session) = session {
        first_turn(emu, guest, &path, session).await;
    }
    let run = |plugin: &gamecode_host::Plugin| {
        let plugin = plugin.clone();
        let (task, session) = (task.to_string(), session.map(str::to_string));
        async move {
            let run = plugin.run(task);
            match session {
                Some(s) => run.session(s).report().await,
                None => run.report().await,
            }
        }
    };
    let whole = run(&load(
        &durable_host(emu, Arc::new(open(&path)), tool.clone()),
        guest,
    ))
    .await;
    let expected = whole.result.expect("the uninterrupted run answers");
    let journal = open(&path)
        .journal(&whole.run_id.expect("an id"))
        .expect("its journal");
    let (models, tools) = (model_calls(emu), tool.calls.load(Ordering::SeqCst));

    let whole_turns = session.map(|s| session_turns(&path, s));

    for cut in 0..journal.len() {
        emu.forget_requests();
        let path = dir.path().join(format!("cut{cut}.sqlite"));
        if let Some(session) = session {
            first_turn(emu, guest, &path, session).await;
        }
        let tool = Arc::new(CountingRead::default());
        let refusing = Arc::new(RefusingAfter {
            inner: open(&path),
            left: AtomicI64::new(cut as i64),
        });
        let stopped = run(&load(&durable_host(emu, refusing, tool.clone()), guest)).await;
        assert!(
            matches!(&stopped.result, Err(RunError::Journal(_))),
            "cut at {cut}: {:?}",
            stopped.result
        );
        let id = stopped.run_id.expect("an id");

        let store = Arc::new(open(&path));
        let resumed = load(&durable_host(emu, store.clone(), tool.clone()), guest)
            .resume(&id)
            .report()
            .await;
        assert_eq!(
            resumed.result.as_ref(),
            Ok(&expected),
            "cut at {cut} of {}",
            journal.len()
        );
        assert_eq!(resumed.run_id.as_deref(), Some(id.as_str()));
        assert_eq!(store.run(&id).expect("the run").status, RunStatus::Finished);
        if let (Some(session), Some(whole)) = (session, &whole_turns) {
            assert_eq!(whole.len(), 2);
            assert_eq!(&session_turns(&path, session), whole, "cut at {cut}");
        }

        // The entry that could not be written recorded a call that completed: that call
        // was lost, and is the one made twice.
        let (extra_model, extra_tool) = match journal[cut].kind.as_str() {
            "model" => (1, 0),
            "tool" => (0, 1),
            kind => panic!("an entry of kind {kind}"),
        };
        assert_eq!(
            model_calls(emu),
            models + extra_model,
            "model calls, cut at {cut}"
        );
        assert_eq!(
            tool.calls.load(Ordering::SeqCst),
            tools + extra_tool,
            "tool calls, cut at {cut}"
        );
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_refuses_another_plugin_and_an_unknown_run() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.sqlite");
    let emu = looping_emulator().await;
    let tool = Arc::new(CountingRead::default());
    let refusing = Arc::new(RefusingAfter {
        inner: open(&path),
        left: AtomicI64::new(2),
    });
    let stopped = load(
        &durable_host(&emu, refusing, tool.clone()),
        &test_guest("guest_durable"),
    )
    .run("loop")
    .report()
    .await;
    let id = stopped.run_id.expect("an id");

    let host = durable_host_with(&emu, Arc::new(open(&path)), tool.clone(), "b");
    let other = load(&host, &guest_example()).resume(&id).report().await;
    assert!(
        matches!(&other.result, Err(RunError::Journal(m)) if m.contains("another plugin")),
        "{:?}",
        other.result
    );
    let missing = load(&host, &test_guest("guest_durable"))
        .resume("no-such-run")
        .report()
        .await;
    assert!(
        matches!(&missing.result, Err(RunError::Journal(m)) if m.contains("no run")),
        "{:?}",
        missing.result
    );
    // The run goes on with the configuration it started with (mode "a", which the plugin
    // sends the model), not the host's new one: otherwise it would leave its journal.
    let resumed = load(&host, &test_guest("guest_durable"))
        .resume(&id)
        .report()
        .await;
    let answer = resumed.result.expect("the resume answers");
    assert!(answer.starts_with("all done | 6 turns"), "{answer}");
    let bodies: Vec<String> = emu.requests().iter().map(|r| r.body.to_string()).collect();
    let sent = |mode: &str| {
        bodies
            .iter()
            .any(|b| b.contains(&format!(r#"mode Some(\"{mode}\")"#)))
    };
    assert!(sent("a") && !sent("b"), "{bodies:?}");
}

/// Runs killed with SIGKILL at random points of the loop.
const KILLS: usize = 200;

/// `gamecode` with the emulator's credentials, this state dir and a shared compiled-plugin
/// cache; output captured.
fn gamecode(state: &Path, cache: &Path) -> std::process::Command {
    let mut cmd = isolated::isolated_gamecode(&gamecode_cli(), cache);
    cmd.env("GAMECODE_STATE_DIR", state)
        .env("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        )
        .env("AWS_REGION", bedrock_emulator::DEFAULT_REGION)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// `work/notes/notes.txt` for the loop's `read_file`, and a `gamecode run` of
/// `guest_durable`'s loop against `emu` with that folder granted, for a state dir.
fn loop_runner(emu: &Emulator, work: &Path) -> impl Fn(&Path) -> std::process::Command {
    let notes = work.join("notes");
    std::fs::create_dir_all(&notes).expect("notes dir");
    std::fs::write(notes.join("notes.txt"), "pineapple").expect("notes");
    let (url, cache, guest) = (emu.url(), work.join("cache"), test_guest("guest_durable"));
    move |state: &Path| {
        let mut cmd = gamecode(state, &cache);
        cmd.args(["run", "--no-stream", "--endpoint-url", &url, "--allow-read"])
            .arg(&notes)
            .arg(&guest)
            .arg("loop");
        cmd
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamecode_killed_anywhere_resumes_to_the_same_answer_without_repeating_a_completed_call() {
    init_tracing();
    let _busy = busy_machine();
    let emu = looping_emulator().await;
    // Each model call takes a moment, so that kills land inside calls as well as between.
    emu.set_latency(std::time::Duration::from_millis(15));
    let work = tempfile::tempdir().expect("tempdir");
    let cache = work.path().join("cache");
    let run_args = loop_runner(&emu, work.path());
    // What the README's `durable-runs` block shows is what this test runs.
    let block = readme_block("durable-runs");
    for command in [
        "gamecode run ",
        "gamecode runs list",
        "gamecode resume ",
        "gamecode runs show ",
    ] {
        assert!(block.contains(command), "the README shows `{command}`");
    }

    // The uninterrupted run (compiling the plugin into the cache), twice: the same answer.
    let whole = run_args(&work.path().join("whole"))
        .output()
        .expect("gamecode runs");
    emu.forget_requests();
    let again = run_args(&work.path().join("again"))
        .output()
        .expect("gamecode runs");
    assert_eq!(again.stdout, whole.stdout);
    let expected = String::from_utf8_lossy(&whole.stdout).trim().to_string();
    assert!(
        whole.status.success() && expected.starts_with("all done | 6 turns"),
        "{whole:?}"
    );
    let models = model_calls(&emu);
    assert_eq!(models, TURNS);

    let entries = SqliteStore::open(work.path().join("whole/state.sqlite"))
        .and_then(|s| s.runs())
        .expect("the first run's store")[0]
        .entries as usize;
    let seed = fastrand::u64(..);
    eprintln!("kill points from seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut resumed, mut before_start, mut after_end) = (0, 0, 0);
    for i in 0..KILLS {
        emu.forget_requests();
        let state = work.path().join(format!("kill{i}"));
        let watch = SqliteStore::open(state.join("state.sqlite")).expect("the store opens");
        // Anywhere in the run: once it has journaled k entries, within a model call's time.
        let k = rng.usize(0..=entries);
        let mut child = run_args(&state).spawn().expect("gamecode starts");
        while child.try_wait().ok().flatten().is_none()
            && watch
                .runs()
                .ok()
                .and_then(|r| r.first().map(|r| (r.entries as usize) < k))
                .unwrap_or(true)
        {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let at = std::time::Duration::from_micros(rng.u64(0..20_000));
        tokio::time::sleep(at).await;
        child.kill().expect("SIGKILL");
        let killed = child.wait_with_output().expect("it is reaped");
        // Killed while writing, the store stays sound.
        let after = SqliteStore::open(state.join("state.sqlite")).expect("the store opens");
        after
            .check_integrity()
            .expect("the store is sound after SIGKILL");
        let runs = after.runs().expect("the store reads");
        let Some(run) = runs.first() else {
            // Killed before its run was journaled: nothing to resume, nothing was asked.
            assert_eq!(model_calls(&emu), 0, "kill {i} after entry {k}, {at:?}");
            before_start += 1;
            continue;
        };
        if run.status == RunStatus::Finished {
            assert_eq!(run.outcome.as_deref(), Some(expected.as_str()));
            after_end += 1;
            continue;
        }
        assert_eq!(run.status, RunStatus::Interrupted, "kill {i}: {killed:?}");
        let cli = |args: &[&str]| {
            let out = gamecode(&state, &cache)
                .args(args)
                .output()
                .expect("gamecode runs");
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // The README's `durable-runs` commands: list, resume, show.
        let listed = cli(&["runs", "list"]);
        assert!(
            listed.contains(&run.id) && listed.contains("interrupted"),
            "{listed}"
        );
        let out = gamecode(&state, &cache)
            .args(["resume", &run.id])
            .output()
            .expect("gamecode resume runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "kill {i} after entry {k}, {at:?}; resumed: {out:?}"
        );
        let shown = cli(&["runs", "show", &run.id]);
        assert!(
            shown.contains("finished") && shown.contains("model reply: end_turn"),
            "{shown}"
        );
        let calls = model_calls(&emu);
        assert!(
            (models..=models + 1).contains(&calls),
            "kill {i} after entry {k}, {at:?}: {calls} model calls across the run and its resume, \
             uninterrupted {models}"
        );
        resumed += 1;
    }
    eprintln!(
        "{resumed} resumed, {before_start} killed before their run began, {after_end} after it ended"
    );
    assert!(
        resumed >= KILLS * 3 / 4,
        "most kills land inside the run: {resumed} of {KILLS}"
    );
}

/// Several `gamecode run` processes journal into one state store at once: every run is
/// there, finished, with its whole journal, and the file is sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_state_store() {
    init_tracing();
    let emu = looping_emulator().await;
    let work = tempfile::tempdir().expect("tempdir");
    let state = work.path().join("state");
    let runner = loop_runner(&emu, work.path());
    let run = || runner(&state);
    // One first, so the plugin is compiled once; then eight at once.
    assert!(run().output().expect("gamecode runs").status.success());
    let children: Vec<_> = (0..8)
        .map(|_| run().spawn().expect("gamecode starts"))
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("it ends");
        assert!(out.status.success(), "{out:?}");
    }
    let store = SqliteStore::open(state.join("state.sqlite")).expect("the store opens");
    store.check_integrity().expect("sound");
    let runs = store.runs().expect("the runs");
    assert_eq!(runs.len(), 9);
    for r in &runs {
        assert_eq!(r.status, RunStatus::Finished, "{r:?}");
        assert_eq!(r.entries as usize, TURNS + TURNS / 2, "{r:?}");
    }
}
