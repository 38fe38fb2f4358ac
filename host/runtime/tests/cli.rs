//! The `gamecode` binary, end to end: `run --emulator` with the example plugin, exit codes,
//! `inspect`, `emulator`. All traffic stays on 127.0.0.1.

#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the example plugin and the test guests once per test binary.
fn build_guests() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        for manifest in ["guest-example/Cargo.toml", "tests/guests/Cargo.toml"] {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(root())
                .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
                .args(["--manifest-path", manifest])
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET")
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "building {manifest} for wasm32-wasip2 failed (is the target installed? \
                     `rustup target add wasm32-wasip2`):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn guest_example() -> PathBuf {
    build_guests();
    root().join("guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm")
}

fn test_guest(name: &str) -> PathBuf {
    build_guests();
    root().join(format!(
        "tests/guests/target/wasm32-wasip2/release/{name}.wasm"
    ))
}

/// The binary with a private cache dir and no AWS configuration from this machine.
fn gamecode(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gamecode"));
    cmd.env("GAMECODE_CACHE_DIR", cache)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", cache.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            cache.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn run_with_the_emulator_prints_the_answer_alone_on_stdout_and_caches_the_build() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        gamecode(cache.path())
            .args(["run", "--emulator"])
            .arg(guest_example())
            .arg("What is 6 * 7?")
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{}", show(&out));
    assert!(stdout.contains("42"), "{}", show(&out));
    // Tool calls and the plugin's stderr are shown, prefixed with its name.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[gamecode_guest_example]"),
        "{}",
        show(&out)
    );
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "one compiled artifact is cached");

    let again = run();
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert_eq!(text(&again.stdout), stdout);
}

#[test]
fn stream_prints_text_as_it_arrives_without_repeating_the_answer() {
    let cache = tempfile::tempdir().unwrap();
    let run = |flag: &str| {
        gamecode(cache.path())
            .args(["run", "--emulator", flag])
            .arg(guest_example())
            .arg("What is 6 * 7?")
            .output()
            .unwrap()
    };
    let streamed = run("--stream");
    assert_eq!(streamed.status.code(), Some(0), "{}", show(&streamed));
    let plain = run("--no-stream");
    assert_eq!(plain.status.code(), Some(0), "{}", show(&plain));
    let answer = text(&plain.stdout);
    let live = text(&streamed.stdout);
    // Every turn's text was shown (the model announces its tool call first), and the final
    // answer ends the output exactly once.
    assert!(live.lines().count() >= 2, "{}", show(&streamed));
    assert!(live.ends_with(&answer), "{live:?} vs {answer:?}");
    assert_eq!(live.matches(answer.trim()).count(), 1, "{live:?}");
}

#[test]
fn run_with_a_host_tool_granted_by_allow_read() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "x").unwrap();
    std::fs::write(dir.path().join("b.txt"), "y").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--allow-read"])
        .arg(dir.path())
        .arg(test_guest("guest_chatty"))
        .arg("tool:list_dir")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(text(&out.stdout), "ok: a.txt\nb.txt\n");
    assert!(
        text(&out.stderr).contains("tool list_dir: ok"),
        "{}",
        show(&out)
    );
}

