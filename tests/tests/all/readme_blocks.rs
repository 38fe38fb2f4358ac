//! Every code block of the README is checked, by name (the info string's second word): TOML
//! is parsed and accepted by the command it documents, JSON parses, each `gamecode` line of a
//! shell block runs offline against the emulator in a directory of fixtures and exits 0, a
//! transcript (`console`) is replayed and must show what the README shows. A block that
//! cannot run offline, or that another test runs, says so here by name. A block this table
//! does not know fails the test: adding one to the README means saying how it is checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gamecode_e2e::*;

/// How a block is checked.
enum Check {
    /// Each `gamecode` line runs offline and exits 0. Lines that need AWS (no `--emulator`,
    /// `--replay` or other offline subcommand) are counted, not run: `aws_lines` says how
    /// many there must be. Servers (`mcp serve`, `emulator --bind`) must start and keep
    /// serving.
    Run { aws_lines: usize },
    /// Each `$ command` runs; its output must contain the lines shown (digits aside).
    Transcript,
    /// A `gamecode` policy file.
    Policy,
    /// An emulator rules file.
    Rules,
    /// An MCP configuration.
    McpConfig,
    /// TOML of another tool (a Cargo dependency): it parses.
    Toml,
    /// It parses as JSON.
    Json,
    /// Another test runs it, named here; that test must name the block.
    TestedBy(&'static str),
    /// Not run here, for the reason given.
    NotRun(&'static str),
}

const PLUGIN_TUTORIAL: &str = "the plugin tutorial's setup and build steps (toolchains from \
    the network); readme_plugins.rs builds the plugins they lead to with the same tools and runs \
    them";

fn check_of(name: &str) -> Option<Check> {
    use Check::*;
    Some(match name {
        "first-commands" => NotRun("the README's two commands: .ci/run runs the second"),
        "layout" => NotRun("a directory listing"),
        "cli-examples" => Run { aws_lines: 3 },
        "models-transcript" | "run-transcript" | "eol-transcript" => Transcript,
        "emulator-rules" => Rules,
        "policy" | "approval-policy" => Policy,
        "build-guests" => NotRun("scripts/test.sh runs it"),
        "rust-hello" | "rust-tool-loop" | "python-hello" | "python-tool-loop" | "js-hello"
        | "js-build-script" | "js-tool-loop" => TestedBy("tests/tests/all/readme_plugins.rs"),
        "rust-setup"
        | "rust-hello-run"
        | "rust-tool-loop-run"
        | "python-setup"
        | "python-hello-run"
        | "python-tool-loop-run"
        | "js-setup"
        | "js-hello-run"
        | "js-tool-loop-run" => NotRun(PLUGIN_TUTORIAL),
        "inspect-hello" => Run { aws_lines: 0 },
        "cargo-dependency" => Toml,
        "embed-host"
        | "bedrock-hello"
        | "bedrock-attachments"
        | "bedrock-caching"
        | "bedrock-reasoning"
        | "bedrock-options"
        | "bedrock-retry" => {
            NotRun("Rust API examples: the seed-README test and the crates' tests cover the API")
        }
        "measure" => NotRun("a release build of the measure example (minutes)"),
        "mcp-config" => McpConfig,
        "mcp-http-config" => McpConfig,
        "mcp-run" => TestedBy("tests/tests/all/mcp.rs"),
        "mcp-serve" => Run { aws_lines: 1 },
        "mcp-client-config" => Json,
        "mcp-serve-http" => Run { aws_lines: 0 },
        "record-replay" => NotRun(
            "it records against Bedrock first; cli.rs record_show_replay_and_diff_a_run runs the \
             same commands against the emulator",
        ),
        "drift-report" => NotRun("output shown, produced by cli.rs's replay test"),
        "read-cassette" => TestedBy("tests/tests/all/cassette.rs"),
        "durable-runs" => TestedBy("tests/tests/all/durable.rs"),
        "chat-transcript" => TestedBy("tests/tests/all/sessions.rs"),
        "approval" => TestedBy("tests/tests/all/approval.rs"),
        "fleet" | "fleet-permissions" => TestedBy("tests/tests/all/fleet.rs"),
        "emulator-standalone" => NotRun(
            "the emulator crate's own binary (a cargo run); cli.rs \
             emulator_subcommand_serves_on_loopback runs `gamecode emulator` the same way",
        ),
        _ => return None,
    })
}

/// A directory with what the README's commands name, and `gamecode` on `PATH`.
struct Fixtures {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Fixtures {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |name: &str| dir.path().join(name);
        // The example under its own name too, as the checkout has it.
        let built = at("guest-example/target/wasm32-wasip2/release");
        std::fs::create_dir_all(&built).expect("dirs");
        for name in [
            "agent.wasm",
            "hello.wasm",
            "guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm",
        ] {
            std::fs::copy(guest_example(), at(name)).expect("the example");
        }
        std::fs::create_dir(at("docs")).expect("docs");
        std::fs::write(at("docs/guide.md"), "# Guide\nPlugins are sandboxed.\n").expect("docs");
        std::fs::create_dir(at("src")).expect("src");
        std::fs::write(at("src/parser.rs"), "pub fn parse() {}\n").expect("src");
        std::fs::write(at("photo.png"), png(64, 48)).expect("photo");
        std::fs::write(
            at("spec.pdf"),
            b"%PDF-1.7\n1 0 obj << /Type /Page >>\n%%EOF\n",
        )
        .expect("pdf");
        std::fs::write(at("policy.toml"), readme_block("policy")).expect("policy");
        std::fs::write(at("rules.toml"), readme_block("emulator-rules")).expect("rules");
        std::fs::write(at("token.txt"), "a-token-of-at-least-sixteen-characters\n").expect("tok");
        let bin = bin_with_gamecode(dir.path());
        Self { dir, bin }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `line` in a shell, in the fixtures, offline: no AWS configuration of this machine.
    fn shell(&self, line: &str, cache: &Path) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(self.path())
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("GAMECODE_CACHE_DIR", cache)
            .env("GAMECODE_STATE_DIR", cache.join("state"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", cache.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", cache.join("none"))
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG");
        cmd
    }
}

/// The command lines of a shell block: comments dropped, `\` continuations joined, and
/// `cargo run [--profile quickstart] -p gamecode-host --bin gamecode --` read as `gamecode`.
fn command_lines(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in body.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let line = strip_comment(line);
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
        .into_iter()
        .map(|l| {
            let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
            let l = l.replace("cargo run --profile quickstart -p", "cargo run -p");
            match l.strip_prefix("cargo run -p gamecode-host --bin gamecode -- ") {
                Some(rest) => format!("gamecode {rest}"),
                None => l,
            }
        })
        .collect()
}

/// The line without a trailing `# comment` (a `#` outside quotes, after a space).
fn strip_comment(line: &str) -> &str {
    let mut quoted = None;
    let bytes = line.as_bytes();
    for (i, c) in line.char_indices() {
        match (quoted, c) {
            (None, '"' | '\'') => quoted = Some(c),
            (Some(q), c) if c == q && (i == 0 || bytes[i - 1] != b'\\') => quoted = None,
            (None, '#') if i > 0 && bytes[i - 1] == b' ' => return line[..i].trim_end(),
            _ => {}
        }
    }
    line
}

/// Whether a `gamecode` line runs without AWS.
fn offline(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.get(1).copied() {
        Some("run") | Some("models") => {
            words.contains(&"--emulator") || words.contains(&"--replay")
        }
        Some("mcp") => words.contains(&"--emulator"),
        _ => true,
    }
}

fn is_server(line: &str) -> bool {
    line.starts_with("gamecode mcp serve") || line.starts_with("gamecode emulator")
}

fn run_block(name: &str, body: &str, aws_lines: usize, fixtures: &Fixtures) {
    let lines: Vec<String> = command_lines(body)
        .into_iter()
        .filter(|l| l.starts_with("gamecode "))
        .collect();
    assert!(!lines.is_empty(), "{name}: no gamecode line");
    let aws = lines.iter().filter(|l| !offline(l)).count();
    assert_eq!(aws, aws_lines, "{name}: lines that need AWS: {lines:#?}");
    let cache = tempfile::tempdir().expect("cache");
    for line in lines.iter().filter(|l| offline(l)) {
        if is_server(line) {
            // `exec`: the server replaces the shell, so that killing it stops the server.
            let mut child = fixtures
                .shell(&format!("exec {line}"), cache.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sh");
            std::thread::sleep(Duration::from_millis(1500));
            let still = child.try_wait().expect("wait").is_none();
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            assert!(
                still,
                "{name}: `{line}` stopped: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let out = fixtures
            .shell(line, cache.path())
            .stdin(Stdio::null())
            .output()
            .expect("sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: `{line}` exited {:?}\n{}\n{stderr}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!stderr.contains("error:"), "{name}: `{line}`\n{stderr}");
    }
}

/// Digits vary (timings, ports, token counts): compared as `#`.
fn shape(line: &str) -> String {
    line.trim_end()
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

fn transcript(name: &str, body: &str, fixtures: &Fixtures) {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push((command.to_string(), Vec::new())),
            None => {
                if let Some((_, shown)) = steps.last_mut()
                    && !line.trim().is_empty()
                {
                    shown.push(line.to_string());
                }
            }
        }
    }
    assert!(!steps.is_empty(), "{name}: no `$ ` command");
    let cache = tempfile::tempdir().expect("cache");
    for (command, shown) in steps {
        let out = fixtures
            .shell(&format!("{command} 2>&1"), cache.path())
            .stdin(Stdio::null())
            .output()
            .expect("sh");
        let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(shape)
            .collect();
        for expected in &shown {
            assert!(
                printed.contains(&shape(expected)),
                "{name}: `{command}` did not print\n  {expected}\nit printed:\n{}",
                printed.join("\n")
            );
        }
    }
}

#[test]
fn every_readme_block_is_checked() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    let blocks = readme_blocks();
    assert!(blocks.len() > 40, "{} blocks", blocks.len());
    let fixtures = Fixtures::new();
    let mut names = std::collections::HashSet::new();
    for b in &blocks {
        let where_ = format!("README.md:{} (```{} {})", b.line, b.lang, b.name);
        assert!(!b.name.is_empty(), "{where_}: every block needs a name");
        assert!(
            names.insert(b.name.clone()),
            "{where_}: the name is used twice"
        );
        let Some(check) = check_of(&b.name) else {
            panic!("{where_}: a block this test does not know; say how it is checked")
        };
        match check {
            Check::Run { aws_lines } => run_block(&b.name, &b.body, aws_lines, &fixtures),
            Check::Transcript => transcript(&b.name, &b.body, &fixtures),
            Check::Policy => {
                let path = fixtures.path().join("check-policy.toml");
                std::fs::write(&path, &b.body).expect("write");
                gamecode_host::Policy::from_file(&path).unwrap_or_else(|e| panic!("{where_}: {e}"));
            }
            Check::Rules => {
                let path = fixtures.path().join("check-rules.toml");
                std::fs::write(&path, &b.body).expect("write");
                bedrock_emulator::Rules::from_file(&path)
                    .unwrap_or_else(|e| panic!("{where_}: {e:#}"));
            }
            Check::McpConfig => {
                gamecode_host::mcp::McpConfig::from_toml_str(&b.body)
                    .unwrap_or_else(|e| panic!("{where_}: {e}"));
            }
            Check::Toml => {
                toml::from_str::<toml::Table>(&b.body).unwrap_or_else(|e| panic!("{where_}: {e}"));
            }
            Check::Json => {
                serde_json::from_str::<serde_json::Value>(&b.body)
                    .unwrap_or_else(|e| panic!("{where_}: {e}"));
            }
            Check::TestedBy(file) => {
                let text = std::fs::read_to_string(workspace_root().join(file))
                    .unwrap_or_else(|e| panic!("{where_}: {file}: {e}"));
                let named = text.contains(&format!("\"{}\"", b.name))
                    || (file.ends_with("readme_plugins.rs") && text.contains("readme_blocks()"));
                assert!(named, "{where_}: {file} does not name the block");
            }
            Check::NotRun(reason) => assert!(!reason.is_empty()),
        }
    }
}

/// Every option of `gamecode run --help` is named in the README's option list (a flag that
/// exists but is not documented is as good as missing to a reader).
#[test]
fn every_run_option_is_in_the_readme() {
    let out = Command::new(gamecode_cli())
        .args(["run", "--help"])
        .output()
        .expect("gamecode run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let options: Vec<&str> = help
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| {
            let end = w
                .char_indices()
                .find(|&(i, c)| i > 1 && !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(w.len(), |(i, _)| i);
            &w[..end]
        })
        .filter(|w| !["--help", "--verbose", "--version"].contains(w))
        .collect();
    assert!(options.len() > 20, "{options:?}");
    for option in options {
        assert!(
            readme.contains(&format!("`{option}")),
            "`gamecode run {option}` is not in the README's option list"
        );
    }
}
