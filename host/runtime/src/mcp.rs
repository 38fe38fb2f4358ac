//! The tools of MCP servers offered to plugins as host tools, through an `rmcp` client.
//!
//! Each configured server is a child process speaking MCP on stdio, started with exactly the
//! environment its configuration gives (never the host's, so never its AWS credentials), or
//! a streamable-HTTP endpoint (`url`, with the `headers` its configuration gives). The
//! host connects once and shares the connection among its runs. Each of the server's tools
//! becomes a [`HostTool`] named `<server>__<tool>` (made to fit `[a-zA-Z0-9_-]{1,64}`), and is
//! **opt-in**: a policy that allows every host tool does not allow these; a plugin sees them
//! only when its policy names them, or `mcp:<server>` for all of a server's tools.
//!
//! A call has a timeout and an output cap. A call that times out, or whose run is cut off (its
//! future dropped), is cancelled on the server (`notifications/cancelled`, sent by rmcp when
//! the request is abandoned). A server that crashed or stopped answering is restarted on the
//! next call; the failed call is a clear `tool-error::failed`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::tools::{HostTool, ToolError, ToolSpec, is_valid_tool_name};

/// How long a call may take unless the server's configuration says otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How much output a call may return unless the configuration says otherwise.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// How long connecting (starting the process and the MCP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Room for a message's JSON-RPC envelope beyond the output cap.
const MESSAGE_OVERHEAD: usize = 64 * 1024;
/// How much of a server's stderr is kept to explain a failed start.
const STDERR_TAIL: usize = 2 * 1024;

type Service = Arc<RunningService<RoleClient, ()>>;

/// A live connection: the MCP service, the process behind it (killed when dropped), and
/// whether it was cut off for a message over the cap.
struct Connection {
    service: Service,
    _child: Option<tokio::process::Child>,
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

/// A server's stdout, failing (and so closing the connection) once a line outgrows `limit`:
/// what a hostile server can make the host buffer before parsing is bounded.
struct LineCap<R> {
    inner: R,
    since_newline: usize,
    limit: usize,
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for LineCap<R> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, buf))?;
        for &b in &buf.filled()[before..] {
            if b == b'\n' {
                this.since_newline = 0;
            } else {
                this.since_newline += 1;
                if this.since_newline > this.limit {
                    this.overflowed
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    return std::task::Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("a message over {} bytes", this.limit),
                    )));
                }
            }
        }
        std::task::Poll::Ready(Ok(()))
    }
}

/// The innermost cause of an error that reads as words ("Broken pipe (os error 32)"), not
/// rmcp's wrappers, which name transport types.
fn plain_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut best = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !text.contains("::") {
            best = text;
        }
        current = e.source();
    }
    if best.contains("::") {
        "the connection closed".to_string()
    } else {
        best
    }
}

/// The last bytes a server wrote to stderr, to say why it failed to start.
#[derive(Clone, Default)]
struct StderrTail(Arc<std::sync::Mutex<Vec<u8>>>);

impl StderrTail {
    fn follow(stderr: tokio::process::ChildStderr) -> Self {
        let tail = Self::default();
        let keep = tail.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut stderr = stderr;
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let mut kept = keep
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.extend_from_slice(&chunk[..n]);
                let excess = kept.len().saturating_sub(STDERR_TAIL);
                kept.drain(..excess);
            }
        });
        tail
    }

    /// `; it said: …` with the last lines, or nothing.
    fn text(&self) -> String {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = String::from_utf8_lossy(&kept);
        let text = crate::text::escape_controls(text.trim());
        if text.is_empty() {
            String::new()
        } else {
            format!("; it said: {text}")
        }
    }
}

