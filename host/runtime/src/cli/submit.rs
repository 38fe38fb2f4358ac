//! Sending runs to a fleet: `gamecode submit` (a batch from a JSON Lines file, resumable)
//! and `gamecode run --nats` (one run, shown as a local run is).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use gamecode_fleet::protocol::{FileRef, Limits, RunEvent, TaskOrder, TaskResult};
use gamecode_fleet::{Fleet, hex};
use gamecode_host::RunObserver;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fleet::{FleetArgs, fleet_failure, outcome, show};
use crate::progress::Progress;
use crate::{EXIT_OTHER, EXIT_USAGE, Failure, RunArgs, terminal};

#[derive(Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// The plugin component (.wasm): sent to the fleet's object store once, by digest.
    plugin: PathBuf,
    /// The tasks, one JSON object per line: {"task": "…", "attachments": ["FILE", …],
    /// "config": {"KEY": "VALUE"}, "session": "NAME"} (attachment paths from the tasks
    /// file's folder).
    #[arg(long, value_name = "FILE.jsonl")]
    tasks: PathBuf,
    /// Where results go, one JSON line per task (its line number and input, the answer or
    /// error, the exit category). Tasks already answered there are not run again.
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

/// What a submitter may narrow the workers' policy to (never widen).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct LimitArgs {
    /// At most this many model calls per run.
    #[arg(long, value_name = "N")]
    max_chat_calls: Option<u32>,
    /// At most this many tokens per run.
    #[arg(long, value_name = "N")]
    token_budget: Option<u64>,
    /// Only these tools (repeat it); each one the workers allow.
    #[arg(long, value_name = "TOOL")]
    allow_tool: Vec<String>,
}

impl LimitArgs {
    fn limits(&self, timeout: Option<f64>) -> Limits {
        Limits {
            timeout_secs: timeout,
            max_chat_calls: self.max_chat_calls,
            token_budget: self.token_budget,
            allowed_tools: (!self.allow_tool.is_empty()).then(|| self.allow_tool.clone()),
            ..Limits::default()
        }
    }
}

/// One line of the tasks file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct TaskLine {
    task: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

/// One line of the results file.
#[derive(Debug, Serialize, Deserialize)]
struct ResultLine {
    line: usize,
    input: TaskLine,
    run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    exit: u8,
    category: String,
    worker: String,
}

pub(crate) async fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let config = args.fleet.config(crate::fleet::SUBMIT_PATIENCE)?;
    let text = std::fs::read_to_string(&args.tasks)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("{}: {e}", args.tasks.display())))?;
    let mut tasks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let task: TaskLine = serde_json::from_str(line).map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!("{} line {}: {e}", args.tasks.display(), i + 1),
            )
        })?;
        tasks.push((i + 1, task));
    }
    let bytes = read_plugin(&args.plugin)?;
    let done = read_results(&args.out)?;
    let base = args.tasks.parent().unwrap_or(Path::new(".")).to_path_buf();
    let limits = args.limits.limits(None);
    // The batch is this plugin on these tasks, attachments and limits: sent again unchanged,
    // its runs are the same runs; changed, they are new ones.
    let mut contents = Vec::new();
    for (line, task) in &tasks {
        for path in &task.attachments {
            let bytes = std::fs::read(base.join(path)).map_err(|e| {
                Failure::new(
                    EXIT_USAGE,
                    format!(
                        "{} line {line}: {}: {e}",
                        args.tasks.display(),
                        path.display()
                    ),
                )
            })?;
            contents.push(hex(&Sha256::digest(&bytes)));
        }
    }
    let limits_text = serde_json::to_string(&limits).unwrap_or_default();
    let pending: Vec<(usize, TaskLine)> = tasks
        .into_iter()
        .filter(|(line, task)| done.get(line) != Some(task))
        .collect();
    let total = pending.len() + done.len();
    let progress = Progress::new(terminal::stderr_is_tty(), false);
    if pending.is_empty() {
        progress.line(&format!(
            "all {total} tasks are answered in {}",
            args.out.display()
        ));
        return Ok(());
    }
    let fleet = Fleet::open(&config).await.map_err(fleet_failure)?;
    let plugin = upload(&fleet, &args.plugin, &bytes).await?;
    let batch = batch_id(&[
        plugin.digest.as_bytes(),
        text.as_bytes(),
        limits_text.as_bytes(),
        contents.join(",").as_bytes(),
    ]);
    let mut results = fleet.results(&batch).await.map_err(fleet_failure)?.boxed();
    let mut waiting: HashMap<String, (usize, TaskLine)> = HashMap::new();
    for (line, task) in pending {
        let run_id = format!("{batch}-{line}");
        let paths: Vec<PathBuf> = task.attachments.iter().map(|p| base.join(p)).collect();
        let attachments = attach(&fleet, &paths).await.map_err(|f| {
            Failure::new(
                f.code,
                format!("{} line {line}: {}", args.tasks.display(), f.message),
            )
        })?;
        let order = TaskOrder {
            run_id: run_id.clone(),
            plugin: plugin.clone(),
            task: task.task.clone(),
            attachments,
            config: task.config.clone(),
            limits: limits.clone(),
            session: task.session.clone(),
            reply: fleet.results_subject(&batch, &line.to_string()),
            events: false,
        };
        send(&fleet, &order).await?;
        waiting.insert(run_id, (line, task));
    }
    progress.line(&format!(
        "batch {batch}: {} tasks sent, {} answered before",
        waiting.len(),
        done.len()
    ));
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", args.out.display())))?;
    let (mut answered, mut failed) = (done.len(), 0usize);
    while !waiting.is_empty() {
        let result = match results.next().await {
            Some(Ok(result)) => result,
            Some(Err(e)) => {
                // The server went away: read the batch's results again once it is back
                // (those written already are skipped).
                tracing::warn!(error = %e, "reading results");
                tokio::time::sleep(Duration::from_secs(1)).await;
                results = reopen(&fleet, &batch).await;
                continue;
            }
            None => {
                results = reopen(&fleet, &batch).await;
                continue;
            }
        };
        // Each run is answered once here, whatever the fleet delivered twice.
        let Some((line, input)) = waiting.remove(&result.run_id) else {
            continue;
        };
        if result.exit != 0 {
            failed += 1;
        }
        let row = ResultLine {
            line,
            input,
            run_id: result.run_id,
            answer: result.answer,
            error: result.error,
            exit: result.exit,
            category: result.category,
            worker: result.worker,
        };
        let mut text = serde_json::to_string(&row)
            .map_err(|e| Failure::new(EXIT_OTHER, format!("a result line: {e}")))?;
        text.push('\n');
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", args.out.display())))?;
        answered += 1;
        progress.status(&bar(answered, total));
    }
    progress.finish();
    progress.line(&format!(
        "{answered}/{total} answered ({failed} failed this time) in {}",
        args.out.display()
    ));
    Ok(())
}

