//! The gamecode host benchmarks: ten figures, each measured side by side with what it is
//! compared against, in one run (see `BENCHMARKS.md`).
//!
//! ```text
//! cargo bench -p gamecode-benches --bench host              # all figures (~3 min after build)
//! cargo bench -p gamecode-benches --bench host -- scale     # figures whose name contains "scale"
//! cargo test  -p gamecode-benches --benches                 # smoke: every figure once, tiny sizes
//! cargo bench -p gamecode-benches -- --test                 # smoke, with the bench profile
//! ```
//!
//! Figures: `instantiate`, `chat-call`, `agent-turn`, `scale`, `stream-latency`, `cli-startup`,
//! `storm`, `conversation`, `replay`, `mcp`.
//! Without `--bench` on the command line (i.e. under `cargo test`), or with `--test` or
//! `--smoke`, every figure runs once at a tiny size, for breakage, not timing. The report is
//! printed and written to `<target>/gamecode-bench/report.md`.
//!
//! Each comparison alternates its two sides round by round (A B, B A, ...) so that drift in
//! machine load hits both alike; figures are medians (p50) and p99 of the samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bedrock_emulator::{Emulator, Reply};
use gamecode_backend::LLMBackend;
use gamecode_benches::backends::{CallRecord, InstantBackend, RUN_ID, TimedBackend, turn_marker};
use gamecode_benches::busy::timed_polls;
use gamecode_benches::raw::{self, RawRequest};
use gamecode_benches::stats::{Summary, cpu_time, fmt_ns, mib, ns, reset_peak_rss, rss, summarize};
use gamecode_benches::{fixture, setup};
use gamecode_host::Plugin;
use serde_json::json;

struct Opts {
    smoke: bool,
    filters: Vec<String>,
}

impl Opts {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|a| a == "--bench");
        let smoke = !bench || args.iter().any(|a| a == "--test" || a == "--smoke");
        let filters = args.into_iter().filter(|a| !a.starts_with('-')).collect();
        Self { smoke, filters }
    }

    fn wants(&self, figure: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| figure.contains(f.as_str()))
    }

    /// `full` when benchmarking, `smoke` in smoke mode.
    fn size(&self, full: usize, smoke: usize) -> usize {
        if self.smoke { smoke } else { full }
    }
}

/// One line of the closing table.
struct Row {
    figure: &'static str,
    what: String,
    target: String,
    measured: String,
    comparison: String,
    verdict: &'static str,
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn p50_p99(s: &Summary) -> String {
    format!("{} / {}", fmt_ns(s.p50), fmt_ns(s.p99))
}

fn main() {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    println!(
        "gamecode host benchmarks ({} mode, {} cores)",
        if opts.smoke { "smoke" } else { "bench" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Guests are built (cargo, wasm32-wasip2) before anything is timed.
    let example = setup::guest_example();
    let bench = setup::guest_bench();

    let mut rows = Vec::new();
    runtime.block_on(async {
        if opts.wants("instantiate") {
            rows.extend(instantiate(&opts, &example).await);
        }
        if opts.wants("chat-call") {
            rows.extend(chat_call(&opts, &bench).await);
        }
        if opts.wants("agent-turn") {
            rows.extend(agent_turn(&opts, &example, &bench).await);
        }
        if opts.wants("scale") {
            rows.extend(scale(&opts, &example).await);
        }
        if opts.wants("stream-latency") {
            rows.extend(stream_latency(&opts, &bench).await);
        }
        if opts.wants("cli-startup") {
            rows.extend(cli_startup(&opts, &example).await);
        }
        if opts.wants("storm") {
            rows.extend(storm(&opts).await);
        }
        if opts.wants("conversation") {
            rows.extend(conversation(&opts).await);
        }
        if opts.wants("replay") {
            rows.extend(replay(&opts, &example).await);
        }
        if opts.wants("mcp") {
            rows.extend(mcp(&opts, &bench).await);
        }
    });
    report(&opts, &rows);
}

fn report(opts: &Opts, rows: &[Row]) {
    let mut out = String::new();
    out.push_str("| # | figure | target | measured (p50 / p99) | side by side | verdict |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.figure, r.what, r.target, r.measured, r.comparison, r.verdict
        ));
    }
    println!("\n{out}");
    if opts.smoke {
        println!("smoke run: sizes are tiny, the figures above mean nothing.");
        // A closing line the CI log reader understands.
        println!("{} passed, 0 failed", rows.len());
    }
    let dir = setup::target_dir().join("gamecode-bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(if opts.smoke { "smoke.md" } else { "report.md" });
        if std::fs::write(&file, &out).is_ok() {
            println!("written to {}", file.display());
        }
    }
}

/// Runs `f` and returns how long it took (ns) with its output.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (f64, T) {
    let t = Instant::now();
    let out = f.await;
    (ns(t.elapsed()), out)
}