/// `mcp.toml`: the servers, by name.
///
/// ```toml
/// [servers.search]        # streamable HTTP
/// url = "http://127.0.0.1:8931/mcp"
/// headers = { Authorization = "Bearer …" }
///
/// [servers.files]           # stdio
/// command = "gamecode-mcp2"
/// args = ["--tools-file", "tools.yaml"]
/// env = { LANG = "C" }      # the whole environment the server gets
/// cwd = "/srv/tools"
/// timeout_secs = 30         # per call
/// max_output_kib = 256      # per call
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
}

/// One MCP server: a command (stdio) or a `url` (streamable HTTP).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The program of a stdio server.
    #[serde(default)]
    pub command: String,
    /// The endpoint of a streamable-HTTP server (instead of `command`).
    #[serde(default)]
    pub url: Option<String>,
    /// HTTP headers sent with every request to `url`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// The server's whole environment: nothing of the host's is inherited.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    #[serde(default)]
    pub max_output_kib: Option<u64>,
}

/// Why MCP servers could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    #[error("invalid MCP configuration: {0}")]
    Config(String),
    #[error("MCP server `{server}`: {message}")]
    Server { server: String, message: String },
}

impl McpConfig {
    /// Parses a configuration; commands are taken as written (see
    /// [`resolve_commands`](Self::resolve_commands)).
    pub fn from_toml_str(text: &str) -> Result<Self, McpError> {
        let config: Self = toml::from_str(text).map_err(|e| McpError::Config(e.to_string()))?;
        for (name, server) in &config.servers {
            check_server(name, server)?;
        }
        Ok(config)
    }

    /// Reads a configuration file and resolves its bare commands against the host's `PATH`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, McpError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| McpError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Self::from_toml_str(&text)
            .map_err(|e| McpError::Config(format!("{}: {e}", path.display())))?;
        config
            .resolve_commands()
            .map_err(|e| McpError::Config(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// Adds one server, checked as a configuration file's would be.
    pub fn add_server(&mut self, name: &str, server: ServerConfig) -> Result<(), McpError> {
        check_server(name, &server)?;
        if self.servers.contains_key(name) {
            return Err(McpError::Config(format!(
                "server `{name}` is configured already"
            )));
        }
        self.servers.insert(name.to_string(), server);
        Ok(())
    }

    /// Finds each bare stdio command (`gamecode-mcp2`, no `/`) on the host's `PATH` and keeps
    /// its full path: a server's own environment is exactly its `env`, so the host, not the
    /// child, must find the program.
    pub fn resolve_commands(&mut self) -> Result<(), McpError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for (name, server) in &mut self.servers {
            if server.command.is_empty() || server.command.contains('/') {
                continue;
            }
            let found = std::env::split_paths(&path)
                .map(|dir| dir.join(&server.command))
                .find(|candidate| is_executable(candidate));
            match found {
                Some(full) => server.command = full.display().to_string(),
                None => {
                    return Err(McpError::Config(format!(
                        "server `{name}`: `{}` is not on PATH; install it, add its directory to \
                         PATH, or give its full path",
                        server.command
                    )));
                }
            }
        }
        Ok(())
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn check_server(name: &str, server: &ServerConfig) -> Result<(), McpError> {
    if name.is_empty()
        || name.len() > 24
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(McpError::Config(format!(
            "server name `{name}`: 1–24 letters, digits or hyphens"
        )));
    }
    if server.command.is_empty() == server.url.is_none() {
        return Err(McpError::Config(format!(
            "server `{name}`: give either `command` (stdio) or `url` (streamable HTTP)"
        )));
    }
    Ok(())
}

/// The host tool name of `tool` on `server`: `<server>__<tool>`, characters outside
/// `[a-zA-Z0-9_-]` replaced by `_`, cut to fit 64 with a short hash of the original name when
/// anything was changed (so two tools never share a name).
pub fn tool_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{server}__{clean}");
    if clean == tool && name.len() <= 64 {
        return name;
    }
    // FNV-1a over the original name: stable across runs and platforms.
    let hash = tool.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("_{:08x}", hash as u32);
    let keep = 64 - suffix.len();
    let mut cut = name;
    cut.truncate(keep);
    cut + &suffix
}

/// A connection to one server, restarted when it breaks.
struct Server {
    name: String,
    config: ServerConfig,
    client: Mutex<Option<Connection>>,
}

impl Server {
    fn timeout(&self) -> Duration {
        self.config
            .timeout_secs
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_CALL_TIMEOUT, Duration::from_secs_f64)
    }

