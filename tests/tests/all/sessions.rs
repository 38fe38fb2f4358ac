//! Sessions: runs of one session continue the plugin's conversation (`gamecode run
//! --session`), processes writing one session at once lose no turn, and `gamecode chat`
//! works as a person uses it, through a pseudo-terminal: lines answered from the session's
//! history, Ctrl-C stopping an answer and not the session, /history, /exit.

use std::path::Path;
use std::time::Duration;

use bedrock_emulator::Emulator;
use gamecode_e2e::*;
use gamecode_state::{RunStatus, SqliteStore, StateStore};

fn gamecode(dir: &Path) -> std::process::Command {
    emulator_gamecode(dir)
}

/// `gamecode run --session NAME` of the example plugin on `task`, against `emu`.
fn session_run(emu: &Emulator, dir: &Path, session: &str, task: &str) -> std::process::Child {
    gamecode(dir)
        .args(["run", "--no-stream", "--endpoint-url", &emu.url()])
        .args(["--session", session])
        .arg(guest_example())
        .arg(task)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gamecode runs")
}

fn answer_of(child: std::process::Child) -> String {
    let out = child.wait_with_output().expect("gamecode ends");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_a_session_continue_its_conversation_and_concurrent_ones_lose_no_turn() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = answer_of(session_run(&emu, dir.path(), "s", "My name is Ada."));
    assert!(first.ends_with("My name is Ada."), "{first}");

    // Four processes add a turn each at once: every model call takes long enough that all of
    // them read the session before any adds to it.
    emu.set_latency(Duration::from_secs(2));
    let tasks = [
        "Hello from A.",
        "Hello from B.",
        "Hello from C.",
        "Hello from D.",
    ];
    let children: Vec<_> = tasks
        .iter()
        .map(|t| session_run(&emu, dir.path(), "s", t))
        .collect();
    for (child, task) in children.into_iter().zip(tasks) {
        // Each was answered on the session as it was (the first turn), not on another's.
        let answer = answer_of(child);
        assert!(answer.ends_with(task), "{answer}");
    }
    emu.set_latency(Duration::ZERO);
    // They overlapped: at least two read the session before either added its turn (each
    // sent the first exchange and its own line, nothing of the others').
    let overlapped = emu
        .requests()
        .iter()
        .filter(|r| r.body["messages"].as_array().map_or(0, Vec::len) == 3)
        .count();
    assert!(overlapped >= 2, "{overlapped} of the four runs overlapped");

    let recall = answer_of(session_run(&emu, dir.path(), "s", "What did I say before?"));
    assert!(
        recall.starts_with("Earlier in this conversation you said:"),
        "{recall}"
    );
    for said in std::iter::once("My name is Ada.").chain(tasks) {
        assert!(
            recall.contains(&format!("\"{said}\"")),
            "{said} in {recall}"
        );
    }
    // The model was sent the whole session: 5 earlier exchanges and the question.
    let last = emu.requests().last().cloned().expect("a request");
    let messages = last.body["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(messages, 5 * 2 + 1, "{}", last.body);

    let store = SqliteStore::open(dir.path().join("state/state.sqlite")).expect("the store");
    let turns = store
        .session_turns("s", None, u64::MAX >> 1)
        .expect("turns");
    assert_eq!(turns.len(), 6, "five earlier turns and the question's");
    assert!(turns.iter().enumerate().all(|(i, t)| t.seq == i as u64 + 1));
    store.check_integrity().expect("sound");

    let listed = gamecode(dir.path())
        .args(["sessions", "list"])
        .output()
        .expect("sessions list");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("s ") && l.contains(" 6 ")),
        "{listed}"
    );
    let shown = gamecode(dir.path())
        .args(["sessions", "show", "s"])
        .output()
        .expect("sessions show");
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("── turn 6") && shown.contains("you: My name is Ada."),
        "{shown}"
    );
    let removed = gamecode(dir.path())
        .args(["sessions", "rm", "s"])
        .output()
        .expect("sessions rm");
    assert!(removed.status.success());
    let gone = gamecode(dir.path())
        .args(["sessions", "show", "s"])
        .output()
        .expect("sessions show");
    assert_eq!(gone.status.code(), Some(2), "{gone:?}");
}

