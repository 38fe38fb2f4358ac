//! Figure 13, `durable`: what a durable run costs. A growing tool loop (~4 KB added per
//! turn) through the whole stack on the emulator answering at once, journaled in a SQLite
//! state store, against the same run not journaled; the time to resume a 50-turn run from its
//! journal (every turn answered from it) against running it live; the store's size per turn.

use std::path::Path;
use std::sync::Arc;

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_benches::setup;
use gamecode_benches::stats::summarize;
use gamecode_host::state::{
    Entry, NewRun, RunRecord, RunStatus, SessionRecord, SessionTurn, SqliteStore, StateError,
    StateStore,
};
use gamecode_host::{Plugin, PluginHost};

use crate::{Opts, Row, p50_p99, run_ok, timed, verdict};

/// A store that never marks a run finished, so that a run that went to its end can still be
/// resumed from its whole journal.
#[derive(Debug)]
struct NeverFinished(Arc<SqliteStore>);

impl StateStore for NeverFinished {
    fn create_run(&self, run: &NewRun) -> Result<(), StateError> {
        self.0.create_run(run)
    }
    fn append(&self, run: &str, seq: u64, kind: &str, body: &str) -> Result<(), StateError> {
        self.0.append(run, seq, kind, body)
    }
    fn journal(&self, run: &str) -> Result<Vec<Entry>, StateError> {
        self.0.journal(run)
    }
    fn claim(&self, run: &str) -> Result<RunRecord, StateError> {
        self.0.claim(run)
    }
    fn finish(&self, _: &str, _: RunStatus, _: &str) -> Result<(), StateError> {
        Err(StateError::Storage(
            "left unfinished (the benchmark)".into(),
        ))
    }
    fn run(&self, run: &str) -> Result<RunRecord, StateError> {
        self.0.run(run)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        self.0.runs()
    }
    fn suspend(&self, run: &str, waiting: &str) -> Result<(), StateError> {
        self.0.suspend(run, waiting)
    }
    fn session_head(&self, session: &str) -> Result<u64, StateError> {
        self.0.session_head(session)
    }
    fn session_turns(
        &self,
        session: &str,
        key: Option<&str>,
        upto: u64,
    ) -> Result<Vec<SessionTurn>, StateError> {
        self.0.session_turns(session, key, upto)
    }
    fn add_session_turns(
        &self,
        session: &str,
        run: &str,
        turns: &[(String, String)],
    ) -> Result<(), StateError> {
        self.0.add_session_turns(session, run, turns)
    }
    fn sessions(&self) -> Result<Vec<SessionRecord>, StateError> {
        self.0.sessions()
    }
    fn remove_session(&self, session: &str) -> Result<u64, StateError> {
        self.0.remove_session(session)
    }
}

fn plugin_on(backend: &Arc<dyn LLMBackend>, store: Option<Arc<dyn StateStore>>) -> Plugin {
    let mut builder = PluginHost::builder()
        .backend(backend.clone())
        .policy(setup::bench_policy())
        .cache(Some(setup::artifact_cache()));
    if let Some(store) = store {
        builder = builder.state(store);
    }
    let host = builder.build().expect("the host builds");
    setup::load(&host, &setup::guest_bench_conversation())
}

/// The store's files (database and WAL), in bytes.
fn store_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).ok()
        })
        .map(|m| m.len())
        .sum()
}

