//! `gamecode chat`: a session in the terminal. Each line the user writes is a run of the
//! plugin in the session (`Run::session`), its answer streamed as it comes; Ctrl-C cancels
//! the turn, not the session. Lines are edited and remembered by rustyline.

use std::sync::Arc;

use gamecode_host::state::{RunStatus, StateStore};
use gamecode_host::{Decision, PendingCall, RunError};
use rustyline::error::ReadlineError;

use crate::progress::Progress;
use crate::{ChatArgs, EXIT_OTHER, Failure, RunArgs, run, sessions, state, terminal};

/// Under 60 columns a line.
const HELP: &str = "/history shows it, /new starts another, /exit leaves;\n\
                    Ctrl-C stops an answer";

pub(crate) async fn chat(args: ChatArgs, verbose: u8) -> Result<(), Failure> {
    let store: Arc<dyn StateStore> = state::open()?;
    let mut session = args.session.clone().unwrap_or_else(new_session_name);
    let run_args = RunArgs {
        plugin: args.plugin,
        task: String::new(),
        attach: Vec::new(),
        session: None,
        stream: true,
        no_stream: false,
        no_journal: false,
        fleet: crate::fleet::FleetArgs::default(),
        host: args.host,
    };
    let progress = Progress::for_chat(terminal::stderr_is_tty());
    let started = run::start(&run_args, verbose, &progress, Some(store.clone()), false).await?;
    let package = started.plugin.wit_package();
    if package.as_str() < "gamecode:plugin@0.2.1" {
        progress.line(&format!(
            "note: the plugin targets {package}, which has no session conversations: it \
             answers each line on its own"
        ));
    }
    progress.line(&format!("session {session}\n{HELP}"));
    note_interrupted(store.as_ref(), &session, &progress);

    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot read the terminal: {e}")))?;
    let history = gamecode_host::state::default_path().map(|p| p.with_file_name("chat_history"));
    if let Some(path) = &history {
        // No history yet is no loss.
        let _ = editor.load_history(path);
    }
    loop {
        let line = tokio::task::block_in_place(|| editor.readline("> "));
        let line = match line {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                progress.line("(Ctrl-C: /exit or Ctrl-D leaves)");
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::new(EXIT_OTHER, format!("reading a line: {e}"))),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        match line {
            "/exit" | "/quit" => break,
            "/new" => {
                session = new_session_name();
                progress.line(&format!("session {session}"));
            }
            "/history" => match sessions::turns(store.as_ref(), &session) {
                Ok(turns) if turns.is_empty() => progress.line("(nothing yet)"),
                Ok(turns) => print!("{}", sessions::render(&turns)),
                Err(f) => progress.line(&format!("error: {}", f.message)),
            },
            "/help" => progress.line(HELP),
            command if command.starts_with('/') => {
                progress.line(&format!("unknown command {command}: {HELP}"));
            }
            task => turn(&started, &progress, &session, task, &mut editor).await,
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    started.check(&run_args, &progress)?;
    progress.line(&format!(
        "session {session} is kept; to go on with it:\n  gamecode chat --session {session} …"
    ));
    Ok(())
}

/// One line: a run of the plugin in the session, until its answer or Ctrl-C. A tool call
/// that needs approval stops the run; the person is asked, and the run continues with the
/// decision.
async fn turn(
    started: &run::Started,
    progress: &Arc<Progress>,
    session: &str,
    task: &str,
    editor: &mut rustyline::DefaultEditor,
) {
    progress.next_run();
    let mut run = started
        .plugin
        .run(task)
        .session(session)
        .cancel_on(ctrl_c());
    if let Some(context) = state::chat_turn_context(task, session) {
        run = run.context(context);
    }
    let mut report = run.report().await;
    loop {
        progress.finish();
        match (report.result, report.run_id) {
            (Ok(answer), _) => return progress.answer(&answer),
            (Err(RunError::AwaitingApproval { tool, input }), Some(run_id)) => {
                let call = PendingCall { tool, input };
                let decision = ask(editor, progress, &call);
                progress.next_run();
                report = started
                    .plugin
                    .decide(run_id, call, decision)
                    .cancel_on(ctrl_c())
                    .report()
                    .await;
            }
            (Err(RunError::Cancelled), _) => {
                // Ended, marked failed: nothing to resume, nothing added to the session.
                progress.next_run();
                return progress.line("cancelled: this turn is not kept");
            }
            (Err(e), _) => return progress.line(&format!("error: {e}")),
        }
    }
}

/// Completes at the next Ctrl-C (the terminal's SIGINT, caught for the process from then on).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling here: never cancel.
        std::future::pending::<()>().await;
    }
}

/// Asks the person about `call`: `y` approves; anything else denies, and its words (if more
/// than `n`) are the reason the plugin is given.
fn ask(editor: &mut rustyline::DefaultEditor, progress: &Progress, call: &PendingCall) -> Decision {
    progress.line(&format!("the agent wants to call {call}"));
    let line = tokio::task::block_in_place(|| editor.readline("allow? [y/N, or why not] "));
    let answer = line.unwrap_or_default();
    match answer.trim() {
        "y" | "Y" | "yes" => Decision::Approve,
        "" | "n" | "N" | "no" => Decision::Deny("the user said no".into()),
        reason => Decision::Deny(reason.to_string()),
    }
}

/// Interrupted turns of the session (the chat died in them): how to finish them.
fn note_interrupted(store: &dyn StateStore, session: &str, progress: &Progress) {
    let Ok(runs) = store.runs() else { return };
    for r in runs
        .iter()
        .filter(|r| r.session.as_deref() == Some(session) && r.status == RunStatus::Interrupted)
    {
        progress.line(&format!(
            "a turn of this session was interrupted: `gamecode resume {}` finishes it",
            r.id
        ));
    }
}

/// A new session's name: `chat-` and the time it started (UTC), which sorts.
fn new_session_name() -> String {
    let stamp: String = gamecode_cassette::now_rfc3339()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!(
        "chat-{}-{}",
        &stamp[..8.min(stamp.len())],
        &stamp[8.min(stamp.len())..]
    )
}