async fn run_ok(plugin: &Plugin, task: &str) -> String {
    match plugin.run(task).await {
        Ok(outcome) => outcome.answer,
        Err(e) => panic!("{} run {task:?} failed: {e}", plugin.name()),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Instantiation from the cached InstancePre, store included, pooling on vs off.

async fn instantiate(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 1. instantiate: guest-example from its InstancePre, store included ==");
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let plugins = [
        (
            "on-demand",
            setup::load(&setup::host(backend.clone(), None), example),
        ),
        (
            "pooling",
            setup::load(&setup::host(backend, Some(16)), example),
        ),
    ];
    let (rounds, per, warm) = (o.size(20, 1), o.size(250, 3), o.size(200, 1));
    for (_, p) in &plugins {
        for _ in 0..warm {
            p.measure_instantiation().await.expect("instantiates");
        }
    }
    let mut inst: [Vec<f64>; 2] = Default::default();
    let mut cycle: [Vec<f64>; 2] = Default::default();
    for round in 0..rounds {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            for _ in 0..per {
                let t = Instant::now();
                let d = plugins[i]
                    .1
                    .measure_instantiation()
                    .await
                    .expect("instantiates");
                cycle[i].push(ns(t.elapsed()));
                inst[i].push(ns(d));
            }
        }
    }
    let s: Vec<Summary> = inst.iter().map(|v| summarize(v)).collect();
    let c: Vec<Summary> = cycle.iter().map(|v| summarize(v)).collect();
    for i in 0..2 {
        println!("{:>10} instantiate:        {}", plugins[i].0, s[i].times());
        println!("{:>10} + drop (cycle):     {}", plugins[i].0, c[i].times());
    }
    let ratio = s[1].p50 / s[0].p50;
    println!("pooling / on-demand (p50): {ratio:.2}");
    let target = 8_000.0;
    vec![
        Row {
            figure: "1",
            what: "instantiate guest-example, pooling (store + instance)".into(),
            target: "≤ 8 µs p50".into(),
            measured: p50_p99(&s[1]),
            comparison: format!(
                "on-demand {} / {}; pooling/on-demand {ratio:.2}×; with drop {} vs {}",
                fmt_ns(s[0].p50),
                fmt_ns(s[0].p99),
                fmt_ns(c[1].p50),
                fmt_ns(c[0].p50)
            ),
            verdict: verdict(s[1].p50 <= target),
        },
        Row {
            figure: "1",
            what: "instantiate guest-example, on-demand allocator (host default)".into(),
            target: "≤ 8 µs p50".into(),
            measured: p50_p99(&s[0]),
            comparison: "see above".into(),
            verdict: verdict(s[0].p50 <= target),
        },
    ]
}

// ---------------------------------------------------------------------------------------
// 2. Guest→host chat call with a realistic request, instant backend, vs a direct call.

async fn chat_call(o: &Opts, bench: &Path) -> Vec<Row> {
    println!(
        "\n== 2. chat-call: guest→host boundary, 20 messages / 5 tools / ~8 KB, instant backend =="
    );
    let instant = Arc::new(InstantBackend::default());
    let backend: Arc<dyn LLMBackend> = instant.clone();
    let plugin = setup::load(&setup::host(backend.clone(), None), bench);
    let request = fixture::chat_request();
    println!(
        "request: {} messages, {} tools, {} bytes as JSON",
        request.messages.len(),
        request.tools.as_ref().map_or(0, Vec::len),
        serde_json::to_vec(&request).map_or(0, |v| v.len())
    );

    // The host must hand the backend exactly the fixture (plus its session id).
    instant.record(true);
    run_ok(&plugin, "chat:1").await;
    instant.record(false);
    let mut seen = instant.last_request().expect("the backend saw the request");
    assert!(seen.session_id.take().is_some());
    assert_eq!(
        seen, request,
        "the plugin's request differs from the fixture"
    );

    let (n, streams, rounds, warm) = (o.size(200, 2), o.size(50, 1), o.size(30, 1), o.size(3, 0));
    let mut plugin_per_call = Vec::new();
    let mut direct_per_call = Vec::new();
    let mut added = Vec::new();
    let mut s_plugin = Vec::new();
    let mut s_direct = Vec::new();
    let mut s_added = Vec::new();
    let chat_n = format!("chat:{n}");
    let stream_n = format!("stream:{streams}");
    for round in 0..rounds + warm {
        let mut t = [0.0; 6];
        for k in 0..6 {
            let step = (k + round) % 6;
            t[step] = match step {
                0 => timed(run_ok(&plugin, "chat:0")).await.0,
                1 => timed(run_ok(&plugin, &chat_n)).await.0,
                2 => {
                    timed(async {
                        for _ in 0..n {
                            backend.chat(request.clone()).await.expect("instant chat");
                        }
                    })
                    .await
                    .0
                }
                3 => timed(run_ok(&plugin, "stream:0")).await.0,
                4 => timed(run_ok(&plugin, &stream_n)).await.0,
                _ => {
                    timed(async {
                        for _ in 0..streams {
                            let mut s = backend
                                .chat_stream(request.clone())
                                .await
                                .expect("instant stream");
                            while futures::StreamExt::next(&mut s).await.is_some() {}
                        }
                    })
                    .await
                    .0
                }
            };
        }
        if round < warm {
            continue;
        }
        let p = (t[1] - t[0]) / n as f64;
        let d = t[2] / n as f64;
        plugin_per_call.push(p);
        direct_per_call.push(d);
        added.push(p - d);
        let ps = (t[4] - t[3]) / streams as f64;
        let ds = t[5] / streams as f64;
        s_plugin.push(ps);
        s_direct.push(ds);
        s_added.push(ps - ds);
    }
    let (p, d, a) = (
        summarize(&plugin_per_call),
        summarize(&direct_per_call),
        summarize(&added),
    );
    let (sp, sd, sa) = (
        summarize(&s_plugin),
        summarize(&s_direct),
        summarize(&s_added),
    );
    println!("per chat call, through the plugin: {}", p.times());
    println!("per chat call, direct from Rust:   {}", d.times());
    println!("added per chat call:               {}", a.times());
    // Where the added time goes: host-side steps of a chat call that a direct caller skips,
    // timed alone on the same request (1000 iterations each, p50 of 20 batches).
    let step = |f: &dyn Fn()| {
        let mut v = Vec::new();
        for _ in 0..o.size(20, 1) {
            let t = Instant::now();
            for _ in 0..1000 {
                f();
            }
            v.push(ns(t.elapsed()) / 1000.0);
        }
        summarize(&v).p50
    };
    let schemas: Vec<String> = request
        .tools
        .iter()
        .flatten()
        .map(|t| t.input_schema.to_string())
        .chain(request.messages.iter().flat_map(|m| {
            m.content.iter().filter_map(|b| match b {
                gamecode_backend::ContentBlock::ToolUse(c) => Some(c.input.to_string()),
                _ => None,
            })
        }))
        .collect();
    let parse = step(&|| {
        for s in &schemas {
            std::hint::black_box(serde_json::from_str::<serde_json::Value>(s).ok());
        }
    });
    // What the host does instead on every call after the first: the run's JSON cache hands
    // out clones of the values parsed before (hashing the texts aside).
    let parsed: Vec<serde_json::Value> = schemas
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    let clone_values = step(&|| {
        std::hint::black_box(std::hint::black_box(&parsed).clone());
    });
    let clone = step(&|| {
        std::hint::black_box(std::hint::black_box(&request).clone());
    });
    println!(
        "host-side steps alone: parsing the {} JSON texts (schemas, tool inputs) {}, cloning \
         them parsed (the run's JSON cache) {}, one ChatRequest clone {}",
        schemas.len(),
        fmt_ns(parse),
        fmt_ns(clone_values),
        fmt_ns(clone)
    );
    let events = fixture::canned_stream().len();
    println!("per stream ({events} events), plugin: {}", sp.times());
    println!("per stream, direct:                {}", sd.times());
    println!("added per stream:                  {}", sa.times());
    vec![
        Row {
            figure: "2",
            what: format!(
                "chat call added by the plugin boundary (per call; {n} calls/run, {rounds} rounds)"
            ),
            target: "≤ 3 µs".into(),
            measured: p50_p99(&a),
            comparison: format!(
                "plugin {} vs direct {} per call (p50), {:.1}×",
                fmt_ns(p.p50),
                fmt_ns(d.p50),
                p.p50 / d.p50
            ),
            verdict: verdict(a.p50 <= 3_000.0),
        },
        Row {
            figure: "2",
            what: format!("streamed call added by the boundary (per stream of {events} events)"),
            target: "(none; context)".into(),
            measured: p50_p99(&sa),
            comparison: format!(
                "plugin {} vs direct {} per stream; {} per event added",
                fmt_ns(sp.p50),
                fmt_ns(sd.p50),
                fmt_ns(sa.p50 / events as f64)
            ),
            verdict: "—",
        },
    ]
}

// ---------------------------------------------------------------------------------------
// 3. One agent turn through plugin → host → BedrockBackend → SDK → emulator, vs raw SDK.

const ONE_TURN_TASK: &str = "Say hello in one sentence (bench-one-turn).";

fn agent_turn_rules(emu: &Emulator) {
    let answer = "The replay fails because the checkpoint LSN is read before the last segment \
                  is flushed, so records written after the checkpoint are skipped. Flush the \
                  segment before reading the LSN, and add a regression test that crashes \
                  between the two.";
    emu.add_rule(fixture::MARKER, Reply::Text(answer.into()));
    emu.add_rule(
        "bench-one-turn",
        Reply::Text("Hello from the emulator.".into()),
    );
}

/// The last request's model id and body, as the emulator recorded them.
fn last_body(emu: &Emulator) -> (String, serde_json::Value) {
    let r = emu.requests().pop().expect("a request was recorded");
    assert_eq!(r.status, 200, "the emulator refused a request: {}", r.body);
    (r.model_id, r.body)
}

async fn agent_turn(o: &Opts, example: &Path, bench: &Path) -> Vec<Row> {
    println!("\n== 3. agent-turn: plugin → host → BedrockBackend → SDK → emulator vs raw SDK ==");
    let emu = Emulator::start().await.expect("the emulator starts");
    agent_turn_rules(&emu);
    let url = emu.url();
    let backend: Arc<dyn LLMBackend> = Arc::new(setup::bedrock(&url));
    let host = setup::host(backend, None);
    let bench_p = setup::load(&host, bench);
    let example_p = setup::load(&host, example);
    let client = raw::client(&gamecode_e2e::sdk_config(), &url);

    // The raw side sends exactly the bodies the plugin paths sent.
    run_ok(&bench_p, "chat:1").await;
    let (model, chat_body) = last_body(&emu);
    let raw_chat = RawRequest::from_body(&model, &chat_body).expect("convertible");
    raw::converse(&client, &raw_chat)
        .await
        .expect("raw converse");
    assert_eq!(
        last_body(&emu).1,
        chat_body,
        "raw converse sent another body"
    );
    let answer = run_ok(&example_p, ONE_TURN_TASK).await;
    assert_eq!(answer, "Hello from the emulator.");
    let (model, stream_body) = last_body(&emu);
    let raw_stream = RawRequest::from_body(&model, &stream_body).expect("convertible");
    raw::converse_stream(&client, &raw_stream)
        .await
        .expect("raw converse_stream");
    assert_eq!(
        last_body(&emu).1,
        stream_body,
        "raw converse_stream sent another body"
    );

    // For the breakdown: the same guest-example turn against the instant backend (no
    // network: plugin + guest only), and BedrockBackend called directly with the request the
    // host handed it (no plugin: backend + SDK + emulator).
    let instant = Arc::new(InstantBackend::default());
    let instant_example = setup::load(&setup::host(instant.clone(), None), example);
    instant.record(true);
    run_ok(&instant_example, ONE_TURN_TASK).await;
    instant.record(false);
    let backend_request = instant.last_request().expect("a request was made");
    let direct_bedrock = setup::bedrock(&url);

    let (rounds, warm, k) = (o.size(300, 2), o.size(30, 0), 10usize);
    let chat_k = format!("chat:{k}");
    let mut v: [Vec<f64>; 8] = Default::default();
    for round in 0..rounds + warm {
        if round % 50 == 0 {
            // Keep the request log small.
            emu.clear();
            agent_turn_rules(&emu);
        }
        let mut t = [0.0; 8];
        for j in 0..8 {
            let step = (j + round) % 8;
            t[step] = match step {
                0 => timed(run_ok(&bench_p, "chat:1")).await.0,
                1 => {
                    let (d, r) = timed(raw::converse(&client, &raw_chat)).await;
                    r.expect("raw converse");
                    d
                }
                2 => timed(run_ok(&example_p, ONE_TURN_TASK)).await.0,
                3 => {
                    let (d, r) = timed(raw::converse_stream(&client, &raw_stream)).await;
                    r.expect("raw converse_stream");
                    d
                }
                4 => timed(run_ok(&bench_p, &chat_k)).await.0,
                5 => timed(run_ok(&bench_p, "chat:0")).await.0,
                6 => timed(run_ok(&instant_example, ONE_TURN_TASK)).await.0,
                _ => {
                    timed(async {
                        let mut s = direct_bedrock
                            .chat_stream(backend_request.clone())
                            .await
                            .expect("BedrockBackend stream");
                        while let Some(e) = futures::StreamExt::next(&mut s).await {
                            e.expect("stream event");
                        }
                    })
                    .await
                    .0
                }
            };
        }
        if round >= warm {
            for (i, x) in t.iter().enumerate() {
                v[i].push(*x);
            }
        }
    }
    let s: Vec<Summary> = v.iter().map(|x| summarize(x)).collect();
    let per_turn: Vec<f64> = v[4]
        .iter()
        .zip(&v[5])
        .map(|(a, b)| (a - b) / k as f64)
        .collect();
    let pt = summarize(&per_turn);
    let paired =
        |a: &[f64], b: &[f64]| summarize(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>());
    let r_chat = paired(&v[0], &v[1]);
    let r_stream = paired(&v[2], &v[3]);
    let r_turn = paired(&per_turn, &v[1]);
    println!(
        "plugin run, 1 chat turn (guest_bench chat:1): {}",
        s[0].times()
    );
    println!(
        "raw SDK converse, same body:                  {}",
        s[1].times()
    );
    println!(
        "plugin run, 1 streamed turn (guest-example):  {}",
        s[2].times()
    );
    println!(
        "raw SDK converse_stream, same body, drained:  {}",
        s[3].times()
    );
    println!(
        "per chat turn inside a run ((chat:{k} − chat:0)/{k}): {}",
        pt.times()
    );
    println!(
        "guest_bench chat:0 run (instantiate + guest parses the fixture): {}",
        s[5].times()
    );
    println!("breakdown of the streamed turn:");
    println!(
        "  guest-example run, instant backend (plugin+guest only): {}",
        s[6].times()
    );
    println!(
        "  BedrockBackend.chat_stream drained, no plugin:          {}",
        s[7].times()
    );
    println!(
        "ratios (p50 of paired ratios): chat run {:.3}, streamed run {:.3}, per turn {:.3}",
        r_chat.p50, r_stream.p50, r_turn.p50
    );
    let row = |what: String, a: &Summary, b: &Summary, r: &Summary, raw: &str| Row {
        figure: "3",
        what,
        target: "ratio ≤ 1.05".into(),
        measured: p50_p99(a),
        comparison: format!(
            "{raw} {} / {}; ratio p50 {:.3} (paired ratios p50 {:.3}, p99 {:.3})",
            fmt_ns(b.p50),
            fmt_ns(b.p99),
            a.p50 / b.p50,
            r.p50,
            r.p99
        ),
        verdict: verdict(a.p50 / b.p50 <= 1.05),
    };
    vec![
        row(
            "one chat turn: whole plugin run (instantiate + 1 chat), 8 KB request".into(),
            &s[0],
            &s[1],
            &r_chat,
            "raw converse",
        ),
        row(
            format!("one chat turn inside a run ((chat:{k} − chat:0)/{k})"),
            &pt,
            &s[1],
            &r_turn,
            "raw converse",
        ),
        row(
            "one streamed agent turn: whole guest-example run".into(),
            &s[2],
            &s[3],
            &r_stream,
            "raw converse_stream (drained)",
        ),
        Row {
            figure: "3",
            what: "  breakdown of the streamed turn".into(),
            target: "(context)".into(),
            measured: format!(
                "plugin+guest alone {} ; BedrockBackend alone {}",
                fmt_ns(s[6].p50),
                fmt_ns(s[7].p50)
            ),
            comparison: format!(
                "BedrockBackend/raw SDK {:.3}; (plugin+guest alone + BedrockBackend)/raw {:.3}",
                s[7].p50 / s[3].p50,
                (s[6].p50 + s[7].p50) / s[3].p50
            ),
            verdict: "—",
        },
    ]
}

// ---------------------------------------------------------------------------------------
// 4. Scale: 1,000 concurrent 3-turn tool loops of guest-example, 20 ms model latency.

const SCALE_TASK: &str = "What is 6 * 7, and how many words are in the pangram? (bench-scale)";
const MODEL_LATENCY: Duration = Duration::from_millis(20);
/// Concurrent runs at a load these 2 cores carry with room to spare: a turn costs ~0.9 ms
/// of process CPU (emulator included), so 16 runs with a 20 ms model keep the cores ~35 %
/// busy. Run in waves, for enough turns to give a p99.
const CARRIED_RUNS: usize = 16;
const CARRIED_WAVES: usize = 20;

fn scale_rules(emu: &Emulator) {
    // Turn 1 (the task): a calculator call. Turn 2 (tool results + the turn marker the timed
    // backend adds): a text_stats call. Turn 3: the default responder answers from the results.
    emu.add_rule(
        "bench-scale",
        Reply::ToolUse {
            name: "calculator".into(),
            input: json!({"expression": "6 * 7"}),
        },
    );
    emu.add_rule(
        turn_marker(2),
        Reply::ToolUse {
            name: "text_stats".into(),
            input: json!({"text": "the quick brown fox jumps over the lazy dog"}),
        },
    );
}

/// What one concurrent run measured.
struct RunTimes {
    ok: bool,
    start: Instant,
    end: Instant,
    calls: Vec<CallRecord>,
    /// CPU time inside the polls of the whole run (zero where not measured).
    busy: Duration,
}

struct PhaseResult {
    wall: Duration,
    failed: usize,
    /// Whole runs (ns).
    runs: Vec<f64>,
    /// Per turn: time in the backend call, from the host's call to the stream's end (ns).
    backend: Vec<f64>,
    /// Per turn: time outside the backend call (host + guest + scheduling), see below (ns).
    outside: Vec<f64>,
    /// Run start to the first backend call: slot wait, instantiation, guest setup (ns).
    startup: Vec<f64>,
    /// Per run, per turn: the host's and guest's own work, i.e. the run's busy time minus
    /// its backend calls' busy time, over its turns (instantiation included) (ns).
    host_busy: Vec<f64>,
    peak_rss: u64,
    base_rss: u64,
    /// CPU time the whole process used during the phase (emulator included).
    cpu: Duration,
}

impl PhaseResult {
    /// Adds a later phase of the same kind (waves of a light load): samples, failures,
    /// wall and CPU time add up; the peaks are the highest.
    fn merge(&mut self, other: PhaseResult) {
        self.wall += other.wall;
        self.cpu += other.cpu;
        self.failed += other.failed;
        self.runs.extend(other.runs);
        self.backend.extend(other.backend);
        self.outside.extend(other.outside);
        self.startup.extend(other.startup);
        self.host_busy.extend(other.host_busy);
        self.peak_rss = self.peak_rss.max(other.peak_rss);
        self.base_rss = self.base_rss.max(other.base_rss);
    }
}

/// Splits each run into backend time and the rest. For turn k, "outside" is the time from
/// the end of turn k's answer stream to the next backend call (or, for the last turn, to the
/// end of the run): the host returning the last event, the guest's own work (tool calls,
/// building the next request) and the host's way back in.
fn phase_times(
    runs: Vec<RunTimes>,
    wall: Duration,
    cpu: Duration,
    base_rss: u64,
    peak_rss: u64,
) -> PhaseResult {
    let mut r = PhaseResult {
        cpu,
        wall,
        failed: 0,
        runs: Vec::new(),
        backend: Vec::new(),
        outside: Vec::new(),
        startup: Vec::new(),
        host_busy: Vec::new(),
        peak_rss,
        base_rss,
    };
    for mut run in runs {
        if !run.ok {
            r.failed += 1;
            continue;
        }
        r.runs.push(ns(run.end - run.start));
        run.calls.sort_by_key(|c| c.started);
        let Some(first) = run.calls.first() else {
            continue;
        };
        r.startup.push(ns(first.started - run.start));
        if !run.busy.is_zero() {
            let backend_busy: Duration = run.calls.iter().map(|c| c.busy).sum();
            r.host_busy
                .push(ns(run.busy.saturating_sub(backend_busy)) / run.calls.len() as f64);
        }
        for (i, c) in run.calls.iter().enumerate() {
            let ended = c.ended.unwrap_or(run.end);
            r.backend.push(ns(ended - c.started));
            let next = run.calls.get(i + 1).map_or(run.end, |n| n.started);
            r.outside.push(ns(next.saturating_duration_since(ended)));
        }
    }
    r
}

async fn plugin_phase(plugin: &Plugin, timed_backend: &TimedBackend, runs: usize) -> PhaseResult {
    let _ = timed_backend.take_calls();
    let (base, _) = rss();
    reset_peak_rss();
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..runs {
        let plugin = plugin.clone();
        tasks.spawn(RUN_ID.scope(id, async move {
            let start = Instant::now();
            let mut busy = Duration::ZERO;
            let report = timed_polls(plugin.run_report(SCALE_TASK), &mut busy).await;
            let end = Instant::now();
            if let Err(e) = &report.result {
                eprintln!("run {id} failed: {e}");
            }
            (
                id,
                report.result.is_ok() && report.stats.chat_calls == 3,
                start,
                end,
                busy,
            )
        }));
    }
    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(r.expect("the run task does not panic"));
    }
    let wall = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let (_, peak) = rss();
    let mut calls: Vec<Vec<CallRecord>> = vec![Vec::new(); runs];
    for c in timed_backend.take_calls() {
        if let Some(slot) = calls.get_mut(c.run) {
            slot.push(c);
        }
    }
    let runs = done
        .into_iter()
        .map(|(id, ok, start, end, busy)| RunTimes {
            ok,
            start,
            end,
            calls: std::mem::take(&mut calls[id]),
            busy,
        })
        .collect();
    phase_times(runs, wall, cpu, base, peak)
}