/// `[#####-----] 150/300 answered`
fn bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!(
        "[{}{}] {done}/{total} answered",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled.min(WIDTH))
    )
}

async fn reopen(
    fleet: &Fleet,
    batch: &str,
) -> futures::stream::BoxStream<'static, Result<TaskResult, gamecode_fleet::FleetError>> {
    loop {
        match fleet.results(batch).await {
            Ok(results) => return results.boxed(),
            Err(e) => {
                tracing::warn!(error = %e, "reading results again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Queues an order, trying again while the servers are away (the message id keeps it
/// from being queued twice).
async fn send(fleet: &Fleet, order: &TaskOrder) -> Result<(), Failure> {
    let mut last = None;
    for _ in 0..60 {
        match fleet.order(order).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "queueing an order, again");
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Err(last.map_or_else(
        || Failure::new(EXIT_OTHER, "the order could not be queued"),
        fleet_failure,
    ))
}

fn read_plugin(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(crate::EXIT_PLUGIN, format!("{}: {e}", path.display())))
}

async fn upload(fleet: &Fleet, path: &Path, bytes: &[u8]) -> Result<FileRef, Failure> {
    let name = path
        .file_stem()
        .map_or_else(|| "file".into(), |s| s.to_string_lossy().into_owned());
    fleet.put_file(&name, bytes).await.map_err(fleet_failure)
}

/// Attachments checked as `gamecode run --attach` checks them (a format Bedrock takes, not
/// empty), then sent to the object store; the worker's policy limits them again.
async fn attach(fleet: &Fleet, paths: &[PathBuf]) -> Result<Vec<FileRef>, Failure> {
    let mut refs = Vec::new();
    for path in paths {
        gamecode_host::Attachment::from_file(path, usize::MAX)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("attachment: {e}")))?;
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("{}: {e}", path.display())))?;
        refs.push(upload(fleet, path, &bytes).await?);
    }
    Ok(refs)
}

/// A batch's id: a hash of what makes its runs what they are (each part length-prefixed).
fn batch_id(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hex(&hash.finalize()[..8])
}

/// The results file so far: each answered line's input. A last line cut short (the
/// submitter died writing it) is dropped, and its task run again.
fn read_results(path: &Path) -> Result<HashMap<usize, TaskLine>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Failure::new(EXIT_USAGE, format!("{}: {e}", path.display()))),
    };
    let mut done = HashMap::new();
    let mut kept = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<ResultLine>(line) {
            Ok(row) => {
                done.insert(row.line, row.input);
                kept.push_str(line);
                kept.push('\n');
            }
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(Failure::new(
                    EXIT_USAGE,
                    format!("{} line {}: not a result line: {e}", path.display(), i + 1),
                ));
            }
        }
    }
    if kept.len() != text.len() {
        std::fs::write(path, kept)
            .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", path.display())))?;
    }
    Ok(done)
}

