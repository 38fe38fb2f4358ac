//! A 0.2.0 guest that drives the host-held `conversation` and the 0.2.0 options, one mode each.
//! `run(task)` takes `<mode>:<arg>` and answers with what the host did, one fact per line;
//! errors are written `<case>: <message>` with the WIT case name.
//!
//! | task | does |
//! |---|---|
//! | `turns:<n>` | a long system prompt, then `n` turns of "turn i" (streamed on even turns); a line of usage per turn |
//! | `no-cache:<n>` | the same with `auto-cache` off |
//! | `history` | one turn, then the history read back: roles and block kinds |
//! | `state` | send before any push; push while a reply streams; drop a stream mid-turn |
//! | `reasoning:<budget>` | a conversation that asks to think with that budget |
//! | `tier:<tier>` | a turn on that service tier |
//! | `guardrail:<name>` | a turn under the guardrail the policy names so |
//! | `config:<key>` | the configuration value, and every key |
//! | `attach` | the task's attachments pushed with a question, one turn |
//! | `grow:<KiB>` | pushes that much text at a time until the host refuses |
//! | `hoard:<KiB>` | starts conversations, each holding that much text, keeping them all, until the host refuses |
//! | `model` | what `describe-model` says of the default model |
//! | `tool-content:<tool>:<json>` | `call-tool-content`: the kind of each part of the output |

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::{self, Conversation, ConversationSetup};
use gamecode::plugin::config;
use gamecode::plugin::types::{
    AgentError, Attachment, ChatError, ChatOptions, ChatResponse, ContentBlock, InferenceConfig,
    ReasoningConfig, ServiceTier, StreamEvent, Task, ToolResultContent, Usage,
};

struct Converse;