/// Terminal output as a person reads it: each line as the terminal leaves it after carriage
/// returns, cursor moves right (`ESC [ n C`) and erasures (`ESC [ K`, `ESC [ 2 K`); other
/// escape sequences have no effect on the text.
fn as_read(raw: &str) -> Vec<String> {
    let (mut lines, mut line, mut col) = (Vec::new(), Vec::<char>::new(), 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_none() {
                    continue;
                }
                let mut params = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        end = c;
                        break;
                    }
                    params.push(c);
                }
                match (end, params.as_str()) {
                    ('C', n) => col += n.parse::<usize>().unwrap_or(1),
                    ('K', "" | "0") => line.truncate(col),
                    ('K', "2") => line.clear(),
                    _ => {}
                }
            }
            '\r' => col = 0,
            '\n' => {
                lines.push(line.iter().collect::<String>().trim_end().to_string());
                (line, col) = (Vec::new(), 0);
            }
            c => {
                if line.len() < col {
                    line.resize(col, ' ');
                }
                match line.get_mut(col) {
                    Some(at) => *at = c,
                    None => line.push(c),
                }
                col += 1;
            }
        }
    }
    lines.push(line.iter().collect::<String>().trim_end().to_string());
    lines
}

/// Whether `line` is what `shown` (a README line, `…` for what varies) shows.
fn shows(line: &str, shown: &str) -> bool {
    let mut rest = line;
    for (i, part) in shown.split('…').enumerate() {
        match rest.find(part) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + part.len()..],
            _ => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_chat_transcript_is_what_gamecode_chat_shows() {
    init_tracing();
    let block = readme_block("chat-transcript");
    let mut lines = block.lines();
    let command = lines.next().expect("the command");
    let args: Vec<&str> = command
        .strip_prefix("$ gamecode ")
        .expect("a gamecode command")
        .split_whitespace()
        .collect();
    let shown: Vec<&str> = lines.collect();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(guest_example(), dir.path().join("agent.wasm")).expect("agent.wasm");
    let mut cmd = gamecode(dir.path());
    cmd.args(&args)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::inherit());
    let mut chat = rexpect::session::spawn_command(cmd, Some(60_000)).expect("chat starts");
    // A line is typed once the line shown before it is there and the prompt is back (typed
    // ahead, the line editor would drop it).
    let mut seen = String::new();
    let mut before = "";
    for line in &shown {
        let Some(typed) = line.strip_prefix("> ") else {
            before = line;
            continue;
        };
        for wait in [before.split('…').next().unwrap_or(before), "> "] {
            seen.push_str(&chat.exp_string(wait).expect("the line before the prompt"));
            seen.push_str(wait);
        }
        chat.send_line(typed).expect("typed");
    }
    seen.push_str(&chat.exp_eof().expect("the chat ends"));
    // (rexpect reads bytes as Latin-1: the README's lines are ASCII where they are checked.)
    let seen = as_read(&seen);
    let mut at = 0;
    for line in shown {
        match seen[at..].iter().position(|l| shows(l, line)) {
            Some(i) => at += i + 1,
            None => panic!("the chat did not show `{line}` where the README does:\n{seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamecode_chat_in_a_terminal_remembers_cancels_a_turn_on_ctrl_c_and_keeps_the_session() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = gamecode(dir.path());
    cmd.args(["chat", "--endpoint-url", &emu.url(), "--session", "pty"])
        .arg(guest_example())
        // The pseudo-terminal, not the isolated command's /dev/null.
        .stdin(std::process::Stdio::inherit());
    let mut chat = rexpect::session::spawn_command(cmd, Some(60_000)).expect("chat starts");
    chat.exp_string("session pty").expect("the greeting");

    let turns = [
        ("My name is Ada.", "answering: My name is Ada."),
        ("What is 6 * 7?", "Based on the tool results: 42"),
        (
            "What did I say before?",
            "you said: \"My name is Ada.\"; \"What is 6 * 7?\".",
        ),
    ];
    for (typed, answer) in turns {
        chat.exp_string("> ").expect("a prompt");
        chat.send_line(typed).expect("typed");
        chat.exp_string(answer).expect("the answer");
    }

    // A slow answer, stopped by Ctrl-C: the chat goes on.
    emu.set_latency(Duration::from_secs(30));
    chat.exp_string("> ").expect("a prompt");
    chat.send_line("Tell me a long story.").expect("typed");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    chat.send_control('c').expect("Ctrl-C");
    chat.exp_string("cancelled: this turn is not kept")
        .expect("the turn is cancelled");
    emu.set_latency(Duration::ZERO);
    chat.exp_string("> ").expect("a prompt");
    chat.send_line("/history").expect("typed");
    // (rexpect reads bytes as Latin-1: ASCII only.)
    chat.exp_string("turn 3, ").expect("the history");
    chat.exp_string("> ").expect("a prompt");
    chat.send_line("/exit").expect("typed");
    chat.exp_string("session pty is kept").expect("the goodbye");
    chat.exp_eof().expect("the chat ends");

    // Three turns kept; the cancelled one is over (not interrupted) and added nothing.
    let store = SqliteStore::open(dir.path().join("state/state.sqlite")).expect("the store");
    assert_eq!(
        store
            .session_turns("pty", None, u64::MAX >> 1)
            .expect("turns")
            .len(),
        3
    );
    let runs = store.runs().expect("runs");
    assert_eq!(runs.len(), 4);
    let cancelled = runs
        .iter()
        .find(|r| r.status == RunStatus::Failed)
        .expect("the cancelled run");
    assert!(
        cancelled
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("cancelled"),
        "{cancelled:?}"
    );
    assert!(runs.iter().all(|r| r.session.as_deref() == Some("pty")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_killed_mid_turn_names_the_turn_and_gamecode_resume_finishes_it() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let chat = |dir: &Path| {
        let mut cmd = gamecode(dir);
        cmd.args(["chat", "--endpoint-url", &emu.url(), "--session", "k"])
            .arg(guest_example())
            .stdin(std::process::Stdio::inherit());
        rexpect::session::spawn_command(cmd, Some(60_000)).expect("chat starts")
    };
    let store = || SqliteStore::open(dir.path().join("state/state.sqlite")).expect("the store");

    // A turn whose model call hangs, and the chat killed in it.
    emu.set_latency(Duration::from_secs(60));
    let mut first = chat(dir.path());
    first.exp_string("> ").expect("a prompt");
    first.send_line("My name is Ada.").expect("typed");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while emu.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the turn never called the model"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first
        .process_mut()
        .kill(rexpect::process::Signal::SIGKILL)
        .expect("killed");
    drop(first);
    emu.set_latency(Duration::ZERO);
    let runs = store().runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Interrupted);
    let id = runs[0].id.clone();

    // The next chat of the session names it, and how to finish it.
    let mut second = chat(dir.path());
    second
        .exp_string(&format!("gamecode resume {id}"))
        .expect("the interrupted turn named");
    second.exp_string("> ").expect("a prompt");
    second.send_line("/exit").expect("typed");
    second.exp_eof().expect("the chat ends");

    // `gamecode resume` runs it as the turn of the session it was.
    let resumed = gamecode(dir.path())
        .args(["resume", &id])
        .output()
        .expect("resume");
    let answer = String::from_utf8_lossy(&resumed.stdout).to_string();
    assert!(
        resumed.status.success() && answer.contains("My name is Ada."),
        "{answer}\n{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let turns = store()
        .session_turns("k", None, u64::MAX >> 1)
        .expect("turns");
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].run_id.as_deref(), Some(id.as_str()));
}