    fn max_output(&self) -> usize {
        self.config
            .max_output_kib
            .map_or(DEFAULT_MAX_OUTPUT_BYTES, |k| {
                usize::try_from(k.saturating_mul(1024)).unwrap_or(usize::MAX)
            })
    }

    /// The most a server may send in one message (one stdio line, one HTTP body or SSE
    /// event) before it is parsed: the output cap plus room for the JSON-RPC envelope. A
    /// longer one fails the call and restarts the server, having cost at most this.
    fn max_message(&self) -> usize {
        self.max_output().saturating_add(MESSAGE_OVERHEAD)
    }

    async fn connect(&self) -> Result<Connection, String> {
        if let Some(url) = &self.config.url {
            return self.connect_http(url).await;
        }
        let mut command = tokio::process::Command::new(&self.config.command);
        command
            .args(&self.config.args)
            .env_clear()
            .envs(&self.config.env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &self.config.cwd {
            command.current_dir(cwd);
        }
        // A group of its own: the terminal's Ctrl-C is the host's to handle (`gamecode chat`
        // cancels a turn with it), not a signal that stops the server under it. It still
        // ends with the host: killed on drop, and its stdin closes when the host exits.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.config.command))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(format!(
                "cannot talk to `{}`: no pipes",
                self.config.command
            ));
        };
        let tail = StderrTail::follow(stderr);
        let overflowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = LineCap {
            inner: stdout,
            since_newline: 0,
            limit: self.max_message(),
            overflowed: overflowed.clone(),
        };
        let handshake = tokio::time::timeout(CONNECT_TIMEOUT, ().serve((reader, stdin))).await;
        let said = || tail.text();
        let service = match handshake {
            Err(_) => {
                return Err(format!(
                    "no MCP handshake within {} s{}",
                    CONNECT_TIMEOUT.as_secs(),
                    said()
                ));
            }
            Ok(Err(e)) => {
                // Give the process a moment to write why it failed.
                let exited = tokio::time::timeout(Duration::from_millis(300), child.wait()).await;
                let status = match exited {
                    Ok(Ok(status)) => format!("; it exited ({status})"),
                    _ => String::new(),
                };
                return Err(format!(
                    "the MCP handshake failed: {}{status}{}",
                    plain_cause(&e),
                    said()
                ));
            }
            Ok(Ok(service)) => service,
        };
        Ok(Connection {
            service: Arc::new(service),
            _child: Some(child),
            overflowed,
        })
    }

    async fn connect_http(&self, url: &str) -> Result<Connection, String> {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let mut headers = std::collections::HashMap::new();
        for (name, value) in &self.config.headers {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let value = http::HeaderValue::try_from(value.as_str())
                .map_err(|e| format!("header `{name}`: {e}"))?;
            headers.insert(name, value);
        }
        let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .custom_headers(headers)
            .max_json_response_size(self.max_message())
            .max_sse_event_size(self.max_message());
        let transport = StreamableHttpClientTransport::from_config(config);
        let client = tokio::time::timeout(CONNECT_TIMEOUT, ().serve(transport))
            .await
            .map_err(|_| {
                format!(
                    "no MCP handshake with {url} within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("the MCP handshake with {url} failed: {}", plain_cause(&e)))?;
        Ok(Connection {
            service: Arc::new(client),
            _child: None,
            overflowed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// The live connection, (re)connecting if there is none.
    async fn client(&self) -> Result<(Service, Arc<std::sync::atomic::AtomicBool>), String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.service.is_transport_closed()
        {
            return Ok((c.service.clone(), c.overflowed.clone()));
        }
        let connection = self.connect().await?;
        let live = (connection.service.clone(), connection.overflowed.clone());
        *slot = Some(connection);
        Ok(live)
    }

    /// Drops a broken connection (the process is killed with it); the next call reconnects.
    async fn forget(&self, broken: &Service) {
        let mut slot = self.client.lock().await;
        if slot
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.service, broken))
        {
            *slot = None;
        }
    }

    async fn call(
        &self,
        tool: &str,
        input: Value,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        use gamecode_backend::ToolResultContent as C;
        let failed = |m: String| ToolError::Failed(format!("MCP server `{}`: {m}", self.name));
        let (client, overflowed) = self.client().await.map_err(failed)?;
        let arguments = match input {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                return Err(ToolError::InvalidInput(format!(
                    "the input must be a JSON object, not {other}"
                )));
            }
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = arguments;
        let timeout = self.timeout();
        // Dropping the call (timeout, or the run's deadline) cancels it on the server.
        let result = match tokio::time::timeout(timeout, client.peer().call_tool(params)).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                if overflowed.load(std::sync::atomic::Ordering::SeqCst) {
                    self.forget(&client).await;
                    return Err(failed(format!(
                        "the server sent a message over the cap of {} bytes (the output cap \
                         plus the message's envelope); it will be restarted for the next call",
                        self.max_message()
                    )));
                }
                if client.is_transport_closed() {
                    self.forget(&client).await;
                    return Err(failed(format!(
                        "the server stopped ({e}); it will be restarted for the next call"
                    )));
                }
                return Err(failed(format!("the call failed: {e}")));
            }
            Err(_) => {
                // A server that does not answer in time may be stuck: start afresh.
                self.forget(&client).await;
                return Err(failed(format!(
                    "no answer within {:.0} s; the call was cancelled and the server will be \
                     restarted",
                    timeout.as_secs_f64()
                )));
            }
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let over_cap = || {
            failed(format!(
                "the tool's output is over the cap of {} bytes",
                self.max_output()
            ))
        };
        if let Some(structured) = &result.structured_content
            && result.content.is_empty()
        {
            let part = C::Json(structured.clone());
            bytes += crate::tools::content_bytes(&part);
            if bytes > self.max_output() {
                return Err(over_cap());
            }
            out.push(part);
        }
        for block in &result.content {
            let part = match block {
                ContentBlock::Text(t) => C::Text(t.text.clone()),
                ContentBlock::Image(i) => {
                    use base64::Engine;
                    let decoded = base64::engine::general_purpose::STANDARD.decode(&i.data);
                    match decoded.ok().map(gamecode_backend::Image::from_bytes) {
                        Some(Ok(image)) => C::Image(image),
                        _ => C::Text(format!(
                            "[image: {}, not a format the model reads]",
                            i.mime_type
                        )),
                    }
                }
                other => C::Text(serde_json::to_string(other).unwrap_or_default()),
            };
            bytes += crate::tools::content_bytes(&part);
            if bytes > self.max_output() {
                return Err(over_cap());
            }
            out.push(part);
        }
        if result.is_error == Some(true) {
            return Err(ToolError::Failed(crate::tools::content_text(&out)));
        }
        Ok(out)
    }
}

/// One MCP tool as a host tool.
struct McpTool {
    spec: ToolSpec,
    server: Arc<Server>,
    tool: String,
}

#[async_trait]
impl HostTool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, input: Value) -> Result<String, ToolError> {
        self.call_content(input)
            .await
            .map(|content| crate::tools::content_text(&content))
    }

    async fn call_content(
        &self,
        input: Value,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        self.server.call(&self.tool, input).await
    }

    fn opt_in(&self) -> Option<&str> {
        Some(&self.server.name)
    }
}