async fn raw_phase(
    client: &aws_sdk_bedrockruntime::Client,
    turns: &[RawRequest],
    runs: usize,
) -> PhaseResult {
    let (base, _) = rss();
    reset_peak_rss();
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let client = client.clone();
        let turns = turns.to_vec();
        tasks.spawn(async move {
            let start = Instant::now();
            let mut calls = Vec::new();
            let mut ok = true;
            for (i, t) in turns.iter().enumerate() {
                let s = Instant::now();
                ok &= raw::converse_stream(&client, t).await.is_ok();
                let e = Instant::now();
                calls.push(CallRecord {
                    run: 0,
                    turn: i + 1,
                    streaming: true,
                    started: s,
                    returned: Some(e),
                    ended: Some(e),
                    deltas: Vec::new(),
                    busy: Duration::ZERO,
                });
            }
            RunTimes {
                ok,
                start,
                end: Instant::now(),
                calls,
                busy: Duration::ZERO,
            }
        });
    }
    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(r.expect("the raw task does not panic"));
    }
    let wall = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let (_, peak) = rss();
    phase_times(done, wall, cpu, base, peak)
}

async fn scale(o: &Opts, example: &Path) -> Vec<Row> {
    let runs = o.size(1000, 10);
    println!(
        "\n== 4. scale: {runs} concurrent guest-example runs, 3 turns each, {MODEL_LATENCY:?} model latency =="
    );
    let emu = Emulator::start().await.expect("the emulator starts");
    scale_rules(&emu);
    let url = emu.url();
    let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock(&url));
    let timed_backend = Arc::new(TimedBackend::new(bedrock).mark_turns(true));
    let client = raw::client(&gamecode_e2e::sdk_config(), &url);

    let mut rows = Vec::new();
    let mut raw_turns: Vec<RawRequest> = Vec::new();
    // (label, runs, full load — i.e. side by side with the raw SDK phase, result)
    let mut results: Vec<(String, usize, bool, PhaseResult)> = Vec::new();
    for (label, pooling) in [("on-demand", None), ("pooling", Some(runs as u32))] {
        let host = match setup::try_host(timed_backend.clone(), pooling) {
            Ok(h) => h,
            Err(e) => {
                println!("{label}: the host could not be built: {e}");
                rows.push(Row {
                    figure: "4",
                    what: format!("{runs} concurrent runs, {label}"),
                    target: "all complete".into(),
                    measured: format!("host build failed: {e}"),
                    comparison: String::new(),
                    verdict: "MISSED",
                });
                continue;
            }
        };
        let plugin = setup::load(&host, example);
        // One run alone: three turns, and the bodies the raw side will send.
        emu.set_latency(Duration::ZERO);
        emu.clear();
        scale_rules(&emu);
        let report = RUN_ID
            .scope(usize::MAX, plugin.run_report(SCALE_TASK))
            .await;
        assert!(report.result.is_ok(), "{:?}", report.result);
        assert_eq!(report.stats.chat_calls, 3, "the script makes 3 turns");
        if raw_turns.is_empty() {
            raw_turns = emu
                .requests()
                .iter()
                .map(|r| RawRequest::from_body(&r.model_id, &r.body).expect("convertible"))
                .collect();
            assert_eq!(raw_turns.len(), 3);
        }
        emu.clear();
        scale_rules(&emu);
        emu.set_latency(MODEL_LATENCY);
        let r = plugin_phase(&plugin, &timed_backend, runs).await;
        println!(
            "{label}: {} runs in {:.2?}, {} failed; RSS before {:.0} MiB, peak {:.0} MiB",
            r.runs.len(),
            r.wall,
            r.failed,
            mib(r.base_rss),
            mib(r.peak_rss)
        );
        results.push((format!("{label}, {runs} concurrent"), runs, true, r));
        if pooling.is_none() {
            // The same runs at a load the machine carries: host latency without CPU queueing.
            let (light, waves) = (o.size(CARRIED_RUNS, 2), o.size(CARRIED_WAVES, 1));
            emu.clear();
            scale_rules(&emu);
            let mut r = plugin_phase(&plugin, &timed_backend, light).await;
            for _ in 1..waves {
                r.merge(plugin_phase(&plugin, &timed_backend, light).await);
            }
            println!(
                "{label}, {light} concurrent × {waves} waves: {} runs in {:.2?}, {} failed",
                r.runs.len(),
                r.wall,
                r.failed
            );
            results.push((
                format!("{label}, {light} concurrent × {waves} waves"),
                light * waves,
                false,
                r,
            ));
        }
        drop(plugin);
        drop(host);
    }
    emu.clear();
    scale_rules(&emu);
    let raw_r = raw_phase(&client, &raw_turns, runs).await;
    println!(
        "raw SDK: {} tasks in {:.2?}, {} failed; RSS before {:.0} MiB, peak {:.0} MiB",
        raw_r.runs.len(),
        raw_r.wall,
        raw_r.failed,
        mib(raw_r.base_rss),
        mib(raw_r.peak_rss)
    );
    let raw_turn = summarize(&raw_r.backend);
    let raw_run = summarize(&raw_r.runs);
    println!("raw SDK turn:                {}", raw_turn.times());
    println!("raw SDK 3-turn task:         {}", raw_run.times());
    let raw_cpu_turn = ns(raw_r.cpu) / (3 * runs) as f64;
    for (label, runs, full_load, r) in &results {
        let (runs, full_load) = (*runs, *full_load);
        let (outside, backend, run, startup, busy) = (
            summarize(&r.outside),
            summarize(&r.backend),
            summarize(&r.runs),
            summarize(&r.startup),
            summarize(&r.host_busy),
        );
        println!("{label}: host+guest CPU/turn:  {}", busy.times());
        println!("{label}: outside backend/turn: {}", outside.times());
        println!("{label}: backend call/turn:    {}", backend.times());
        println!("{label}: run start → 1st call: {}", startup.times());
        println!("{label}: whole run:            {}", run.times());
        let all_ok = r.failed == 0 && r.runs.len() == runs;
        let turns = (3 * runs) as f64;
        let cpu_turn = ns(r.cpu) / turns;
        println!(
            "{label}: process CPU per turn {} (wall {:.2?}) vs raw SDK {} (wall {:.2?})",
            fmt_ns(cpu_turn),
            r.wall,
            fmt_ns(raw_cpu_turn),
            raw_r.wall,
        );
        // The figure: the host's (and guest's) own work per turn. The wall-clock time
        // outside the backend call is shown beside it; at full load it is mostly the wait
        // for one of the 2 CPUs, which the raw SDK's turns suffer just the same.
        let comparison = if full_load {
            format!(
                "{}/{runs} complete in {:.2?} (raw SDK {:.2?}); wall time outside the backend call {} / {} (CPU queueing); process CPU per turn {} vs raw SDK {} (+{}); backend call/turn {} / {} vs raw SDK turn {} / {}; whole run {} / {} vs raw 3-turn task {} / {}",
                r.runs.len(),
                r.wall,
                raw_r.wall,
                fmt_ns(outside.p50),
                fmt_ns(outside.p99),
                fmt_ns(cpu_turn),
                fmt_ns(raw_cpu_turn),
                fmt_ns(cpu_turn - raw_cpu_turn),
                fmt_ns(backend.p50),
                fmt_ns(backend.p99),
                fmt_ns(raw_turn.p50),
                fmt_ns(raw_turn.p99),
                fmt_ns(run.p50),
                fmt_ns(run.p99),
                fmt_ns(raw_run.p50),
                fmt_ns(raw_run.p99),
            )
        } else {
            format!(
                "{}/{runs} complete in {:.2?}; wall time outside the backend call {} / {}; backend call/turn {} / {} ({MODEL_LATENCY:?} model); run start→1st call {} / {}",
                r.runs.len(),
                r.wall,
                fmt_ns(outside.p50),
                fmt_ns(outside.p99),
                fmt_ns(backend.p50),
                fmt_ns(backend.p99),
                fmt_ns(startup.p50),
                fmt_ns(startup.p99),
            )
        };
        rows.push(Row {
            figure: "4",
            what: format!(
                "{label} 3-turn runs: host + guest CPU per turn (CPU time in the run's polls minus its backend calls', instantiation included)"
            ),
            target: "p99 ≤ 2 ms; all complete".into(),
            measured: p50_p99(&busy),
            comparison,
            verdict: verdict(all_ok && busy.p99 <= 2e6),
        });
        if full_load {
            rows.push(Row {
                figure: "4",
                what: format!("peak RSS (VmHWM) during the runs, {label}"),
                target: "≤ 512 MB".into(),
                measured: format!("{:.0} MiB", mib(r.peak_rss)),
                comparison: format!(
                    "{:.0} MiB before the runs; raw SDK phase peak {:.0} MiB (from {:.0} MiB); emulator in-process in both",
                    mib(r.base_rss),
                    mib(raw_r.peak_rss),
                    mib(raw_r.base_rss)
                ),
                verdict: verdict(r.peak_rss as f64 <= 512e6),
            });
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// 5. Streaming: per-delta latency from the emulator's socket write to the guest.

async fn stream_latency(o: &Opts, bench: &Path) -> Vec<Row> {
    println!("\n== 5. stream-latency: emulator frame write → raw SDK / BedrockBackend / guest ==");
    let (deltas, gap, runs) = (
        o.size(50, 4),
        Duration::from_millis(o.size(2, 1) as u64),
        o.size(12, 1),
    );
    let text: String = (0..deltas)
        .map(|i| format!("delta {i:04} of the text. "))
        .collect::<String>();
    assert!(
        text.chars().count() == deltas * 24,
        "one frame per 24 chars"
    );
    let emu = Emulator::start().await.expect("the emulator starts");
    emu.add_rule(fixture::MARKER, Reply::Text(text));
    emu.set_stream_pacing(gap);
    emu.record_sent_frames(true);
    let url = emu.url();
    let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock(&url));
    let timed_backend = Arc::new(TimedBackend::new(bedrock).capture_deltas(true));
    let host = setup::host(timed_backend.clone(), None);
    let plugin = setup::load(&host, bench);
    let client = raw::client(&gamecode_e2e::sdk_config(), &url);

    // Warm up, and take the body for the raw side.
    run_ok(&plugin, "stream-times").await;
    let (model, body) = last_body(&emu);
    let raw_req = RawRequest::from_body(&model, &body).expect("convertible");
    raw::converse_stream(&client, &raw_req)
        .await
        .expect("raw stream");

    // Frame i of an answer: 0 messageStart, 1 the empty opening delta, 2.. the text deltas.
    let delta_frames = |from: usize| -> Vec<bedrock_emulator::SentFrame> {
        let frames = emu.sent_frames();
        let mut mine: Vec<_> = frames[from..].to_vec();
        mine.sort_by_key(|f| f.index);
        mine.into_iter()
            .filter(|f| (2..2 + deltas).contains(&f.index))
            .collect()
    };
    let mut to_guest = Vec::new();
    let mut to_backend = Vec::new();
    let mut to_raw = Vec::new();
    let _ = timed_backend.take_calls();
    for round in 0..runs {
        for j in 0..2 {
            let from = emu.sent_frames().len();
            if (j + round) % 2 == 0 {
                let answer = run_ok(&plugin, "stream-times").await;
                let frames = delta_frames(from);
                let guest: Vec<u128> = answer
                    .split(',')
                    .map(|t| t.parse().expect("a timestamp"))
                    .collect();
                assert_eq!(guest.len(), deltas, "the guest saw every delta");
                assert_eq!(frames.len(), deltas, "every delta frame was recorded");
                let calls = timed_backend.take_calls();
                assert_eq!(calls.len(), 1);
                assert_eq!(calls[0].deltas.len(), deltas);
                for (i, f) in frames.iter().enumerate() {
                    let sent = f
                        .wall
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    to_guest.push(guest[i] as f64 - sent as f64);
                    to_backend.push(ns(calls[0].deltas[i].saturating_duration_since(f.at)));
                }
            } else {
                let got = raw::converse_stream(&client, &raw_req)
                    .await
                    .expect("raw stream");
                let frames = delta_frames(from);
                assert_eq!(got.len(), deltas);
                assert_eq!(frames.len(), deltas);
                for (i, f) in frames.iter().enumerate() {
                    to_raw.push(ns(got[i].saturating_duration_since(f.at)));
                }
            }
        }
    }
    let (g, b, r) = (
        summarize(&to_guest),
        summarize(&to_backend),
        summarize(&to_raw),
    );
    println!("frame write → raw SDK event:        {}", r.times());
    println!("frame write → BedrockBackend event: {}", b.times());
    println!("frame write → guest next() returns: {}", g.times());
    vec![Row {
        figure: "5",
        what: format!(
            "per-delta latency, emulator frame write → guest ({deltas} deltas × {runs} streams, {gap:?} apart)"
        ),
        target: "≤ 100 µs p50".into(),
        measured: p50_p99(&g),
        comparison: format!(
            "→ raw SDK event {} / {}; → BedrockBackend stream {} / {}; guest − raw p50 {}",
            fmt_ns(r.p50),
            fmt_ns(r.p99),
            fmt_ns(b.p50),
            fmt_ns(b.p99),
            fmt_ns(g.p50 - r.p50)
        ),
        verdict: verdict(g.p50 <= 100_000.0),
    }]
}

// ---------------------------------------------------------------------------------------
// 6. `gamecode run`: process start to the first request, warm artifact cache.

/// The `gamecode` binary: `$GAMECODE_BIN`, else built now (same profile as this benchmark).
fn gamecode_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GAMECODE_BIN") {
        return PathBuf::from(bin);
    }
    let release = !cfg!(debug_assertions);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(gamecode_e2e::workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "gamecode-host",
        "--bin",
        "gamecode",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "building the gamecode binary failed");
    setup::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("gamecode")
}

