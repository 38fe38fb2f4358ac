//! A journal as a person reads it (`gamecode runs show`): one line per entry.

use gamecode_backend::{ContentBlock, StopReason};

use super::record::{Call, ModelReply, Record, Start, StreamEnd, ToolReply};

/// One journal entry in a line: what was asked and how it ended.
pub fn describe(body: &str) -> String {
    let record = match Record::decode(body) {
        Ok(record) => record,
        Err(e) => return format!("unreadable entry: {e}"),
    };
    let readings = match record.clock.wall.len() + record.clock.mono.len() {
        0 => String::new(),
        n => format!(
            " (after {n} clock reading{})",
            if n == 1 { "" } else { "s" }
        ),
    };
    let call = match record.call {
        Call::Model { reply, .. } => match reply {
            ModelReply::Whole(r) => {
                let tools: Vec<&str> = r
                    .message
                    .content
                    .iter()
                    .filter_map(|b| match b {
                        ContentBlock::ToolUse(c) => Some(c.name.as_str()),
                        _ => None,
                    })
                    .collect();
                let text: usize = r
                    .message
                    .content
                    .iter()
                    .map(|b| match b {
                        ContentBlock::Text { text } => text.chars().count(),
                        _ => 0,
                    })
                    .sum();
                let tokens = r.usage.map_or(0, |u| u.total_tokens);
                let calls = if tools.is_empty() {
                    String::new()
                } else {
                    format!(", tool calls {}", tools.join(", "))
                };
                format!(
                    "model reply: {}{calls}, {text} characters of text, {tokens} tokens",
                    stop(&r.stop_reason)
                )
            }
            ModelReply::Failed(e) => format!(
                "model call failed ({}): {}",
                e.category(),
                crate::text::escape_controls(&e.to_string())
            ),
            ModelReply::Stream { events, end } => format!(
                "model reply, streamed: {} events, {}",
                events.len(),
                match end {
                    StreamEnd::Completed => "completed".to_string(),
                    StreamEnd::Failed(e) => format!(
                        "failed ({}): {}",
                        e.category(),
                        crate::text::escape_controls(&e.to_string())
                    ),
                    StreamEnd::Dropped => "dropped by the plugin".to_string(),
                }
            ),
        },
        Call::Tool { reply, .. } => match reply {
            ToolReply::Ok(content) => format!(
                "tool result: {} bytes",
                content
                    .iter()
                    .map(crate::tools::content_bytes)
                    .sum::<usize>()
            ),
            ToolReply::Err(e) => format!(
                "tool failed: {}",
                crate::text::escape_controls(&e.to_string())
            ),
        },
        Call::Opened { .. } => "model call opened (streaming), answered later".to_string(),
        Call::Waiting { call, .. } => format!("waiting for a person to approve {call}"),
        Call::Decision { decision, .. } => match decision {
            crate::approval::Decision::Approve => "approved by a person".to_string(),
            crate::approval::Decision::Deny(reason) => format!(
                "denied by a person: {}",
                crate::text::escape_controls(&reason)
            ),
        },
    };
    call + &readings
}

/// The task a durable run was started on (from its store record's `start`).
pub fn task_of(start: &str) -> Option<String> {
    Start::decode(start).ok().map(|s| s.task)
}

fn stop(reason: &StopReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{reason:?}"))
}
