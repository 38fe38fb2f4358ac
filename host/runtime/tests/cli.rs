//! The `gamecode` binary, end to end: `run --emulator` with the example plugin, exit codes,
//! `inspect`, `emulator`. All traffic stays on 127.0.0.1.

#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// The guests and the Python venv are built as the end-to-end tests build them: the same
// helpers, included by path (this crate cannot depend on that one, which depends on it).
#[path = "../../../tests/src/guests.rs"]
mod guests;
#[path = "../../../tests/src/isolated.rs"]
mod isolated;
#[path = "../../../tests/src/paths.rs"]
mod paths;
#[path = "../../../tests/src/venv.rs"]
mod venv;

use guests::{guest_example, test_guest};
use paths::workspace_root as root;

/// The binary with a private cache dir and state store, and no AWS configuration from this
/// machine.
fn gamecode(cache: &Path) -> Command {
    isolated::isolated_gamecode(Path::new(env!("CARGO_BIN_EXE_gamecode")), cache)
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
        "plugin targets: gamecode:plugin@0.2.1",
        "gamecode:plugin/chat@0.2.1",
        "gamecode:plugin/tools@0.2.1",
        "gamecode:plugin/config@0.2.1",
        "gamecode:plugin/agent@0.2.1",
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
        text(&out.stdout).contains(
            "does not export `gamecode:plugin/agent@0.2.1` or `gamecode:plugin/agent@0.2.0` or \
             `gamecode:plugin/agent@0.1.0`"
        ),
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
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for _ in 0..8 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let done = line.contains("gamecode run --endpoint-url");
        printed.push(line.trim().to_string());
        if done {
            break;
        }
    }
    assert!(
        printed[0].contains("listening on http://127.0.0.1:"),
        "{printed:?}"
    );
    // What it prints is what a user copies: the exports and the command work as printed.
    let mut run = gamecode(cache.path());
    for line in printed.iter().filter(|l| l.starts_with("export ")) {
        for pair in line.trim_start_matches("export ").split_whitespace() {
            let (k, v) = pair.split_once('=').expect("NAME=value");
            run.env(k, v);
        }
    }
    let command = printed.last().expect("the command line");
    let url = command
        .split_whitespace()
        .nth(4)
        .expect("gamecode run --endpoint-url URL …");
    let out = run
        .args(["run", "--endpoint-url", url])
        .arg(test_guest("guest_hello"))
        .arg("there")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{printed:?}\n{}", show(&out));
    assert_eq!(text(&out.stdout).trim(), "hello, there");

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
    // Compile the plugin first, so that the time measured below is the model's.
    let warm = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert!(warm.status.success(), "{}", show(&warm));

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
    assert!(
        text(&out.stderr).contains("--max-retries must be at most 20, not 500"),
        "{}",
        show(&out)
    );
}

/// What a terminal shows for `bytes`, line by line: `\r` returns to the start of the line,
/// `ESC [ 2 K` erases it, other escape sequences change nothing visible here.
fn screen(bytes: &[u8]) -> Vec<String> {
    screen_of(bytes, usize::MAX)
}

