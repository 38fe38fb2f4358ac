//! Tool calls that wait for a person: a run stops at a host tool call its host marks for
//! approval, journaled and holding nothing, and goes on with the decision — the call made,
//! or refused with the person's reason — without repeating a model call.

use std::path::Path;
use std::sync::Arc;

use gamecode_e2e::*;
use gamecode_host::{Approvals, Decision, PendingCall, PluginHost, RunError, RunReport};
use gamecode_state::{RunStatus, SqliteStore, StateStore};

const TASK: &str = "What does notes.txt say?";

/// The call a run stopped to wait on.
fn pending(report: &RunReport) -> PendingCall {
    match &report.result {
        Err(RunError::AwaitingApproval { tool, input }) => PendingCall {
            tool: tool.clone(),
            input: input.clone(),
        },
        other => panic!("not waiting: {other:?}"),
    }
}

/// The id of the run `gamecode run` said waits (`gamecode approve ID`).
fn waiting_id(stderr: &str) -> String {
    stderr
        .split("gamecode approve ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the run's id")
        .to_string()
}

/// `dir/notes`, holding `notes.txt`.
fn notes_in(dir: &Path) -> std::path::PathBuf {
    let notes = dir.join("notes");
    std::fs::create_dir_all(&notes).expect("notes dir");
    std::fs::write(notes.join("notes.txt"), "the launch code is pineapple").expect("notes");
    notes
}

