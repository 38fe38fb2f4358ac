//! The benchmark guest (`benches/`, crate `gamecode-benches`): drives host calls in a loop so
//! the host's per-call cost can be measured from outside. `run(task)` understands:
//!
//! - `chat:N` — N `chat` calls with the realistic request of
//!   `benches/fixtures/chat_request.json` (20 messages, 5 tools, ~8 KB); answers `ok N`.
//! - `stream:N` — N `chat-stream` calls with that request, each pulled to its end.
//! - `stream-times` — one `chat-stream` call pulled to its end; answers the wall-clock time
//!   (nanoseconds since the Unix epoch) at which each text delta was received, comma
//!   separated, so the host side can compare it with when the model server sent it.
//! - `tool:N` — N `call-tool("fault__echo", {"text": "hi"})` calls (an MCP server's tool,
//!   for the MCP figure); answers `ok N`.
//! - `grow:T` — a stateless tool loop of T turns (0.1.0 has no conversation): each turn sends
//!   the whole history with `chat`, then appends the reply and a 4 KiB tool result for each of
//!   its tool calls; answers each `chat` call's time in nanoseconds, comma separated (the
//!   same loop as `guest_bench_conversation`'s, which the host holds).
//!
//! The request is parsed once per run, before the loop, in every mode (so `chat:0` pays
//! for it too and subtracting it leaves the calls alone).

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use std::time::{SystemTime, UNIX_EPOCH};

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat;
use gamecode::plugin::types::{
    AgentError, ChatRequest, ContentBlock, InferenceConfig, Message, Role, StreamEvent, ToolCall,
    ToolChoice, ToolResult, ToolResultContent, ToolSpec,
};
use serde_json::Value;

/// The request, in `gamecode-backend`'s serde form (shared with the native side).
const FIXTURE: &str = include_str!("../../../../benches/fixtures/chat_request.json");

struct Bench;

impl Guest for Bench {
    fn run(task: String) -> Result<String, AgentError> {
        let request = fixture().map_err(AgentError::Failed)?;
        let (mode, count) = match task.split_once(':') {
            Some((mode, n)) => (
                mode,
                n.trim()
                    .parse::<u32>()
                    .map_err(|e| AgentError::Failed(format!("bad count in {task:?}: {e}")))?,
            ),
            None => (task.as_str(), 1),
        };
        match mode {
            "grow" => grow(count),
            "tool" => {
                for _ in 0..count {
                    gamecode::plugin::tools::call_tool("fault__echo", r#"{"text":"hi"}"#)
                        .map_err(AgentError::Tool)?;
                }
                Ok(format!("ok {count}"))
            }
            "chat" => {
                for _ in 0..count {
                    chat::chat(&request).map_err(AgentError::Chat)?;
                }
                Ok(format!("ok {count}"))
            }
            "stream" => {
                for _ in 0..count {
                    let stream = chat::chat_stream(&request).map_err(AgentError::Chat)?;
                    while stream.next().map_err(AgentError::Chat)?.is_some() {}
                }
                Ok(format!("ok {count}"))
            }
            "stream-times" => {
                let stream = chat::chat_stream(&request).map_err(AgentError::Chat)?;
                let mut times = Vec::new();
                while let Some(event) = stream.next().map_err(AgentError::Chat)? {
                    if let StreamEvent::TextDelta(_) = event {
                        times.push(now_ns());
                    }
                }
                Ok(times
                    .iter()
                    .map(u128::to_string)
                    .collect::<Vec<_>>()
                    .join(","))
            }
            other => Err(AgentError::Failed(format!("unknown mode {other:?}"))),
        }
    }
}

export!(Bench);

/// See `grow:T` above.
fn grow(turns: u32) -> Result<String, AgentError> {
    let text = |role, t: &str| Message {
        role,
        content: vec![ContentBlock::Text(t.to_string())],
    };
    let mut request = ChatRequest {
        messages: vec![
            text(Role::System, "You are a benchmark agent."),
            text(Role::User, "Start."),
        ],
        model: None,
        tools: vec![ToolSpec {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            input_schema: r#"{"type":"object"}"#.into(),
        }],
        tool_choice: None,
        inference_config: None,
    };
    let output = "x".repeat(4096);
    let mut times = Vec::new();
    for _ in 0..turns {
        let started = std::time::Instant::now();
        let reply = chat::chat(&request).map_err(AgentError::Chat)?;
        times.push(started.elapsed().as_nanos().to_string());
        let results = reply
            .message
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse(call) => Some(ContentBlock::ToolResult(ToolResult {
                    tool_use_id: call.id.clone(),
                    content: vec![ToolResultContent::Text(output.clone())],
                    is_error: false,
                })),
                _ => None,
            })
            .collect();
        request.messages.push(reply.message);
        request.messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    Ok(times.join(","))
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn fixture() -> Result<ChatRequest, String> {
    let v: Value = serde_json::from_str(FIXTURE).map_err(|e| format!("fixture: {e}"))?;
    let str_of = |v: &Value, key: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("fixture: missing string {key:?}"))
    };
    let mut messages = Vec::new();
    for m in v["messages"].as_array().ok_or("fixture: no messages")? {
        let role = match m["role"].as_str() {
            Some("system") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => return Err(format!("fixture: bad role {other:?}")),
        };
        let mut content = Vec::new();
        for b in m["content"].as_array().ok_or("fixture: no content")? {
            content.push(match b["type"].as_str() {
                Some("text") => ContentBlock::Text(str_of(b, "text")?),
                Some("tool_use") => ContentBlock::ToolUse(ToolCall {
                    id: str_of(b, "id")?,
                    name: str_of(b, "name")?,
                    input: b["input"].to_string(),
                }),
                Some("tool_result") => ContentBlock::ToolResult(ToolResult {
                    tool_use_id: str_of(b, "tool_use_id")?,
                    content: b["content"]
                        .as_array()
                        .ok_or("fixture: tool result without content")?
                        .iter()
                        .map(|c| match (c.get("text"), c.get("json")) {
                            (Some(Value::String(t)), _) => ToolResultContent::Text(t.clone()),
                            (_, Some(j)) => ToolResultContent::Json(j.to_string()),
                            _ => ToolResultContent::Text(String::new()),
                        })
                        .collect(),
                    is_error: b["is_error"].as_bool().unwrap_or(false),
                }),
                other => return Err(format!("fixture: bad block type {other:?}")),
            });
        }
        messages.push(Message { role, content });
    }
    let tools = v["tools"]
        .as_array()
        .ok_or("fixture: no tools")?
        .iter()
        .map(|t| {
            Ok(ToolSpec {
                name: str_of(t, "name")?,
                description: str_of(t, "description")?,
                input_schema: t["input_schema"].to_string(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let inference_config =
        v.get("inference_config")
            .filter(|c| !c.is_null())
            .map(|c| InferenceConfig {
                temperature: c["temperature"].as_f64().map(|x| x as f32),
                top_p: c["top_p"].as_f64().map(|x| x as f32),
                max_tokens: c["max_tokens"].as_u64().map(|x| x as u32),
                stop_sequences: c["stop_sequences"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
    let tool_choice = match &v["tool_choice"] {
        Value::String(s) if s == "any" => Some(ToolChoice::Any),
        Value::String(s) if s == "auto" => Some(ToolChoice::Auto),
        Value::Object(o) => o
            .get("tool")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_string())),
        _ => None,
    };
    Ok(ChatRequest {
        messages,
        model: v["model"].as_str().map(str::to_string),
        tools,
        tool_choice,
        inference_config,
    })
}
