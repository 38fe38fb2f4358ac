//! Figure 5, `stream-latency`: per-delta latency from the emulator's socket write to the
//! guest, beside the raw SDK's and BedrockBackend's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bedrock_emulator::{Emulator, Reply};
use gamecode_backend::LLMBackend;
use gamecode_benches::backends::TimedBackend;
use gamecode_benches::raw::{self, RawRequest};
use gamecode_benches::stats::{fmt_ns, ns, summarize};
use gamecode_benches::{fixture, setup};

use crate::{Opts, Row, last_body, p50_p99, run_ok, verdict};

pub async fn stream_latency(o: &Opts, bench: &Path) -> Vec<Row> {
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
