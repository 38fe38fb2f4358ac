//! Durable runs from the command line: `gamecode runs list | show`, and `gamecode resume`
//! (and `approve`), which starts the host again with the arguments the run was started with
//! and continues it from its journal.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use gamecode_host::state::{RunRecord, RunStatus, StateStore};
use gamecode_host::{Decision, PendingCall};

use crate::run::Resume;
use crate::state::{RunContext, open};
use crate::{Cli, Command, EXIT_OTHER, EXIT_USAGE, Failure, RunsAction};

/// `gamecode resume RUN_ID`: the run's own `gamecode run` again, continuing its journal.
/// With a `decision`, `gamecode approve`: the run waiting for it continues with it.
pub(crate) async fn resume(
    run_id: String,
    verbose: u8,
    decision: Option<Decision>,
) -> Result<(), Failure> {
    let store = open()?;
    let record = store
        .run(&run_id)
        .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    // Before anything starts (MCP servers, the plugin's compile): can it be taken at all?
    let wanted = match decision {
        Some(_) => RunStatus::Waiting,
        None => RunStatus::Interrupted,
    };
    if record.status != wanted {
        let why = match record.status {
            RunStatus::Running => format!(
                "process {} is still running it",
                record.owner.as_ref().map_or(0, |o| o.pid)
            ),
            RunStatus::Waiting => format!(
                "it waits for a person's decision on {}: gamecode approve {run_id} \
                 [--deny REASON]",
                waiting_for(&record)
            ),
            RunStatus::Interrupted => {
                format!("it is interrupted, not waiting: gamecode resume {run_id}")
            }
            status => format!("it has {status}"),
        };
        return Err(Failure::new(
            EXIT_OTHER,
            format!("run {run_id} cannot be continued: {why}"),
        ));
    }
    let context: RunContext = record
        .context
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                format!(
                    "run {run_id} was not started by `gamecode run`; resume it with the host \
                     that ran it (Plugin::resume)"
                ),
            )
        })?;
    let argv = std::iter::once("gamecode".to_string()).chain(context.args);
    let mut args = match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Run(args),
            ..
        }) => args,
        _ => {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("run {run_id}'s arguments no longer parse as a `gamecode run`"),
            ));
        }
    };
    std::env::set_current_dir(&context.cwd).map_err(|e| {
        Failure::new(
            EXIT_OTHER,
            format!("run {run_id} was started in {}: {e}", context.cwd),
        )
    })?;
    if args.host.record.take().is_some() {
        eprintln!(
            "note: the resumed run is not recorded: --record\nwould start its cassette again"
        );
    }
    // The call decided on is the one the person was told of: if someone else decides first
    // and the run goes on to wait on another, this decision is refused, not given to it.
    let decision = match decision {
        Some(decision) => {
            let call = record
                .waiting
                .as_deref()
                .and_then(PendingCall::decode)
                .ok_or_else(|| {
                    Failure::new(
                        EXIT_OTHER,
                        format!("run {run_id} does not say what it waits on"),
                    )
                })?;
            eprintln!(
                "{} {call}",
                match &decision {
                    Decision::Approve => "approving",
                    Decision::Deny(_) => "denying",
                }
            );
            Some((call, decision))
        }
        None => None,
    };
    let resume = Resume {
        run_id,
        store: store as Arc<dyn StateStore>,
        decision,
    };
    crate::run::run(*args, verbose, Some(resume)).await
}

/// The tool call a waiting run asks about, as a person reads it.
pub(crate) fn waiting_for(record: &RunRecord) -> String {
    record
        .waiting
        .as_deref()
        .and_then(PendingCall::decode)
        .map_or_else(|| "a tool call".to_string(), |call| call.to_string())
}

pub(crate) fn runs(action: RunsAction) -> Result<(), Failure> {
    let store = open()?;
    match action {
        RunsAction::List => list(store.as_ref()),
        RunsAction::Show { run_id } => show(store.as_ref(), &run_id),
    }
}

fn list(store: &dyn StateStore) -> Result<(), Failure> {
    let runs = store
        .runs()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    if runs.is_empty() {
        println!("no durable runs yet (`gamecode run` journals each run)");
        return Ok(());
    }
    // A table where it fits; on a narrow terminal, two lines a run.
    let columns = crate::terminal::stdout_columns().unwrap_or(usize::MAX);
    if columns >= 100 {
        println!(
            "{:<24}  {:<11}  {:<20}  {:>7}  {:>5}  TASK",
            "ID", "STATUS", "PLUGIN", "ENTRIES", "AGE"
        );
    }
    for r in &runs {
        let plugin = gamecode_host::text::escape_controls(&r.plugin);
        if columns >= 100 {
            println!(
                "{:<24}  {:<11}  {:<20}  {:>7}  {:>5}  {}",
                r.id,
                r.status.as_str(),
                shorten(&plugin, 20),
                r.entries,
                age(r.created_ms),
                shorten(&task(r), columns.saturating_sub(79).min(60))
            );
        } else {
            println!("{}  {}  {}", r.id, r.status.as_str(), age(r.created_ms));
            let detail = format!("{plugin}, {} entries: {}", r.entries, task(r));
            println!("  {}", shorten(&detail, columns.saturating_sub(2)));
        }
    }
    Ok(())
}

fn show(store: &dyn StateStore, run_id: &str) -> Result<(), Failure> {
    let record = store
        .run(run_id)
        .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    let journal = store
        .journal(run_id)
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    println!("run {}: {}", record.id, record.status);
    println!(
        "plugin: {}",
        gamecode_host::text::escape_controls(&record.plugin)
    );
    println!(
        "file: {}",
        record
            .plugin_path
            .as_deref()
            .unwrap_or("(loaded from bytes)")
    );
    println!("sha-256: {}", record.plugin_digest);
    println!("task: {}", task(&record));
    if let Some(session) = &record.session {
        println!("session: {}", gamecode_host::text::escape_controls(session));
    }
    println!(
        "started {} ago, last written {} ago; {} journal entries",
        age(record.created_ms),
        age(record.updated_ms),
        journal.len()
    );
    if record.status == RunStatus::Waiting {
        println!("waiting for a person to approve {}", waiting_for(&record));
    }
    if let Some(outcome) = &record.outcome {
        println!("outcome: {}", gamecode_host::text::escape_controls(outcome));
    }
    for entry in &journal {
        println!(
            "{:>5}  {:<5}  {}",
            entry.seq,
            entry.kind,
            gamecode_host::journal::describe(&entry.body)
        );
    }
    Ok(())
}

fn task(record: &RunRecord) -> String {
    gamecode_host::journal::task_of(&record.start)
        .map(|t| gamecode_host::text::escape_controls(&t).replace('\n', " "))
        .unwrap_or_default()
}

pub(crate) fn shorten(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_string();
    }
    let mut short: String = text.chars().take(most.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// How long ago a time in ms since the epoch was, in its largest unit.
pub(crate) fn age(ms: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let s = (now - ms).max(0) / 1000;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
