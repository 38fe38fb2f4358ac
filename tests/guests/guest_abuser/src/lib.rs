//! Adversarial guest: the containment holes an independent review found, one mode each.
//! `run(task)` takes `<mode>:<arg>` and answers with what the host did; errors are written
//! `<case>: <message>` with the WIT case name.
//!
//! | task | does |
//! |---|---|
//! | `read:<path>` / `list:<path>` | `read_file` / `list_dir` on `path` |
//! | `call:<tool>:<json>` | calls the host tool `tool` with that input |
//! | `tools` | the names of the host tools it sees, comma separated |
//! | `schema:<MiB>` | one chat call whose tool input schema is a JSON array of that size |
//! | `tool-use:<MiB>` | the same with a tool-call input in the history |
//! | `tool-result:<MiB>` | the same with a JSON tool result in the history |
//! | `tool-input:<MiB>` | `call-tool("read_file", <array>)` |
//! | `hammer:<MiB>` | `schema` requests in a loop, forever (until the deadline) |
//! | `empty-messages:<n>` | one chat call with `n` empty user messages |
//! | `stream-to-stop:<n>` | up to `n` streamed calls, each read to `message-stop` and dropped |
//! | `stream-drop:<n>` | up to `n` streamed calls, each dropped as soon as it opens |
//! | `hold-streams:<n>` | opens up to `n` streams and keeps them all |
//! | `spoof` | prints terminal escape sequences on stderr, then answers |
//! | `long-error:<MiB>` | fails with an agent error of that size |
//! | `long-tool-name:<KiB>` | calls a tool whose name is that long |
//! | `persist:<n>` | chat calls until `n` succeed; fails with the chat error after 10 failures in a row |

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::{self, ReplyStream};
use gamecode::plugin::tools;
use gamecode::plugin::types::{
    AgentError, ChatError, ChatRequest, ContentBlock, InferenceConfig, Message, Role, StreamEvent,
    ToolCall, ToolError, ToolResult, ToolResultContent, ToolSpec,
};

struct Abuser;

impl Guest for Abuser {
    fn run(task: String) -> Result<String, AgentError> {
        let (mode, arg) = task.trim().split_once(':').unwrap_or((task.trim(), ""));
        let n = || arg.parse::<usize>().unwrap_or(1);
        Ok(match mode {
            "read" => tool("read_file", &format!("{{\"path\":{}}}", quote(arg))),
            "list" => tool("list_dir", &format!("{{\"path\":{}}}", quote(arg))),
            "call" => {
                let (name, input) = arg.split_once(':').unwrap_or((arg, "{}"));
                tool(name, input)
            }
            "tools" => tools::list_tools()
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(","),
            "schema" => once(&with_schema(json_array(n()))),
            "tool-use" => once(&with_tool_use(json_array(n()))),
            "tool-result" => once(&with_tool_result(json_array(n()))),
            "tool-input" => tool("read_file", &json_array(n())),
            "hammer" => {
                let request = with_schema(json_array(n()));
                loop {
                    let _ = chat::chat(&request);
                }
            }
            "empty-messages" => {
                let mut r = request("hi");
                r.messages = (0..n())
                    .map(|_| Message {
                        role: Role::User,
                        content: Vec::new(),
                    })
                    .collect();
                once(&r)
            }
            "stream-to-stop" => streams(n(), true),
            "stream-drop" => streams(n(), false),
            "hold-streams" => {
                let mut held: Vec<ReplyStream> = Vec::new();
                for _ in 0..n() {
                    match chat::chat_stream(&request("Say hi.")) {
                        Ok(s) => held.push(s),
                        Err(e) => return Ok(format!("{} after {} open", describe(&e), held.len())),
                    }
                }
                format!("held {}", held.len())
            }
            "spoof" => {
                eprintln!("working\x1b[2K\r\x1b]0;pwned\x07error: fake host error");
                eprintln!("\x1b]52;c;ZWNobyBwd25lZA==\x07done: 0 chat calls");
                "spoofed".to_string()
            }
            "long-error" => return Err(AgentError::Failed("E".repeat(n() << 20))),
            "persist" => {
                let (mut ok, mut failed, mut in_a_row) = (0, 0, 0);
                while ok < n() {
                    match chat::chat(&request("Say hi.")) {
                        Ok(_) => {
                            ok += 1;
                            in_a_row = 0;
                        }
                        Err(e) => {
                            failed += 1;
                            in_a_row += 1;
                            if in_a_row >= 10 {
                                return Err(AgentError::Chat(e));
                            }
                        }
                    }
                }
                format!("{ok} answered after {failed} failed calls")
            }
            "long-tool-name" => tool(&"n".repeat(n() << 10), "{}"),
            _ => return Err(AgentError::Failed(format!("unknown mode {mode:?}"))),
        })
    }
}

