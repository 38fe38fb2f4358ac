//! The CLI's state store (`$GAMECODE_STATE_DIR`, else the user's data dir), and what a run
//! keeps of its command line so that `gamecode resume` can start it again.

use std::sync::Arc;

use gamecode_host::state::{SqliteStore, StateStore};
use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::{EXIT_OTHER, Failure};

/// What `gamecode run` keeps with a durable run to start it again: its arguments and the
/// directory they were given in (relative paths are read from there).
#[derive(Serialize, Deserialize)]
pub(crate) struct RunContext {
    pub(crate) args: Vec<String>,
    pub(crate) cwd: String,
}

/// This invocation's context, for [`gamecode_host::Run::context`]; `None` when an argument
/// or the directory is not UTF-8 (kept as text, it would not give the same run back).
pub(crate) fn context_now() -> Option<String> {
    context_of(args_now()?)
}

/// This invocation's arguments (after the program's name), if all are UTF-8.
fn args_now() -> Option<Vec<String>> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect()
}

/// `args`, given in this directory, as a run's context.
fn context_of(args: Vec<String>) -> Option<String> {
    let cwd = std::env::current_dir()
        .ok()?
        .into_os_string()
        .into_string()
        .ok()?;
    serde_json::to_string(&RunContext { args, cwd }).ok()
}

/// The context of one `gamecode chat` turn: the `gamecode run` that does the same (its
/// arguments with `run` for `chat`, the session and the line as the task), so that an
/// interrupted turn resumes like any run.
pub(crate) fn chat_turn_context(task: &str, session: &str) -> Option<String> {
    let given = args_now()?;
    let at = given.iter().position(|a| a == "chat")?;
    let mut args: Vec<String> = given[..at].to_vec();
    args.push("run".into());
    let mut rest = given[at + 1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--session" => {
                rest.next();
            }
            a if a.starts_with("--session=") => {}
            _ => args.push(arg.clone()),
        }
    }
    args.extend(["--session".into(), session.into(), "--".into(), task.into()]);
    context_of(args)
}

/// The state store at `$GAMECODE_STATE_DIR` or the user's data dir.
pub(crate) fn open() -> Result<Arc<SqliteStore>, Failure> {
    SqliteStore::open_default()
        .map(Arc::new)
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))
}

/// The store for a new run: without one, the run goes on, not journaled.
pub(crate) fn open_for_run(progress: &Progress) -> Option<Arc<dyn StateStore>> {
    match open() {
        Ok(store) => Some(store),
        Err(f) => {
            progress.line(&format!(
                "warning: this run is not journaled: {}\n(--no-journal silences this)",
                f.message
            ));
            None
        }
    }
}
