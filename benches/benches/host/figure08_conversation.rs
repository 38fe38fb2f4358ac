//! Figure 8, `conversation`: a growing tool loop: turn N's boundary + host cost through
//! 0.1.0's stateless `chat` (the whole history crosses every turn) vs 0.2.0's host-held
//! conversation (only the new tool result crosses); and the input a 20-turn loop is billed
//! with automatic caching vs none.

use std::sync::Arc;

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::setup;
use gamecode_benches::stats::summarize;

use crate::{Opts, Row, p50_p99, run_ok, verdict};

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

pub async fn conversation(o: &Opts) -> Vec<Row> {
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
    let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock_on(&emu));
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