async fn cli_startup(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 6. cli-startup: `gamecode run` process start → first request, warm cache ==");
    let gamecode = gamecode_bin();
    let raw_bin = PathBuf::from(env!("CARGO_BIN_EXE_raw-first-request"));
    let emu = Emulator::start().await.expect("the emulator starts");
    emu.add_rule("bench-cli", Reply::Text("Hello from the emulator.".into()));
    let url = emu.url();
    let home = tempfile::tempdir().expect("a temp dir");
    let cache = home.path().join("cache");
    let example = example.to_path_buf();

    let command = |which: usize| {
        let mut c = match which {
            0 => {
                let mut c = tokio::process::Command::new(&gamecode);
                c.arg("run")
                    .arg(&example)
                    .arg("Say hello (bench-cli).")
                    .arg("--endpoint-url")
                    .arg(&url)
                    .arg("--cache-dir")
                    .arg(&cache);
                c
            }
            1 => {
                let mut c = tokio::process::Command::new(&raw_bin);
                c.arg(&url);
                c
            }
            _ => tokio::process::Command::new("true"),
        };
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
            )
            .env("AWS_REGION", bedrock_emulator::DEFAULT_REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.path().join("no-aws-credentials"),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    // Returns (spawn → first request, spawn → exit) in ns.
    let run = |which: usize| {
        let mut cmd = command(which);
        let emu = emu.clone();
        async move {
            let before = emu.request_count();
            let t = Instant::now();
            let out = cmd.output().await.expect("the process starts");
            let exit = ns(t.elapsed());
            assert!(
                out.status.success(),
                "process {which} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let first = emu
                .requests()
                .get(before)
                .map(|r| ns(r.at.saturating_duration_since(t)));
            (first, exit)
        }
    };
    // The first `gamecode run` compiles and fills the cache.
    let (cold, _) = run(0).await;
    println!(
        "cold start (compile + store): first request after {}",
        fmt_ns(cold.unwrap_or(f64::NAN))
    );
    let (n, warm) = (o.size(25, 2), o.size(3, 0));
    let mut first: [Vec<f64>; 2] = Default::default();
    let mut exit: [Vec<f64>; 3] = Default::default();
    for round in 0..n + warm {
        for j in 0..3 {
            let which = (j + round) % 3;
            let (f, e) = run(which).await;
            if round < warm {
                continue;
            }
            if which < 2 {
                first[which].push(f.expect("a request arrived"));
            }
            exit[which].push(e);
        }
    }
    let (g, r) = (summarize(&first[0]), summarize(&first[1]));
    let (ge, re, te) = (
        summarize(&exit[0]),
        summarize(&exit[1]),
        summarize(&exit[2]),
    );
    println!("gamecode run → first request:        {}", g.times());
    println!("raw-first-request → first request:   {}", r.times());
    println!("gamecode run → exit:                 {}", ge.times());
    println!("raw-first-request → exit:            {}", re.times());
    println!("`true` → exit (process spawn+wait):  {}", te.times());
    vec![Row {
        figure: "6",
        what: "`gamecode run` process start → first request (warm artifact cache)".into(),
        target: "≤ 50 ms p50".into(),
        measured: p50_p99(&g),
        comparison: format!(
            "minimal raw-SDK binary {} / {} ({:.2}×, +{}); `true` spawn→exit {}; cold cache {}",
            fmt_ns(r.p50),
            fmt_ns(r.p99),
            g.p50 / r.p50,
            fmt_ns(g.p50 - r.p50),
            fmt_ns(te.p50),
            fmt_ns(cold.unwrap_or(f64::NAN))
        ),
        verdict: verdict(g.p50 <= 50e6),
    }]
}

// ---------------------------------------------------------------------------------------
// 7. A throttling storm: 1,000 concurrent runs against an endpoint that throttles every
//    request for 10 s, then recovers; adaptive rate limiting vs the retry budget alone.

struct StormResult {
    sent_while_throttled: usize,
    /// Requests per second sent in the throttled window after its first second.
    steady_rate: f64,
    answered: usize,
    rate_limited: usize,
    first_success_after_recovery: Option<Duration>,
    all_done: Duration,
}

async fn storm_side(runs: usize, throttle: Duration, adaptive: bool) -> StormResult {
    use bedrock_emulator::Fault;
    use gamecode_backend::ErrorCategory;
    use gamecode_host::{Policy, RunError};
    let emu = Emulator::start().await.expect("the emulator starts");
    let backend = gamecode_bedrock::BedrockBackend::new_with_config(&emu.sdk_config())
        .expect("region")
        .with_adaptive_rate_limit(adaptive);
    let host = setup::host(Arc::new(backend), None);
    let plugin = host
        .load_file(gamecode_e2e::test_guest("guest_abuser"))
        .expect("loads")
        .with_policy(
            Policy::default()
                .with_deadline(throttle + Duration::from_secs(60))
                .with_max_chat_calls(10_000)
                .with_retry(gamecode_e2e::storm_retry()),
        )
        .expect("policy");
    emu.inject_for(Fault::throttling(), throttle);
    let start = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let plugin = plugin.clone();
            tokio::spawn(async move { plugin.run("persist:1").await })
        })
        .collect();
    let (mut answered, mut rate_limited) = (0, 0);
    for t in tasks {
        match t.await.expect("run task") {
            Ok(_) => answered += 1,
            Err(RunError::Backend(e)) if e.category() == ErrorCategory::RateLimited => {
                rate_limited += 1
            }
            Err(e) => panic!("storm run failed otherwise: {e}"),
        }
    }
    let all_done = start.elapsed();
    let requests = emu.requests();
    let at = |r: &bedrock_emulator::RecordedRequest| r.at.saturating_duration_since(start);
    let sent_while_throttled = requests.iter().filter(|r| at(r) < throttle).count();
    let steady = requests
        .iter()
        .filter(|r| at(r) >= Duration::from_secs(1) && at(r) < throttle)
        .count();
    let window = throttle
        .saturating_sub(Duration::from_secs(1))
        .as_secs_f64();
    StormResult {
        sent_while_throttled,
        steady_rate: if window > 0.0 {
            steady as f64 / window
        } else {
            0.0
        },
        answered,
        rate_limited,
        first_success_after_recovery: requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| at(r).saturating_sub(throttle))
            .min(),
        all_done,
    }
}

