//! `gamecode run`, in steps: read what the user asked (usage errors first, before anything
//! slow), start the backend (the emulator or AWS), connect MCP servers, load the plugin, run
//! it, and say how it went.

use std::sync::Arc;
use std::time::Duration;

use gamecode_backend::{LLMBackend, RetryBudget};
use gamecode_bedrock::BedrockBackend;
use gamecode_cassette::Cassette;
use gamecode_host::mcp::McpConfig;
use gamecode_host::state::StateStore;
use gamecode_host::{
    Approvals, HostTool, LoadError, Plugin, PluginHost, Policy, RunError, RunReport, Task,
};

use crate::progress::Progress;
use crate::setup::{aws_backend, backend_failure, fs_tools, load_failure};
use crate::{
    EXIT_BACKEND, EXIT_OTHER, EXIT_PLUGIN, EXIT_USAGE, EXIT_WAITING, Failure, RunArgs, cassette,
    load, models, state, terminal,
};

/// What the user asked for, read and checked before anything slow starts.
struct Asked {
    policy: Policy,
    /// `--approve` and the policy file's `[tools] approve`.
    approvals: Approvals,
    task: Task,
    tools: Vec<Arc<dyn HostTool>>,
    mcp: McpConfig,
    replay: Option<Cassette>,
    rules: Option<bedrock_emulator::Rules>,
}

/// The backend of a run, and what must live as long as it.
struct Backend {
    bedrock: BedrockBackend,
    /// The emulator, when the run is offline or a replay: it must outlive the run.
    emulator: Option<bedrock_emulator::Emulator>,
    recorder: Option<gamecode_bedrock::Recorder>,
}

/// A run to continue, in the store it is journaled in.
pub(crate) struct Resume {
    pub(crate) run_id: String,
    pub(crate) store: Arc<dyn StateStore>,
    /// A person's decision on the tool call the run waits on (`gamecode approve`).
    pub(crate) decision: Option<(gamecode_host::PendingCall, gamecode_host::Decision)>,
}

/// A plugin loaded in its host, and what must live as long as its runs.
pub(crate) struct Started {
    pub(crate) plugin: Plugin,
    /// The task the arguments give (with its attachments).
    pub(crate) task: Task,
    /// The emulator, when offline or replaying.
    emulator: Option<bedrock_emulator::Emulator>,
    recorder: Option<gamecode_bedrock::Recorder>,
    replaying: bool,
}

impl Started {
    /// After the runs: a recording that could not be completed, a replay that drifted.
    pub(crate) fn check(&self, args: &RunArgs, progress: &Arc<Progress>) -> Result<(), Failure> {
        if let Some(e) = self.recorder.as_ref().and_then(|r| r.error()) {
            progress.line(&format!("warning: the recording is incomplete: {e}"));
        }
        if self.replaying
            && let Some(emu) = &self.emulator
        {
            check_drift(args, emu, progress)?;
        }
        Ok(())
    }
}

/// Reads the arguments, starts the backend and MCP servers, and loads the plugin in a host
/// keeping `store` (a resumed run's task is its journal's: `--attach` is not read again).
pub(crate) async fn start(
    args: &RunArgs,
    verbose: u8,
    progress: &Arc<Progress>,
    store: Option<Arc<dyn StateStore>>,
    resuming: bool,
) -> Result<Started, Failure> {
    let asked = read_args(args, verbose, resuming)?;
    let tty = terminal::stderr_is_tty();
    let backend = start_backend(args, &asked, progress, tty, verbose).await?;
    let Backend {
        bedrock,
        emulator,
        recorder,
    } = configure_backend(backend, args, &asked, progress)?;
    let mcp_tools = connect_mcp(&asked, args, progress).await?;
    let mut tools = asked.tools;
    tools.extend(mcp_tools);
    let plugin = load_plugin(
        args,
        asked.policy,
        asked.approvals,
        bedrock,
        tools,
        store,
        progress,
    )
    .await?;
    check_attachments(args, &asked.task, &plugin)?;
    Ok(Started {
        plugin,
        task: asked.task,
        emulator,
        recorder,
        replaying: asked.replay.is_some(),
    })
}