/// Connects to every configured server and returns their tools as host tools. A server that
/// cannot be reached is an error naming it; a tool whose input schema is not an object schema
/// is left out with a warning naming it.
pub async fn connect(config: &McpConfig) -> Result<Vec<Arc<dyn HostTool>>, McpError> {
    let mut tools: Vec<Arc<dyn HostTool>> = Vec::new();
    for (name, server_config) in &config.servers {
        let server = Arc::new(Server {
            name: name.clone(),
            config: server_config.clone(),
            client: Mutex::new(None),
        });
        let err = |message: String| McpError::Server {
            server: name.clone(),
            message,
        };
        let client = server.client().await.map_err(err)?;
        let listed = tokio::time::timeout(server.timeout(), client.0.peer().list_all_tools())
            .await
            .map_err(|_| err("no tool list in time".into()))?
            .map_err(|e| err(format!("cannot list its tools: {e}")))?;
        for tool in listed {
            let schema = Value::Object((*tool.input_schema).clone());
            // A tool input must be an object (Bedrock's rule too): a server offering another
            // schema is told off in the log, and the tool is not offered.
            if schema.get("type").is_some_and(|t| t != "object") {
                tracing::warn!(
                    server = %name,
                    tool = %tool.name,
                    "MCP tool left out: its input schema is not an object schema"
                );
                continue;
            }
            let spec = ToolSpec {
                name: tool_name(name, &tool.name),
                description: tool.description.as_deref().unwrap_or("").to_string(),
                input_schema: schema,
            };
            if !is_valid_tool_name(&spec.name) {
                return Err(err(format!("tool `{}` has no usable name", tool.name)));
            }
            tools.push(Arc::new(McpTool {
                spec,
                server: server.clone(),
                tool: tool.name.to_string(),
            }));
        }
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_never_collide() {
        assert_eq!(tool_name("files", "read_file"), "files__read_file");
        let a = tool_name("files", "read.file");
        let b = tool_name("files", "read/file");
        assert!(a.starts_with("files__read_file_") && b.starts_with("files__read_file_"));
        assert_ne!(a, b);
        let long = tool_name("files", &"x".repeat(100));
        assert_eq!(long.len(), 64);
        assert!(is_valid_tool_name(&long) && is_valid_tool_name(&a));
    }

    #[test]
    fn config_is_strict() {
        let c = McpConfig::from_toml_str(
            "[servers.files]\ncommand = \"srv\"\nargs = [\"a\"]\nenv = { K = \"v\" }\n",
        )
        .unwrap();
        assert_eq!(c.servers["files"].env["K"], "v");
        assert!(McpConfig::from_toml_str("[servers.files]\ncommand = \"x\"\nenvs = {}\n").is_err());
        assert!(McpConfig::from_toml_str("[servers.\"a b\"]\ncommand = \"x\"\n").is_err());
        // Bare commands are found on the host's PATH; a missing one is named.
        let mut found = McpConfig::from_toml_str("[servers.s]\ncommand = \"sh\"\n").unwrap();
        found.resolve_commands().unwrap();
        assert!(
            found.servers["s"].command.ends_with("/sh"),
            "{:?}",
            found.servers
        );
        let mut missing =
            McpConfig::from_toml_str("[servers.s]\ncommand = \"no-such-mcp-server\"\n").unwrap();
        let err = missing.resolve_commands().unwrap_err().to_string();
        assert!(err.contains("`no-such-mcp-server` is not on PATH"), "{err}");
        let http = McpConfig::from_toml_str(
            "[servers.web]\nurl = \"http://127.0.0.1:1/mcp\"\nheaders = { X-Key = \"k\" }\n",
        )
        .unwrap();
        assert_eq!(http.servers["web"].headers["X-Key"], "k");
        assert!(
            McpConfig::from_toml_str("[servers.web]\n").is_err(),
            "neither"
        );
        assert!(
            McpConfig::from_toml_str("[servers.web]\ncommand = \"x\"\nurl = \"http://h\"\n")
                .is_err(),
            "both"
        );
    }
}
