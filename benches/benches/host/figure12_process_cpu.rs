//! Figure 12, `process-cpu`: the CPU (user + system) this process spends per agent turn
//! while the `gamecode` library host runs 1,000 concurrent 3-turn tool loops, against the same
//! requests sent by the raw SDK with the same concurrency. The emulator runs in a child
//! process of its own, so that only the host's (or the raw SDK's) work is counted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_emulator::{Emulator, Reply};
use gamecode_backend::LLMBackend;
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

/// CPU this process used for `runs` concurrent 3-turn runs of `plugin`.
async fn host_phase(plugin: &Plugin, runs: usize) -> (Duration, Duration) {
    let (cpu0, started) = (cpu_time(), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let plugin = plugin.clone();
        tasks.spawn(async move { plugin.run(format!("grow:{TURNS}")).report().await });
    }
    while let Some(report) = tasks.join_next().await {
        let report = report.expect("the run does not panic");
        assert!(report.result.is_ok(), "{:?}", report.result);
        assert_eq!(report.stats.chat_calls, TURNS as u32);
    }
    (cpu_time().saturating_sub(cpu0), started.elapsed())
}

/// CPU this process used for `runs` concurrent raw-SDK tasks sending the same 3 requests.
async fn raw_phase(
    client: &aws_sdk_bedrockruntime::Client,
    turns: &Arc<Vec<RawRequest>>,
    runs: usize,
) -> (Duration, Duration) {
    let (cpu0, started) = (cpu_time(), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let (client, turns) = (client.clone(), turns.clone());
        tasks.spawn(async move {
            for t in turns.iter() {
                raw::converse(&client, t).await.expect("the raw request");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("the raw task does not panic");
    }
    (cpu_time().saturating_sub(cpu0), started.elapsed())
}

pub async fn process_cpu(o: &Opts) -> Vec<Row> {
    let runs = o.size(1000, 10);
    let rounds = o.size(4, 1);
    println!(
        "\n== 12. process CPU per agent turn: {runs} concurrent {TURNS}-turn runs, host vs raw \
         SDK (emulator in its own process, {MODEL_LATENCY:?} model latency) =="
    );
    // The requests of one run, recorded by an emulator of our own (the child records none).
    let recorder = Emulator::start().await.expect("the emulator starts");
    recorder.add_rule(
        "",
        Reply::ToolUse {
            name: "lookup".into(),
            input: json!({"q": "more"}),
        },
    );
    let plugin_on = |url: &str| {
        let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock(url));
        let host = setup::host(bedrock, None);
        setup::load(&host, &setup::guest_bench_conversation())
    };
    let once = plugin_on(&recorder.url());
    crate::run_ok(&once, &format!("grow:{TURNS}")).await;
    let turns: Vec<RawRequest> = recorder
        .requests()
        .iter()
        .map(|r| RawRequest::from_body(&r.model_id, &r.body))
        .collect::<Result<_, _>>()
        .expect("the requests convert to SDK types");
    assert_eq!(turns.len(), TURNS);
    let turns = Arc::new(turns);
    drop(recorder);

    let (mut child, url) = emulator_child();
    let plugin = plugin_on(&url);
    let client = raw::client(&gamecode_e2e::sdk_config(), &url);
    // Warm both (connections, the compiled plugin), then alternate.
    host_phase(&plugin, runs.min(50)).await;
    raw_phase(&client, &turns, runs.min(50)).await;
    let per_turn = |cpu: Duration| ns(cpu) / (runs * TURNS) as f64;
    let (mut host, mut direct) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for k in 0..2 {
            if (k + round) % 2 == 0 {
                let (cpu, wall) = host_phase(&plugin, runs).await;
                println!(
                    "host: {} CPU per turn (wall {wall:.2?})",
                    fmt_ns(per_turn(cpu))
                );
                host.push(per_turn(cpu));
            } else {
                let (cpu, wall) = raw_phase(&client, &turns, runs).await;
                println!(
                    "raw SDK: {} CPU per turn (wall {wall:.2?})",
                    fmt_ns(per_turn(cpu))
                );
                direct.push(per_turn(cpu));
            }
        }
    }
    drop(child.stdin.take());
    let _ = child.wait();

    let (h, d) = (summarize(&host), summarize(&direct));
    let ratio = h.p50 / d.p50;
    println!(
        "process CPU per turn: host {} vs raw SDK {} ({ratio:.3}×)",
        fmt_ns(h.p50),
        fmt_ns(d.p50)
    );
    vec![Row {
        figure: "12",
        what: format!(
            "process CPU (user + system) per agent turn, {runs} concurrent {TURNS}-turn runs \
             of the library host (emulator in its own process)"
        ),
        target: "≤ 1.25× the raw SDK".into(),
        measured: format!("{} (median of {rounds} rounds)", fmt_ns(h.p50)),
        comparison: format!(
            "raw SDK, same requests and concurrency: {} ({ratio:.3}×)",
            fmt_ns(d.p50)
        ),
        verdict: if o.smoke {
            "—"
        } else {
            verdict(ratio <= 1.25)
        },
    }]
}
