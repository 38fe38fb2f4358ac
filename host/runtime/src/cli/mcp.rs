//! `gamecode mcp serve`: a plugin as an MCP tool on stdio.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use gamecode_bedrock::BedrockBackend;
use gamecode_host::mcp_serve::PluginServer;
use gamecode_host::{PluginHost, Policy};

use crate::{EXIT_OTHER, EXIT_USAGE, Failure};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The plugin component (.wasm).
    plugin: PathBuf,
    /// The tool's name (default: the plugin's file name, made to fit `[a-zA-Z0-9_-]`).
    #[arg(long)]
    name: Option<String>,
    /// What the tool does, for the client's model (default: a generic description).
    #[arg(long)]
    description: Option<String>,
    /// Use the built-in Bedrock emulator instead of AWS.
    #[arg(long, conflicts_with_all = ["region", "endpoint_url"])]
    emulator: bool,
    /// AWS region (default: from the environment or profile).
    #[arg(long)]
    region: Option<String>,
    /// Send Bedrock requests to this endpoint.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The model used when the plugin names none.
    #[arg(long)]
    model: Option<String>,
    /// Policy file (TOML) for every run.
    #[arg(long, value_name = "FILE.toml")]
    policy: Option<PathBuf>,
    /// Give each run read-only access to this directory; repeat it for several.
    #[arg(long, value_name = "DIR")]
    allow_read: Vec<PathBuf>,
    /// Serve streamable HTTP at http://ADDR/mcp (a loopback address; port 0 picks one and
    /// prints it) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    bind: Option<std::net::SocketAddr>,
    /// With --bind: the bearer token clients must send, read from this file (default: a new
    /// random one, printed at start).
    #[arg(long, value_name = "FILE", requires = "bind")]
    token_file: Option<PathBuf>,
}

/// The tool name a plugin file gives by default.
fn default_name(plugin: &std::path::Path) -> String {
    let stem = plugin
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "agent".into());
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "agent".into()
    } else {
        name
    }
}

pub(crate) async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let (policy, approvals) = match &args.policy {
        Some(path) => (
            Policy::from_file(path).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?,
            // Served runs keep no journal, so they cannot wait for a person: these tools'
            // calls are refused, never made unasked.
            std::fs::read_to_string(path)
                .ok()
                .map(|text| gamecode_host::Approvals::from_policy_toml(&text))
                .transpose()
                .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?
                .unwrap_or_default(),
        ),
        None => (Policy::default(), gamecode_host::Approvals::default()),
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.plugin));
    if !gamecode_host::tools::is_valid_tool_name(&name) {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("--name {name}: must match [a-zA-Z0-9_-]{{1,64}}"),
        ));
    }
    let description = args.description.clone().unwrap_or_else(|| {
        format!("Runs the sandboxed agent `{name}` on a task and returns its answer.")
    });
    // The emulator must outlive the server.
    let mut _emulator = None;
    let mut backend = if args.emulator {
        let emu = bedrock_emulator::Emulator::start()
            .await
            .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the emulator: {e:#}")))?;
        let backend = BedrockBackend::new_with_config(&emu.sdk_config())
            .map_err(|e| Failure::new(EXIT_OTHER, format!("model backend: {e}")))?;
        _emulator = Some(emu);
        backend
    } else {
        crate::setup::aws_backend(&args.region, &args.endpoint_url, 0).await?
    };
    if let Some(model) = &args.model {
        backend = backend.with_default_model(model.clone());
    }
    let host = PluginHost::builder()
        .backend(Arc::new(backend))
        .tools(crate::setup::fs_tools(&args.allow_read)?)
        .policy(policy)
        .approvals(approvals)
        .cache(crate::load::cache(false, None))
        .build()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    let plugin = host
        .load_file(&args.plugin)
        .map_err(|e| crate::setup::load_failure(&args.plugin, e))?;
    let server = PluginServer::new(plugin, &name, &description);
    match args.bind {
        Some(addr) => {
            let (token, printed) = match &args.token_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Failure::new(EXIT_USAGE, format!("--token-file {}: {e}", path.display()))
                    })?;
                    (text.trim().to_string(), false)
                }
                None => (
                    gamecode_host::mcp_serve::new_token().map_err(|e| {
                        Failure::new(EXIT_OTHER, format!("cannot make a bearer token: {e}"))
                    })?,
                    true,
                ),
            };
            let shown = if printed {
                format!("; clients send `Authorization: Bearer {token}`")
            } else {
                "; clients send the bearer token of --token-file".to_string()
            };
            server
                .serve_http(addr, token.clone(), |bound| {
                    eprintln!("serving MCP on http://{bound}/mcp (tool `{name}`){shown}");
                })
                .await
                .map_err(|e| Failure::new(EXIT_USAGE, e))
        }
        None => {
            tracing::info!(tool = %name, "serving the plugin over MCP on stdio");
            server
                .serve_stdio()
                .await
                .map_err(|e| Failure::new(EXIT_OTHER, e))
        }
    }
}