async fn storm(o: &Opts) -> Vec<Row> {
    let runs = o.size(1000, 20);
    let throttle = Duration::from_millis(o.size(10_000, 1_500) as u64);
    println!(
        "\n== 7. storm: {runs} concurrent runs, every request throttled for {:.1}s, then healthy ==",
        throttle.as_secs_f64()
    );
    let adaptive = storm_side(runs, throttle, true).await;
    let budget = storm_side(runs, throttle, false).await;
    let describe = |name: &str, r: &StormResult| {
        let line = format!(
            "{name}: {} requests while throttled ({:.1}/s after the first second), {} answered, \
             {} rate-limited, first success {} after recovery, all done in {:.1}s",
            r.sent_while_throttled,
            r.steady_rate,
            r.answered,
            r.rate_limited,
            r.first_success_after_recovery
                .map_or("never".to_string(), |d| format!("{:.2}s", d.as_secs_f64())),
            r.all_done.as_secs_f64()
        );
        println!("  {line}");
        line
    };
    let a = describe("adaptive", &adaptive);
    let b = describe("budget alone", &budget);
    let first = |r: &StormResult| {
        r.first_success_after_recovery
            .map_or("never".to_string(), |d| format!("{:.2}s", d.as_secs_f64()))
    };
    // Counts over the same throttled window on both sides: a rate averaged over a window one
    // side had left early would flatter it.
    let met = adaptive.answered == runs
        && adaptive.first_success_after_recovery.is_some()
        && adaptive.sent_while_throttled <= budget.sent_while_throttled;
    vec![Row {
        figure: "7",
        what: format!(
            "requests sent into a {:.0} s 100 %-throttling window, {runs} runs (adaptive limiting)",
            throttle.as_secs_f64()
        ),
        target: "bounded; every run answered; recovers".into(),
        measured: format!(
            "{} sent into the window ({:.1}/s after its first second); {}/{runs} answered; first \
             success {} after recovery; all done in {:.1}s",
            adaptive.sent_while_throttled,
            adaptive.steady_rate,
            adaptive.answered,
            first(&adaptive),
            adaptive.all_done.as_secs_f64()
        ),
        comparison: format!(
            "budget alone: {} sent into the window; {}/{runs} answered, {} rate-limited; first \
             success {} after recovery ({a}; {b})",
            budget.sent_while_throttled,
            budget.answered,
            budget.rate_limited,
            first(&budget)
        ),
        verdict: verdict(met),
    }]
}

