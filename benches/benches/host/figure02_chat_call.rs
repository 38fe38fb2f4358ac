//! Figure 2, `chat-call`: a guest→host chat call with a realistic request, instant backend,
//! vs a direct call of the backend from Rust.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::stats::{fmt_ns, ns, summarize};
use gamecode_benches::{fixture, setup};

use crate::{Opts, Row, p50_p99, run_ok, timed, verdict};

pub async fn chat_call(o: &Opts, bench: &Path) -> Vec<Row> {
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
