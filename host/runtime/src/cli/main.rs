//! `gamecode`: run a wasm agent plugin against AWS Bedrock (or the built-in emulator),
//! inspect a plugin, or serve the Bedrock emulator.

mod cache;
mod cassette;
mod load;
mod mcp;
mod models;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use gamecode_backend::{BackendError, LLMBackend, RetryBudget};
use gamecode_bedrock::BedrockBackend;
use gamecode_host::tools::fs::{FsRoot, FsRoots};
use gamecode_host::{LoadError, PluginHost, Policy, RunError};

use crate::progress::Progress;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (the answer is on stdout)
  1  any other failure (e.g. the emulator could not start)
  2  usage error: bad arguments (a --model that is not a Bedrock model id, retry flags out
     of range), an unreadable or invalid --policy or --emulator-rules file, a policy naming a
     host tool that does not exist, an --allow-read path that is not a directory
  3  plugin failure: the plugin file is missing or is not a runnable gamecode component,
     it trapped or panicked, hit its deadline while running, its memory or fuel limit, gave
     up on a policy refusal, or reported an error of its own
  4  backend failure: the model provider failed (authentication, network, rate limiting,
     provider error, a request it rejected as invalid, an unsupported operation), including
     missing AWS credentials or region, and a deadline reached while waiting for the model";

#[derive(Parser)]
#[command(
    name = "gamecode",
    version,
    about = "Run sandboxed WebAssembly agent plugins against AWS Bedrock",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Log to stderr: -v the host's and backend's logs, -vv debug logs. The plugin's own
    /// output is always shown (prefixed with its name). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a plugin on a task; the answer is printed on stdout, progress on stderr.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Show a plugin's imports and exports and whether this host can run it.
    #[command(after_help = EXIT_CODES)]
    Inspect {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// The compiled-plugin cache: `list` what is in it, `clear` it.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// The models the account can call in a region (live from Bedrock, cached a day), how to
    /// call each and what it takes.
    Models(Box<models::ModelsArgs>),
    /// Serve the Bedrock emulator (Converse and ConverseStream on loopback) until Ctrl-C.
    Emulator(bedrock_emulator::EmulatorArgs),
    /// MCP: `serve` a plugin as a tool to MCP clients (stdio).
    Mcp {
        #[command(subcommand)]
        action: McpAction,
    },
    /// Recorded sessions (`gamecode run --record`): `show` one, `diff` two.
    Cassette {
        #[command(subcommand)]
        action: CassetteAction,
    },
}

#[derive(Subcommand)]
enum McpAction {
    /// Serve a plugin on stdio as one MCP tool taking `{"task": string}`; each call is a
    /// fresh sandboxed run.
    Serve(Box<mcp::ServeArgs>),
}

#[derive(Subcommand)]
enum CassetteAction {
    /// Turns, tool calls, tokens, stop reasons and timing of a cassette.
    Show {
        /// The cassette (JSON Lines, from `gamecode run --record`).
        cassette: PathBuf,
    },
    /// Where two recordings of the same task diverge (exit 1 if they do).
    Diff { a: PathBuf, b: PathBuf },
}

