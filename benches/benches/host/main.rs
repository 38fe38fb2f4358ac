//! The gamecode host benchmarks: fourteen figures, each measured side by side with what it is
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
//! `storm`, `conversation`, `replay`, `mcp`, `turn-n`, `process-cpu`, `durable`, `fleet`.
//! Without `--bench` on the command line (i.e. under `cargo test`), or with `--test` or
//! `--smoke`, every figure runs once at a tiny size, for breakage, not timing. The report is
//! printed and written to `<target>/gamecode-bench/report.md`.
//!
//! Each comparison alternates its two sides round by round (A B, B A, ...) so that drift in
//! machine load hits both alike; figures are medians (p50) and p99 of the samples.
//!
//! This file is the harness (arguments, the shared measurement helpers, the report, the list
//! of figures); each figure is a module of its own, `figureNN_<what it measures>.rs`.

mod figure01_instantiation;
mod figure02_chat_call;
mod figure03_agent_turn;
mod figure04_scale;
mod figure05_stream_latency;
mod figure06_cli_startup;
mod figure07_throttling_storm;
mod figure08_conversation;
mod figure09_replay;
mod figure10_mcp_tool_call;
mod figure11_turn_n;
mod figure12_process_cpu;
mod figure13_durable;
mod figure14_fleet;

use std::time::Instant;

use bedrock_emulator::Emulator;
use gamecode_benches::setup;
use gamecode_benches::stats::{Summary, fmt_ns, ns};
use gamecode_host::Plugin;

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
    // Figure 12 runs the emulator in a child process: this same binary.
    if figure12_process_cpu::serve_emulator_if_child() {
        return;
    }
    let opts = Opts::parse();
    let runtime = setup::runtime();
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
            rows.extend(figure01_instantiation::instantiate(&opts, &example).await);
        }
        if opts.wants("chat-call") {
            rows.extend(figure02_chat_call::chat_call(&opts, &bench).await);
        }
        if opts.wants("agent-turn") {
            rows.extend(figure03_agent_turn::agent_turn(&opts, &example, &bench).await);
        }
        if opts.wants("scale") {
            rows.extend(figure04_scale::scale(&opts, &example).await);
        }
        if opts.wants("stream-latency") {
            rows.extend(figure05_stream_latency::stream_latency(&opts, &bench).await);
        }
        if opts.wants("cli-startup") {
            rows.extend(figure06_cli_startup::cli_startup(&opts, &example).await);
        }
        if opts.wants("storm") {
            rows.extend(figure07_throttling_storm::storm(&opts).await);
        }
        if opts.wants("conversation") {
            rows.extend(figure08_conversation::conversation(&opts).await);
        }
        if opts.wants("replay") {
            rows.extend(figure09_replay::replay(&opts, &example).await);
        }
        if opts.wants("mcp") {
            rows.extend(figure10_mcp_tool_call::mcp(&opts, &bench).await);
        }
        if opts.wants("turn-n") {
            rows.extend(figure11_turn_n::turn_n(&opts).await);
        }
        if opts.wants("process-cpu") {
            rows.extend(figure12_process_cpu::process_cpu(&opts).await);
        }
        if opts.wants("durable") {
            rows.extend(figure13_durable::durable(&opts).await);
        }
        if opts.wants("fleet") {
            rows.extend(figure14_fleet::fleet(&opts, &example).await);
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

/// The last request's model id and body, as the emulator recorded them.
fn last_body(emu: &Emulator) -> (String, serde_json::Value) {
    let r = emu.requests().pop().expect("a request was recorded");
    assert_eq!(r.status, 200, "the emulator refused a request: {}", r.body);
    (r.model_id, r.body)
}