pub async fn durable(o: &Opts) -> Vec<Row> {
    let turns = o.size(20, 3);
    let resume_turns = o.size(50, 3);
    let (rounds, warmup) = (o.size(20, 1), o.size(2, 0));
    println!(
        "\n== 13. durable runs: journaling per turn ({turns}-turn loop, ~4 KB/turn, emulator \
         answering at once), resuming a {resume_turns}-turn run, store size =="
    );
    let emu = Emulator::start().await.expect("the emulator starts");
    let backend: Arc<dyn LLMBackend> = Arc::new(setup::bedrock_on(&emu));
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.sqlite");
    let store = Arc::new(SqliteStore::open(&path).expect("the store opens"));
    let plain = plugin_on(&backend, None);
    let journaled = plugin_on(&backend, Some(store.clone()));
    let task = format!("grow:{turns}");

    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..warmup + rounds {
        for k in 0..2 {
            setup::keep_calling(&emu);
            let journal = (k + round) % 2 == 0;
            let plugin = if journal { &journaled } else { &plain };
            let (t, _) = timed(run_ok(plugin, &task)).await;
            if round >= warmup {
                let per_turn = t / turns as f64;
                if journal { &mut with } else { &mut without }.push(per_turn);
            }
        }
    }
    let (w, p) = (summarize(&with), summarize(&without));
    let cost = w.p50 / p.p50;
    println!(
        "per turn: journaled {} ; not journaled {} ({cost:.3}×)",
        p50_p99(&w),
        p50_p99(&p)
    );
    let finished: Vec<RunRecord> = store
        .runs()
        .expect("the runs")
        .into_iter()
        .filter(|r| r.status == RunStatus::Finished)
        .collect();
    let journaled_turns = (finished.len() * turns) as f64;
    let entry_bytes: usize = finished
        .iter()
        .flat_map(|r| store.journal(&r.id).expect("a journal"))
        .map(|e| e.body.len())
        .sum();
    store.checkpoint().expect("the WAL checkpoints");
    let file_per_turn = store_bytes(&path) as f64 / journaled_turns;
    let entry_per_turn = entry_bytes as f64 / journaled_turns;
    println!(
        "store: {:.2} KB of journal per turn, the file {:.2} KB per turn ({journaled_turns} \
         turns)",
        entry_per_turn / 1e3,
        file_per_turn / 1e3
    );

    // Resume: each round journals a whole run left unfinished, then resumes it from the
    // journal alone (no request reaches the emulator) and runs the same live.
    let unfinished = plugin_on(&backend, Some(Arc::new(NeverFinished(store.clone()))));
    let long = format!("grow:{resume_turns}");
    let (mut resumes, mut lives) = (Vec::new(), Vec::new());
    for round in 0..warmup + o.size(10, 1) {
        setup::keep_calling(&emu);
        let report = unfinished.run(long.as_str()).report().await;
        let id = report.run_id.expect("a durable run");
        let sent = emu.requests().len();
        let (t_resume, resumed) = timed(journaled.resume(&id).report()).await;
        resumed.result.expect("the resume answers");
        assert_eq!(
            emu.requests().len(),
            sent,
            "a resume from a whole journal sends nothing"
        );
        setup::keep_calling(&emu);
        let (t_live, _) = timed(run_ok(&plain, &long)).await;
        if round >= warmup {
            resumes.push(t_resume);
            lives.push(t_live);
        }
    }
    let (r, l) = (summarize(&resumes), summarize(&lives));
    println!(
        "resume a {resume_turns}-turn run from its journal {} ; the run live {} ({:.3}×)",
        p50_p99(&r),
        p50_p99(&l),
        r.p50 / l.p50
    );

    vec![
        Row {
            figure: "13",
            what: format!(
                "a turn of a {turns}-turn tool loop (~4 KB/turn) through the whole stack, \
                 journaled (SQLite, WAL), emulator answering at once"
            ),
            target: "≤ 1.05× the same run not journaled".into(),
            measured: format!("journaled {}", p50_p99(&w)),
            comparison: format!("not journaled {} ({cost:.3}×)", p50_p99(&p)),
            verdict: if o.smoke {
                "—"
            } else {
                verdict(cost <= 1.05)
            },
        },
        Row {
            figure: "13",
            what: format!("resume a {resume_turns}-turn run from its journal (no model call)"),
            target: "—".into(),
            measured: p50_p99(&r),
            comparison: format!(
                "the same run live on the emulator: {} ({:.3}×)",
                p50_p99(&l),
                r.p50 / l.p50
            ),
            verdict: "—",
        },
        Row {
            figure: "13",
            what: "state store size per journaled turn (~4 KB added per turn)".into(),
            target: "—".into(),
            measured: format!("{:.2} KB of journal entries", entry_per_turn / 1e3),
            comparison: format!(
                "the SQLite file: {:.2} KB per turn ({journaled_turns} turns, WAL checkpointed)",
                file_per_turn / 1e3
            ),
            verdict: "—",
        },
    ]
}
