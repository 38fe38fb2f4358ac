//! `gamecode`: run a wasm agent plugin against AWS Bedrock (or the built-in emulator),
//! inspect a plugin, or serve the Bedrock emulator.

mod cache;
mod cassette;
mod chat;
mod fleet;
mod load;
mod mcp;
mod models;
mod progress;
mod run;
mod runs;
mod sessions;
mod setup;
mod state;
mod submit;
mod terminal;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use gamecode_host::PluginHost;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (the answer is on stdout)
  1  any other failure (e.g. the emulator could not start, the state store failed, a run
     that cannot be resumed: not interrupted, or another plugin)
  2  usage error: bad arguments (a --model that is not a Bedrock model id, retry flags out
     of range), an unreadable or invalid --policy or --emulator-rules file, a policy naming a
     host tool that does not exist, an --allow-read path that is not a directory
  3  plugin failure: the plugin file is missing or is not a runnable gamecode component,
     it trapped or panicked, hit its deadline while running, its memory or fuel limit, gave
     up on a policy refusal, or reported an error of its own
  4  backend failure: the model provider failed (authentication, network, rate limiting,
     provider error, a request it rejected as invalid, an unsupported operation), including
     missing AWS credentials or region, and a deadline reached while waiting for the model
  5  the run waits for a person to approve a tool call (--approve): `gamecode approve RUN_ID`
     continues it";

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
    /// Talk to a plugin: each line is a run in one session, whose conversation the plugin
    /// continues (WIT 0.2.1); the answer streams as it comes. Ctrl-C stops an answer;
    /// /history, /new, /exit.
    Chat(Box<ChatArgs>),
    /// Sessions (`gamecode chat`, `gamecode run --session`): `list` them, `show` one's
    /// conversation, `rm` one.
    Sessions {
        #[command(subcommand)]
        action: SessionsAction,
    },
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
    /// Recordings (`gamecode run --record`): `show` one, `diff` two.
    Cassette {
        #[command(subcommand)]
        action: CassetteAction,
    },
    /// Continue a run whose process died (`gamecode runs list` shows it interrupted): the
    /// plugin is answered from the run's journal, then goes on live; no model or tool call
    /// that completed is made again. Started with the arguments the run was started with.
    #[command(after_help = EXIT_CODES)]
    Resume {
        /// The run's id (`gamecode runs list`).
        run_id: String,
    },
    /// Continue a run waiting for a person's approval of a tool call (`gamecode runs list`
    /// shows it waiting): approve the call, or deny it with a reason the plugin is given.
    #[command(after_help = EXIT_CODES)]
    Approve {
        /// The run's id.
        run_id: String,
        /// Deny the call, with this reason (the plugin gets it as the tool's error).
        #[arg(long, value_name = "REASON")]
        deny: Option<String>,
    },
    /// Join a fleet (NATS JetStream): run the orders its submitters queue, under this
    /// worker's policy, credentials and backend flags (those of `gamecode run`). A run whose
    /// worker dies is resumed by another from its journal. SIGTERM drains.
    Worker(Box<worker::WorkerArgs>),
    /// Run a batch on a fleet: one task per line of a JSON Lines file, one result line per
    /// task; sent again, tasks already answered are not run again.
    Submit(Box<submit::SubmitArgs>),
    /// Durable runs (each `gamecode run` is journaled in $GAMECODE_STATE_DIR/state.sqlite,
    /// else ~/.local/share/gamecode): `list` them, `show` one's journal.
    Runs {
        #[command(subcommand)]
        action: RunsAction,
    },
}

