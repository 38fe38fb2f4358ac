//! An MCP server (rmcp, stdio) that misbehaves on request, for the host's MCP tests:
//! `echo` answers its input, `hang` never answers (it notes the cancellation it receives in
//! the file `$FAULT_LOG`, when set), `crash` exits mid-call, `flood` answers `kib` KiB of
//! text, `structured` `kib` KiB as structured content alone, `bigline` writes a 1 GiB line of
//! raw bytes to stdout (a hostile server), `env` answers the environment it was started with,
//! `picture` a PNG image and a line of text. `bad_schema`'s input schema is not an object
//! schema.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone)]
struct Faults;

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    let schema = match schema {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
}

fn text(t: String) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(t)]).into()
}

impl ServerHandler for Faults {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let object = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        Ok(ListToolsResult::with_all_items(vec![
            tool("echo", "Answers its input text.", object.clone()),
            tool("hang", "Never answers.", object.clone()),
            tool("crash", "Exits in the middle of the call.", object.clone()),
            tool(
                "flood",
                "Answers `kib` KiB of text.",
                json!({"type": "object",
                "properties": {"kib": {"type": "integer"}}}),
            ),
            tool(
                "structured",
                "Answers `kib` KiB as structured content.",
                json!({"type": "object",
                "properties": {"kib": {"type": "integer"}}}),
            ),
            tool("bigline", "Writes a 1 GiB line.", json!({"type": "object"})),
            tool("env", "Answers its environment.", json!({"type": "object"})),
            tool("picture", "Answers a picture.", json!({"type": "object"})),
            tool(
                "bad_schema",
                "Its schema is not an object schema.",
                json!({"type": "string"}),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        match request.name.as_ref() {
            "echo" => Ok(text(
                args.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )),
            "hang" => {
                context.ct.cancelled().await;
                if let Ok(log) = std::env::var("FAULT_LOG") {
                    let _ = std::fs::write(log, "cancelled");
                }
                Err(ErrorData::internal_error("cancelled", None))
            }
            "crash" => std::process::exit(3),
            "flood" => {
                let kib = args.get("kib").and_then(Value::as_u64).unwrap_or(1024) as usize;
                Ok(text("x".repeat(kib * 1024)))
            }
            "structured" => {
                let kib = args.get("kib").and_then(Value::as_u64).unwrap_or(1024) as usize;
                let mut result = CallToolResult::success(Vec::new());
                result.structured_content = Some(json!({ "data": "x".repeat(kib * 1024) }));
                Ok(result.into())
            }
            "bigline" => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let chunk = vec![b'x'; 1 << 20];
                let _ = out.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"x\":\"");
                for _ in 0..1024 {
                    if out.write_all(&chunk).is_err() {
                        break;
                    }
                }
                std::process::exit(4)
            }
            "picture" => {
                use base64::Engine;
                let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
                png.extend_from_slice(&64u32.to_be_bytes());
                png.extend_from_slice(&48u32.to_be_bytes());
                png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
                let data = base64::engine::general_purpose::STANDARD.encode(png);
                Ok(CallToolResult::success(vec![
                    ContentBlock::image(data, "image/png"),
                    ContentBlock::text("a red square".to_string()),
                ])
                .into())
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                Ok(text(vars.join(",")))
            }
            other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let transport = (tokio::io::stdin(), tokio::io::stdout());
    match Faults.serve(transport).await {
        Ok(service) => {
            let _ = service.waiting().await;
        }
        Err(e) => eprintln!("mcp_fault_server: {e}"),
    }
}