// ---------------------------------------------------------------------------------------
// 8. A growing tool loop: turn N's boundary + host cost through 0.1.0's stateless `chat` (the
//    whole history crosses every turn) vs 0.2.0's host-held conversation (only the new tool
//    result crosses); and the input a 20-turn loop is billed with automatic caching vs none.

/// Per-turn times (ns) a `grow:T` run answers.
fn turn_times(answer: &str) -> Vec<f64> {
    answer
        .split(',')
        .map(|t| t.parse::<f64>().expect("a time in ns"))
        .collect()
}

/// `(uncached input, cache read, cache write)` summed over a `guest_converse` turns answer.
fn billed(answer: &str) -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    for line in answer.lines().filter(|l| l.starts_with("turn ")) {
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {line}"))
        };
        sum.0 += field("in=");
        sum.1 += field("read=");
        sum.2 += field("write=");
    }
    sum
}

async fn conversation(o: &Opts) -> Vec<Row> {
    println!(
        "\n== 8. conversation: turn N of a growing tool loop (~4 KB per turn), instant backend =="
    );
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let host = setup::host(backend, None);
    let stateless = setup::load(&host, &setup::guest_bench());
    let held = setup::load(&host, &setup::guest_bench_conversation());
    let turns = o.size(50, 10);
    let rounds = o.size(40, 1);
    let task = format!("grow:{turns}");
    // samples[side][turn] over the rounds; sides alternate round by round.
    let mut samples = [vec![Vec::new(); turns], vec![Vec::new(); turns]];
    for round in 0..rounds + o.size(3, 0) {
        for k in 0..2 {
            let side = (k + round) % 2;
            let plugin = if side == 0 { &stateless } else { &held };
            let times = turn_times(&run_ok(plugin, &task).await);
            assert_eq!(times.len(), turns);
            if round >= o.size(3, 0) {
                for (turn, t) in times.into_iter().enumerate() {
                    samples[side][turn].push(t);
                }
            }
        }
    }
    let at = |side: usize, n: usize| summarize(&samples[side][n.min(turns) - 1]);
    let mut rows = Vec::new();
    let marks: Vec<usize> = [1, 10, 50].into_iter().filter(|n| *n <= turns).collect();
    for &n in &marks {
        let (s, c) = (at(0, n), at(1, n));
        println!(
            "turn {n:>2}: 0.1.0 stateless chat {} ; 0.2.0 conversation push + send {} ({:.1}× less)",
            p50_p99(&s),
            p50_p99(&c),
            s.p50 / c.p50
        );
        let last = n == *marks.last().unwrap_or(&1);
        rows.push(Row {
            figure: "8",
            what: format!(
                "turn {n} of a growing tool loop (~4 KB/turn), boundary + host, instant backend"
            ),
            target: if last && n == 50 {
                "conversation ≤ 5 µs, flat".into()
            } else {
                "—".into()
            },
            measured: format!("conversation {}", p50_p99(&c)),
            comparison: format!(
                "0.1.0 stateless `chat` {} ({:.1}×)",
                p50_p99(&s),
                s.p50 / c.p50
            ),
            verdict: if last && n == 50 {
                let flat = c.p50 <= 2.0 * at(1, 1).p50;
                verdict(c.p50 <= 5_000.0 && flat)
            } else {
                "—"
            },
        });
    }

    // Billed input of a 20-turn loop on the emulator, host caching on vs off.
    let emu = Emulator::start().await.expect("the emulator starts");
    let bedrock: Arc<dyn LLMBackend> = Arc::new(
        gamecode_bedrock::BedrockBackend::new_with_config(&emu.sdk_config())
            .expect("the emulator's config"),
    );
    let converse = setup::load(
        &setup::host(bedrock, None),
        &gamecode_e2e::test_guest("guest_converse"),
    );
    let loop_turns = o.size(20, 3);
    let cached = billed(&run_ok(&converse, &format!("turns:{loop_turns}")).await);
    let plain = billed(&run_ok(&converse, &format!("no-cache:{loop_turns}")).await);
    let total = |b: (u64, u64, u64)| b.0 + b.1 + b.2;
    // Bedrock bills cache reads at 0.1× and cache writes at 1.25× the input price.
    let billed_equivalent = |b: (u64, u64, u64)| b.0 as f64 + 0.1 * b.1 as f64 + 1.25 * b.2 as f64;
    let ratio = billed_equivalent(cached) / billed_equivalent(plain).max(1.0);
    println!(
        "{loop_turns}-turn loop, billed input: auto-cache {} uncached + {} cache-read + {} \
         cache-write; none {} uncached; billed-equivalent ratio {ratio:.3}",
        cached.0, cached.1, cached.2, plain.0
    );
    // One measure for all three: the same turns are the same input, cached or not.
    assert_eq!(
        total(cached),
        total(plain),
        "cached and uncached input must add up"
    );
    rows.push(Row {
        figure: "8",
        what: format!("billed input of a {loop_turns}-turn loop (emulator), host auto-caching"),
        target: "most input read from the cache".into(),
        measured: format!(
            "{} uncached + {} cache-read + {} cache-write",
            cached.0, cached.1, cached.2
        ),
        comparison: format!(
            "no caching: {} uncached ({} input tokens in all, both); billed-equivalent \
             (reads 0.1×, writes 1.25×): {ratio:.3}× of uncached",
            plain.0,
            total(plain)
        ),
        verdict: verdict(cached.1 > cached.0 + cached.2),
    });
    rows
}