impl Guest for Converse {
    fn run(task: Task) -> Result<String, AgentError> {
        let text = task.text.clone();
        let (mode, arg) = text.trim().split_once(':').unwrap_or((text.trim(), ""));
        let n = || arg.parse::<u32>().unwrap_or(1);
        Ok(match mode {
            "turns" => turns(n(), true),
            "no-cache" => turns(n(), false),
            "history" => history(),
            "state" => state(),
            "reasoning" => {
                let mut s = setup("Think, then answer.", true);
                s.options.reasoning = Some(ReasoningConfig::Budget(n()));
                s.inference_config = Some(InferenceConfig {
                    temperature: None,
                    top_p: None,
                    max_tokens: Some(n() + 2048),
                    stop_sequences: Vec::new(),
                });
                one_turn(s, "Say hi")
            }
            "tier" => {
                let mut s = setup("Answer briefly.", true);
                s.options.service_tier = Some(match arg {
                    "priority" => ServiceTier::Priority,
                    "flex" => ServiceTier::Flex,
                    "reserved" => ServiceTier::Reserved,
                    _ => ServiceTier::Default,
                });
                one_turn(s, "Say hi")
            }
            "guardrail" => {
                let mut s = setup("Answer briefly.", true);
                s.options.guardrail = Some(arg.to_string());
                one_turn(s, "Say hi")
            }
            "config" => {
                let all: Vec<String> = config::get_all()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{arg}={:?}\nall: {}", config::get(arg), all.join(", "))
            }
            "attach" => attach(task.attachments),
            "grow" => grow(n()),
            "tool-content" => {
                let (name, input) = arg.split_once(':').unwrap_or((arg, "{}"));
                match gamecode::plugin::tools::call_tool_content(name, input) {
                    Ok(parts) => parts
                        .iter()
                        .map(|p| match p {
                            ToolResultContent::Text(t) => format!("text {t}"),
                            ToolResultContent::Json(j) => format!("json {j}"),
                            ToolResultContent::Image(i) => {
                                format!("image {:?} {} bytes", i.format, i.data.len())
                            }
                            ToolResultContent::Document(d) => format!("document {}", d.name),
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    Err(e) => format!("{e:?}"),
                }
            }
            "hoard" => hoard(n()),
            "model" => match chat::describe_model(None) {
                Some(m) => format!(
                    "{} images={} documents={} reasoning={} cache-min={:?}",
                    m.id, m.images, m.documents, m.reasoning, m.cache_min_tokens
                ),
                None => "unknown".into(),
            },
            other => return Err(AgentError::Failed(format!("unknown mode {other:?}"))),
        })
    }
}

export!(Converse);

fn setup(system: &str, auto_cache: bool) -> ConversationSetup {
    ConversationSetup {
        system: Some(system.to_string()),
        model: None,
        tools: Vec::new(),
        tool_choice: None,
        inference_config: None,
        options: ChatOptions {
            reasoning: None,
            structured_output: None,
            strict_tools: false,
            service_tier: None,
            latency_optimized: false,
            metadata: Vec::new(),
            guardrail: None,
            cache_tools: None,
        },
        auto_cache,
    }
}

fn case(e: &ChatError) -> String {
    let (case, message) = match e {
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
        ChatError::OptionNotAllowed(m) => ("option-not-allowed", m),
        ChatError::ConversationState(m) => ("conversation-state", m),
    };
    format!("{case}: {message}")
}

fn text(t: &str) -> Vec<ContentBlock> {
    vec![ContentBlock::Text(t.to_string())]
}

fn usage_line(u: &Option<Usage>) -> String {
    match u {
        Some(u) => format!(
            "in={} read={} write={}",
            u.input_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens
        ),
        None => "no usage".into(),
    }
}

fn answer_text(r: &ChatResponse) -> String {
    r.message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drains a streamed turn; its usage.
fn drain(conversation: &Conversation) -> Result<Option<Usage>, ChatError> {
    let stream = conversation.send_stream()?;
    let mut usage = None;
    while let Some(event) = stream.next()? {
        if let StreamEvent::Metadata(u) = event {
            usage = Some(u);
        }
    }
    Ok(usage)
}

fn turns(n: u32, auto_cache: bool) -> String {
    // About 2,500 tokens: above every model's caching minimum.
    let system = "You are a careful assistant. ".repeat(350);
    let conversation = match chat::start_conversation(&setup(&system, auto_cache)) {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    let mut lines = Vec::new();
    for i in 1..=n {
        let turn = format!("turn {i}: {}", "Here is more context for you. ".repeat(40));
        if let Err(e) = conversation.push(&text(&turn)) {
            lines.push(case(&e));
            break;
        }
        let usage = if i % 2 == 0 {
            drain(&conversation)
        } else {
            conversation.send().map(|r| r.usage)
        };
        match usage {
            Ok(u) => lines.push(format!("turn {i}: {}", usage_line(&u))),
            Err(e) => {
                lines.push(case(&e));
                break;
            }
        }
    }
    lines.push(format!("length {}", conversation.length()));
    lines.join("\n")
}

fn history() -> String {
    let conversation = match chat::start_conversation(&setup("Be brief.", true)) {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    let _ = conversation.push(&text("Hello"));
    let _ = conversation.push(&text("there"));
    if let Err(e) = conversation.send() {
        return case(&e);
    }
    conversation
        .history()
        .iter()
        .map(|m| {
            let kinds: Vec<&str> = m
                .content
                .iter()
                .map(|b| match b {
                    ContentBlock::Text(_) => "text",
                    ContentBlock::Image(_) => "image",
                    ContentBlock::Document(_) => "document",
                    ContentBlock::ToolUse(_) => "tool-use",
                    ContentBlock::ToolResult(_) => "tool-result",
                    ContentBlock::Reasoning(_) => "reasoning",
                    ContentBlock::Cited(_) => "cited",
                    ContentBlock::CachePoint(_) => "cache-point",
                })
                .collect();
            format!("{:?}: {}", m.role, kinds.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn state() -> String {
    let conversation = match chat::start_conversation(&setup("Be brief.", true)) {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    let mut lines = Vec::new();
    lines.push(format!(
        "send first: {}",
        result(conversation.send().map(|_| ()))
    ));
    let _ = conversation.push(&text("Hello"));
    match conversation.send_stream() {
        Ok(stream) => {
            lines.push(format!(
                "push while streaming: {}",
                result(conversation.push(&text("x")))
            ));
            lines.push(format!(
                "send while streaming: {}",
                result(conversation.send().map(|_| ()))
            ));
            // Dropped before its end: the turn is abandoned, the user turn stays.
            let _ = stream.next();
            drop(stream);
        }
        Err(e) => lines.push(case(&e)),
    }
    lines.push(format!("after drop: length {}", conversation.length()));
    lines.push(format!(
        "send again: {}",
        result(drain(&conversation).map(|_| ()))
    ));
    lines.push(format!("after the turn: length {}", conversation.length()));
    lines.join("\n")
}

fn result(r: Result<(), ChatError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => case(&e),
    }
}

fn one_turn(setup: ConversationSetup, question: &str) -> String {
    let conversation = match chat::start_conversation(&setup) {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    if let Err(e) = conversation.push(&text(question)) {
        return case(&e);
    }
    match conversation.send() {
        Ok(r) => format!(
            "{}\ntier {:?}\ntrace {}\n{}",
            answer_text(&r),
            r.service_tier,
            r.guardrail_trace.is_some(),
            conversation
                .history()
                .last()
                .map(|m| m.content.len())
                .unwrap_or(0)
        ),
        Err(e) => case(&e),
    }
}

fn attach(attachments: Vec<Attachment>) -> String {
    let conversation = match chat::start_conversation(&setup("Describe what you are given.", true))
    {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    let mut content: Vec<ContentBlock> = attachments
        .into_iter()
        .map(|a| match a {
            Attachment::Image(i) => ContentBlock::Image(i),
            Attachment::Document(d) => ContentBlock::Document(d),
        })
        .collect();
    content.push(ContentBlock::Text("What are these?".into()));
    if let Err(e) = conversation.push(&content) {
        return case(&e);
    }
    match conversation.send() {
        Ok(r) => answer_text(&r),
        Err(e) => case(&e),
    }
}

fn grow(kib: u32) -> String {
    let conversation = match chat::start_conversation(&setup("Be brief.", true)) {
        Ok(c) => c,
        Err(e) => return case(&e),
    };
    let chunk = "x".repeat(kib as usize * 1024);
    for i in 1..=10_000 {
        if let Err(e) = conversation.push(&text(&chunk)) {
            return format!("refused after {} pushes: {}", i - 1, case(&e));
        }
    }
    "never refused".into()
}

fn hoard(kib: u32) -> String {
    let chunk = "x".repeat(kib as usize * 1024);
    let mut kept = Vec::new();
    for _ in 0..10_000 {
        let conversation = match chat::start_conversation(&setup("Be brief.", true)) {
            Ok(c) => c,
            Err(e) => return format!("refused after {}: {}", kept.len(), case(&e)),
        };
        if let Err(e) = conversation.push(&text(&chunk)) {
            return format!("refused after {}: {}", kept.len(), case(&e));
        }
        kept.push(conversation);
    }
    "never refused".into()
}
