//! Figure 14, `fleet`: gamecode workers on NATS JetStream (a real nats-server on loopback,
//! `gamecode worker` processes, `gamecode submit`). The throughput of a batch bound by model
//! latency (the emulator answering after 200 ms) with 1, 2 and 3 workers; the time the queue
//! adds to one run (`gamecode run --nats` against a warm worker) against the same run made
//! locally (`gamecode run`); the bytes through NATS per model turn in a batch, beside the
//! bytes of the turn's Bedrock request.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bedrock_emulator::Emulator;
use gamecode_benches::stats::{fmt_ns, ns, summarize};
use gamecode_e2e::NatsServer;

use crate::figure06_cli_startup::gamecode_bin;
use crate::{Opts, Row, p50_p99, verdict};

/// `gamecode` against the bench's emulator, its cache and state under `home`.
fn gamecode(home: &Path) -> Command {
    let mut c = Command::new(gamecode_bin());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GAMECODE_CACHE_DIR", home.join("cache"))
        .env("GAMECODE_STATE_DIR", home.join("state"))
        .env("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        )
        .env("AWS_REGION", bedrock_emulator::DEFAULT_REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .stdin(Stdio::null());
    c
}

fn worker(home: &Path, nats: &str, prefix: &str, emu: &Emulator) -> Child {
    gamecode(home)
        .args([
            "worker",
            "--nats",
            nats,
            "--prefix",
            prefix,
            "--concurrency",
            "4",
        ])
        .args(["--endpoint-url", &emu.url()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a worker starts")
}

fn stop(workers: Vec<Child>) {
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
}

/// What one batch measured.
struct Batch {
    /// Wall time, ns.
    took: f64,
    /// Bytes through the NATS server (in + out) while it ran, and the model turns it made.
    bytes: u64,
    turns: usize,
    /// Bytes of those turns' Bedrock request bodies.
    bedrock: usize,
}

/// One batch of `tasks` runs on `workers` fresh workers, warmed first.
fn batch(
    server: &NatsServer,
    home: &Path,
    emu: &Emulator,
    example: &Path,
    workers: usize,
    tasks: usize,
) -> Batch {
    let nats = server.url();
    // A fleet of its own per batch (its prefix), so that no worker of another takes part.
    let prefix = format!("tp{workers}");
    let fleet: Vec<Child> = (0..workers)
        .map(|_| worker(home, nats, &prefix, emu))
        .collect();
    let lines: String = (0..tasks)
        .map(|i| format!("{{\"task\": \"What is {i} * 7?\"}}\n"))
        .collect();
    let file = home.join(format!("tasks-{workers}.jsonl"));
    std::fs::write(&file, lines).expect("tasks");
    let out = home.join(format!("results-{workers}.jsonl"));
    // Warm: every worker has compiled the plugin before the clock starts.
    let warm = home.join(format!("warm-{workers}.jsonl"));
    let warm_lines: String = (0..workers * 4)
        .map(|i| format!("{{\"task\": \"warm {i}\"}}\n"))
        .collect();
    std::fs::write(&warm, warm_lines).expect("warm tasks");
    let submit = |tasks: &Path, out: &Path| {
        let status = gamecode(home)
            .args(["submit", "--nats", nats, "--prefix", &prefix])
            .arg(example)
            .arg("--tasks")
            .arg(tasks)
            .arg("--out")
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("submit runs");
        assert!(status.success(), "submit failed");
    };
    submit(&warm, &home.join(format!("warm-out-{workers}.jsonl")));
    let (in0, out0) = server.bytes_in_out();
    let calls0 = emu.request_count();
    let t = Instant::now();
    submit(&file, &out);
    let took = ns(t.elapsed());
    let (in1, out1) = server.bytes_in_out();
    let requests = emu.requests();
    stop(fleet);
    let answered = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
    assert_eq!(answered, tasks, "every task answered");
    Batch {
        took,
        bytes: (in1 - in0) + (out1 - out0),
        turns: requests.len() - calls0,
        bedrock: requests[calls0..]
            .iter()
            .map(|r| r.body.to_string().len())
            .sum(),
    }
}

pub async fn fleet(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 14. fleet: workers on NATS JetStream (real nats-server, loopback) ==");
    let home = tempfile::tempdir().expect("a temp dir");
    let server = NatsServer::start(&home.path().join("nats"));
    let nats = server.url().to_string();
    let emu = Emulator::start().await.expect("the emulator starts");
    let mut rows = Vec::new();

    // Throughput, model-latency bound: 200 ms per model call, two calls per run.
    emu.set_latency(Duration::from_millis(200));
    let tasks = o.size(48, 4);
    let (home_path, emu2, example2) = (
        home.path().to_path_buf(),
        emu.clone(),
        example.to_path_buf(),
    );
    let (server, batches) = tokio::task::spawn_blocking(move || {
        let batches: Vec<Batch> = (1..=3)
            .map(|w| batch(&server, &home_path, &emu2, &example2, w, tasks))
            .collect();
        (server, batches)
    })
    .await
    .expect("the batches ran");
    let per_s: Vec<f64> = batches
        .iter()
        .map(|b| tasks as f64 / (b.took / 1e9))
        .collect();
    for (w, (b, r)) in batches.iter().zip(&per_s).enumerate() {
        println!(
            "{} worker(s): {tasks} runs in {} = {r:.2} runs/s",
            w + 1,
            fmt_ns(b.took)
        );
    }
    let scale3 = per_s[2] / per_s[0];
    rows.push(Row {
        figure: "14a",
        what: format!("fleet throughput, {tasks}-run batch, model 200 ms/call, 4 runs/worker"),
        target: "3 workers ≥ 2.5× one".into(),
        measured: format!("{:.2} / {:.2} / {:.2} runs/s", per_s[0], per_s[1], per_s[2]),
        comparison: format!(
            "1 / 2 / 3 workers: ×1 / ×{:.2} / ×{scale3:.2}",
            per_s[1] / per_s[0]
        ),
        verdict: verdict(o.smoke || scale3 >= 2.5),
    });

    // The queue's added latency: one run through the fleet against the same run locally,
    // alternating, the model answering at once.
    emu.set_latency(Duration::ZERO);
    let w = worker(home.path(), &nats, "lat", &emu);
    let (home_path, emu2, example2, nats2) = (
        home.path().to_path_buf(),
        emu.clone(),
        example.to_path_buf(),
        nats.clone(),
    );
    let n = o.size(20, 2);
    let (remote, local) = tokio::task::spawn_blocking(move || {
        let run = |fleet: bool| {
            let mut c = gamecode(&home_path);
            c.arg("run");
            if fleet {
                c.args(["--nats", &nats2, "--prefix", "lat"]);
            } else {
                c.args(["--endpoint-url", &emu2.url()]);
            }
            c.arg("--no-stream").arg(&example2).arg("What is 6 * 7?");
            let t = Instant::now();
            let out = c.output().expect("gamecode runs");
            assert!(out.status.success(), "{out:?}");
            ns(t.elapsed())
        };
        // Warm both: the worker compiles the plugin, the local cache fills.
        run(true);
        run(false);
        let (mut remote, mut local) = (Vec::new(), Vec::new());
        for round in 0..n {
            if round % 2 == 0 {
                remote.push(run(true));
                local.push(run(false));
            } else {
                local.push(run(false));
                remote.push(run(true));
            }
        }
        (remote, local)
    })
    .await
    .expect("the runs ran");
    stop(vec![w]);
    drop(server);
    let (remote, local) = (summarize(&remote), summarize(&local));
    let added = remote.p50 - local.p50;
    println!(
        "one run: fleet {} vs local {} (p50/p99): the queue adds {}",
        p50_p99(&remote),
        p50_p99(&local),
        fmt_ns(added)
    );
    rows.push(Row {
        figure: "14b",
        what: "one run: `run --nats` (warm worker) vs `run` locally, process start to answer"
            .into(),
        target: "≤ the local run + 100 ms".into(),
        measured: p50_p99(&remote),
        comparison: format!("local {}; difference {}", p50_p99(&local), fmt_ns(added)),
        verdict: verdict(o.smoke || added <= 100e6),
    });

    // On the wire, per model turn, in the 3-worker batch: orders, journal entries, leases,
    // progress acks, results, the submitter's reads.
    let b = &batches[2];
    let per_turn = b.bytes as f64 / b.turns.max(1) as f64;
    let bedrock_per_turn = b.bedrock as f64 / b.turns.max(1) as f64;
    println!(
        "NATS carried {} bytes for the batch's {} model turns: {per_turn:.0} B/turn \
         (its Bedrock request bodies: {bedrock_per_turn:.0} B/turn)",
        b.bytes, b.turns
    );
    rows.push(Row {
        figure: "14c",
        what: "bytes through NATS per model turn, 3-worker batch (orders, journal, leases, acks, results)"
            .into(),
        target: "reported".into(),
        measured: format!("{per_turn:.0} B/turn"),
        comparison: format!(
            "the turn's Bedrock request body: {bedrock_per_turn:.0} B (×{:.1})",
            per_turn / bedrock_per_turn.max(1.0)
        ),
        verdict: "—",
    });
    rows
}
