//! Figure 1, `instantiate`: instantiation of guest-example from its cached `InstancePre`,
//! store included, with the pooling allocator vs on demand.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::setup;
use gamecode_benches::stats::{Summary, fmt_ns, ns, summarize};

use crate::{Opts, Row, p50_p99, verdict};

pub async fn instantiate(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 1. instantiate: guest-example from its InstancePre, store included ==");
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let plugins = setup::ALLOCATORS.map(|(label, pooling)| {
        (
            label,
            setup::load(&setup::host(backend.clone(), pooling), example),
        )
    });
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
