//! A multi-turn tool loop for the durable-run tests. `run("loop")` sends turn after turn on
//! a host-held conversation, each ending with the text `[turn K]`, and answers each tool
//! call: `read_file` through the host's tool, `lookup` itself with the clocks' readings, the
//! order of a `HashMap` (whose keys come from `wasi:random`) and the config value `mode`. Those two go back to the model, so a resumed run that did not get the
//! same random numbers and clock readings asks differently and is caught. The answer is the
//! model's last text and what the host tools returned: the same in every run.

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "plugin" });

use std::collections::HashMap;

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::{self, ConversationSetup};
use gamecode::plugin::tools;
use gamecode::plugin::types::{
    AgentError, ChatOptions, ContentBlock, Task, ToolResult, ToolResultContent, ToolSpec,
};

struct Durable;

fn spec(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("The {name} tool."),
        input_schema: r#"{"type":"object"}"#.into(),
    }
}

impl Guest for Durable {
    fn run(_task: Task) -> Result<String, AgentError> {
        let conversation = chat::start_conversation(&ConversationSetup {
            system: Some("You are a durable agent.".into()),
            model: None,
            tools: vec![spec("lookup"), spec("read_file")],
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
            auto_cache: false,
        })
        .map_err(AgentError::Chat)?;
        // std's HashMap draws its keys from wasi:random; iteration order shows them.
        let seeded: HashMap<u32, ()> = (0..8).map(|k| (k, ())).collect();
        let order: Vec<u32> = seeded.keys().copied().collect();
        let started = std::time::Instant::now();
        let mut read = Vec::new();
        let mut next = Vec::new();
        for turn in 1.. {
            next.push(ContentBlock::Text(format!("[turn {turn}]")));
            conversation.push(&next).map_err(AgentError::Chat)?;
            let reply = conversation.send().map_err(AgentError::Chat)?;
            next = Vec::new();
            let mut called = false;
            for block in reply.message.content.clone() {
                let ContentBlock::ToolUse(call) = block else {
                    continue;
                };
                called = true;
                let output = if call.name == "read_file" {
                    let text =
                        tools::call_tool("read_file", &call.input).map_err(AgentError::Tool)?;
                    read.push(text.clone());
                    text
                } else {
                    format!(
                        "at {:?} after {}µs, keys {order:?}, mode {:?}",
                        std::time::SystemTime::now(),
                        started.elapsed().as_micros(),
                        gamecode::plugin::config::get("mode")
                    )
                };
                next.push(ContentBlock::ToolResult(ToolResult {
                    tool_use_id: call.id,
                    content: vec![ToolResultContent::Text(output)],
                    is_error: false,
                }));
            }
            if !called {
                let text = reply
                    .message
                    .content
                    .iter()
                    .filter_map(|b| match b {
                        ContentBlock::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect::<String>();
                return Ok(format!("{text} | {turn} turns | read {read:?}"));
            }
        }
        Err(AgentError::Failed("unreachable".into()))
    }
}

export!(Durable);
