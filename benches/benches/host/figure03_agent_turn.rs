//! Figure 3, `agent-turn`: one agent turn through plugin → host → BedrockBackend → SDK →
//! emulator, vs the raw SDK sending the same body.

use std::path::Path;
use std::sync::Arc;

use bedrock_emulator::{Emulator, Reply};
use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::raw::{self, RawRequest};
use gamecode_benches::stats::{Summary, fmt_ns, summarize};
use gamecode_benches::{fixture, setup};

use crate::{Opts, Row, last_body, p50_p99, run_ok, timed, verdict};

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

pub async fn agent_turn(o: &Opts, example: &Path, bench: &Path) -> Vec<Row> {
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
