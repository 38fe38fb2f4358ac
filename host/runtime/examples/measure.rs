//! Measures what the closing note reports: compile vs cached load time, instantiation time
//! from the pre-instantiated component (store included) with the pooling allocator on and
//! off, and per-run memory.
//!
//! ```text
//! cargo build --manifest-path guest-example/Cargo.toml --target wasm32-wasip2 --release
//! cargo build --manifest-path tests/guests/Cargo.toml --target wasm32-wasip2 --release
//! cargo run --release -p gamecode-host --no-default-features --example measure -- \
//!     guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm \
//!     tests/guests/target/wasm32-wasip2/release/guest_hello.wasm
//! ```
//!
//! No network: the backend is an in-process fake that answers after a fixed delay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gamecode_backend::{
    BackendError, BackendResult, ChatCall, ChatReply, ChatResponse, LLMBackend, Message,
    MessageRole, StopReason, Usage,
};
use gamecode_host::{ArtifactCache, Plugin, PluginHost};

/// Answers every chat with a short text after `delay`; streaming is unsupported.
struct Fake {
    delay: Duration,
}

#[async_trait]
impl LLMBackend for Fake {
    async fn send(&self, call: ChatCall<'_>) -> BackendResult<ChatReply> {
        if call.stream {
            return Err(BackendError::unsupported("no streaming in the fake"));
        }
        tokio::time::sleep(self.delay).await;
        let request = call.request;
        let message = Message::text(MessageRole::Assistant, "the answer is 42");
        let model = request.model.clone().unwrap_or_else(|| "fake".into());
        Ok(ChatReply::Whole(
            ChatResponse::new(message, model, StopReason::EndTurn)
                .with_usage(Usage::new(10, 5))
                .with_session_id(request.session_id.clone()),
        ))
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn supported_models(&self) -> Vec<String> {
        vec!["fake".into()]
    }

    fn default_model(&self) -> &str {
        "fake"
    }
}

fn host(delay: Duration, pooling: Option<u32>, cache: Option<ArtifactCache>) -> PluginHost {
    let mut b = PluginHost::builder()
        .backend(Arc::new(Fake { delay }))
        .cache(cache);
    if let Some(n) = pooling {
        b = b.pooling(n);
    }
    b.build().expect("host")
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let pick = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    format!(
        "median {:>9.1?}  mean {:>9.1?}  p99 {:>9.1?}  (n={})",
        pick(0.5),
        mean,
        pick(0.99),
        v.len()
    )
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

async fn instantiation(plugin: &Plugin, n: usize) -> Vec<Duration> {
    for _ in 0..20 {
        plugin.measure_instantiation().await.expect("instantiate");
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(plugin.measure_instantiation().await.expect("instantiate"));
    }
    v
}

async fn full_runs(plugin: &Plugin, n: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        plugin.run(i.to_string()).await.expect("run");
        v.push(t.elapsed());
    }
    v
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [example, hello] = args.as_slice() else {
        eprintln!("usage: measure <gamecode_guest_example.wasm> <guest_hello.wasm>");
        std::process::exit(2);
    };
    let example_bytes = std::fs::read(example).expect("read the example plugin");
    let hello_bytes = std::fs::read(hello).expect("read guest_hello");
    println!(
        "guest-example: {} KiB, guest_hello: {} KiB",
        example_bytes.len() / 1024,
        hello_bytes.len() / 1024
    );

    // 1. Load time: compile (no cache), first start with a cache (compile + store), second
    //    start (a new host and engine, as a second CLI process would have).
    println!("\n== load time of guest-example ==");
    let mut compile = Vec::new();
    for _ in 0..3 {
        let h = host(Duration::ZERO, None, None);
        let t = Instant::now();
        h.load_bytes("example", &example_bytes).expect("load");
        compile.push(t.elapsed());
    }
    println!("cold (compile, no cache):      {}", stats(compile));
    let dir = std::env::temp_dir().join(format!("gamecode-measure-{}", std::process::id()));
    let h = host(Duration::ZERO, None, Some(ArtifactCache::new(&dir)));
    let p = h.load_bytes("example", &example_bytes).expect("load");
    println!(
        "first start with cache:        {:?} ({:?})",
        p.load_info().duration,
        p.load_info().cache
    );
    let mut warm = Vec::new();
    for _ in 0..10 {
        let h = host(Duration::ZERO, None, Some(ArtifactCache::new(&dir)));
        let p = h.load_bytes("example", &example_bytes).expect("load");
        assert_eq!(p.load_info().cache, gamecode_host::CacheStatus::Hit);
        warm.push(p.load_info().duration);
    }
    println!("warm (cache hit, new engine):  {}", stats(warm));
    let _ = std::fs::remove_dir_all(&dir);

    // 2. Instantiation from the pre-instantiated component, store included.
    println!("\n== instantiation (new Store + WASI ctx + limiter + instantiate_async) ==");
    for pooling in [None, Some(64)] {
        let label = if pooling.is_some() {
            "pooling "
        } else {
            "on-demand"
        };
        let h = host(Duration::ZERO, pooling, None);
        let hello_p = h.load_bytes("hello", &hello_bytes).expect("load");
        let example_p = h.load_bytes("example", &example_bytes).expect("load");
        println!(
            "{label} guest_hello:    {}",
            stats(instantiation(&hello_p, 2000).await)
        );
        println!(
            "{label} guest-example:  {}",
            stats(instantiation(&example_p, 2000).await)
        );
        println!(
            "{label} full run of guest_hello (instantiate + call + teardown): {}",
            stats(full_runs(&hello_p, 1000).await)
        );
    }

    // 3. Memory per run: the plugin's linear memory, and the host's resident memory per
    //    concurrent in-flight run (all waiting on a 1 s model call).
    println!("\n== memory per run ==");
    let h = host(Duration::from_secs(1), None, None);
    let hello_p = h.load_bytes("hello", &hello_bytes).expect("load");
    let example_p = h.load_bytes("example", &example_bytes).expect("load");
    let o = hello_p.run("x").await.expect("run");
    println!(
        "guest_hello linear memory peak:   {} KiB",
        o.stats.peak_memory_bytes / 1024
    );
    let o = example_p.run("What is 6 * 7?").await.expect("run");
    println!(
        "guest-example linear memory peak: {} KiB",
        o.stats.peak_memory_bytes / 1024
    );
    for pooling in [None, Some(128)] {
        let label = if pooling.is_some() {
            "pooling "
        } else {
            "on-demand"
        };
        let h = host(Duration::from_secs(1), pooling, None);
        let p = h.load_bytes("example", &example_bytes).expect("load");
        p.run("warm up").await.expect("run");
        let concurrent = 100;
        let before = rss_bytes();
        let runs: Vec<_> = (0..concurrent)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.run("What is 6 * 7?").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let during = rss_bytes();
        for r in runs {
            r.await.expect("task").expect("run");
        }
        println!(
            "{label} host RSS per in-flight guest-example run ({concurrent} concurrent): {} KiB \
             (RSS {} MiB -> {} MiB)",
            during.saturating_sub(before) / concurrent / 1024,
            before >> 20,
            during >> 20
        );
    }
}