// ---------------------------------------------------------------------------------------
// 9. The example run replayed from its cassette vs the same run against the live emulator.

async fn replay(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 9. replay: the example run from its cassette vs against the emulator ==");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("example.jsonl");
    let live = Emulator::start().await.expect("the emulator starts");
    let sdk = live.sdk_config();
    let recorder = gamecode_bedrock::Recorder::create(&path, "bench").expect("a cassette file");
    let recording: Arc<dyn LLMBackend> = Arc::new(
        gamecode_bedrock::BedrockBackend::new_with_config(&sdk)
            .expect("config")
            .with_recorder(recorder),
    );
    let task = "What is 6 * 7?";
    run_ok(&setup::load(&setup::host(recording, None), example), task).await;
    let cassette = gamecode_cassette::Cassette::from_file(&path).expect("the cassette");

    let live_plugin = setup::load(
        &setup::host(
            Arc::new(gamecode_bedrock::BedrockBackend::new_with_config(&sdk).expect("config")),
            None,
        ),
        example,
    );
    let replayer = Emulator::start().await.expect("the emulator starts");
    let replay_plugin = setup::load(
        &setup::host(
            Arc::new(
                gamecode_bedrock::BedrockBackend::new_with_config(&replayer.sdk_config())
                    .expect("config"),
            ),
            None,
        ),
        example,
    );
    let rounds = o.size(60, 2);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for round in 0..rounds + o.size(5, 0) {
        for k in 0..2 {
            if (k + round) % 2 == 0 {
                let (t, answer) = timed(run_ok(&live_plugin, task)).await;
                assert!(answer.contains("42"));
                if round >= o.size(5, 0) {
                    l.push(t);
                }
            } else {
                replayer
                    .load_cassette(cassette.clone(), bedrock_emulator::ReplayOptions::default());
                let (t, answer) = timed(run_ok(&replay_plugin, task)).await;
                assert!(answer.contains("42"));
                assert!(replayer.drift().is_empty());
                if round >= o.size(5, 0) {
                    r.push(t);
                }
            }
        }
    }
    let (l, r) = (summarize(&l), summarize(&r));
    println!(
        "live emulator {} ; replayed {} ; ratio {:.2}",
        p50_p99(&l),
        p50_p99(&r),
        r.p50 / l.p50
    );
    vec![Row {
        figure: "9",
        what: "the example run (2 streamed turns) replayed from its cassette, instant pacing"
            .into(),
        target: "≈ the live emulator".into(),
        measured: format!("replay {}", p50_p99(&r)),
        comparison: format!("live emulator {} (ratio {:.2})", p50_p99(&l), r.p50 / l.p50),
        verdict: verdict(r.p50 <= 1.5 * l.p50),
    }]
}