/// A folder with `notes.txt`, and a host granting it whose `read_file` needs approval,
/// durable when given a store.
fn host(
    emu: &bedrock_emulator::Emulator,
    dir: &Path,
    store: Option<Arc<SqliteStore>>,
) -> PluginHost {
    let mut host = PluginHost::builder()
        .backend(bedrock(emu))
        .tools(
            gamecode_host::tools::fs::FsRoot::new(dir)
                .expect("dir")
                .tools(),
        )
        .approvals(Approvals::tools(["read_file"]))
        .cache(Some(shared_cache()));
    if let Some(store) = store {
        host = host.state(store);
    }
    host.build().expect("host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_approval_and_goes_on_with_the_decision() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "the launch code is pineapple").expect("notes");
    let store = Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).expect("store"));
    let plugin = load(
        &host(&emu, dir.path(), Some(store.clone())),
        &guest_example(),
    );

    // Approved: the run stops at read_file, then reads it.
    let waiting = plugin.run(TASK).report().await;
    assert!(
        matches!(&waiting.result, Err(RunError::AwaitingApproval { tool, input })
            if tool == "read_file" && input.contains("notes.txt")),
        "{:?}",
        waiting.result
    );
    let id = waiting.run_id.clone().expect("a durable run");
    let call = pending(&waiting);
    let record = store.run(&id).expect("the run");
    assert_eq!(record.status, RunStatus::Waiting);
    assert!(record.owner.is_none(), "nobody holds a waiting run");
    assert_eq!(
        record.waiting.as_deref().and_then(PendingCall::decode),
        Some(call.clone())
    );
    // A decision on another call than the one the run waits on is refused; it still waits.
    let other = PendingCall {
        tool: "read_file".into(),
        input: r#"{"path":"other.txt"}"#.into(),
    };
    let refused = plugin.decide(&id, other, Decision::Approve).report().await;
    assert!(
        matches!(&refused.result, Err(RunError::Journal(m)) if m.contains("another call")),
        "{:?}",
        refused.result
    );
    assert_eq!(store.run(&id).expect("the run").status, RunStatus::Waiting);
    let asked = emu.requests().len();
    // A plain resume is refused: the run needs a decision.
    let refused = plugin.resume(&id).report().await;
    assert!(
        matches!(&refused.result, Err(RunError::Journal(m)) if m.contains("decision")),
        "{:?}",
        refused.result
    );
    let approved = plugin.decide(&id, call, Decision::Approve).report().await;
    let answer = approved.result.expect("the approved run answers");
    assert!(answer.contains("pineapple"), "{answer}");
    assert_eq!(store.run(&id).expect("the run").status, RunStatus::Finished);
    // The model call before the wait was answered from the journal: one more call, the one
    // after the tool's result.
    assert_eq!(emu.requests().len(), asked + 1);

    // Denied: the plugin gets the reason as the tool's error, and the model sees it.
    let waiting = plugin.run(TASK).report().await;
    let id = waiting.run_id.clone().expect("a durable run");
    let call = pending(&waiting);
    let denied = plugin
        .decide(
            &id,
            call.clone(),
            Decision::Deny("those notes are private".into()),
        )
        .report()
        .await;
    let answer = denied.result.expect("the denied run answers");
    assert!(
        answer.contains("those notes are private") && !answer.contains("pineapple"),
        "{answer}"
    );
    // A decision for a run that is not waiting is refused.
    let again = plugin.decide(&id, call, Decision::Approve).report().await;
    assert!(
        matches!(again.result, Err(RunError::Journal(_))),
        "{:?}",
        again.result
    );

    // A host without a store cannot wait: the call is refused, and the plugin says so.
    let plugin = load(&host(&emu, dir.path(), None), &guest_example());
    let answer = plugin.run(TASK).await.expect("answers").answer;
    assert!(answer.contains("approval"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamecode_run_stops_for_approval_and_gamecode_approve_goes_on() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notes = notes_in(dir.path());
    // What the README's `approval` block shows is what this test runs.
    let block = readme_block("approval");
    for shown in [
        "--approve read_file",
        "gamecode runs list",
        "gamecode approve ",
        "--deny \"those notes are private\"",
        TASK,
    ] {
        assert!(block.contains(shown), "the README shows `{shown}`");
    }
    let run = || {
        let mut cmd = emulator_gamecode(dir.path());
        cmd.args(["run", "--no-stream", "--endpoint-url", &emu.url()])
            .args([
                "--session",
                "notes",
                "--approve",
                "read_file",
                "--allow-read",
            ])
            .arg(&notes)
            .arg(guest_example())
            .arg(TASK);
        cmd.output().expect("gamecode run")
    };
    let stopped = run();
    let stderr = String::from_utf8_lossy(&stopped.stderr).to_string();
    assert_eq!(stopped.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("waits for a person to approve read_file"),
        "{stderr}"
    );
    let id = waiting_id(&stderr);
    let listed = emulator_gamecode(dir.path())
        .args(["runs", "list"])
        .output()
        .expect("runs list");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed.contains(&id) && listed.contains("waiting"),
        "{listed}"
    );
    // `resume` points to `approve`.
    let resumed = emulator_gamecode(dir.path())
        .args(["resume", &id])
        .output()
        .expect("resume");
    assert_eq!(resumed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("gamecode approve"));

    // A session whose run waits is kept whole until the run ends.
    let rm = emulator_gamecode(dir.path())
        .args(["sessions", "rm", "notes"])
        .output()
        .expect("sessions rm");
    assert_eq!(rm.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&rm.stderr).contains(&id));

    let approved = emulator_gamecode(dir.path())
        .args(["approve", &id])
        .output()
        .expect("approve");
    let answer = String::from_utf8_lossy(&approved.stdout).to_string();
    assert!(
        approved.status.success() && answer.contains("pineapple"),
        "{answer}\n{}",
        String::from_utf8_lossy(&approved.stderr)
    );

    let stopped = run();
    let stderr = String::from_utf8_lossy(&stopped.stderr).to_string();
    let id = waiting_id(&stderr);
    let denied = emulator_gamecode(dir.path())
        .args(["approve", &id, "--deny", "those notes are private"])
        .output()
        .expect("approve --deny");
    let answer = String::from_utf8_lossy(&denied.stdout).to_string();
    assert!(
        denied.status.success()
            && answer.contains("those notes are private")
            && !answer.contains("pineapple"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamecode_chat_asks_before_an_approved_tool_runs() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notes = notes_in(dir.path());
    let mut cmd = emulator_gamecode(dir.path());
    cmd.args([
        "chat",
        "--endpoint-url",
        &emu.url(),
        "--approve",
        "read_file",
    ])
    .arg("--allow-read")
    .arg(&notes)
    .arg(guest_example())
    // The pseudo-terminal, not the isolated command's /dev/null.
    .stdin(std::process::Stdio::inherit());
    let mut chat = rexpect::session::spawn_command(cmd, Some(60_000)).expect("chat starts");

    chat.exp_string("> ").expect("a prompt");
    chat.send_line(TASK).expect("typed");
    chat.exp_string("the agent wants to call read_file")
        .expect("the question");
    chat.exp_string("allow? ").expect("the prompt");
    chat.send_line("y").expect("typed");
    chat.exp_string("pineapple").expect("the approved answer");

    chat.exp_string("> ").expect("a prompt");
    chat.send_line(TASK).expect("typed");
    chat.exp_string("allow? ").expect("the prompt");
    chat.send_line("not today").expect("typed");
    chat.exp_string("a person denied this call: not today")
        .expect("the denied answer");
    chat.exp_string("> ").expect("a prompt");
    chat.send_line("/exit").expect("typed");
    chat.exp_eof().expect("the chat ends");

    let store = SqliteStore::open(dir.path().join("state/state.sqlite")).expect("the store");
    let runs = store.runs().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Finished),
        "{runs:?}"
    );
}