#[derive(Subcommand)]
enum CacheAction {
    /// List the compiled plugins, least recently used first, and their total size.
    List {
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Remove every compiled plugin (the next run of each compiles it again).
    Clear {
        #[command(flatten)]
        cache: CacheArgs,
    },
}

#[derive(Args)]
struct CacheArgs {
    /// Do not use the compiled-plugin cache.
    #[arg(long)]
    no_cache: bool,
    /// Where compiled plugins are cached (default: $XDG_CACHE_HOME/gamecode or
    /// ~/.cache/gamecode).
    #[arg(long, value_name = "DIR", env = "GAMECODE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// The plugin component (.wasm, world gamecode:plugin/plugin@0.2.0 or @0.1.0).
    plugin: PathBuf,
    /// The task for the agent, in words.
    task: String,
    /// Give the agent this file with the task: an image (png, jpeg, gif, webp) or a
    /// document (pdf, csv, doc, docx, xls, xlsx, html, txt, md), recognised by its content.
    /// Repeat it for several. 0.2.0 plugins only.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// A configuration value the plugin can read (`config.get`), over the policy's
    /// `[config]`; repeat it for several. Never put secrets here: plugins see them.
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Use the built-in Bedrock emulator instead of AWS (offline, no account needed).
    #[arg(long, conflicts_with_all = ["region", "endpoint_url"])]
    emulator: bool,
    /// Record every exchange with Bedrock (or the emulator) into this cassette (JSON Lines;
    /// no credentials, signatures or account ids are stored).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Answer from this cassette instead of a model (offline, through the built-in
    /// emulator): a request that differs from the recording is reported as drift.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["region", "endpoint_url", "emulator", "record"])]
    replay: Option<PathBuf>,
    /// Replay pacing: 0 answers at once (the default), 1 as recorded, 2 twice as fast.
    #[arg(long, value_name = "N", default_value_t = 0.0, requires = "replay")]
    replay_speed: f64,
    /// What answers a drifted turn: `emulator` (its default responder) instead of failing.
    #[arg(long, value_name = "WHAT", value_parser = ["emulator"], requires = "replay")]
    replay_fallback: Option<String>,
    /// Scripted replies and rules for the emulator (TOML; see the README).
    #[arg(long, value_name = "FILE.toml", requires = "emulator")]
    emulator_rules: Option<PathBuf>,
    /// The model (id, inference profile or ARN) used when the plugin names none. Default:
    /// us.anthropic.claude-sonnet-4-6 (Claude Sonnet 4.6), or its global. profile outside US
    /// regions. `gamecode models` lists what the account can call.
    #[arg(long)]
    model: Option<String>,
    /// AWS region (default: from the environment or profile).
    #[arg(long)]
    region: Option<String>,
    /// Send Bedrock requests to this endpoint (VPC endpoint, proxy, a standalone emulator).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Policy file (TOML) with the plugin's limits; see the README.
    #[arg(long, value_name = "FILE.toml")]
    policy: Option<PathBuf>,
    /// MCP servers whose tools plugins may call (TOML; see the README). Their tools are
    /// opt-in: the policy's `[tools] allowed` must name them, or `mcp:<server>`.
    #[arg(long, value_name = "FILE.toml")]
    mcp_config: Option<PathBuf>,
    /// One more stdio MCP server: `NAME=COMMAND [ARG…]` (split at spaces; it gets an empty
    /// environment — use --mcp-config for env, cwd and limits). Repeat it for several.
    #[arg(long, value_name = "NAME=COMMAND")]
    mcp_server: Vec<String>,
    /// Give the plugin read-only access to this directory (tools read_file and list_dir);
    /// repeat it to grant several.
    #[arg(long, value_name = "DIR")]
    allow_read: Vec<PathBuf>,
    /// Wall-clock deadline for the run in seconds (overrides the policy's).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Print the model's text on stdout as it streams in (default when stdout is a terminal).
    /// Intermediate turns' text is shown too; the final answer is not repeated.
    #[arg(long, conflicts_with = "no_stream")]
    stream: bool,
    /// Print only the final answer on stdout, once the run is done.
    #[arg(long)]
    no_stream: bool,
    /// Retries of a failed model call (attempts = 1 + this); overrides the policy's
    /// `[retry] max_retries` (default 3).
    #[arg(long, value_name = "N")]
    max_retries: Option<u32>,
    /// Delay before the first retry, in milliseconds; overrides `[retry] initial_delay_ms`
    /// (default 500).
    #[arg(long, value_name = "MS")]
    retry_initial_delay_ms: Option<u64>,
    /// The longest delay between retries, in milliseconds; overrides `[retry] max_delay_ms`
    /// (default 20000).
    #[arg(long, value_name = "MS")]
    retry_max_delay_ms: Option<u64>,
    /// Do not limit the request rate adaptively when Bedrock throttles (on by default).
    #[arg(long)]
    no_adaptive_rate_limit: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

/// A failure and its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

const EXIT_OTHER: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_PLUGIN: u8 = 3;
const EXIT_BACKEND: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run(*args, cli.verbose).await,
            Command::Inspect { plugin, cache } => inspect(plugin, cache).await,
            Command::Cache { action } => cache_command(action),
            Command::Models(args) => models::models(*args).await,
            Command::Emulator(args) => emulator(args).await,
            Command::Mcp {
                action: McpAction::Serve(args),
            } => mcp::serve(*args).await,
            Command::Cassette { action } => match action {
                CassetteAction::Show { cassette } => cassette::show(&cassette),
                CassetteAction::Diff { a, b } => cassette::diff(&a, &b),
            },
        }
    });
    // Whatever a run left behind (a host call cut off at the deadline, a blocking file
    // read) must not hold the process: the answer or the error is final.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Messages quote plugin and model text: never raw control characters.
            if !f.message.is_empty() {
                eprintln!(
                    "error: {}",
                    gamecode_host::text::escape_controls(&f.message)
                );
            }
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "error",
        1 => {
            "warn,gamecode_host=info,gamecode_bedrock=info,gamecode_backend=info,bedrock_emulator=info,gamecode::plugin=off"
        }
        // The plugin's lines are shown by the progress display already: not twice.
        _ => {
            "info,gamecode_host=debug,gamecode_bedrock=debug,gamecode_backend=debug,bedrock_emulator=debug,gamecode::plugin=off"
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a redirected log file gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn run(args: RunArgs, verbose: u8) -> Result<(), Failure> {
    // Usage problems first, before anything slow.
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
    apply_retry_flags(&mut policy, &args)?;
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
    let mut task = gamecode_host::Task::from(args.task.as_str());
    for path in &args.attach {
        let attachment = gamecode_host::Attachment::from_file(path, policy.max_attachment_bytes)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--attach: {e}")))?;
        task.attachments.push(attachment);
    }
    let mut tools = fs_tools(&args.allow_read)?;
    let mut mcp = match &args.mcp_config {
        Some(path) => gamecode_host::mcp::McpConfig::from_file(path)
            .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?,
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
    check_tool_names(&policy, &args, &mcp)?;
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

    let tty = std::io::stderr().is_terminal();
    let live_text = match (args.stream, args.no_stream) {
        (true, _) => true,
        (_, true) => false,
        _ => std::io::stdout().is_terminal(),
    };
    let progress = Progress::new(tty, live_text);

    // The emulator must outlive the run: keep its handle here.
    let mut _emulator = None;
    let backend = if args.emulator || replay.is_some() {
        let emu = bedrock_emulator::Emulator::start()
            .await
            .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the emulator: {e:#}")))?;
        if let Some(rules) = &rules {
            emu.load_rules(rules);
        }
        if let Some(cassette) = replay.clone() {
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
        let backend =
            BedrockBackend::new_with_config(&emu.sdk_config()).map_err(backend_failure)?;
        _emulator = Some(emu);
        backend
    } else {
        aws_backend(&args.region, &args.endpoint_url, verbose).await?
    };
    let status = progress.clone();
    let mut backend = backend.with_status_callback(move |s| status.retry(s));
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
    if let (Some(cassette), None) = (&replay, &args.model)
        && let Some(first) = cassette.exchanges.first()
    {
        backend = backend.with_default_model(first.model.clone());
    }
    // A model the catalogue knows to have ended is refused before any call, its successor
    // named; a legacy one runs, with a warning.
    if replay.is_none()
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

    // MCP servers start once, before the plugin; their tools join the host's.
    let mcp_tools = gamecode_host::mcp::connect(&mcp)
        .await
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    check_mcp_tools(&policy, &args, &mcp, &mcp_tools, &progress)?;
    tools.extend(mcp_tools);
    let cache = load::cache(args.cache.no_cache, args.cache.cache_dir.clone());
    let host = PluginHost::builder()
        .backend(Arc::new(backend))
        .tools(tools)
        .policy(policy)
        .observer(progress.clone())
        .cache(cache)
        .build()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;

    let (loader, path) = (host.clone(), args.plugin.clone());
    let compiles = host.will_compile(&args.plugin);
    let plugin = load::with_progress(
        &args.plugin,
        compiles,
        |m| progress.line(m),
        move || loader.load_file(path),
    )
    .await
    .map_err(|e| load_failure(&args.plugin, e))?;

    if !task.attachments.is_empty() && plugin.wit_version() < gamecode_host::WitVersion::V0_2_0 {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--attach: {} targets gamecode:plugin@{}, which cannot take attachments (0.2.0 \
                 and later can)",
                args.plugin.display(),
                plugin.wit_version()
            ),
        ));
    }
    let report = plugin.run_task_report(&task).await;
    progress.finish();
    if let Some(e) = recorder.as_ref().and_then(|r| r.error()) {
        progress.line(&format!("warning: the recording is incomplete: {e}"));
    }
    if let Some(emu) = _emulator.as_ref().filter(|_| replay.is_some()) {
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
    }
    match report.result {
        Ok(answer) => {
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
        Err(e) => Err(run_failure(e, verbose)),
    }
}

/// `s` as a TOML basic string.
/// The Bedrock backend on the default AWS chain (or `region`), optionally at `endpoint_url`.
async fn aws_backend(
    region: &Option<String>,
    endpoint_url: &Option<String>,
    verbose: u8,
) -> Result<BedrockBackend, Failure> {
    let backend = match region {
        Some(region) => BedrockBackend::new_with_region(region.clone()).await,
        None => BedrockBackend::new().await,
    }
    .map_err(|e| setup_failure(e, verbose))?;
    Ok(match endpoint_url {
        Some(url) => backend.with_endpoint_url(url.clone()),
        None => backend,
    })
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

fn backend_failure(e: BackendError) -> Failure {
    Failure::new(EXIT_BACKEND, format!("model backend: {e}"))
}

/// A backend that could not even be set up: no region, no credentials. Said in the CLI's
/// terms (flags and environment variables, not Rust APIs); the SDK's details with `-v`.
fn setup_failure(e: BackendError, verbose: u8) -> Failure {
    let message = e.message();
    let text = if message.starts_with("no AWS region") {
        "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION; or run \
         offline with --emulator"
            .to_string()
    } else if message.starts_with("no AWS credentials") {
        let mut text = "no AWS credentials found: set AWS_ACCESS_KEY_ID and \
                        AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a Bedrock API key in \
                        AWS_BEARER_TOKEN_BEDROCK; or use --emulator"
            .to_string();
        if verbose > 0 {
            text.push_str(&format!("\n{message}"));
        } else {
            text.push_str(" (-v: what the SDK tried)");
        }
        text
    } else {
        format!("model backend: {e}")
    };
    Failure::new(EXIT_BACKEND, text)
}

/// The plugin's file named in the message, whatever went wrong with it.
fn load_failure(path: &std::path::Path, e: LoadError) -> Failure {
    let message = match &e {
        LoadError::Io { .. } => e.to_string(),
        _ => format!("{}: {e}", path.display()),
    };
    Failure::new(EXIT_PLUGIN, message)
}

/// The host tools the CLI can offer (with `--allow-read`).
const CLI_TOOLS: &[&str] = &["read_file", "list_dir"];

/// A policy naming a host tool no `gamecode run` offers is a typo, not a narrowing: refused
/// (it would silently hide every tool), with the names that exist.
fn check_tool_names(
    policy: &Policy,
    args: &RunArgs,
    mcp: &gamecode_host::mcp::McpConfig,
) -> Result<(), Failure> {
    let Some(allowed) = &policy.allowed_tools else {
        return Ok(());
    };
    // An MCP server's tools (`mcp:<server>`, `<server>__<tool>`) are named after a server of
    // the MCP configuration; the tools themselves are known once it is connected.
    let mcp_server = |name: &str| {
        let server = name
            .strip_prefix("mcp:")
            .or_else(|| name.split_once("__").map(|(s, _)| s));
        server.is_some_and(|s| mcp.servers.contains_key(s))
    };
    let file = args
        .policy
        .as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default();
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
                    "{file}[tools] allowed names `{name}`, but there is no MCP server \
                     `{server}`{hint}; {configured}"
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
                "{file}[tools] allowed names `{name}`, which is not a host tool{hint}; the \
                 host tools are {}{}",
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
    policy: &Policy,
    args: &RunArgs,
    mcp: &gamecode_host::mcp::McpConfig,
    tools: &[Arc<dyn gamecode_host::HostTool>],
    progress: &Progress,
) -> Result<(), Failure> {
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
    for name in allowed {
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
                    "{file}[tools] allowed names `{name}`, which its MCP server does not \
                     offer{hint}; its tools are {}",
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

/// The file tools over every `--allow-read` directory.
fn fs_tools(dirs: &[PathBuf]) -> Result<Vec<Arc<dyn gamecode_host::HostTool>>, Failure> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    let roots = dirs
        .iter()
        .map(|dir| {
            FsRoot::new(dir).map_err(|e| {
                Failure::new(EXIT_USAGE, format!("--allow-read {}: {e}", dir.display()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    FsRoots::new(roots)
        .map(FsRoots::tools)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("--allow-read: {e}")))
}

fn run_failure(e: RunError, verbose: u8) -> Failure {
    let code = if e.is_plugin_failure() {
        EXIT_PLUGIN
    } else {
        EXIT_BACKEND
    };
    let mut message = e.to_string();
    if let (RunError::Trap { detail, .. }, true) = (&e, verbose > 0) {
        message.push_str(&format!("\n{detail}"));
    }
    Failure::new(code, message)
}

async fn inspect(path: PathBuf, cache: CacheArgs) -> Result<(), Failure> {
    let host = PluginHost::builder()
        .cache(load::cache(cache.no_cache, cache.cache_dir))
        .build()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    // Through the compiled-plugin cache, like `run`: only the first look compiles.
    let (inspector, file) = (host.clone(), path.clone());
    let compiles = host.will_compile(&path);
    let inspection = load::with_progress(
        &path,
        compiles,
        |m| eprintln!("{m}"),
        move || inspector.inspect_file(file),
    )
    .await
    .map_err(|e| load_failure(&path, e))?;
    print!("plugin: {}\n{}", path.display(), inspection.render());
    match inspection.runnable {
        Ok(()) => Ok(()),
        Err(_) => Err(Failure::new(
            EXIT_PLUGIN,
            format!("{} cannot be run by this host", path.display()),
        )),
    }
}

fn cache_command(action: CacheAction) -> Result<(), Failure> {
    let (CacheAction::List { cache: args } | CacheAction::Clear { cache: args }) = &action;
    let Some(cache) = load::cache(false, args.cache_dir.clone()) else {
        return Err(Failure::new(
            EXIT_USAGE,
            "no cache directory: set --cache-dir, GAMECODE_CACHE_DIR, XDG_CACHE_HOME or HOME",
        ));
    };
    match action {
        CacheAction::List { .. } => cache::list(&cache),
        CacheAction::Clear { .. } => cache::clear(&cache),
    }
    .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", cache.dir().display())))
}

async fn emulator(args: bedrock_emulator::EmulatorArgs) -> Result<(), Failure> {
    let config = args
        .into_config()
        .map_err(|e| Failure::new(EXIT_USAGE, format!("{e:#}")))?;
    bedrock_emulator::run_until_ctrl_c(config)
        .await
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{e:#}")))
}
