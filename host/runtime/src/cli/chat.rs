//! `gamecode chat`: a session in the terminal. Each line the user writes is a run of the
//! plugin in the session (`Run::session`), its answer streamed as it comes; Ctrl-C cancels
//! the turn, not the session. Lines are edited and remembered by rustyline.

use std::sync::{Arc, Mutex, PoisonError};

use gamecode_host::state::{RunStatus, StateStore};
use gamecode_host::{Decision, PendingCall, RunError, RunEvent, RunObserver};
use rustyline::error::ReadlineError;

use crate::progress::Progress;
use crate::{ChatArgs, EXIT_OTHER, Failure, RunArgs, run, sessions, state, terminal};

const HELP: &str = "/history shows the session, /new starts another, /exit (or Ctrl-D) leaves; \
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
    progress.line(&format!("session {session}: {HELP}"));
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
            task => turn(&started, &progress, &store, &session, task, &mut editor).await,
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    started.check(&run_args, &progress)?;
    progress.line(&format!(
        "session {session} is kept: `gamecode chat --session {session} …` continues it"
    ));
    Ok(())
}

/// One line: a run of the plugin in the session, until its answer or Ctrl-C. A tool call
/// that needs approval stops the run; the person is asked, and the run continues with the
/// decision.
async fn turn(
    started: &run::Started,
    progress: &Arc<Progress>,
    store: &Arc<dyn StateStore>,
    session: &str,
    task: &str,
    editor: &mut rustyline::DefaultEditor,
) {
    progress.next_run();
    let id = Arc::new(RunIdOf::default());
    let mut run = started
        .plugin
        .run(task)
        .session(session)
        .observer(id.clone());
    if let Some(context) = state::chat_turn_context(task, session) {
        run = run.context(context);
    }
    let mut report = until_ctrl_c(run.report()).await;
    loop {
        progress.finish();
        let Some(done) = report else {
            // The run was dropped where it was: it is over, not interrupted (nothing to
            // resume), and adds nothing to the session.
            if let Some(id) = id.get() {
                let _ = store.finish(&id, RunStatus::Failed, "cancelled by the user (Ctrl-C)");
            }
            progress.next_run();
            progress.line("cancelled: this turn is not kept");
            return;
        };
        match (done.result, done.run_id) {
            (Ok(answer), _) => return progress.answer(&answer),
            (Err(RunError::AwaitingApproval { tool, input }), Some(run_id)) => {
                let call = PendingCall { tool, input };
                let decision = ask(editor, progress, &call);
                progress.next_run();
                let resumed = started.plugin.decide(run_id, decision).observer(id.clone());
                report = until_ctrl_c(resumed.report()).await;
            }
            (Err(e), _) => return progress.line(&format!("error: {e}")),
        }
    }
}

/// The run's report, or `None` at Ctrl-C (the run is dropped).
async fn until_ctrl_c(
    report: impl std::future::Future<Output = gamecode_host::RunReport>,
) -> Option<gamecode_host::RunReport> {
    tokio::select! {
        report = report => Some(report),
        _ = tokio::signal::ctrl_c() => None,
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

/// Catches the run's id in the state store as the run starts.
#[derive(Default)]
struct RunIdOf(Mutex<Option<String>>);

impl RunIdOf {
    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl RunObserver for RunIdOf {
    fn on_event(&self, _plugin: &str, event: &RunEvent) {
        if let RunEvent::Journaled { run_id, .. } = event {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(run_id.clone());
        }
    }
}
