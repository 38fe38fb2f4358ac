//! Adversarial guest: pushes the host's chat policy limits. `run(task)` takes a mode and
//! reports, as its answer, what the host did. Errors are written `<case>: <message>`, with the
//! WIT case name in kebab-case (`chat-limit-reached: …`).
//!
//! | task | does | answer |
//! |---|---|---|
//! | `calls` | tiny chat requests (max-tokens 16), up to 1000, until one fails | `<case> after <n> calls: <message>` (`n` = successful calls), or `no error after 1000 calls` |
//! | `tokens` | the same with max-tokens 1000 and a longer prompt | same format |
//! | `bytes` | one request with a 2 MiB user message | `ok` or `<case>: <message>` |
//! | `model:<id>` | one tiny request naming model `<id>` | `ok` or `<case>: <message>` |
//! | `tool:<name>` | `tools.call-tool(<name>, "{}")` | `ok: <output>` or `<case>: <message>` |
//! | `stream` | `chat.chat-stream` of a tiny request, pulling every event | the concatenated text deltas, or `<case>: <message>` |
//! | `stream-tokens` | streamed requests like `tokens`, each pulled to its end, until one fails | `<case> after <n> calls: <message>` (or `<case> mid-stream after <n> calls: …`) |
//! | `models` | `chat.default-model()` and `chat.models()` | `<default>; <id>, <id>, …` |
//!
//! An unknown mode fails the run with `agent-error::failed`.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat;
use gamecode::plugin::tools;
use gamecode::plugin::types::{
    AgentError, ChatError, ChatRequest, ContentBlock, InferenceConfig, Message, Role, StreamEvent,
    ToolError,
};

/// The most chat calls the `calls` and `tokens` modes make.
const MAX_CALLS: u32 = 1000;

/// The size of the `bytes` mode's user message.
const BIG_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

struct Chatty;

impl Guest for Chatty {
    fn run(task: String) -> Result<String, AgentError> {
        let task = task.trim();
        let answer = match task {
            "calls" => call_until_error(&request("Say hi.", None, 16)),
            "tokens" => call_until_error(&request(&long_prompt(), None, 1000)),
            "bytes" => once(&request(&"x".repeat(BIG_MESSAGE_BYTES), None, 16)),
            "stream" => stream(&request("Say hi.", None, 16)),
            "stream-tokens" => stream_until_error(&request(&long_prompt(), None, 1000)),
            "models" => format!("{}; {}", chat::default_model(), chat::models().join(", ")),
            _ => {
                if let Some(model) = task.strip_prefix("model:") {
                    once(&request("Say hi.", Some(model), 16))
                } else if let Some(name) = task.strip_prefix("tool:") {
                    match tools::call_tool(name, "{}") {
                        Ok(output) => format!("ok: {output}"),
                        Err(e) => describe_tool_error(&e),
                    }
                } else {
                    return Err(AgentError::Failed(format!("unknown mode {task:?}")));
                }
            }
        };
        Ok(answer)
    }
}

export!(Chatty);

fn request(text: &str, model: Option<&str>, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.to_string())],
        }],
        model: model.map(str::to_string),
        tools: Vec::new(),
        tool_choice: None,
        inference_config: Some(InferenceConfig {
            temperature: None,
            top_p: None,
            max_tokens: Some(max_tokens),
            stop_sequences: Vec::new(),
        }),
    }
}

fn long_prompt() -> String {
    "Write a long essay about the history of computing, from the abacus to the present day, \
     covering every decade in detail. "
        .repeat(20)
}

fn call_until_error(request: &ChatRequest) -> String {
    for done in 0..MAX_CALLS {
        if let Err(e) = chat::chat(request) {
            let (case, message) = chat_error_parts(&e);
            return format!("{case} after {done} calls: {message}");
        }
    }
    format!("no error after {MAX_CALLS} calls")
}

fn once(request: &ChatRequest) -> String {
    match chat::chat(request) {
        Ok(_) => "ok".to_string(),
        Err(e) => describe_chat_error(&e),
    }
}

fn stream(request: &ChatRequest) -> String {
    let reply = match chat::chat_stream(request) {
        Ok(reply) => reply,
        Err(e) => return describe_chat_error(&e),
    };
    let mut text = String::new();
    loop {
        match reply.next() {
            Ok(Some(StreamEvent::TextDelta(delta))) => text.push_str(&delta),
            Ok(Some(_)) => {}
            Ok(None) => return text,
            Err(e) => return describe_chat_error(&e),
        }
    }
}

fn stream_until_error(request: &ChatRequest) -> String {
    for done in 0..MAX_CALLS {
        let reply = match chat::chat_stream(request) {
            Ok(reply) => reply,
            Err(e) => {
                let (case, message) = chat_error_parts(&e);
                return format!("{case} after {done} calls: {message}");
            }
        };
        loop {
            match reply.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let (case, message) = chat_error_parts(&e);
                    return format!("{case} mid-stream after {done} calls: {message}");
                }
            }
        }
    }
    format!("no error after {MAX_CALLS} calls")
}

fn chat_error_parts(e: &ChatError) -> (&'static str, &str) {
    match e {
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
    }
}

fn describe_chat_error(e: &ChatError) -> String {
    let (case, message) = chat_error_parts(e);
    format!("{case}: {message}")
}

fn describe_tool_error(e: &ToolError) -> String {
    let (case, message) = match e {
        ToolError::NotFound(m) => ("not-found", m),
        ToolError::NotAllowed(m) => ("not-allowed", m),
        ToolError::InvalidInput(m) => ("invalid-input", m),
        ToolError::Failed(m) => ("failed", m),
    };
    format!("{case}: {message}")
}
