//! Figure 11, `turn-n`: turn N of a growing tool loop (~4 KB added per turn) through the
//! whole stack — plugin → host → `BedrockBackend` → the real SDK → the loopback emulator,
//! answering at once — against the raw SDK sending turn N's request, already built (it
//! copies the messages into the SDK's input, as any caller keeping a history does).

use std::sync::Arc;

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_benches::raw::{self, RawRequest};
use gamecode_benches::setup;
use gamecode_benches::stats::summarize;

use crate::{Opts, Row, p50_p99, run_ok, timed, verdict};

/// Per-turn push + send times (ns) a `grow:T` run answers.
fn turn_times(answer: &str) -> Vec<f64> {
    answer
        .split(',')
        .map(|t| t.parse::<f64>().expect("a time in ns"))
        .collect()
}

pub async fn turn_n(o: &Opts) -> Vec<Row> {
    let turns = o.size(200, 3);
    let marks: Vec<usize> = [1, 10, 50, 200]
        .into_iter()
        .filter(|n| *n <= turns)
        .collect();
    let (rounds, warmup) = (o.size(20, 1), o.size(2, 0));
    println!(
        "\n== 11. turn N through the whole stack (~4 KB per turn, emulator answering at once) \
         vs the raw SDK =="
    );
    let emu = Emulator::start().await.expect("the emulator starts");
    let bedrock: Arc<dyn LLMBackend> = Arc::new(setup::bedrock_on(&emu));
    let host = setup::host(bedrock, None);
    let plugin = setup::load(&host, &setup::guest_bench_conversation());
    let task = format!("grow:{turns}");

    // One run records each marked turn's request for the raw side.
    setup::keep_calling(&emu);
    run_ok(&plugin, &task).await;
    let sent = emu.requests();
    assert_eq!(sent.len(), turns, "one request per turn");
    let raw_turns: Vec<RawRequest> = marks
        .iter()
        .map(|&n| RawRequest::from_body(&sent[n - 1].model_id, &sent[n - 1].body))
        .collect::<Result<_, _>>()
        .expect("the requests convert to SDK types");
    let client = raw::client(&emu.sdk_config(), &emu.url());
    // The raw side sends exactly what the stack sent.
    for (&n, r) in marks.iter().zip(&raw_turns) {
        setup::keep_calling(&emu);
        raw::converse(&client, r).await.expect("the raw request");
        let raw_body = emu.requests().pop().expect("recorded").body;
        assert_eq!(raw_body, sent[n - 1].body, "turn {n}: the same request");
    }
    drop(sent);

    let mut stack = vec![Vec::new(); marks.len()];
    let mut direct = vec![Vec::new(); marks.len()];
    for round in 0..warmup + rounds {
        for k in 0..2 {
            // Forgets the recorded requests (hundreds of MB over the rounds).
            setup::keep_calling(&emu);
            let times: Vec<f64> = if (k + round) % 2 == 0 {
                let times = turn_times(&run_ok(&plugin, &task).await);
                assert_eq!(times.len(), turns);
                marks.iter().map(|&n| times[n - 1]).collect()
            } else {
                let mut times = Vec::new();
                for r in &raw_turns {
                    let (t, sent) = timed(raw::converse(&client, r)).await;
                    sent.expect("the raw request");
                    times.push(t);
                }
                times
            };
            if round >= warmup {
                let side = if (k + round) % 2 == 0 {
                    &mut stack
                } else {
                    &mut direct
                };
                for (samples, t) in side.iter_mut().zip(times) {
                    samples.push(t);
                }
            }
        }
    }

    let mut rows = Vec::new();
    let ratios: Vec<f64> = (0..marks.len())
        .map(|i| summarize(&stack[i]).p50 / summarize(&direct[i]).p50)
        .collect();
    // Flat: the ratio does not grow with N (the last turn's against the first's).
    let growth = ratios.last().copied().unwrap_or(1.0) - ratios.first().copied().unwrap_or(1.0);
    for (i, &n) in marks.iter().enumerate() {
        let (s, d) = (summarize(&stack[i]), summarize(&direct[i]));
        println!(
            "turn {n:>3}: plugin → host → BedrockBackend → SDK {} ; raw SDK {} ({:.3}×)",
            p50_p99(&s),
            p50_p99(&d),
            ratios[i]
        );
        rows.push(Row {
            figure: "11",
            what: format!(
                "turn {n} of a growing tool loop (~4 KB/turn) through the whole stack, emulator \
                 answering at once"
            ),
            target: "≤ 1.05× the raw SDK at every N, flat".into(),
            measured: format!("whole stack {}", p50_p99(&s)),
            comparison: format!(
                "raw SDK, request built: {} ({:.3}×)",
                p50_p99(&d),
                ratios[i]
            ),
            verdict: if o.smoke {
                "—"
            } else {
                verdict(ratios[i] <= 1.05 && growth <= 0.05)
            },
        });
    }
    rows
}
