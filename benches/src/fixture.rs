//! The realistic chat request every boundary figure uses: 20 messages (a system prompt and a
//! tool-using conversation), 5 tools, ~8 KB as JSON. The same file is compiled into the
//! `guest_bench` guest, so the plugin and the native side send the same request.

use gamecode_backend::{
    ChatRequest, ChatResponse, ContentBlock, Message, MessageRole, StopReason, StreamEvent,
    ToolCall, Usage,
};

/// `gamecode-backend`'s serde form of the request.
pub const CHAT_REQUEST_JSON: &str = include_str!("../fixtures/chat_request.json");

/// Text in the request's last user message, for emulator rules.
pub const MARKER: &str = "BENCH-FIXTURE";

/// The request.
pub fn chat_request() -> ChatRequest {
    serde_json::from_str(CHAT_REQUEST_JSON).expect("benches/fixtures/chat_request.json parses")
}

/// What the instant backend answers: a short text and one tool call, as a model would.
pub fn canned_response() -> ChatResponse {
    let message = Message {
        role: MessageRole::Assistant,
        content: vec![
            ContentBlock::Text {
                text: "The replay fails because the checkpoint LSN is read before the last \
                           segment is flushed; I'll read the flush path to confirm."
                    .into(),
            },
            ContentBlock::ToolUse(ToolCall {
                id: "tooluse_canned01".into(),
                name: "read_file".into(),
                input: serde_json::json!({"path": "src/storage/flush.rs", "max_bytes": 4096}),
            }),
        ],
    };
    ChatResponse::new(
        message,
        "us.anthropic.claude-sonnet-4-6",
        StopReason::ToolUse,
    )
    .with_usage(Usage::reported(1900, 60, 1960))
}

/// Text deltas in [`canned_stream`].
pub const CANNED_DELTAS: usize = 20;

/// What the instant backend streams: message start, 20 text deltas, stop, usage.
pub fn canned_stream() -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::MessageStart {
        role: MessageRole::Assistant,
    }];
    for i in 0..CANNED_DELTAS {
        events.push(StreamEvent::TextDelta {
            index: 0,
            text: format!("token {i:02} of the answer "),
        });
    }
    events.push(StreamEvent::ContentBlockStop { index: 0 });
    events.push(StreamEvent::MessageStop {
        stop_reason: StopReason::EndTurn,
    });
    events.push(StreamEvent::Metadata {
        usage: Usage::reported(1900, 120, 2020),
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_is_realistic() {
        let r = chat_request();
        assert_eq!(r.messages.len(), 20);
        assert_eq!(r.tools.as_ref().map(Vec::len), Some(5));
        let size = serde_json::to_vec(&r).unwrap().len();
        assert!((7_000..=9_000).contains(&size), "{size} bytes");
        let last = r.messages.last().unwrap();
        assert_eq!(last.role, MessageRole::User);
        assert!(last.text_content().contains(MARKER));
    }
}
