//! Helpers for the end-to-end tests: the guests (built once per test binary), an emulator, a
//! real `BedrockBackend` (real SDK, SigV4, HTTP) pointed at it, and a host.
//!
//! Everything talks to 127.0.0.1 only.
//!
//! One module per concern. Those that need nothing of this crate's dependencies but std, the
//! AWS SDK and the emulator (`paths`, `guests`, `venv`, `process`, `emulator`, `retry`, `log`,
//! `isolated`)
//! are also the test helpers of the crates this one depends on: their test binaries cannot
//! depend on this crate (that would be a cycle), so they include these files by `#[path]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use bedrock_emulator::Emulator;
use gamecode_backend::LLMBackend;
use gamecode_bedrock::BedrockBackend;
use gamecode_host::{Plugin, PluginHost, Policy, RunEvent, RunObserver};
use serde_json::Value;

pub use bedrock_emulator;
pub use gamecode_host;

pub mod cut;
pub mod emulator;
pub mod guests;
pub mod isolated;
pub mod log;
pub mod machine;
pub mod nats;
pub mod paths;
pub mod process;
pub mod retry;
pub mod venv;

pub use emulator::{emulator, sdk_config, sdk_config_with};
pub use guests::{build_guests, guest_example, test_guest};
pub use machine::{busy_machine, quiet_machine};
pub use nats::NatsServer;
pub use paths::{target_dir, workspace_root};
pub use process::own_process;
pub use retry::{fast_retry, storm_retry};
pub use venv::python_venv;

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
        let root = target_dir().join("mcp-tools");
        let bin = root.join("bin/gamecode-mcp2");
        if bin.is_file() {
            return Ok(bin);
        }
        let root_arg = root.display().to_string();
        guests::cargo(
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
        guests::cargo(
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
        Ok(target_dir().join("debug/mcp_fault_server"))
    });
    match built {
        Ok(bin) => bin.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// A real `BedrockBackend` pointed at the emulator.
pub fn bedrock(emu: &Emulator) -> Arc<dyn LLMBackend> {
    Arc::new(
        BedrockBackend::new_with_config(&emu.sdk_config())
            .expect("the config has a region")
            .with_retry_config(fast_retry(2)),
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

/// Installs the test log subscriber once (RUST_LOG honoured; quiet by default).
pub fn init_tracing() {
    log::init_tracing_with("warn");
}

/// The `gamecode` CLI as the workspace's tests build it (`target/debug/gamecode`).
pub fn gamecode_cli() -> PathBuf {
    target_dir().join("debug/gamecode")
}

/// `dir/bin`, made with `gamecode` in it (a link to [`gamecode_cli`], which must be built), to
/// put on a shell's `PATH`.
pub fn bin_with_gamecode(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let gamecode = gamecode_cli();
    assert!(
        gamecode.is_file(),
        "{} (built by the workspace's tests)",
        gamecode.display()
    );
    std::os::unix::fs::symlink(&gamecode, bin.join("gamecode")).expect("link");
    bin
}

/// A host on the emulator that reports its runs' events to `observer`.
pub fn observed_host(emu: &Emulator, observer: Arc<dyn RunObserver>) -> PluginHost {
    PluginHost::builder()
        .backend(bedrock(emu))
        .observer(observer)
        .build()
        .expect("host")
}

/// An observer that keeps what `pick` takes from each run event, and what it kept.
pub fn recording_observer<T: Send + 'static>(
    pick: impl Fn(&RunEvent) -> Option<T> + Send + Sync + 'static,
) -> (Arc<dyn RunObserver>, Recorded<T>) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = kept.clone();
    let observer: Arc<dyn RunObserver> = Arc::new(move |_: &str, e: &RunEvent| {
        if let Some(item) = pick(e) {
            sink.lock().unwrap().push(item);
        }
    });
    (observer, kept)
}

/// What an observer from [`recording_observer`] kept, in order.
pub type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// An observer that keeps each host tool call a run makes: its name, and whether it succeeded.
pub fn tool_call_observer() -> (Arc<dyn RunObserver>, Recorded<(String, bool)>) {
    recording_observer(|e| match e {
        RunEvent::ToolCall { name, ok, .. } => Some((name.clone(), *ok)),
        _ => None,
    })
}

/// The content blocks of the messages of a Converse request body, in order.
pub fn message_blocks(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The header of a PNG image of `w` × `h` pixels (all the emulator reads of it).
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    b
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
        guests::check_target()?;
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
    gamecode_host::ArtifactCache::new(target_dir().join("e2e-artifact-cache"))
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

/// `gamecode` (the workspace's build) with the emulator's credentials and region, state in
/// `dir/state` and compiled plugins in `dir/cache`: for runs against a test's emulator
/// (`--endpoint-url`).
pub fn emulator_gamecode(dir: &Path) -> std::process::Command {
    let mut cmd = isolated::isolated_gamecode(&gamecode_cli(), &dir.join("cache"));
    cmd.env("GAMECODE_STATE_DIR", dir.join("state"))
        .env("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        )
        .env("AWS_REGION", bedrock_emulator::DEFAULT_REGION);
    cmd
}