// ---------------------------------------------------------------------------------------
// 10. An MCP tool called by a plugin (guest → host → rmcp → server) vs by an rmcp client.

async fn mcp(o: &Opts, bench: &Path) -> Vec<Row> {
    use rmcp::service::ServiceExt;
    println!("\n== 10. mcp: a tool call through a plugin vs an rmcp client calling the server ==");
    let server = gamecode_e2e::mcp_fault_server();
    let mut config = gamecode_host::mcp::McpConfig::default();
    config.servers.insert(
        "fault".into(),
        gamecode_host::mcp::ServerConfig {
            command: server.display().to_string(),
            args: vec![],
            env: Default::default(),
            cwd: None,
            timeout_secs: None,
            max_output_kib: None,
            ..Default::default()
        },
    );
    let tools = gamecode_host::mcp::connect(&config)
        .await
        .expect("the MCP server starts");
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let host = gamecode_host::PluginHost::builder()
        .backend(backend)
        .tools(tools)
        .policy(setup::bench_policy().with_allowed_tools(["mcp:fault"]))
        .build()
        .expect("host");
    let plugin = setup::load(&host, bench);
    // The direct side: its own connection to another instance of the same server.
    let direct = ()
        .serve(
            rmcp::transport::TokioChildProcess::new(tokio::process::Command::new(&server))
                .expect("the server starts"),
        )
        .await
        .expect("the MCP handshake");
    let call = || {
        let mut params = rmcp::model::CallToolRequestParams::new("echo");
        params.arguments = json!({"text": "hi"}).as_object().cloned();
        direct.peer().call_tool(params)
    };
    let (n, rounds, warm) = (o.size(200, 2), o.size(30, 1), o.size(3, 0));
    let task_n = format!("tool:{n}");
    let (mut via_plugin, mut direct_calls) = (Vec::new(), Vec::new());
    for round in 0..rounds + warm {
        let mut t = [0.0; 3];
        for k in 0..3 {
            let step = (k + round) % 3;
            t[step] = match step {
                0 => timed(run_ok(&plugin, "tool:0")).await.0,
                1 => timed(run_ok(&plugin, &task_n)).await.0,
                _ => {
                    timed(async {
                        for _ in 0..n {
                            call().await.expect("a direct call");
                        }
                    })
                    .await
                    .0
                }
            };
        }
        if round >= warm {
            via_plugin.push((t[1] - t[0]) / n as f64);
            direct_calls.push(t[2] / n as f64);
        }
    }
    let (p, d) = (summarize(&via_plugin), summarize(&direct_calls));
    println!(
        "per call: through a plugin {} ; rmcp client direct {} ; ratio {:.2}",
        p50_p99(&p),
        p50_p99(&d),
        p.p50 / d.p50
    );
    let _ = direct.cancel().await;
    vec![Row {
        figure: "10",
        what: "an MCP tool call (echo) through a plugin: guest → host → rmcp → stdio server".into(),
        target: "close to a direct call".into(),
        measured: format!("{} per call", p50_p99(&p)),
        comparison: format!(
            "an rmcp client calling the server directly: {} (ratio {:.2})",
            p50_p99(&d),
            p.p50 / d.p50
        ),
        verdict: verdict(p.p50 <= 1.5 * d.p50),
    }]
}
