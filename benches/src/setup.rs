//! Hosts, plugins and backends as the benchmarks set them up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_bedrock::BedrockBackend;
use gamecode_host::{ArtifactCache, Plugin, PluginHost, Policy};

/// A policy that never gets in the way of a benchmark loop (calls, tokens, deadline).
pub fn bench_policy() -> Policy {
    Policy::default()
        .with_max_chat_calls(u32::MAX)
        .with_token_budget(u64::MAX / 4)
        .with_deadline(Duration::from_secs(600))
        // The example agent thinks when the model can (0.2.0); the figures measure the
        // host, and compare with earlier runs, without it.
        .with_config("reasoning-budget", "0")
}

/// The runtime every benchmark runs on: multi-threaded, 2 workers, all drivers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// The cargo target directory this benchmark was built in (`<target>/<profile>/deps/<exe>`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
        .unwrap_or_else(|| gamecode_e2e::workspace_root().join("target"))
}

/// Compiled components, kept between benchmark runs: `<target>/gamecode-bench/artifacts`.
pub fn artifact_cache() -> ArtifactCache {
    ArtifactCache::new(target_dir().join("gamecode-bench/artifacts"))
}

/// The example plugin (built on first use).
pub fn guest_example() -> PathBuf {
    gamecode_e2e::guest_example()
}

/// The benchmark guest (built on first use).
pub fn guest_bench() -> PathBuf {
    gamecode_e2e::test_guest("guest_bench")
}

/// The 0.2.0 benchmark guest: `guest_bench`'s growing tool loop over a host-held conversation.
pub fn guest_bench_conversation() -> PathBuf {
    gamecode_e2e::test_guest("guest_bench_conversation")
}

/// A host on `backend` with [`bench_policy`], optionally with the pooling allocator.
pub fn try_host(
    backend: Arc<dyn LLMBackend>,
    pooling: Option<u32>,
) -> Result<PluginHost, gamecode_host::BuildError> {
    let mut b = PluginHost::builder()
        .backend(backend)
        .policy(bench_policy())
        .cache(Some(artifact_cache()));
    if let Some(slots) = pooling {
        b = b.pooling(slots);
    }
    b.build()
}

/// The two instance allocators figure 1 compares, by label: on demand (the host's default)
/// and pooling with 16 slots; the `pooling` argument of [`host`].
pub const ALLOCATORS: [(&str, Option<u32>); 2] = [("on-demand", None), ("pooling", Some(16))];

/// [`try_host`], panicking with the error.
pub fn host(backend: Arc<dyn LLMBackend>, pooling: Option<u32>) -> PluginHost {
    try_host(backend, pooling).unwrap_or_else(|e| panic!("the host does not build: {e}"))
}

/// Loads a plugin, panicking with the error.
pub fn load(host: &PluginHost, path: &std::path::Path) -> Plugin {
    host.load_file(path)
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// A real `BedrockBackend` (real SDK, SigV4, HTTP) on the emulator at `url`.
pub fn bedrock(url: &str) -> BedrockBackend {
    BedrockBackend::new_with_config(&gamecode_e2e::sdk_config())
        .expect("the config has a region")
        .with_endpoint_url(url)
}

/// A real `BedrockBackend` on `emu`, configured from the emulator's own SDK config (its
/// region, credentials and URL).
pub fn bedrock_on(emu: &Emulator) -> BedrockBackend {
    BedrockBackend::new_with_config(&emu.sdk_config()).expect("the emulator's config has a region")
}

/// Makes `emu` answer every request with a call of `lookup` (the bench guests' one tool), so
/// a growing tool loop goes on; forgets what it recorded.
pub fn keep_calling(emu: &Emulator) {
    emu.clear();
    emu.add_rule(
        "",
        bedrock_emulator::Reply::ToolUse {
            name: "lookup".into(),
            input: serde_json::json!({"q": "more"}),
        },
    );
}
