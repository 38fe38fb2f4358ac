//! The 0.2.0 side of the benchmark's `conversation` figure: the same tool loop as
//! `guest_bench`'s `grow:T`, over a conversation the host holds. `run("grow:T")` runs T turns:
//! each pushes a 4 KiB tool result for each tool call of the previous reply (the task on the
//! first turn) and sends; answers each turn's push + send time in nanoseconds, comma
//! separated.

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::{self, ConversationSetup};
use gamecode::plugin::types::{
    AgentError, ChatOptions, ContentBlock, Task, ToolResult, ToolResultContent, ToolSpec,
};

struct Bench;

impl Guest for Bench {
    fn run(task: Task) -> Result<String, AgentError> {
        let turns = task
            .text
            .strip_prefix("grow:")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(|| AgentError::Failed(format!("unknown task {:?}", task.text)))?;
        let conversation = chat::start_conversation(&ConversationSetup {
            system: Some("You are a benchmark agent.".into()),
            model: None,
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: "Looks things up.".into(),
                input_schema: r#"{"type":"object"}"#.into(),
            }],
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
            auto_cache: true,
        })
        .map_err(AgentError::Chat)?;
        let output = "x".repeat(4096);
        let mut next = vec![ContentBlock::Text("Start.".into())];
        let mut times = Vec::new();
        for _ in 0..turns {
            let started = std::time::Instant::now();
            conversation.push(&next).map_err(AgentError::Chat)?;
            let reply = conversation.send().map_err(AgentError::Chat)?;
            times.push(started.elapsed().as_nanos().to_string());
            next = reply
                .message
                .content
                .into_iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse(call) => Some(ContentBlock::ToolResult(ToolResult {
                        tool_use_id: call.id,
                        content: vec![ToolResultContent::Text(output.clone())],
                        is_error: false,
                    })),
                    _ => None,
                })
                .collect();
        }
        Ok(times.join(","))
    }
}

export!(Bench);
