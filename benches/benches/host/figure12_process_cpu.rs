//! Figure 12, `process-cpu`: the CPU (user + system) this process spends per agent turn
//! while the `gamecode` library host runs 1,000 concurrent 3-turn tool loops, against the same
//! requests sent by the raw SDK with the same concurrency. The emulator runs in a child
//! process of its own, so that only the host's (or the raw SDK's) work is counted.
//!
//! Each round measures every side once, in an order that rotates from round to round; the
//! ratios are taken within a round (the machine's speed drifts between rounds), and their
//! median is the figure. Two context sides split the gap: `BedrockBackend` sending the
//! host's requests with no plugin, and the pooled host with a model answering from memory
//! (the host's and the guest's own work).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_emulator::{Emulator, Reply};
use gamecode_backend::{ChatCall, ChatRequest, LLMBackend};
use gamecode_benches::backends::{InstantBackend, TimedBackend};
use gamecode_benches::raw::{self, RawRequest};
use gamecode_benches::setup;
use gamecode_benches::stats::{cpu_time, fmt_ns, ns, summarize};
use gamecode_host::Plugin;
use serde_json::json;

use crate::{Opts, Row, verdict};

/// Set in the child process: serve the emulator and print its URL.
const EMULATOR_CHILD: &str = "GAMECODE_BENCH_EMULATOR_CHILD";
/// Each model call waits this long, so that the runs overlap as a thousand real ones do.
const MODEL_LATENCY: Duration = Duration::from_millis(20);
const TURNS: usize = 3;

/// In the emulator's child process: serves until its stdin closes, then exits. Returns
/// `false` in the benchmark's own process.
pub fn serve_emulator_if_child() -> bool {
    if std::env::var_os(EMULATOR_CHILD).is_none() {
        return false;
    }
    let runtime = setup::runtime();
    runtime.block_on(async {
        let emu = Emulator::start().await.expect("the emulator starts");
        emu.set_latency(MODEL_LATENCY);
        emu.add_rule(
            "",
            Reply::ToolUse {
                name: "lookup".into(),
                input: json!({"q": "more"}),
            },
        );
        println!("{}", emu.url());
        // Until the benchmark closes our stdin (or dies); the request log is emptied as it
        // goes (tens of thousands of requests).
        let mut closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        loop {
            tokio::select! {
                _ = &mut closed => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => emu.forget_requests(),
            }
        }
    });
    true
}