/// `gamecode run --nats`: the run goes to the fleet; its events and answer come back as a
/// local run shows them, with the same exit codes.
pub(crate) async fn run_remote(args: &RunArgs, progress: Arc<Progress>) -> Result<(), Failure> {
    let local = [
        (args.emulator, "--emulator"),
        (args.record.is_some(), "--record"),
        (args.replay.is_some(), "--replay"),
        (args.model.is_some(), "--model"),
        (args.region.is_some(), "--region"),
        (args.endpoint_url.is_some(), "--endpoint-url"),
        (args.policy.is_some(), "--policy"),
        (args.mcp_config.is_some(), "--mcp-config"),
        (!args.mcp_server.is_empty(), "--mcp-server"),
        (!args.allow_read.is_empty(), "--allow-read"),
        (!args.approve.is_empty(), "--approve"),
    ];
    if let Some((_, flag)) = local.iter().find(|(given, _)| *given) {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "{flag} is for a local run: with --nats the workers' own flags and policy \
                 decide it (--timeout, --config, --attach and --session go with the run)"
            ),
        ));
    }
    let config = args.fleet.config(crate::fleet::SUBMIT_PATIENCE)?;
    let mut values = BTreeMap::new();
    for pair in &args.config {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Failure::new(EXIT_USAGE, format!("--config {pair}: KEY=VALUE")))?;
        values.insert(k.to_string(), v.to_string());
    }
    let bytes = read_plugin(&args.plugin)?;
    let fleet = Fleet::open(&config).await.map_err(fleet_failure)?;
    let plugin = upload(&fleet, &args.plugin, &bytes).await?;
    let attachments = attach(&fleet, &args.attach).await?;
    let mut nonce = [0u8; 8];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    let batch = hex(&nonce);
    let run_id = format!("{batch}-1");
    let mut events = fleet
        .client()
        .subscribe(fleet.events_subject(&run_id))
        .await
        .map_err(|e| Failure::new(EXIT_OTHER, format!("the run's events: {e}")))?;
    let mut results = fleet.results(&batch).await.map_err(fleet_failure)?.boxed();
    let order = TaskOrder {
        run_id: run_id.clone(),
        plugin: plugin.clone(),
        task: args.task.clone(),
        attachments,
        config: values,
        limits: Limits {
            timeout_secs: args.timeout,
            ..Limits::default()
        },
        session: args.session.clone(),
        reply: fleet.results_subject(&batch, "1"),
        events: true,
    };
    send(&fleet, &order).await?;
    let observer: Arc<dyn RunObserver> = progress.clone();
    // Said once, if no worker has taken the run after a while.
    let unheard = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(unheard);
    let mut heard = false;
    let result = loop {
        tokio::select! {
            () = &mut unheard, if !heard => {
                heard = true;
                progress.line(&format!(
                    "run {run_id} is queued;\nno worker has taken it yet\n(start one: gamecode worker --nats …)"
                ));
            }
            Some(message) = events.next() => {
                heard = true;
                if let Ok(event) = serde_json::from_slice::<RunEvent>(&message.payload) {
                    show(&observer, &plugin.name, event);
                }
            }
            result = results.next() => match result {
                Some(Ok(result)) if result.run_id == run_id => break result,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading the result");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    results = reopen(&fleet, &batch).await;
                }
                None => results = reopen(&fleet, &batch).await,
            },
        }
    };
    let answer = outcome(result)?;
    progress.answer(&answer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_file_cut_short_drops_its_last_line_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.jsonl");
        let row = |line: usize| {
            serde_json::to_string(&ResultLine {
                line,
                input: TaskLine {
                    task: format!("t{line}"),
                    attachments: Vec::new(),
                    config: BTreeMap::new(),
                    session: None,
                },
                run_id: format!("b-{line}"),
                answer: Some("a".into()),
                error: None,
                exit: 0,
                category: "ok".into(),
                worker: "w".into(),
            })
            .expect("json")
        };
        std::fs::write(&path, format!("{}\n{}\n{{\"line\":3,\"inp", row(1), row(2)))
            .expect("write");
        let done = read_results(&path).expect("read");
        assert_eq!(done.len(), 2);
        assert_eq!(done[&2].task, "t2");
        let kept = std::fs::read_to_string(&path).expect("read");
        assert_eq!(kept.lines().count(), 2, "{kept}");
        // A broken line in the middle is not the submitter's own: refused.
        std::fs::write(&path, format!("nope\n{}\n", row(1))).expect("write");
        assert!(read_results(&path).is_err());
    }

    #[test]
    fn a_batch_is_the_plugin_on_the_tasks_file() {
        let tasks = b"{\"task\":\"x\"}\n";
        let a = batch_id(&[b"d1", tasks, b"{}", b""]);
        assert_eq!(a, batch_id(&[b"d1", tasks, b"{}", b""]));
        assert_ne!(a, batch_id(&[b"d2", tasks, b"{}", b""]));
        assert_ne!(a, batch_id(&[b"d1", b"{\"task\":\"y\"}\n", b"{}", b""]));
        // Other limits or attachment contents: another batch.
        assert_ne!(a, batch_id(&[b"d1", tasks, b"{\"max_chat_calls\":3}", b""]));
        assert_ne!(a, batch_id(&[b"d1", tasks, b"{}", b"abc"]));
        assert_eq!(a.len(), 16);
    }
}
