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
    /// the address bound (useful with port 0).
    pub async fn serve_http(
        self,
        addr: std::net::SocketAddr,
        ready: impl FnOnce(std::net::SocketAddr),
    ) -> Result<(), String> {
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
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
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

fn failure(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

impl ServerHandler for PluginServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
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
            return Err(ErrorData::invalid_params(
                "the input must be {\"task\": string}",
                None,
            ));
        };
        let progress = context.meta.get_progress_token();
        let started = Instant::now();
        let run = self.plugin.run_report(&task);
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