/// What a terminal `width` columns wide shows after `bytes`: text wraps at the edge (as a
/// real terminal's autowrap does), `\r` returns to the row's start, `ESC[2K` clears the row.
fn screen_of(bytes: &[u8], width: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = vec![Vec::<char>::new()];
    let mut col = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let line = lines.last_mut().expect("a line");
        match c {
            '\n' => {
                lines.push(Vec::new());
                col = 0;
            }
            '\r' => col = 0,
            '\x1b' => {
                let mut seq = String::new();
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() {
                            seq.push(n);
                            break;
                        }
                        seq.push(n);
                    }
                }
                if seq == "2K" {
                    line.clear();
                    col = 0;
                }
            }
            c => {
                if col >= width {
                    lines.push(Vec::new());
                    col = 0;
                }
                let line = lines.last_mut().expect("a line");
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    let mut out: Vec<String> = lines.into_iter().map(|l| l.into_iter().collect()).collect();
    if out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// Runs `gamecode ARGS` under a real pseudo-terminal (`script`), stdout and stderr both on
/// it as in an interactive shell; returns what the terminal received.
fn in_pty(cache: &Path, args: &[&str]) -> Vec<u8> {
    in_pty_sized(cache, args, 200, &[])
}

/// [`in_pty`] on a terminal `columns` wide, with `env` set.
fn in_pty_sized(cache: &Path, args: &[&str], columns: u16, env: &[(&str, &str)]) -> Vec<u8> {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let command = std::iter::once(env!("CARGO_BIN_EXE_gamecode"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let line = format!("stty cols {columns} rows 50; exec {command}");
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .envs(env.iter().copied())
        .env("GAMECODE_CACHE_DIR", cache)
        .env("GAMECODE_STATE_DIR", cache.join("state"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs");
    assert!(out.status.success(), "{}", show(&out));
    out.stdout
}

/// The example's run on a terminal reads line by line as a person expects: progress lines
/// never run into the streamed answer, `done:` comes last, no stray blank line; the first
/// run says it is compiling, the second does not.
#[test]
fn a_terminal_shows_each_line_whole_and_in_order() {
    let cache = tempfile::tempdir().unwrap();
    let example = guest_example();
    let args = [
        "run",
        "--emulator",
        example.to_str().unwrap(),
        "What is 12 * 34?",
    ];
    let lines = screen(&in_pty(cache.path(), &args));
    let expected_prefixes = [
        "using the built-in Bedrock emulator at http://127.0.0.1:",
        "compiling ",
        "ready in ",
        "journaled as run ",
        "I'll use the calculator tool.",
        "[gamecode_guest_example] tool calculator({\"expression\":\"12 * 34\"}) -> 408",
        "Based on the tool results: 408",
        "[gamecode_guest_example] agent: 2 model turns (streamed), ",
        "done: 2 chat calls, ",
    ];
    assert_eq!(lines.len(), expected_prefixes.len(), "{lines:#?}");
    for (line, prefix) in lines.iter().zip(expected_prefixes) {
        assert!(
            line.starts_with(prefix),
            "{line:?} should start with {prefix:?}\n{lines:#?}"
        );
    }
    assert_eq!(lines[5].len(), expected_prefixes[5].len(), "{lines:#?}");
    assert_eq!(lines[6], "Based on the tool results: 408");

    // Cached now: no compile notice.
    let lines = screen(&in_pty(cache.path(), &args));
    assert!(
        !lines.iter().any(|l| l.starts_with("compiling")),
        "{lines:#?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("done: ")),
        "{lines:#?}"
    );

    // `inspect` uses the same cache: no compile.
    let out = gamecode(cache.path())
        .arg("inspect")
        .arg(&example)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(!text(&out.stderr).contains("compiling"), "{}", show(&out));
}

/// Offline, the emulated model picks the tool that fits the user's words.
#[test]
fn offline_the_model_uses_the_tools_the_task_needs() {
    let cache = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("guide.md"),
        "# Guide\nPlugins are sandboxed.\n",
    )
    .unwrap();
    std::fs::write(docs.path().join("notes.txt"), "v0.1 adds streaming.\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--allow-read"])
        .arg(docs.path())
        .arg(guest_example())
        .arg("Summarize the docs")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("tool list_dir: ok"), "{stderr}");
    assert!(stderr.contains("tool read_file: ok"), "{stderr}");
    let answer = text(&out.stdout);
    assert!(answer.contains("Plugins are sandboxed."), "{answer}");
    assert!(answer.contains("v0.1 adds streaming."), "{answer}");

    // Several directories: one tree, each under its name.
    let more = tempfile::tempdir().unwrap();
    std::fs::write(more.path().join("todo.txt"), "ship it\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--allow-read"])
        .arg(docs.path())
        .arg("--allow-read")
        .arg(more.path())
        .arg(guest_example())
        .arg("What files are in this folder?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let name = |d: &tempfile::TempDir| d.path().file_name().unwrap().to_string_lossy().into_owned();
    let answer = text(&out.stdout);
    assert!(
        answer.contains(&format!("{}/", name(&docs)))
            && answer.contains(&format!("{}/", name(&more))),
        "{answer}"
    );

    // Steered by a rules file.
    let rules = cache.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nwhen = \"weather\"\ntext = \"Sunny, 21 C.\"\n",
    )
    .unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--emulator-rules"])
        .arg(&rules)
        .arg(guest_example())
        .arg("How is the weather?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stdout).trim(), "Sunny, 21 C.");
    std::fs::write(&rules, "[[rule]]\nwhen = \"x\"\ntxet = \"y\"\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--emulator-rules"])
        .arg(&rules)
        .arg(guest_example())
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("txet"), "{}", show(&out));
}

