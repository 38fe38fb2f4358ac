//! Helpers for the end-to-end tests: the guests (built once per test binary), an emulator, a
//! real `BedrockBackend` (real SDK, SigV4, HTTP) pointed at it, and a host.
//!
//! Everything talks to 127.0.0.1 only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator,
};
use gamecode_backend::{BackoffStrategy, LLMBackend, RetryConfig};
use gamecode_bedrock::BedrockBackend;
use gamecode_host::{Plugin, PluginHost, Policy};

pub use bedrock_emulator;
pub use gamecode_host;

/// The workspace root (`tests/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds the example plugin and the adversarial guests, once per test binary. Panics with
/// the build's output (and the fix, if the wasm32-wasip2 target is missing) when it fails.
pub fn build_guests() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = BUILT.get_or_init(build_all) {
        panic!("{message}");
    }
}

fn build_all() -> Result<(), String> {
    let root = workspace_root();
    check_target()?;
    for manifest in ["guest-example/Cargo.toml", "tests/guests/Cargo.toml"] {
        // The guests' own workspaces keep their own target dirs; the test paths rely on it.
        cargo(
            &root,
            &[
                "build",
                "--manifest-path",
                manifest,
                "--target",
                "wasm32-wasip2",
                "--release",
                "--quiet",
            ],
            true,
            &format!("building {manifest} for wasm32-wasip2"),
        )?;
    }
    Ok(())
}

/// Runs cargo in `dir` (without the caller's target-dir overrides when `own_target`); the
/// error says what failed (`what`) with cargo's stderr.
fn cargo(dir: &Path, args: &[&str], own_target: bool, what: &str) -> Result<(), String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).args(args);
    if own_target {
        cmd.env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET");
    }
    let output = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Fails clearly when the wasm32-wasip2 standard library is not installed.
fn check_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib/wasm32-wasip2");
    if lib.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the wasm32-wasip2 target is not installed (no {}): run `rustup target add \
             wasm32-wasip2`",
            lib.display()
        ))
    }
}

/// The example agent plugin.
pub fn guest_example() -> PathBuf {
    build_guests();
    workspace_root().join("guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm")
}

/// The Rust example agent as built for `gamecode:plugin@0.1.0`, kept as a binary (see
/// `tests/fixtures/README.md`).
pub fn fixture_v0_1_0() -> PathBuf {
    workspace_root().join("tests/fixtures/agent_v0_1_0.wasm")
}

/// The published MCP server `gamecode-mcp2` (crates.io), installed once into
/// `target/mcp-tools` with `cargo install --locked` (about 30 s the first time).
pub fn gamecode_mcp2() -> PathBuf {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let root = workspace_root().join("target/mcp-tools");
        let bin = root.join("bin/gamecode-mcp2");
        if bin.is_file() {
            return Ok(bin);
        }
        let root_arg = root.display().to_string();
        cargo(
            &workspace_root(),
            &[
                "install",
                "gamecode-mcp2",
                "--version",
                "0.7.0",
                "--locked",
                "--quiet",
                "--root",
                &root_arg,
            ],
            true,
            "cargo install gamecode-mcp2",
        )?;
        Ok(bin)
    });
    match installed {
        Ok(bin) => bin.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// The MCP fault server of this crate (`src/bin/mcp_fault_server.rs`), built on demand into
/// the workspace's target directory (for callers outside this crate, like the benchmarks).
pub fn mcp_fault_server() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        cargo(
            &workspace_root(),
            &[
                "build",
                "--quiet",
                "-p",
                "gamecode-e2e",
                "--bin",
                "mcp_fault_server",
            ],
            false,
            "building mcp_fault_server",
        )?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        Ok(target.join("debug/mcp_fault_server"))
    });
    match built {
        Ok(bin) => bin.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// One of the test guests, e.g. `guest_looper`.
pub fn test_guest(name: &str) -> PathBuf {
    build_guests();
    workspace_root()
        .join("tests/guests/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

/// An emulator on 127.0.0.1 with an OS-chosen port.
pub async fn emulator() -> Emulator {
    Emulator::start().await.expect("the emulator starts")
}

/// The emulator's static credentials, as an SDK config (no AWS account, no environment).
pub fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new(DEFAULT_REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_SECRET_ACCESS_KEY,
            None,
            None,
            "gamecode-e2e",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build()
}

/// A retry policy with small delays, so failure tests stay quick.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        initial_delay: Duration::from_millis(10),
        backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
        verbose: false,
        max_delay: Duration::from_millis(100),
        jitter: 0.5,
    }
}

/// The retry policy of the throttling-storm test and benchmark: a client's ordinary backoff
/// (100 ms doubling to 1 s), so the adaptive limiter, not long sleeps, is what sheds load.
pub fn storm_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        initial_delay: Duration::from_millis(100),
        backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
        verbose: false,
        max_delay: Duration::from_secs(1),
        jitter: 0.5,
    }
}

