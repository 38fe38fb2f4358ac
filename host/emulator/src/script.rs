//! Scripted answers: a FIFO of replies and persistent "if the user says X" rules.
//!
//! Tests need to dictate what the "model" says (a specific tool call, a max_tokens stop, a
//! guardrail intervention) without giving up the deterministic default responder for the
//! turns they do not care about.

use serde_json::Value;
use std::collections::VecDeque;

/// What the emulated model answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Assistant text; stop reason `end_turn`.
    Text(String),
    /// One toolUse block (its toolUseId is generated); stop reason `tool_use`.
    ToolUse {
        name: String,
        input: serde_json::Value,
    },
    /// Raw Converse content blocks (as JSON) and a stop reason, e.g. `max_tokens`,
    /// `guardrail_intervened`, or a text + toolUse mix. A toolUse block without a
    /// `toolUseId` gets a generated one. Sent as given: maxTokens and stopSequences are not
    /// applied.
    Raw {
        content: Vec<serde_json::Value>,
        stop_reason: String,
    },
}

/// The scripted part of the emulator's state.
#[derive(Default)]
pub(crate) struct Script {
    fifo: VecDeque<Reply>,
    rules: Vec<(String, Reply)>,
}

impl Script {
    pub(crate) fn push(&mut self, reply: Reply) {
        self.fifo.push_back(reply);
    }

    pub(crate) fn add_rule(&mut self, needle: String, reply: Reply) {
        self.rules.push((needle, reply));
    }

    /// The reply for a request whose last user text is `last_user_text`: the next FIFO entry
    /// (if `use_fifo`), else the first matching rule, else `None` (the default responder).
    pub(crate) fn take(&mut self, last_user_text: &str, use_fifo: bool) -> Option<Reply> {
        if use_fifo && let Some(r) = self.fifo.pop_front() {
            return Some(r);
        }
        self.rules
            .iter()
            .find(|(needle, _)| last_user_text.contains(needle.as_str()))
            .map(|(_, r)| r.clone())
    }

    pub(crate) fn clear(&mut self) {
        self.fifo.clear();
        self.rules.clear();
    }
}

/// The concatenated text blocks of the last user message (empty if none).
pub(crate) fn last_user_text(body: &Value) -> String {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .map(message_text)
        .unwrap_or_default()
}

/// The text blocks of one message, joined by newlines.
pub(crate) fn message_text(message: &Value) -> String {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fifo_before_rules_and_rules_persist() {
        let mut s = Script::default();
        s.add_rule("weather".into(), Reply::Text("rule".into()));
        s.push(Reply::Text("first".into()));
        assert!(matches!(s.take("weather?", true), Some(Reply::Text(t)) if t == "first"));
        assert!(matches!(s.take("weather?", true), Some(Reply::Text(t)) if t == "rule"));
        assert!(matches!(s.take("weather?", true), Some(Reply::Text(t)) if t == "rule"));
        assert!(s.take("other", true).is_none());
        s.push(Reply::Text("kept".into()));
        assert!(s.take("other", false).is_none());
        assert!(matches!(s.take("other", true), Some(Reply::Text(t)) if t == "kept"));
    }

    #[test]
    fn last_user_text_joins_text_blocks() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "a"}, {"image": {}}, {"text": "b"}]},
            {"role": "assistant", "content": [{"text": "c"}]}
        ]});
        assert_eq!(last_user_text(&body), "a\nb");
        assert_eq!(last_user_text(&json!({})), "");
    }
}