/// The emulator in a child process, and its URL.
fn emulator_child() -> (Child, String) {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut child = Command::new(exe)
        .env(EMULATOR_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the emulator's process starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut url = String::new();
    BufReader::new(stdout)
        .read_line(&mut url)
        .expect("the emulator prints its URL");
    (child, url.trim().to_string())
}

/// CPU this process used, and the time taken, for `runs` concurrent tasks made by `task`.
async fn concurrently<F>(runs: usize, task: impl Fn() -> F) -> (Duration, Duration)
where
    F: Future<Output = ()> + Send + 'static,
{
    let (cpu0, started) = (cpu_time(), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..runs {
        tasks.spawn(task());
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("the task does not panic");
    }
    (cpu_time().saturating_sub(cpu0), started.elapsed())
}

/// `runs` concurrent 3-turn runs of `plugin`.
async fn host_phase(plugin: &Plugin, runs: usize) -> (Duration, Duration) {
    concurrently(runs, || {
        let plugin = plugin.clone();
        async move {
            let report = plugin.run(format!("grow:{TURNS}")).report().await;
            assert!(report.result.is_ok(), "{:?}", report.result);
            assert_eq!(report.stats.chat_calls, TURNS as u32);
        }
    })
    .await
}

/// `runs` concurrent tasks sending `turns` through `backend`.
async fn backend_phase(
    backend: &Arc<dyn LLMBackend>,
    turns: &Arc<Vec<ChatRequest>>,
    runs: usize,
) -> (Duration, Duration) {
    concurrently(runs, || {
        let (backend, turns) = (backend.clone(), turns.clone());
        async move {
            for t in turns.iter() {
                let reply = backend.send(ChatCall::new(t)).await;
                reply.expect("the backend's request");
            }
        }
    })
    .await
}

/// `runs` concurrent raw-SDK tasks sending the same 3 requests.
async fn raw_phase(
    client: &aws_sdk_bedrockruntime::Client,
    turns: &Arc<Vec<RawRequest>>,
    runs: usize,
) -> (Duration, Duration) {
    concurrently(runs, || {
        let (client, turns) = (client.clone(), turns.clone());
        async move {
            for t in turns.iter() {
                raw::converse(&client, t).await.expect("the raw request");
            }
        }
    })
    .await
}

/// The sides of a round.
struct Sides {
    host: Plugin,
    pooled: Plugin,
    own_work: Plugin,
    bedrock: Arc<dyn LLMBackend>,
    chat_turns: Arc<Vec<ChatRequest>>,
    client: aws_sdk_bedrockruntime::Client,
    raw_turns: Arc<Vec<RawRequest>>,
}

const NAMES: [&str; 5] = [
    "host",
    "host, pooling",
    "BedrockBackend alone",
    "host's own work",
    "raw SDK",
];
const RAW: usize = 4;

impl Sides {
    async fn measure(&self, side: usize, runs: usize) -> (Duration, Duration) {
        match side {
            0 => host_phase(&self.host, runs).await,
            1 => host_phase(&self.pooled, runs).await,
            2 => backend_phase(&self.bedrock, &self.chat_turns, runs).await,
            3 => host_phase(&self.own_work, runs).await,
            _ => raw_phase(&self.client, &self.raw_turns, runs).await,
        }
    }
}

pub async fn process_cpu(o: &Opts) -> Vec<Row> {
    let runs = o.size(1000, 10);
    let rounds = o.size(8, 1);
    println!(
        "\n== 12. process CPU per agent turn: {runs} concurrent {TURNS}-turn runs, host vs raw \
         SDK (emulator in its own process, {MODEL_LATENCY:?} model latency) =="
    );
    // The requests of one run, recorded by an emulator of our own (the child records none),
    // both as the host handed them to the backend and as they went out.
    let recorder = Emulator::start().await.expect("the emulator starts");
    recorder.add_rule(
        "",
        Reply::ToolUse {
            name: "lookup".into(),
            input: json!({"q": "more"}),
        },
    );
    let recording =
        Arc::new(TimedBackend::new(Arc::new(setup::bedrock(&recorder.url()))).keep_requests(true));
    let once = setup::load(
        &setup::host(recording.clone(), None),
        &setup::guest_bench_conversation(),
    );
    crate::run_ok(&once, &format!("grow:{TURNS}")).await;
    let chat_turns: Vec<ChatRequest> = recording
        .take_calls()
        .into_iter()
        .filter_map(|call| call.request)
        .collect();
    let raw_turns: Vec<RawRequest> = recorder
        .requests()
        .iter()
        .map(|r| RawRequest::from_body(&r.model_id, &r.body))
        .collect::<Result<_, _>>()
        .expect("the requests convert to SDK types");
    assert_eq!((raw_turns.len(), chat_turns.len()), (TURNS, TURNS));
    drop(recorder);

    let (mut child, url) = emulator_child();
    let guest = setup::guest_bench_conversation();
    let on_emulator = |pooling: Option<u32>| {
        let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock(&url));
        setup::load(&setup::host(bedrock, pooling), &guest)
    };
    let slots = u32::try_from(runs).expect("runs fit u32");
    let instant: Arc<dyn LLMBackend> = Arc::new(InstantBackend::after(MODEL_LATENCY));
    let sides = Sides {
        host: on_emulator(None),
        pooled: on_emulator(Some(slots)),
        own_work: setup::load(&setup::host(instant, Some(slots)), &guest),
        bedrock: Arc::new(setup::bedrock(&url)),
        chat_turns: Arc::new(chat_turns),
        client: raw::client(&gamecode_e2e::sdk_config(), &url),
        raw_turns: Arc::new(raw_turns),
    };
    // Warm every side once at full size (connections, the compiled plugin, pool slots).
    for side in 0..NAMES.len() {
        sides.measure(side, runs).await;
    }
    let per_turn = |cpu: Duration| ns(cpu) / (runs * TURNS) as f64;
    let mut cpu: [Vec<f64>; NAMES.len()] = Default::default();
    let mut ratios: [Vec<f64>; NAMES.len()] = Default::default();
    for round in 0..rounds {
        let mut this = [0.0; NAMES.len()];
        for k in 0..NAMES.len() {
            let side = (k + round) % NAMES.len();
            let (used, wall) = sides.measure(side, runs).await;
            this[side] = per_turn(used);
            println!(
                "{}: {} CPU per turn (wall {wall:.2?})",
                NAMES[side],
                fmt_ns(this[side])
            );
        }
        for side in 0..NAMES.len() {
            cpu[side].push(this[side]);
            ratios[side].push(this[side] / this[RAW]);
        }
    }
    drop(child.stdin.take());
    let _ = child.wait();

    let raw_cpu = summarize(&cpu[RAW]).p50;
    let row = |side: usize, what: String, target: &str, judged: bool| {
        let (used, r) = (summarize(&cpu[side]).p50, summarize(&ratios[side]));
        println!(
            "process CPU per turn, {}: {} vs raw SDK {} ({:.3}×, rounds {:.2}–{:.2}×)",
            NAMES[side],
            fmt_ns(used),
            fmt_ns(raw_cpu),
            r.p50,
            r.min,
            r.max
        );
        Row {
            figure: "12",
            what,
            target: target.into(),
            measured: format!("{} (median of {rounds} rounds)", fmt_ns(used)),
            comparison: format!(
                "raw SDK, same requests and concurrency: {}: {:.3}× (per-round ratios \
                 {:.2}–{:.2}×)",
                fmt_ns(raw_cpu),
                r.p50,
                r.min,
                r.max
            ),
            verdict: if o.smoke || !judged {
                "—"
            } else {
                verdict(r.p50 <= 1.25)
            },
        }
    };
    vec![
        row(
            0,
            format!(
                "process CPU (user + system) per agent turn, {runs} concurrent {TURNS}-turn \
                 runs of the library host (emulator in its own process)"
            ),
            "≤ 1.25× the raw SDK",
            true,
        ),
        row(
            1,
            format!("same, the host built with `pooling({runs})`"),
            "≤ 1.25× the raw SDK",
            true,
        ),
        row(
            2,
            "(context) `BedrockBackend` alone: the host's 3 requests from as many tasks, \
             no plugin"
                .into(),
            "—",
            false,
        ),
        row(
            3,
            format!(
                "(context) the pooled host's own work: the same runs, the model answering \
                 from memory after {MODEL_LATENCY:?}"
            ),
            "—",
            false,
        ),
    ]
}