/// `gamecode run`, or with `resume` the interrupted run of that id (`gamecode resume`).
pub(crate) async fn run(args: RunArgs, verbose: u8, resume: Option<Resume>) -> Result<(), Failure> {
    let tty = terminal::stderr_is_tty();
    let live_text = match (args.stream, args.no_stream) {
        (true, _) => true,
        (_, true) => false,
        _ => terminal::stdout_is_tty(),
    };
    let progress = Progress::new(tty, live_text);
    if args.fleet.nats.is_some() && resume.is_none() {
        let result = crate::submit::run_remote(&args, progress.clone()).await;
        progress.finish();
        return result;
    }
    let store = match (&resume, args.no_journal) {
        (Some(r), _) => Some(r.store.clone()),
        (None, true) => None,
        (None, false) if args.session.is_some() => Some(state::open()? as Arc<dyn StateStore>),
        (None, false) => state::open_for_run(&progress),
    };
    let started = start(&args, verbose, &progress, store, resume.is_some()).await?;
    let plugin = &started.plugin;
    let task = started.task.clone();
    let mut run = match resume {
        Some(Resume {
            run_id,
            decision: Some((call, decision)),
            ..
        }) => plugin.decide(run_id, call, decision),
        Some(r) => plugin.resume(r.run_id),
        None => plugin.run(task),
    };
    if let Some(context) = state::context_now() {
        run = run.context(context);
    }
    if let Some(session) = &args.session {
        run = run.session(session.clone());
    }
    let report = run.report().await;
    progress.finish();
    started.check(&args, &progress)?;
    report_outcome(report, tty, &progress, verbose)
}

/// Every argument read and checked; the policy, task, tools and files they name. A resumed
/// run's task and attachments are its journal's, so its `--attach` files are not read again.
fn read_args(args: &RunArgs, verbose: u8, resuming: bool) -> Result<Asked, Failure> {
    let policy = read_policy(args, verbose)?;
    let approvals = read_approvals(args)?;
    let mut task = Task::from(args.task.as_str());
    for path in args.attach.iter().filter(|_| !resuming) {
        let attachment = gamecode_host::Attachment::from_file(path, policy.max_attachment_bytes)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--attach: {e}")))?;
        task.attachments.push(attachment);
    }
    let tools = fs_tools(&args.allow_read)?;
    let mcp = read_mcp(args)?;
    check_tool_names(&policy, &approvals, args, &mcp)?;
    if let Some(model) = &args.model {
        gamecode_bedrock::check_model_id(model)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--model: {}", e.message())))?;
    }
    if args.replay.is_none() && (args.replay_fallback.is_some() || args.replay_speed != 0.0) {
        return Err(Failure::new(
            EXIT_USAGE,
            "--replay-fallback and --replay-speed apply to a replay: add --replay FILE",
        ));
    }
    if !args.replay_speed.is_finite() || args.replay_speed < 0.0 {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--replay-speed must be 0 or more, not {}",
                args.replay_speed
            ),
        ));
    }
    // A plugin file that cannot be read is the plugin's failure, said before anything else
    // can fail (no credentials, no network).
    if let Err(e) = std::fs::File::open(&args.plugin) {
        return Err(load_failure(
            &args.plugin,
            LoadError::Io {
                path: args.plugin.display().to_string(),
                message: e.to_string(),
            },
        ));
    }
    let replay = match &args.replay {
        Some(path) => Some(cassette::read(path)?),
        None => None,
    };
    let rules = match &args.emulator_rules {
        Some(path) => Some(
            bedrock_emulator::Rules::from_file(path)
                .map_err(|e| Failure::new(EXIT_USAGE, format!("--emulator-rules: {e:#}")))?,
        ),
        None => None,
    };
    Ok(Asked {
        policy,
        approvals,
        task,
        tools,
        mcp,
        replay,
        rules,
    })
}

/// The tools whose calls wait for a person: the policy file's `[tools] approve` and
/// `--approve`. Each must be a tool the policy lets the plugin call (else it is a typo).
fn read_approvals(args: &RunArgs) -> Result<Approvals, Failure> {
    let from_file = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::new(EXIT_USAGE, format!("{}: {e}", path.display())))?;
            Approvals::from_policy_toml(&text)
                .map_err(|e| Failure::new(EXIT_USAGE, format!("{}: {e}", path.display())))?
        }
        None => Approvals::default(),
    };
    Ok(from_file.and(Approvals::tools(args.approve.iter().cloned())))
}

