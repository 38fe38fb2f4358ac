//! Figure 9, `replay`: the example run replayed from its cassette vs the same run against
//! the live emulator.

use std::path::Path;
use std::sync::Arc;

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_benches::setup;
use gamecode_benches::stats::summarize;

use crate::{Opts, Row, p50_p99, run_ok, timed, verdict};

pub async fn replay(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 9. replay: the example run from its cassette vs against the emulator ==");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("example.jsonl");
    let live = Emulator::start().await.expect("the emulator starts");
    let recorder = gamecode_bedrock::Recorder::create(&path, "bench").expect("a cassette file");
    let recording: Arc<dyn LLMBackend> = Arc::new(setup::bedrock_on(&live).with_recorder(recorder));
    let task = "What is 6 * 7?";
    run_ok(&setup::load(&setup::host(recording, None), example), task).await;
    let cassette = gamecode_cassette::Cassette::from_file(&path).expect("the cassette");

    let live_plugin = setup::load(
        &setup::host(Arc::new(setup::bedrock_on(&live)), None),
        example,
    );
    let replayer = Emulator::start().await.expect("the emulator starts");
    let replay_plugin = setup::load(
        &setup::host(Arc::new(setup::bedrock_on(&replayer)), None),
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