/// Each mistake a newcomer makes gets one short line in the CLI's own terms.
#[test]
fn errors_are_in_the_users_words() {
    let cache = tempfile::tempdir().unwrap();
    let example = guest_example();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = gamecode(cache.path());
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_BEARER_TOKEN_BEDROCK");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.arg("run")
            .args(extra)
            .arg(&example)
            .arg("hi")
            .output()
            .unwrap()
    };
    let error_line = |out: &Output| {
        let stderr = text(&out.stderr);
        stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_string()
    };

    let out = run(&["--region", "us-east-1"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let line = error_line(&out);
    assert!(
        line.starts_with("error: no AWS credentials found: set AWS_ACCESS_KEY_ID"),
        "{line}"
    );
    assert!(line.len() < 300, "{} chars: {line}", line.len());

    let out = run(
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let line = error_line(&out);
    assert!(
        line.starts_with("error: no AWS region: pass --region"),
        "{line}"
    );
    assert!(
        !line.contains("new_with_region") && !line.contains("validation"),
        "{line}"
    );

    let out = run(&["--emulator", "--model", "claude-3-sonnet"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(error_line(&out).contains("--model: \"claude-3-sonnet\" is not a Bedrock model id"));

    let policy = cache.path().join("typo.toml");
    std::fs::write(&policy, "[tools]\nallowed = [\"read_fil\"]\n").unwrap();
    let out = run(&["--emulator", "--policy", policy.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        error_line(&out).contains("did you mean `read_file`?"),
        "{}",
        show(&out)
    );

    let policy = cache.path().join("memory.toml");
    std::fs::write(&policy, "[limits]\nmemory_mib = 32\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--policy"])
        .arg(&policy)
        .arg(test_guest("guest_memory_bomb"))
        .arg("boom")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        error_line(&out).contains("memory limit of 32 MiB"),
        "{}",
        show(&out)
    );

    let not_wasm = cache.path().join("notes.txt");
    std::fs::write(&not_wasm, "hello").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(&not_wasm)
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let line = error_line(&out);
    assert!(
        line.contains(&format!("{}: not a WebAssembly file", not_wasm.display())),
        "{line}"
    );
}

#[test]
fn the_cache_can_be_listed_and_cleared() {
    let cache = tempfile::tempdir().unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(test_guest("guest_hello"))
        .arg("x")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let out = gamecode(cache.path())
        .args(["cache", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("1 compiled plugin,"),
        "{}",
        show(&out)
    );
    // Entries name their plugin and its size, and say why a plugin is there twice; the
    // directory can be given to the subcommand itself.
    assert!(
        text(&out.stdout).contains("guest_hello ("),
        "{}",
        show(&out)
    );
    let fuel = cache.path().join("fuel.toml");
    std::fs::write(&fuel, "[limits]\nfuel = 1000000000\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--policy"])
        .arg(&fuel)
        .arg(test_guest("guest_hello"))
        .arg("x")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gamecode"))
        .args(["cache", "list", "--cache-dir"])
        .arg(cache.path())
        .env("GAMECODE_CACHE_DIR", other.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("of wasm, compiled for fuel metering)"),
        "{}",
        show(&out)
    );
    let out = gamecode(cache.path())
        .args(["cache", "clear"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("removed 2 compiled plugins"),
        "{}",
        show(&out)
    );
    let out = gamecode(cache.path())
        .args(["cache", "list"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("0 compiled plugins"),
        "{}",
        show(&out)
    );
}

/// A Bedrock API key in `AWS_BEARER_TOKEN_BEDROCK` is all `gamecode run` needs: no AWS
/// credentials. The emulator checks the key (`gamecode emulator --api-key`).
#[test]
fn an_api_key_in_the_environment_is_enough() {
    let cache = tempfile::tempdir().unwrap();
    let mut emulator = gamecode(cache.path())
        .args(["emulator", "--api-key", "key-from-the-console"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .trim_start_matches("bedrock-emulator listening on ")
        .to_string();
    let run = |key: &str| {
        gamecode(cache.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_BEARER_TOKEN_BEDROCK", key)
            .env("AWS_REGION", "us-east-1")
            .args(["run", "--max-retries", "0", "--endpoint-url", &url])
            .arg(guest_example())
            .arg("What is 6 * 7?")
            .output()
            .unwrap()
    };
    let ok = run("key-from-the-console");
    let wrong = run("another-key");
    let _ = emulator.kill();
    let _ = emulator.wait();
    assert!(ok.status.success(), "{}", show(&ok));
    assert!(text(&ok.stdout).contains("42"), "{}", show(&ok));
    assert_eq!(wrong.status.code(), Some(4), "{}", show(&wrong));
    assert!(text(&wrong.stderr).contains("API Key"), "{}", show(&wrong));
}

#[test]
fn record_show_replay_and_diff_a_run() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let run = |extra: &[&std::ffi::OsStr], task: &str| {
        let mut cmd = gamecode(cache.path());
        cmd.arg("run").args(extra).arg(guest_example()).arg(task);
        cmd.output().unwrap()
    };
    let out = run(
        &["--emulator".as_ref(), "--record".as_ref(), a.as_os_str()],
        "What is 6 * 7?",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let live_answer = text(&out.stdout);

    let out = gamecode(cache.path())
        .args(["cassette", "show"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let shown = text(&out.stdout);
    for needle in [
        "2 exchanges",
        "#1 ConverseStream",
        "asks: \"What is 6 * 7?\"",
        "tool call: calculator({\"expression\":\"6 * 7\"})",
        "stop: tool_use",
        "asks: 1 tool result",
        "stop: end_turn",
    ] {
        assert!(shown.contains(needle), "{needle}:\n{shown}");
    }

    // Replayed offline: the same answer; recorded pacing works too.
    let out = run(&["--replay".as_ref(), a.as_os_str()], "What is 6 * 7?");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(text(&out.stdout), live_answer);
    let out = run(
        &[
            "--replay".as_ref(),
            a.as_os_str(),
            "--replay-speed".as_ref(),
            "1".as_ref(),
        ],
        "What is 6 * 7?",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Drift: exit 1 with the report; with the fallback, the run answers and says so.
    let out = run(&["--replay".as_ref(), a.as_os_str()], "What is 6 * 8?");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("drift at exchange 1: messages[0].content[0].text was \"What is 6 * 7?\", now \"What is 6 * 8?\""),
        "{err}"
    );
    let out = run(
        &[
            "--replay".as_ref(),
            a.as_os_str(),
            "--replay-fallback".as_ref(),
            "emulator".as_ref(),
        ],
        "What is 6 * 8?",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("48"), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("answered by the emulator's own responder"),
        "{}",
        show(&out)
    );

    // Two recordings of different tasks diverge at the first exchange's text.
    let out = run(
        &["--emulator".as_ref(), "--record".as_ref(), b.as_os_str()],
        "What is 6 * 8?",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = gamecode(cache.path())
        .args(["cassette", "diff"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stdout)
            .starts_with("exchange 1: the requests differ at messages[0].content[0].text"),
        "{}",
        show(&out)
    );
    let out = gamecode(cache.path())
        .args(["cassette", "diff"])
        .arg(&a)
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn attachments_and_config_reach_0_2_0_plugins() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A PNG header (all the emulator reads of it), named like a document: the content decides.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&640u32.to_be_bytes());
    png.extend_from_slice(&480u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let photo = dir.path().join("photo.pdf");
    std::fs::write(&photo, &png).unwrap();
    let notes = dir.path().join("notes");
    std::fs::write(&notes, "# Notes\n\nRelease notes.\n").unwrap();

    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(guest_example())
        .arg("What is in this picture?")
        .arg("--attach")
        .arg(&photo)
        .arg("--attach")
        .arg(&notes)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let answer = text(&out.stdout);
    assert!(
        answer.starts_with(
            "I see a PNG image, 640×480 pixels. The document \"notes\" is a MD document"
        ),
        "{answer}"
    );

    // Not an image or document: a usage error naming the file.
    let binary = dir.path().join("blob.bin");
    std::fs::write(&binary, [0u8, 1, 2, 3, 0]).unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(guest_example())
        .arg("What is this?")
        .arg("--attach")
        .arg(&binary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("blob.bin is neither an image"),
        "{}",
        show(&out)
    );

    // A 0.1.0 plugin cannot take attachments: refused before it runs.
    let fixture = root().join("tests/fixtures/agent_v0_1_0.wasm");
    let out = gamecode(cache.path())
        .args(["run", "--emulator"])
        .arg(&fixture)
        .arg("What is in this picture?")
        .arg("--attach")
        .arg(&photo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("targets gamecode:plugin@0.1.0, which cannot take attachments"),
        "{}",
        show(&out)
    );

    // --config reaches the plugin (thinking off); the host's own keys are refused.
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "-v", "--config", "reasoning-budget=0"])
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!text(&out.stderr).contains("thinking:"), "{}", show(&out));
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "-v"])
        .arg(guest_example())
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("thinking: "), "{}", show(&out));
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--config", "gamecode.verbose=9"])
        .arg(guest_example())
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A venv with the official Python MCP SDK, made once under `target/`.
fn python_mcp() -> PathBuf {
    venv::python_venv("mcp-venv", &["mcp==2.3.0"])
}

#[test]
fn mcp_serve_answers_the_python_sdk() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(python_mcp())
        .arg(root().join("host/runtime/tests/mcp_client.py"))
        .arg(env!("CARGO_BIN_EXE_gamecode"))
        .args(["mcp", "serve", "--emulator", "--name", "calc-agent"])
        .arg(guest_example())
        .env("GAMECODE_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        text(&out.stdout).lines().collect::<Vec<_>>(),
        [
            "tools: calc-agent",
            "answer: Based on the tool results: 42",
            "error: the plugin run failed: the agent failed: the task is empty",
        ],
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_serve_runs_calls_concurrently_with_progress_and_survives_failures() {
    use rmcp::model::{CallToolRequestParams, ProgressNotificationParam};
    use rmcp::service::{NotificationContext, RoleClient, ServiceExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Progress(std::sync::Arc<AtomicUsize>);
    impl rmcp::ClientHandler for Progress {
        async fn on_progress(
            &self,
            _: ProgressNotificationParam,
            _: NotificationContext<RoleClient>,
        ) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let cache = tempfile::tempdir().unwrap();
    let policy = cache.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\ndeadline_secs = 2.5\n").unwrap();
    let serve = |plugin: PathBuf| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamecode"));
        cmd.args(["mcp", "serve", "--emulator", "--policy"])
            .arg(&policy)
            .arg(plugin)
            .env("GAMECODE_CACHE_DIR", cache.path())
            .stderr(Stdio::null());
        rmcp::transport::TokioChildProcess::new(cmd).unwrap()
    };
    let progress = Progress::default();
    let client = progress
        .clone()
        .serve(serve(guest_example()))
        .await
        .unwrap();
    let tools = client.peer().list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    let name = tools[0].name.to_string();
    let call = |task: &str| {
        let mut params = CallToolRequestParams::new(name.clone());
        params.arguments = serde_json::json!({ "task": task }).as_object().cloned();
        client.peer().call_tool(params)
    };
    // Three runs at once, and a bad input among them: each gets its own answer.
    let (a, b, c, bad) = tokio::join!(
        call("What is 6 * 7?"),
        call("What is 2 + 3?"),
        call("What is 10 - 4?"),
        call("")
    );
    let text_of = |r: &rmcp::model::CallToolResult| {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<String>()
    };
    for (result, expected) in [(a, "42"), (b, "5"), (c, "6")] {
        let result = result.unwrap();
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
        assert!(text_of(&result).contains(expected), "{}", text_of(&result));
    }
    let bad = bad.unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(
        text_of(&bad).contains("the task is empty"),
        "{}",
        text_of(&bad)
    );
    // Input off the tool's schema is a tool error the model can correct, not a protocol
    // error (SEP-1303); the server names itself.
    let mut params = CallToolRequestParams::new(name.clone());
    params.arguments = serde_json::json!({}).as_object().cloned();
    let wrong = client.peer().call_tool(params).await.unwrap();
    assert_eq!(wrong.is_error, Some(true));
    assert!(text_of(&wrong).contains("the input must be {\"task\": string}"));
    let info = client.peer().peer_info().expect("the server's info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("gamecode")
    );
    client.cancel().await.unwrap();

    // A run that spins until its deadline: progress while it runs, then an isError result
    // with the categorized failure; the server still serves.
    let progress = Progress::default();
    let client = progress
        .clone()
        .serve(serve(test_guest("guest_looper")))
        .await
        .unwrap();
    let name = client.peer().list_all_tools().await.unwrap()[0]
        .name
        .to_string();
    let mut params = CallToolRequestParams::new(name);
    params.arguments = serde_json::json!({ "task": "spin" }).as_object().cloned();
    let result = client.peer().call_tool(params.clone()).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("deadline"),
        "{}",
        text_of(&result)
    );
    assert!(
        progress.0.load(Ordering::SeqCst) >= 1,
        "no progress notification"
    );
    let again = client.peer().call_tool(params.clone()).await.unwrap();
    assert_eq!(again.is_error, Some(true));
    // Calls overlap: three runs that each take the whole 2.5 s deadline finish in about one
    // deadline, not three (one after another would take at least 7.5 s; the bound leaves
    // room for a loaded machine).
    let started = std::time::Instant::now();
    let (x, y, z) = tokio::join!(
        client.peer().call_tool(params.clone()),
        client.peer().call_tool(params.clone()),
        client.peer().call_tool(params)
    );
    let took = started.elapsed();
    for r in [x, y, z] {
        assert!(text_of(&r.unwrap()).contains("deadline"));
    }
    assert!(
        took >= std::time::Duration::from_millis(2_400) && took < std::time::Duration::from_secs(7),
        "three 2.5 s runs took {took:?}"
    );
    client.cancel().await.unwrap();
}

#[test]
fn mcp_over_streamable_http_both_ways() {
    let cache = tempfile::tempdir().unwrap();
    // A plugin served as an MCP tool over HTTP on loopback...
    let mut server = Command::new(env!("CARGO_BIN_EXE_gamecode"))
        .args([
            "mcp",
            "serve",
            "--emulator",
            "--bind",
            "127.0.0.1:0",
            "--name",
            "calc",
        ])
        .arg(guest_example())
        .env("GAMECODE_CACHE_DIR", cache.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let (url, token) = loop {
        let line = lines
            .next()
            .expect("the server says where it serves")
            .unwrap();
        if let Some(at) = line.find("http://") {
            let url = line[at..].split_whitespace().next().unwrap().to_string();
            let token = line
                .split("Bearer ")
                .nth(1)
                .expect("and the token to send")
                .trim_end_matches('`')
                .to_string();
            break (url, token);
        }
    };
    // Without the token, or from another origin's page, nothing runs.
    let post = |headers: &str| {
        use std::io::{Read, Write};
        let authority = url.trim_start_matches("http://").split('/').next().unwrap();
        let mut conn = std::net::TcpStream::connect(authority).unwrap();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        write!(
            conn,
            "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        answer.lines().next().unwrap_or("").to_string()
    };
    assert!(post("").contains(" 401 "), "no token");
    assert!(post("Authorization: Bearer wrong-token-0123456789\r\n").contains(" 401 "));
    let bearer = format!("Authorization: Bearer {token}\r\n");
    assert!(
        post(&format!("{bearer}Origin: http://evil.example\r\n")).contains(" 403 "),
        "another origin"
    );
    assert!(post(&bearer).contains(" 200 "), "the token opens it");
    // ...and the host's MCP client reaching it by URL: a plugin calls a plugin.
    let config = cache.path().join("mcp.toml");
    std::fs::write(
        &config,
        format!(
            "[servers.web]\nurl = \"{url}\"\nheaders = {{ Authorization = \"Bearer {token}\" }}\n"
        ),
    )
    .unwrap();
    let policy = cache.path().join("policy.toml");
    std::fs::write(&policy, "[tools]\nallowed = [\"mcp:web\"]\n").unwrap();
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--mcp-config"])
        .arg(&config)
        .arg("--policy")
        .arg(&policy)
        .arg(test_guest("guest_abuser"))
        .arg(r#"call:web__calc:{"task":"What is 6 * 7?"}"#)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        text(&out.stdout).trim(),
        "ok: Based on the tool results: 42",
        "{}",
        show(&out)
    );

    // Only loopback.
    let out = gamecode(cache.path())
        .args(["mcp", "serve", "--emulator", "--bind", "0.0.0.0:0"])
        .arg(guest_example())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("not a loopback address"),
        "{}",
        show(&out)
    );
}

/// Today's Bedrock: `gamecode models` reads the (emulated) control plane; an ended model is
/// refused before any call with its successor named; a legacy one runs with a warning; the
/// 0.2.0 example's budget thinking and the published 0.1.0 plugin both run unchanged on an
/// adaptive-only model.
#[test]
fn todays_models_are_listed_ended_ones_refused_and_adaptive_only_models_run_every_plugin() {
    let cache = tempfile::tempdir().unwrap();
    let out = gamecode(cache.path())
        .args(["models", "--emulator"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let table = text(&out.stdout);
    let header = table.lines().next().unwrap_or("");
    assert!(
        header.starts_with("CALL AS") && header.contains("LIFECYCLE"),
        "{table}"
    );
    let sonnet = table
        .lines()
        .find(|l| l.starts_with("us.anthropic.claude-sonnet-4-6 "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        sonnet.contains("ACTIVE") && sonnet.contains("budget/adaptive"),
        "{sonnet}"
    );
    assert!(table.contains("LEGACY, ends 2027-01-08"), "{table}");
    assert!(
        !table.contains("claude-3-7"),
        "ended models are not listed: {table}"
    );
    let out = gamecode(cache.path())
        .args(["models", "--emulator", "--json", "--all"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ended = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "anthropic.claude-3-7-sonnet-20250219-v1:0")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(ended["lifecycle"], "END_OF_LIFE");
    assert_eq!(ended["successor"], "anthropic.claude-sonnet-4-6");

    let run = |plugin: &Path, model: &str| {
        gamecode(cache.path())
            .args(["run", "--emulator", "-v", "--model", model])
            .arg(plugin)
            .arg("What is 6 * 7?")
            .output()
            .unwrap()
    };
    let out = run(
        &guest_example(),
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "error: Claude 3.7 Sonnet (anthropic.claude-3-7-sonnet-20250219-v1:0) reached end of \
             life on Bedrock on 2026-04-28; use us.anthropic.claude-sonnet-4-6"
        ),
        "{}",
        show(&out)
    );
    let out = run(&guest_example(), "anthropic.claude-opus-4-7");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr)
            .contains("only through an inference profile: use us.anthropic.claude-opus-4-7"),
        "{}",
        show(&out)
    );
    let out = run(
        &guest_example(),
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        text(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("warning: Claude Opus 4.1"))
            .count(),
        1,
        "{}",
        show(&out)
    );
    // The example asks for a thinking budget; Opus 4.7 takes adaptive thinking only.
    let out = run(&guest_example(), "us.anthropic.claude-opus-4-7");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("42"), "{}", show(&out));
    assert!(text(&out.stderr).contains("thinking: "), "{}", show(&out));
    let fixture = root().join("tests/fixtures/agent_v0_1_0.wasm");
    let out = run(&fixture, "global.anthropic.claude-opus-4-7");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("42"), "{}", show(&out));
}

/// At the sizes people use, with the default model and a long ARN, streamed and not: the
/// spinner line fits the terminal, so clearing it leaves no stale copy, and the answer is
/// whole. The model answers after 700 ms (a standalone emulator with latency), so the spinner
/// turns several times per call.
#[test]
fn the_spinner_leaves_nothing_behind_at_60_80_and_120_columns() {
    let cache = tempfile::tempdir().unwrap();
    let mut emulator = gamecode(cache.path())
        .args(["emulator", "--bind", "127.0.0.1:0", "--latency-ms", "700"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(emulator.stdout.take().unwrap());
    let mut url = String::new();
    while url.is_empty() {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap_or(0) > 0,
            "the emulator says where"
        );
        if let Some(at) = line.find("http://") {
            url = line[at..].split_whitespace().next().unwrap().to_string();
        }
    }
    let creds = [
        ("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID),
        (
            "AWS_SECRET_ACCESS_KEY",
            bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        ),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let example = guest_example();
    let arn =
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6";
    for columns in [60u16, 80, 120] {
        for model in [None, Some(arn)] {
            for stream in ["--stream", "--no-stream"] {
                let mut args = vec!["run", "--endpoint-url", &url, stream];
                if let Some(m) = model {
                    args.extend(["--model", m]);
                }
                args.extend([example.to_str().unwrap(), "What is 12 * 34?"]);
                let shown = screen_of(
                    &in_pty_sized(cache.path(), &args, columns, &creds),
                    usize::from(columns),
                );
                let case = format!("{columns} columns, {model:?}, {stream}:\n{shown:#?}");
                assert!(
                    !shown.iter().any(|l| l.contains("waiting for")),
                    "a stale spinner line: {case}"
                );
                assert!(
                    shown.iter().any(|l| l == "Based on the tool results: 408"),
                    "{case}"
                );
                assert!(
                    shown.last().is_some_and(|l| l.starts_with("done: ")),
                    "{case}"
                );
            }
        }
    }
    let _ = emulator.kill();
    let _ = emulator.wait();
}

/// Every failure class of the exit-code table, as a person meets it: the right code, and a
/// first line in words — no Rust debug formatting, at most 200 characters before anything
/// `-v` would add.
#[test]
fn every_failure_class_reads_as_words() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let example = guest_example();
    std::fs::write(at("notes.png"), "this is text, not a picture\n").unwrap();
    std::fs::write(at("empty.txt"), "").unwrap();
    let mut big = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    big.extend_from_slice(&64u32.to_be_bytes());
    big.extend_from_slice(&64u32.to_be_bytes());
    big.resize(4_100_000, 0);
    std::fs::write(at("big.png"), big).unwrap();
    std::fs::write(at("typo.toml"), "[tools]\nallowed = [\"mcp:subb\"]\n").unwrap();
    let no_aws = |cmd: &mut Command| {
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_BEARER_TOKEN_BEDROCK")
            .env("AWS_REGION", "us-east-1");
    };
    fn attach(file: &str) -> Vec<&str> {
        vec!["run", "--emulator", "--attach", file]
    }
    let big_png = at("big.png").display().to_string();
    let text_png = at("notes.png").display().to_string();
    let empty = at("empty.txt").display().to_string();
    let typo = at("typo.toml").display().to_string();
    std::fs::write(
        at("bad-mcp.sh"),
        "#!/bin/sh\necho 'cannot open tools.yaml: no such file' >&2\nexit 3\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(at("bad-mcp.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let says = format!("bad={}", at("bad-mcp.sh").display());
    // A real MCP server with one tool, `sub__agent`: this binary serving the example.
    let sub = format!(
        "sub={} mcp serve --emulator --name agent {}",
        env!("CARGO_BIN_EXE_gamecode"),
        example.display()
    );
    std::fs::write(
        at("misspelled.toml"),
        "[tools]\nallowed = [\"sub__agnt\"]\n",
    )
    .unwrap();
    let misspelled = at("misspelled.toml").display().to_string();
    let cases: Vec<(u8, Vec<&str>, bool, &str)> = vec![
        // 1: anything else — an MCP server that does not speak MCP, or says why it stopped.
        (
            1,
            vec!["run", "--emulator", "--mcp-server", "bad=false"],
            false,
            "MCP server `bad`",
        ),
        (
            1,
            vec!["run", "--emulator", "--mcp-server", &says],
            false,
            "it said: cannot open tools.yaml: no such file",
        ),
        (
            2,
            vec![
                "run",
                "--emulator",
                "--mcp-server",
                &sub,
                "--policy",
                &misspelled,
            ],
            false,
            "which its MCP server does not offer (did you mean `sub__agent`?)",
        ),
        // 2: usage.
        (
            2,
            vec!["run", "--emulator", "--model", "claude-3-sonnet"],
            false,
            "--model",
        ),
        (
            2,
            vec!["run", "--emulator", "--replay-fallback", "emulator"],
            false,
            "add --replay FILE",
        ),
        (
            2,
            attach(&big_png),
            false,
            "Bedrock takes images of at most 3932160 bytes",
        ),
        (
            2,
            attach(&text_png),
            false,
            "is named like a PNG image but its content is a txt document",
        ),
        (2, attach(&empty), false, "is empty"),
        (
            2,
            vec!["run", "--emulator", "--policy", &typo],
            false,
            "there is no MCP server `subb`",
        ),
        // 3: the plugin — missing, even with no credentials to reach a model.
        (
            3,
            vec!["run", "no-such-plugin.wasm"],
            true,
            "cannot read no-such-plugin.wasm",
        ),
        // 4: the backend — nothing listens at the endpoint; no credentials.
        (
            4,
            vec![
                "run",
                "--endpoint-url",
                "http://127.0.0.1:9",
                "--max-retries",
                "0",
            ],
            false,
            "could not reach Bedrock: Connection refused",
        ),
        (4, vec!["run"], true, "no AWS credentials"),
    ];
    for (code, args, without_aws, expected) in cases {
        let mut cmd = gamecode(cache.path());
        cmd.args(&args);
        if without_aws {
            no_aws(&mut cmd);
        } else {
            cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
                .env("AWS_SECRET_ACCESS_KEY", "secret")
                .env("AWS_REGION", "us-east-1");
        }
        if !args.contains(&"no-such-plugin.wasm") {
            cmd.arg(&example);
        }
        let out = cmd.arg("What is 6 * 7?").output().unwrap();
        let case = format!("{args:?}\n{}", show(&out));
        assert_eq!(out.status.code(), Some(i32::from(code)), "{case}");
        let stderr = text(&out.stderr);
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {case}"));
        assert!(error.contains(expected), "{expected}: {case}");
        assert!(
            error.chars().count() <= 200,
            "{} characters: {case}",
            error.chars().count()
        );
        for debug in [
            "{ ",
            "Some(",
            "DispatchFailure",
            "ConnectorError",
            "::",
            "\\\"",
        ] {
            assert!(!error.contains(debug), "{debug} in {error}");
        }
    }
    // With no policy, MCP tools are hidden, and the run says why.
    let out = gamecode(cache.path())
        .args(["run", "--emulator", "--mcp-server", &sub])
        .arg(&example)
        .arg("What is 6 * 7?")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "note: MCP tools are opt-in and no policy names them, so the plugin is offered none \
             of 1; to offer them: [tools] allowed = [\"mcp:sub\"] in a --policy file"
        ),
        "{}",
        show(&out)
    );
}

/// The README's offline examples with two granted folders: the emulated model looks inside
/// the folders before reading (it used to read "." and fail), and "Where is the parser?"
/// gets tool calls, not an echo.
#[test]
fn offline_the_model_looks_inside_several_granted_folders() {
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("docs")).unwrap();
    std::fs::create_dir(work.path().join("src")).unwrap();
    std::fs::write(
        work.path().join("docs/guide.md"),
        "# Guide\nPlugins are sandboxed.\n",
    )
    .unwrap();
    std::fs::write(work.path().join("src/parser.rs"), "pub fn parse() {}\n").unwrap();
    let run = |task: &str| {
        gamecode(cache.path())
            .current_dir(work.path())
            .args([
                "run",
                "--emulator",
                "--allow-read",
                "./docs",
                "--allow-read",
                "./src",
            ])
            .arg(guest_example())
            .arg(task)
            .output()
            .unwrap()
    };
    let out = run("Summarize the docs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(r#"tool list_dir({"path":"docs"})"#),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stdout).contains("Plugins are sandboxed."),
        "{}",
        show(&out)
    );
    assert!(!text(&out.stderr).contains("failed"), "{}", show(&out));
    let out = run("Where is the parser?");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(r#"tool list_dir({"path":"src"})"#),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stdout).contains("src/parser.rs"),
        "{}",
        show(&out)
    );
}