/// The policy file, with the flags that override it.
fn read_policy(args: &RunArgs, verbose: u8) -> Result<Policy, Failure> {
    let mut policy = match &args.policy {
        Some(path) => {
            Policy::from_file(path).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?
        }
        None => Policy::default(),
    };
    if let Some(secs) = args.timeout {
        if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 86_400.0 {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("--timeout must be a positive number of seconds, not {secs}"),
            ));
        }
        policy.deadline = Duration::from_secs_f64(secs);
    }
    apply_retry_flags(&mut policy, args)?;
    // The host's own key: lets a plugin say more with -v (see the WIT `config` docs).
    policy
        .config
        .insert("gamecode.verbose".into(), verbose.to_string());
    for pair in &args.config {
        let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("--config {pair}: expected KEY=VALUE"),
            ));
        };
        let key = key.trim();
        if key.starts_with("gamecode.") {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("--config {key}: keys starting `gamecode.` are the host's"),
            ));
        }
        policy.config.insert(key.to_string(), value.to_string());
    }
    Ok(policy)
}

/// The MCP configuration file, with each `--mcp-server NAME=COMMAND` added to it.
fn read_mcp(args: &RunArgs) -> Result<McpConfig, Failure> {
    let mut mcp = match &args.mcp_config {
        Some(path) => {
            McpConfig::from_file(path).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?
        }
        None => Default::default(),
    };
    for spec in &args.mcp_server {
        let (name, command) = spec.split_once('=').ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                format!("--mcp-server {spec}: expected NAME=COMMAND"),
            )
        })?;
        // Split as a shell would, so an argument with spaces can be quoted.
        let words = shell_words::split(command)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--mcp-server {spec}: {e}")))?;
        let Some((program, rest)) = words.split_first() else {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("--mcp-server {spec}: no command"),
            ));
        };
        let server = gamecode_host::mcp::ServerConfig {
            command: program.clone(),
            args: rest.to_vec(),
            ..Default::default()
        };
        mcp.add_server(name, server)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--mcp-server {spec}: {e}")))?;
    }
    mcp.resolve_commands()
        .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    Ok(mcp)
}