#[derive(Subcommand)]
enum RunsAction {
    /// Every run, newest first: id, state (running, interrupted, finished, failed), plugin,
    /// journal entries, age, task.
    List,
    /// One run and its journal, an entry a line.
    Show {
        /// The run's id.
        run_id: String,
    },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// Every session, the last used first: name, turns, age.
    List,
    /// A session's conversation, turn by turn.
    Show {
        /// The session's name.
        name: String,
    },
    /// Removes a session (its runs stay in `gamecode runs list`).
    Rm {
        /// The session's name.
        name: String,
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

#[derive(Args, Clone)]
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
    /// The plugin component (.wasm, world gamecode:plugin/plugin@0.2.1, @0.2.0 or @0.1.0).
    plugin: PathBuf,
    /// The task for the agent, in words.
    task: String,
    /// Give the agent this file with the task: an image (png, jpeg, gif, webp) or a
    /// document (pdf, csv, doc, docx, xls, xlsx, html, txt, md), recognised by its content.
    /// Repeat it for several. 0.2.0 plugins only.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Make the run a turn of this session (created by its first turn): the plugin continues
    /// the conversation the session's earlier runs left (`gamecode sessions` lists them).
    #[arg(long, value_name = "NAME", conflicts_with = "no_journal")]
    session: Option<String>,
    /// Print the model's text on stdout as it streams in (default when stdout is a terminal).
    /// Intermediate turns' text is shown too; the final answer is not repeated.
    #[arg(long, conflicts_with = "no_stream")]
    stream: bool,
    /// Print only the final answer on stdout, once the run is done.
    #[arg(long)]
    no_stream: bool,
    /// Do not journal the run (by default it is, so that `gamecode resume` can continue it
    /// after a crash).
    #[arg(long)]
    no_journal: bool,
    /// With --nats: the run goes to a fleet's workers (`gamecode worker`), and is shown here
    /// as a local run is; the workers' flags and policy decide the backend and tools.
    #[command(flatten)]
    fleet: fleet::FleetArgs,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Args)]
struct ChatArgs {
    /// The plugin component (.wasm; world gamecode:plugin/plugin@0.2.1 keeps a conversation).
    plugin: PathBuf,
    /// Continue this session (`gamecode sessions list`); default: a new one, named after the
    /// time.
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

/// `run`'s arguments beyond its task are the host's: `gamecode chat` takes them too.
impl std::ops::Deref for RunArgs {
    type Target = HostArgs;

    fn deref(&self) -> &HostArgs {
        &self.host
    }
}

/// How the host runs a plugin: backend, policy, tools, retries (`run` and `chat`).
#[derive(Args, Clone)]
struct HostArgs {
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
    /// Every call of this host tool waits for a person's approval (`mcp:<server>`: all of an
    /// MCP server's tools); repeat it for several, or list them in the policy's
    /// `[tools] approve`. The run stops, journaled, until `gamecode approve` (or, in `gamecode
    /// chat`, a prompt).
    #[arg(long, value_name = "TOOL")]
    approve: Vec<String>,
    /// Wall-clock deadline for the run in seconds (overrides the policy's).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
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
#[derive(Debug)]
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
const EXIT_WAITING: u8 = 5;

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
            Command::Run(args) => run::run(*args, cli.verbose, None).await,
            Command::Resume { run_id } => runs::resume(run_id, cli.verbose, None).await,
            Command::Approve { run_id, deny } => {
                let decision = match deny {
                    Some(reason) => gamecode_host::Decision::Deny(reason),
                    None => gamecode_host::Decision::Approve,
                };
                runs::resume(run_id, cli.verbose, Some(decision)).await
            }
            Command::Runs { action } => runs::runs(action),
            Command::Worker(args) => worker::worker(*args, cli.verbose).await,
            Command::Submit(args) => submit::submit(*args).await,
            Command::Chat(args) => chat::chat(*args, cli.verbose).await,
            Command::Sessions { action } => sessions::sessions(action),
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
        .with_ansi(terminal::stderr_is_tty())
        .try_init();
}

/// The Bedrock backend on the default AWS chain (or `region`), optionally at `endpoint_url`.
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
    .map_err(|e| setup::load_failure(&path, e))?;
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