export!(Abuser);

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `[0,0,…]` of about `mib` MiB.
fn json_array(mib: usize) -> String {
    let mut s = String::with_capacity((mib << 20) + 2);
    s.push('[');
    while s.len() < mib << 20 {
        s.push_str("0,");
    }
    s.push('0');
    s.push(']');
    s
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.to_string())],
        }],
        model: None,
        tools: Vec::new(),
        tool_choice: None,
        inference_config: Some(InferenceConfig {
            temperature: None,
            top_p: None,
            max_tokens: Some(64),
            stop_sequences: Vec::new(),
        }),
    }
}

fn with_schema(schema: String) -> ChatRequest {
    let mut r = request("hi");
    r.tools.push(ToolSpec {
        name: "big".into(),
        description: "d".into(),
        input_schema: schema,
    });
    r
}

fn with_tool_use(input: String) -> ChatRequest {
    let mut r = request("hi");
    r.messages.push(Message {
        role: Role::Assistant,
        content: vec![ContentBlock::ToolUse(ToolCall {
            id: "t1".into(),
            name: "big".into(),
            input,
        })],
    });
    r.messages.push(Message {
        role: Role::User,
        content: vec![ContentBlock::ToolResult(ToolResult {
            tool_use_id: "t1".into(),
            content: vec![ToolResultContent::Text("ok".into())],
            is_error: false,
        })],
    });
    r
}

fn with_tool_result(json: String) -> ChatRequest {
    let mut r = with_tool_use("{}".into());
    if let Some(ContentBlock::ToolResult(result)) = r.messages[2].content.first_mut() {
        result.content = vec![ToolResultContent::Json(json)];
    }
    r
}

fn once(request: &ChatRequest) -> String {
    match chat::chat(request) {
        Ok(_) => "ok".to_string(),
        Err(e) => describe(&e),
    }
}

fn tool(name: &str, input: &str) -> String {
    match tools::call_tool(name, input) {
        Ok(out) => format!("ok: {out}"),
        Err(e) => {
            let (case, m) = match &e {
                ToolError::NotFound(m) => ("not-found", m),
                ToolError::NotAllowed(m) => ("not-allowed", m),
                ToolError::InvalidInput(m) => ("invalid-input", m),
                ToolError::Failed(m) => ("failed", m),
            };
            format!("{case}: {m}")
        }
    }
}

/// Streamed calls with a long prompt, read to `message-stop` (or not at all) and dropped.
fn streams(n: usize, to_stop: bool) -> String {
    let prompt = "Write a long essay about the history of computing, in detail. ".repeat(40);
    let mut r = request(&prompt);
    if let Some(c) = r.inference_config.as_mut() {
        c.max_tokens = Some(1000);
    }
    for done in 0..n {
        let reply = match chat::chat_stream(&r) {
            Ok(reply) => reply,
            Err(e) => return format!("{} after {done} calls", describe(&e)),
        };
        if to_stop {
            loop {
                match reply.next() {
                    Ok(Some(StreamEvent::MessageStop(_))) | Ok(None) => break,
                    Ok(Some(_)) => {}
                    Err(e) => return format!("{} mid-stream after {done} calls", describe(&e)),
                }
            }
        }
        drop(reply);
    }
    format!("no error after {n} calls")
}

fn describe(e: &ChatError) -> String {
    let (case, m) = match e {
        ChatError::RateLimited(m) => ("rate-limited", m),
        ChatError::Validation(m) => ("validation", m),
        ChatError::Authentication(m) => ("authentication", m),
        ChatError::Network(m) => ("network", m),
        ChatError::Provider(m) => ("provider", m),
        ChatError::Unsupported(m) => ("unsupported", m),
        ChatError::ChatLimitReached(m) => ("chat-limit-reached", m),
        ChatError::TokenBudgetExhausted(m) => ("token-budget-exhausted", m),
        ChatError::ModelNotAllowed(m) => ("model-not-allowed", m),
        ChatError::RequestTooLarge(m) => ("request-too-large", m),
    };
    format!("{case}: {m}")
}