/// The built-in emulator (offline, or replaying a cassette), else Bedrock on the AWS chain.
async fn start_backend(
    args: &RunArgs,
    asked: &Asked,
    progress: &Arc<Progress>,
    tty: bool,
    verbose: u8,
) -> Result<Backend, Failure> {
    if !args.emulator && asked.replay.is_none() {
        return Ok(Backend {
            bedrock: aws_backend(&args.region, &args.endpoint_url, verbose).await?,
            emulator: None,
            recorder: None,
        });
    }
    let emu = bedrock_emulator::Emulator::start()
        .await
        .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the emulator: {e:#}")))?;
    if let Some(rules) = &asked.rules {
        emu.load_rules(rules);
    }
    if let Some(cassette) = asked.replay.clone() {
        emu.load_cassette(
            cassette,
            bedrock_emulator::ReplayOptions {
                speed: args.replay_speed,
                fallback: args.replay_fallback.is_some(),
            },
        );
    }
    if verbose > 0 || tty {
        progress.line(&format!(
            "using the built-in Bedrock emulator at {}",
            emu.url()
        ));
    }
    Ok(Backend {
        bedrock: BedrockBackend::new_with_config(&emu.sdk_config()).map_err(backend_failure)?,
        emulator: Some(emu),
        recorder: None,
    })
}

/// The backend under the policy's retry settings and the chosen model, recording if asked.
fn configure_backend(
    backend: Backend,
    args: &RunArgs,
    asked: &Asked,
    progress: &Arc<Progress>,
) -> Result<Backend, Failure> {
    let Backend {
        bedrock: mut backend,
        emulator,
        ..
    } = backend;
    let policy = &asked.policy;
    let status = progress.clone();
    backend = backend.with_status_callback(move |s| status.retry(s));
    // The policy's retry settings are this process's: its one backend serves one plugin.
    if let Some(retry) = &policy.retry {
        backend = backend.with_retry_config(retry.clone());
    }
    if let Some(capacity) = policy.retry_budget {
        backend = backend.with_retry_budget(Arc::new(RetryBudget::new(capacity)));
    }
    if policy.adaptive_rate_limit == Some(false) {
        backend = backend.with_adaptive_rate_limit(false);
    }
    if let Some(model) = &args.model {
        backend = backend.with_default_model(model.clone());
    }
    // Replaying: the model the recording used, unless told otherwise.
    if let (Some(cassette), None) = (&asked.replay, &args.model)
        && let Some(first) = cassette.exchanges.first()
    {
        backend = backend.with_default_model(first.model.clone());
    }
    // A model the catalogue knows to have ended is refused before any call, its successor
    // named; a legacy one runs, with a warning.
    if asked.replay.is_none()
        && let Some(warning) = models::check_choice(backend.default_model(), backend.region())?
    {
        eprintln!("warning: {warning}");
    }
    let recorder = match &args.record {
        Some(path) => Some(
            gamecode_bedrock::Recorder::create(path, &gamecode_cassette::now_rfc3339()).map_err(
                |e| Failure::new(EXIT_USAGE, format!("--record {}: {e}", path.display())),
            )?,
        ),
        None => None,
    };
    if let Some(recorder) = &recorder {
        backend = backend.with_recorder(recorder.clone());
    }
    Ok(Backend {
        bedrock: backend,
        emulator,
        recorder,
    })
}

/// MCP servers start once, before the plugin; their tools join the host's.
async fn connect_mcp(
    asked: &Asked,
    args: &RunArgs,
    progress: &Arc<Progress>,
) -> Result<Vec<Arc<dyn HostTool>>, Failure> {
    let tools = gamecode_host::mcp::connect(&asked.mcp)
        .await
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    check_mcp_tools(asked, args, &tools, progress)?;
    Ok(tools)
}

/// The host, and the plugin loaded in it (compiled, or from the cache).
async fn load_plugin(
    args: &RunArgs,
    policy: Policy,
    approvals: Approvals,
    backend: BedrockBackend,
    tools: Vec<Arc<dyn HostTool>>,
    store: Option<Arc<dyn StateStore>>,
    progress: &Arc<Progress>,
) -> Result<Plugin, Failure> {
    let cache = load::cache(args.cache.no_cache, args.cache.cache_dir.clone());
    let mut host = PluginHost::builder()
        .backend(Arc::new(backend))
        .tools(tools)
        .policy(policy)
        .approvals(approvals)
        .observer(progress.clone())
        .cache(cache);
    if let Some(store) = store {
        host = host.state(store);
    }
    let host = host
        .build()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    let (loader, path) = (host.clone(), args.plugin.clone());
    let compiles = host.will_compile(&args.plugin);
    load::with_progress(
        &args.plugin,
        compiles,
        |m| progress.line(m),
        move || loader.load_file(path),
    )
    .await
    .map_err(|e| load_failure(&args.plugin, e))
}

/// Attachments go only to plugins of a WIT version that takes them.
fn check_attachments(args: &RunArgs, task: &Task, plugin: &Plugin) -> Result<(), Failure> {
    if task.attachments.is_empty() || plugin.wit_version() >= gamecode_host::WitVersion::V0_2_0 {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_USAGE,
        format!(
            "--attach: {} targets gamecode:plugin@{}, which cannot take attachments (0.2.0 and \
             later can)",
            args.plugin.display(),
            plugin.wit_version()
        ),
    ))
}

/// After a replay: what the run asked that the cassette did not hold.
fn check_drift(
    args: &RunArgs,
    emu: &bedrock_emulator::Emulator,
    progress: &Arc<Progress>,
) -> Result<(), Failure> {
    let fallback = args.replay_fallback.is_some();
    let drift = emu.drift();
    if let Some(text) =
        cassette::drift_report(&drift, fallback, emu.replay_remaining().unwrap_or(0))
    {
        if fallback || drift.is_empty() {
            progress.line(text.trim_end());
        } else {
            return Err(cassette::drift_failure(text));
        }
    }
    Ok(())
}

