//! A plugin served as an MCP tool (`gamecode mcp serve`): any MCP client — a desktop
//! assistant, an IDE, another agent — calls it with `{"task": "…"}`; each call is a fresh
//! sandboxed run under the plugin's policy, reported with progress notifications while it
//! runs; its answer is the tool's result, and a failed run is an `isError` result with the
//! categorized message. Calls run concurrently; no run's failure stops the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::Plugin;

/// How often a running call reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The plugin as an MCP server with one tool.
#[derive(Clone)]
pub struct PluginServer {
    plugin: Plugin,
    tool: Arc<Tool>,
}

impl PluginServer {
    /// Serves `plugin` as the tool `name` (`[a-zA-Z0-9_-]{1,64}`), described by `description`.
    pub fn new(plugin: Plugin, name: &str, description: &str) -> Self {
        let schema = json!({
            "type": "object",
            "properties": {"task": {"type": "string", "description": "The task, in words."}},
            "required": ["task"],
        });
        let schema = match schema {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        Self {
            plugin,
            tool: Arc::new(Tool::new(
                name.to_string(),
                description.to_string(),
                Arc::new(schema),
            )),
        }
    }

    /// Serves streamable HTTP at `http://<addr>/mcp` until the process ends. `addr` must be a
    /// loopback address (the plugin's answers are for this machine's clients); `ready` is told
    /// the address bound (useful with port 0). Every request must carry
    /// `Authorization: Bearer <token>` — other local users must not drive the plugin with the
    /// owner's credentials — and a browser's `Origin`, when sent, must be a loopback one (DNS
    /// rebinding).
    pub async fn serve_http(
        self,
        addr: std::net::SocketAddr,
        token: String,
        ready: impl FnOnce(std::net::SocketAddr),
    ) -> Result<(), String> {
        if token.len() < 16 {
            return Err("the bearer token must be at least 16 characters".into());
        }
        use hyper_util::rt::TokioIo;
        use hyper_util::service::TowerToHyperService;
        use rmcp::transport::streamable_http_server::StreamableHttpService;
        use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address; `mcp serve --bind` serves this machine only"
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        ready(bound);
        let server = self.clone();
        let service = TowerToHyperService::new(StreamableHttpService::new(
            move || Ok(server.clone()),
            LocalSessionManager::default().into(),
            Default::default(),
        ));
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("MCP HTTP accept failed: {e}");
                    continue;
                }
            };
            let service = service.clone();
            let token = token.clone();
            let guarded = hyper::service::service_fn(move |request| {
                let service = service.clone();
                let refused = refuse(&request, &token);
                async move {
                    match refused {
                        Some(response) => Ok(response),
                        None => hyper::service::Service::call(&service, request).await,
                    }
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), guarded)
                    .await;
            });
        }
    }

    /// Serves on stdin/stdout until the client goes away.
    pub async fn serve_stdio(self) -> Result<(), String> {
        let service = self
            .serve((tokio::io::stdin(), tokio::io::stdout()))
            .await
            .map_err(|e| format!("the MCP handshake failed: {e}"))?;
        service
            .waiting()
            .await
            .map(drop)
            .map_err(|e| format!("the MCP server stopped: {e}"))
    }
}

type HttpResponse =
    http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

/// The refusal of a request without the bearer token, or from a page of another origin.
fn refuse<B>(request: &http::Request<B>, token: &str) -> Option<HttpResponse> {
    use http_body_util::BodyExt;
    let header =
        |name: http::header::HeaderName| request.headers().get(name).and_then(|v| v.to_str().ok());
    let respond = |status: u16, message: &str| {
        let mut response = http::Response::new(
            http_body_util::Full::new(bytes::Bytes::from(message.to_string())).boxed(),
        );
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
        if status == 401 {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    };
    if let Some(origin) = header(http::header::ORIGIN)
        && !is_loopback_origin(origin)
    {
        return Some(respond(
            403,
            "this server answers pages on this machine only",
        ));
    }
    let presented = header(http::header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => None,
        _ => Some(respond(
            401,
            "a bearer token is required (printed by `gamecode mcp serve --bind`, or the one in \
             --token-file)",
        )),
    }
}

fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A bearer token from the system's random source: 32 bytes, hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn failure(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

impl ServerHandler for PluginServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            rmcp::model::Implementation::new("gamecode", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![(*self.tool).clone()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != self.tool.name {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool `{}`; this server has `{}`",
                    request.name, self.tool.name
                ),
                None,
            ));
        }
        let Some(task) = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("task"))
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            // Input that does not match the tool's schema is a tool execution error the model
            // can correct (SEP-1303, spec 2025-11-25), not a protocol error.
            return Ok(failure(
                "the input must be {\"task\": string}: give the task, in words, as `task`".into(),
            ));
        };
        let progress = context.meta.get_progress_token();
        let started = Instant::now();
        let run = self.plugin.run(task.as_str()).report();
        tokio::pin!(run);
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.tick().await;
        let report = loop {
            tokio::select! {
                report = &mut run => break report,
                // The client cancelled: the run is dropped (and its model call with it).
                _ = context.ct.cancelled() => {
                    return Err(ErrorData::internal_error("the call was cancelled", None));
                }
                _ = ticks.tick() => {
                    if let Some(token) = &progress {
                        let secs = started.elapsed().as_secs_f64();
                        let mut note = ProgressNotificationParam::new(token.clone(), secs);
                        note.message = Some(format!("running for {secs:.0} s"));
                        let _ = context.peer.notify_progress(note).await;
                    }
                }
            }
        };
        Ok(match report.result {
            Ok(answer) => CallToolResult::success(vec![ContentBlock::text(answer)]).into(),
            Err(e) => failure(format!("the plugin run failed: {e}")),
        })
    }
}