#[test]
fn exit_codes_distinguish_usage_plugin_and_backend_failures() {
    let cache = tempfile::tempdir().unwrap();

    // 2: usage.
    let out = gamecode(cache.path())
        .args(["run", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let policy = cache.path().join("policy.toml");
    std::fs::write(&policy, "[chat]\nmax_cals = 3\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--policy"])
        .arg(&policy)
        .arg(test_guest("guest_hello"))
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("max_cals"), "{}", show(&out));

    // 3: plugin failures — a missing file, a crash, a deadline.
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "/no/such/plugin.wasm", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(text(&out.stderr).contains("cannot read"), "{}", show(&out));
    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(test_guest("guest_panicker"))
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("guest panicked on purpose"),
        "{}",
        show(&out)
    );
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--timeout", "0.5"])
        .arg(test_guest("guest_looper"))
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(text(&out.stderr).contains("deadline"), "{}", show(&out));

    // 4: the backend — Bedrock (default credential chain, here from the environment) at an
    // endpoint where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = gamecode(cache.path())
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("AWS_REGION", "us-east-1")
        .args(["run", "--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(text(&out.stderr).contains("network"), "{}", show(&out));
}

#[test]
fn help_documents_the_exit_codes() {
    let cache = tempfile::tempdir().unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "Exit codes:",
        "3  plugin failure",
        "4  backend failure",
        "--emulator",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn inspect_shows_the_world_and_the_verdict() {
    let cache = tempfile::tempdir().unwrap();
    let out = gamecode(cache.path())
        .arg("inspect")
        .arg(guest_example())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    for needle in [
        "gamecode:plugin/chat@0.1.0",
        "gamecode:plugin/tools@0.1.0",
        "gamecode:plugin/agent@0.1.0",
        "functions: run",
        "runnable: yes",
    ] {
        assert!(stdout.contains(needle), "{needle}:\n{stdout}");
    }

    let out = gamecode(cache.path())
        .arg("inspect")
        .arg(test_guest("guest_other_world"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("does not export `gamecode:plugin/agent@0.1.0`"),
        "{}",
        show(&out)
    );

    let core = cache.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = gamecode(cache.path())
        .arg("inspect")
        .arg(&core)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("not a component"),
        "{}",
        show(&out)
    );
}

#[test]
fn emulator_subcommand_serves_on_loopback() {
    let cache = tempfile::tempdir().unwrap();
    let mut child = gamecode(cache.path())
        .args(["emulator", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    assert!(line.contains("listening on http://127.0.0.1:"), "{line}");

    let out = gamecode(cache.path())
        .args(["emulator", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A plugin that reads a FIFO under `--allow-read` gets a refusal at once, and the CLI exits
/// promptly; a plugin's terminal escapes never reach the user's stderr raw.
#[cfg(unix)]
#[test]
fn special_files_and_escape_sequences_are_contained() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("mkfifo").arg(dir.path().join("fifo")).status();
    assert!(made.map(|s| s.success()).unwrap_or(false));
    let started = std::time::Instant::now();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--timeout", "5", "--allow-read"])
        .arg(dir.path())
        .arg(test_guest("guest_abuser"))
        .arg("read:fifo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("is a FIFO"), "{}", show(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let out = gamecode(cache.path())
        .args(["run", "--emulator", "-v"])
        .arg(test_guest("guest_abuser"))
        .arg("spoof")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(stderr.contains("\\x1b]52;c;"), "{stderr}");
}

/// A Bedrock stand-in that is not our emulator: it accepts connections, reads the requests
/// and never answers. Counts the requests it received.
struct Silent {
    addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn silent_bedrock() -> Silent {
    use std::io::Read;
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if buf[..n].windows(11).any(|w| w == b"POST /model") {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    Silent { addr, requests }
}

fn against(cache: &Path, silent: &Silent) -> Command {
    let mut cmd = gamecode(cache);
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .args(["run", "--region", "us-east-1", "--endpoint-url"])
        .arg(format!("http://{}", silent.addr));
    cmd
}

/// A Bedrock that never answers: with the default policy the run fails as a backend failure
/// (exit 4) well under a minute, after the default 1 + 3 attempts, each abandoned at the
/// stream's time-to-first-byte bound; `[retry] max_retries = 1` makes exactly 2 attempts.
#[test]
fn a_bedrock_that_never_answers_is_retried_then_blamed() {
    use std::sync::atomic::Ordering;
    let cache = tempfile::tempdir().unwrap();

    let silent = silent_bedrock();
    let started = std::time::Instant::now();
    let out = against(cache.path(), &silent)
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(took < std::time::Duration::from_secs(55), "{took:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("time to first byte"), "{}", show(&out));
    assert_eq!(silent.requests.load(Ordering::SeqCst), 4, "{}", show(&out));

    let silent = silent_bedrock();
    let policy = cache.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[retry]\nmax_retries = 1\ninitial_delay_ms = 100\n",
    )
    .unwrap();
    let out = against(cache.path(), &silent)
        .arg("--policy")
        .arg(&policy)
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(silent.requests.load(Ordering::SeqCst), 2, "{}", show(&out));

    // The run's deadline comes first: the model is blamed, with the attempts made.
    let silent = silent_bedrock();
    let out = against(cache.path(), &silent)
        .args(["--timeout", "3", "--max-retries", "0"])
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("reached while waiting for the model, after 1 attempt: no answer yet"),
        "{}",
        show(&out)
    );
}

#[test]
fn retry_settings_are_validated_with_key_and_line() {
    let cache = tempfile::tempdir().unwrap();
    let policy = cache.path().join("policy.toml");
    std::fs::write(&policy, "[chat]\nmax_calls = 3\n\n[retry]\njitter = 1.5\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--policy"])
        .arg(&policy)
        .arg(guest_example())
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("retry.jitter"),
        "{stderr}"
    );

    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--max-retries", "500"])
        .arg(guest_example())
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("max_retries"), "{}", show(&out));
}