/// The answer on stdout and a summary under it; or the failure, in the CLI's exit codes.
fn report_outcome(
    report: RunReport,
    tty: bool,
    progress: &Arc<Progress>,
    verbose: u8,
) -> Result<(), Failure> {
    if let (Err(RunError::AwaitingApproval { tool, input }), Some(id)) =
        (&report.result, &report.run_id)
    {
        let call = gamecode_host::PendingCall {
            tool: tool.clone(),
            input: input.clone(),
        };
        // Not an error: the run is where it should be, waiting.
        progress.line(&format!(
            "run {id} waits for a person to approve {call}\n  gamecode approve {id}    \
             (or --deny REASON)"
        ));
        return Err(Failure::new(EXIT_WAITING, ""));
    }
    let answer = report.result.map_err(|e| run_failure(e, verbose))?;
    // The answer first, ending its line; then the summary under it.
    progress.answer(&answer);
    if tty {
        let s = report.stats;
        let cached = match (
            s.usage.cache_read_input_tokens,
            s.usage.cache_write_input_tokens,
        ) {
            (0, 0) => String::new(),
            (read, write) => format!(" ({read} read from cache, {write} written to it)"),
        };
        progress.line(&format!(
            "done: {} chat call{}, {} tokens{cached}, {} host tool call{}, {:.1}s",
            s.chat_calls,
            if s.chat_calls == 1 { "" } else { "s" },
            s.usage.total_tokens,
            s.tool_calls,
            if s.tool_calls == 1 { "" } else { "s" },
            s.duration.as_secs_f64()
        ));
    }
    Ok(())
}

/// `--max-retries` and friends, over the policy file's `[retry]`.
fn apply_retry_flags(policy: &mut Policy, args: &RunArgs) -> Result<(), Failure> {
    if args.no_adaptive_rate_limit {
        policy.adaptive_rate_limit = Some(false);
    }
    if args.max_retries.is_none()
        && args.retry_initial_delay_ms.is_none()
        && args.retry_max_delay_ms.is_none()
    {
        return Ok(());
    }
    let mut retry = policy.retry.clone().unwrap_or_default();
    if let Some(n) = args.max_retries {
        retry.max_retries = n;
    }
    if let Some(ms) = args.retry_initial_delay_ms {
        retry.initial_delay = Duration::from_millis(ms);
    }
    if let Some(ms) = args.retry_max_delay_ms {
        retry.max_delay = Duration::from_millis(ms);
    }
    *policy = policy.clone().with_retry(retry).validated().map_err(|e| {
        // Said in the flags' names: the user typed flags, not policy keys.
        let message = e
            .to_string()
            .replace("invalid policy: ", "")
            .replace("retry.max_retries", "--max-retries")
            .replace("retry.initial_delay_ms", "--retry-initial-delay-ms")
            .replace("retry.max_delay_ms", "--retry-max-delay-ms")
            .replace("initial_delay_ms", "--retry-initial-delay-ms");
        Failure::new(EXIT_USAGE, message)
    })?;
    Ok(())
}

/// The host tools the CLI can offer (with `--allow-read`).
const CLI_TOOLS: &[&str] = &["read_file", "list_dir"];

/// A policy naming a host tool no `gamecode run` offers is a typo, not a narrowing: refused
/// (it would silently hide every tool), with the names that exist.
fn check_tool_names(
    policy: &Policy,
    approvals: &Approvals,
    args: &RunArgs,
    mcp: &gamecode_host::mcp::McpConfig,
) -> Result<(), Failure> {
    let file = args
        .policy
        .as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default();
    if let Some(allowed) = &policy.allowed_tools {
        check_names(allowed, &format!("{file}[tools] allowed names"), mcp)?;
    }
    // A misspelt tool to approve would run unasked: as much a typo as in `allowed`.
    check_names(
        approvals.names(),
        &format!("{file}[tools] approve (or --approve) names"),
        mcp,
    )
}