/// A real `BedrockBackend` pointed at the emulator.
pub fn bedrock(emu: &Emulator) -> Arc<dyn LLMBackend> {
    Arc::new(
        BedrockBackend::new_with_config(&emu.sdk_config())
            .expect("the config has a region")
            .with_retry_config(fast_retry()),
    )
}

/// A host on the emulator with this default policy and no host tools.
pub fn host(emu: &Emulator, policy: Policy) -> PluginHost {
    PluginHost::builder()
        .backend(bedrock(emu))
        .policy(policy)
        .build()
        .expect("the host builds")
}

/// Loads a plugin file, panicking with the load error.
pub fn load(host: &PluginHost, path: &Path) -> Plugin {
    host.load_file(path)
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// The adversarial guest `guest_abuser` under `policy`.
pub fn abuser(host: &PluginHost, policy: Policy) -> Plugin {
    load(host, &test_guest("guest_abuser"))
        .with_policy(policy)
        .expect("the policy is valid")
}

/// A run's answer, panicking with the task and the error.
pub async fn answer(plugin: &Plugin, task: &str) -> String {
    plugin
        .run(task)
        .await
        .unwrap_or_else(|e| panic!("{task}: {e}"))
        .answer
}

/// A host on the emulator whose plugins may read `dir` (the fs tools).
pub fn fs_host(emu: &Emulator, dir: &Path) -> PluginHost {
    PluginHost::builder()
        .backend(bedrock(emu))
        .tools(
            gamecode_host::tools::fs::FsRoot::new(dir)
                .expect("dir")
                .tools(),
        )
        .build()
        .expect("host")
}

/// Installs a test log subscriber once (RUST_LOG honoured; quiet by default).
pub fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(filter)
            .try_init();
    });
}

/// A language the example agent plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLanguage {
    Rust,
    Python,
    JavaScript,
}

impl GuestLanguage {
    pub const ALL: [GuestLanguage; 3] = [Self::Rust, Self::Python, Self::JavaScript];

    fn build_target(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::JavaScript => "js",
        }
    }

    fn artifact(self) -> &'static str {
        match self {
            Self::Rust => "guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm",
            Self::Python => "guest-example/python/target/agent_py.wasm",
            Self::JavaScript => "guest-example/js/target/agent_js.wasm",
        }
    }
}

/// The example agent plugin in `language`, built once per test binary with the same script
/// the README and CI use (`scripts/build-guests.sh`; a no-op when it is up to date).
pub fn example_in(language: GuestLanguage) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        check_target()?;
        let output = Command::new("bash")
            .current_dir(workspace_root())
            .arg("scripts/build-guests.sh")
            .args(GuestLanguage::ALL.map(GuestLanguage::build_target))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .map_err(|e| format!("cannot run scripts/build-guests.sh: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/build-guests.sh failed (it needs Python 3.10+ and Node 20+):\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(message) = built {
        panic!("{message}");
    }
    workspace_root().join(language.artifact())
}

/// A compiled-artifact cache shared by the tests of one binary, so that a large
/// interpreter-based plugin (Python, JavaScript) is compiled once, not once per test.
pub fn shared_cache() -> gamecode_host::ArtifactCache {
    // Entries are keyed by the component's bytes and the engine's configuration, so reusing
    // the directory across runs is safe.
    gamecode_host::ArtifactCache::new(workspace_root().join("target/e2e-artifact-cache"))
}

/// A fenced code block of the README: its language, its name (the info string's second
/// word: every block has one), its first line number and its text.
#[derive(Debug, Clone)]
pub struct ReadmeBlock {
    pub lang: String,
    pub name: String,
    pub line: usize,
    pub body: String,
}

/// The README's fenced code blocks, in order.
pub fn readme_blocks() -> Vec<ReadmeBlock> {
    let text = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<ReadmeBlock> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => {
                let mut words = info.split_whitespace();
                current = Some(ReadmeBlock {
                    lang: words.next().unwrap_or("").to_string(),
                    name: words.next().unwrap_or("").to_string(),
                    line: i + 1,
                    body: String::new(),
                });
            }
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some(block), None) => {
                block.body.push_str(line);
                block.body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The README block named `name`.
pub fn readme_block(name: &str) -> String {
    readme_blocks()
        .into_iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("the README has no block named `{name}`"))
        .body
}
