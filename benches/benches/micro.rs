//! Criterion versions of figures 1 and 2, for confidence intervals and regression tracking
//! against a saved baseline (`-- --save-baseline main`, then `-- --baseline main`).
//!
//! ```text
//! cargo bench -p gamecode-benches --bench micro
//! ```
//!
//! - `instantiate/{on-demand,pooling}`: one instantiation of guest-example from its
//!   `InstancePre`, store included (the time `Plugin::measure_instantiation` reports; the
//!   store's drop is outside the figure).
//! - `chat-call/*`: a plugin run making 100 chat calls with the ~8 KB request against the
//!   instant backend, one making none, and 100 direct calls of the backend from Rust.
//!   Per-call boundary cost = (plugin-chat:100 − plugin-chat:0 − direct-x100) / 100.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::{fixture, setup};

fn instantiate(c: &mut Criterion) {
    let rt = setup::runtime();
    let example = setup::guest_example();
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let mut group = c.benchmark_group("instantiate");
    for (label, pooling) in setup::ALLOCATORS {
        let plugin = setup::load(&setup::host(backend.clone(), pooling), &example);
        group.bench_function(label, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let plugin = plugin.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += plugin.measure_instantiation().await.expect("instantiates");
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

fn chat_call(c: &mut Criterion) {
    const CALLS: u64 = 100;
    let rt = setup::runtime();
    let bench = setup::guest_bench();
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let plugin = setup::load(&setup::host(backend.clone(), None), &bench);
    let request = fixture::chat_request();
    let task = format!("chat:{CALLS}");
    let mut group = c.benchmark_group("chat-call");
    group.throughput(Throughput::Elements(CALLS));
    group.bench_function("plugin-chat:100", |b| {
        b.to_async(&rt)
            .iter(|| async { plugin.run(&task).await.expect("the run succeeds") })
    });
    group.bench_function("direct-x100", |b| {
        b.to_async(&rt).iter(|| async {
            for _ in 0..CALLS {
                backend.chat(request.clone()).await.expect("instant chat");
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("plugin-chat:0", |b| {
        b.to_async(&rt)
            .iter(|| async { plugin.run("chat:0").await.expect("the run succeeds") })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = instantiate, chat_call
}
criterion_main!(benches);