/// Each of `names` is a host tool or an MCP server's (`mcp:<server>`, `<server>__<tool>`).
fn check_names(
    names: &[String],
    source: &str,
    mcp: &gamecode_host::mcp::McpConfig,
) -> Result<(), Failure> {
    let allowed = names;
    // An MCP server's tools (`mcp:<server>`, `<server>__<tool>`) are named after a server of
    // the MCP configuration; the tools themselves are known once it is connected.
    let mcp_server = |name: &str| {
        let server = name
            .strip_prefix("mcp:")
            .or_else(|| name.split_once("__").map(|(s, _)| s));
        server.is_some_and(|s| mcp.servers.contains_key(s))
    };
    let servers: Vec<&str> = mcp.servers.keys().map(String::as_str).collect();
    for name in allowed {
        if CLI_TOOLS.contains(&name.as_str()) || mcp_server(name) {
            continue;
        }
        // `mcp:<server>` or `<server>__<tool>` of a server that is not configured.
        let named_server = name
            .strip_prefix("mcp:")
            .or_else(|| name.split_once("__").map(|(s, _)| s));
        if let Some(server) = named_server {
            let hint = servers
                .iter()
                .find(|known| edit_distance(known, server) <= 2)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            let configured = if servers.is_empty() {
                "no MCP server is configured (--mcp-config, --mcp-server)".to_string()
            } else {
                format!("the configured MCP servers are {}", servers.join(", "))
            };
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "{source} `{name}`, but there is no MCP server `{server}`{hint}; \
                     {configured}"
                ),
            ));
        }
        let hint = CLI_TOOLS
            .iter()
            .find(|known| edit_distance(known, name) <= 2)
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "{source} `{name}`, which is not a host tool{hint}; the host tools are {}{}",
                CLI_TOOLS.join(", "),
                if servers.is_empty() {
                    String::new()
                } else {
                    format!(", and the tools of the MCP servers {}", servers.join(", "))
                }
            ),
        ));
    }
    Ok(())
}

/// Once the MCP servers are connected: a policy naming one of their tools that does not
/// exist is a typo (refused, with the nearest name); MCP tools a policy does not opt into
/// are hidden, and the user is told how to offer them.
fn check_mcp_tools(
    asked: &Asked,
    args: &RunArgs,
    tools: &[Arc<dyn gamecode_host::HostTool>],
    progress: &Arc<Progress>,
) -> Result<(), Failure> {
    let (policy, mcp) = (&asked.policy, &asked.mcp);
    let offered: Vec<String> = tools
        .iter()
        .filter(|t| t.opt_in().is_some())
        .map(|t| t.spec().name)
        .collect();
    let file = args
        .policy
        .as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default();
    // A misspelt MCP tool to approve would run unasked.
    check_offered(
        asked.approvals.names(),
        &format!("{file}[tools] approve (or --approve) names"),
        mcp,
        &offered,
    )?;
    let Some(allowed) = &policy.allowed_tools else {
        if !mcp.servers.is_empty() {
            let all: Vec<String> = mcp.servers.keys().map(|s| format!("\"mcp:{s}\"")).collect();
            progress.line(&format!(
                "note: MCP tools are opt-in and no policy names them, so the plugin is offered \
                 none of {}; to offer them: [tools] allowed = [{}] in a --policy file",
                offered.len(),
                all.join(", ")
            ));
        }
        return Ok(());
    };
    check_offered(
        allowed,
        &format!("{file}[tools] allowed names"),
        mcp,
        &offered,
    )
}

/// Each of `names` that names a configured MCP server's tool (`<server>__<tool>`) names one
/// it offers.
fn check_offered(
    names: &[String],
    source: &str,
    mcp: &gamecode_host::mcp::McpConfig,
    offered: &[String],
) -> Result<(), Failure> {
    for name in names {
        let is_tool_of_a_server = !name.starts_with("mcp:")
            && name
                .split_once("__")
                .is_some_and(|(s, _)| mcp.servers.contains_key(s));
        if is_tool_of_a_server && !offered.contains(name) {
            let hint = offered
                .iter()
                .min_by_key(|known| edit_distance(known, name))
                .filter(|known| edit_distance(known, name) <= 3)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "{source} `{name}`, which its MCP server does not offer{hint}; its \
                     tools are {}",
                    offered
                        .iter()
                        .filter(|t| t.split_once("__").map(|(s, _)| s)
                            == name.split_once("__").map(|(s, _)| s))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

pub(crate) fn run_failure(e: RunError, verbose: u8) -> Failure {
    let code = match &e {
        // The state store's failure (or a run that cannot be resumed): neither the plugin's
        // nor the model's.
        RunError::Journal(_) => EXIT_OTHER,
        e if e.is_plugin_failure() => EXIT_PLUGIN,
        _ => EXIT_BACKEND,
    };
    let mut message = e.to_string();
    if let (RunError::Trap { detail, .. }, true) = (&e, verbose > 0) {
        message.push_str(&format!("\n{detail}"));
    }
    Failure::new(code, message)
}
