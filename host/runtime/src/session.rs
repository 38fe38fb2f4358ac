//! Sessions in the state store: which session a run continues and how far it reads it, the
//! history kept under a key, and the turn a run adds.
//!
//! A session is numbered turns. A run reads turns up to the session's head at its start
//! (kept in the journal's start record, so a resumed run reads the same history) and adds its
//! own after the last turn there is then, so runs of one session that overlap each keep theirs.

use std::sync::Arc;

use gamecode_backend as b;
use gamecode_state::StateStore;
use serde::{Deserialize, Serialize};

/// Which session a run continues, and how far it reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionAt {
    pub(crate) name: String,
    /// The session's last turn when the run started: the run reads up to it.
    pub(crate) head: u64,
}

impl SessionAt {
    /// Session `name` as it is now (read off the async workers: the store may wait on
    /// another process's lock).
    pub(crate) async fn now(store: Arc<dyn StateStore>, name: String) -> Result<Self, String> {
        let read = name.clone();
        let head = tokio::task::spawn_blocking(move || store.session_head(&read))
            .await
            .map_err(|e| format!("reading session `{name}` failed: {e}"))?
            .map_err(|e| e.to_string())?;
        Ok(Self { name, head })
    }

    /// The history of the conversation kept under `key`, as of this head.
    pub(crate) async fn history(
        &self,
        store: Arc<dyn StateStore>,
        key: &str,
    ) -> Result<Vec<b::Message>, String> {
        let (at, wanted) = (self.clone(), key.to_string());
        let turns = tokio::task::spawn_blocking(move || {
            store.session_turns(&at.name, Some(&wanted), at.head)
        })
        .await
        .map_err(|e| format!("reading the session failed: {e}"))?
        .map_err(|e| e.to_string())?;
        let mut messages = Vec::new();
        for turn in turns {
            let added: Vec<b::Message> = serde_json::from_str(&turn.messages).map_err(|e| {
                format!(
                    "turn {} of session `{}` is not one this gamecode can read: {e}",
                    turn.seq, self.name
                )
            })?;
            messages.extend(added);
        }
        Ok(messages)
    }

    /// Adds a run's turns (key, messages as JSON) to the session, once: a resumed run adding
    /// them again changes nothing.
    pub(crate) async fn save(
        &self,
        store: Arc<dyn StateStore>,
        run_id: String,
        turns: Vec<(String, String)>,
    ) -> Result<(), String> {
        if turns.is_empty() {
            return Ok(());
        }
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || store.add_session_turns(&name, &run_id, &turns))
            .await
            .map_err(|e| format!("saving the session failed: {e}"))?
            .map_err(|e| format!("saving the session failed: {e}"))
    }
}

/// What of a run's own messages the session keeps: up to its last complete reply (an
/// assistant message asking for no tool), as JSON; `None` when there is none.
pub(crate) fn turn_of(own: &[b::Message]) -> Option<String> {
    let end = own.iter().rposition(complete_reply)?;
    // Plain data: serializing cannot fail.
    Some(serde_json::to_string(&own[..=end]).unwrap_or_default())
}

/// An assistant message that asks for no tool: the conversation can go on from it.
fn complete_reply(m: &b::Message) -> bool {
    m.role == b::MessageRole::Assistant
        && !m
            .content
            .iter()
            .any(|c| matches!(c, b::ContentBlock::ToolUse(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_ends_at_its_last_complete_reply() {
        let call = b::ContentBlock::ToolUse(b::ToolCall {
            id: "t1".into(),
            name: "calculator".into(),
            input: serde_json::json!({}),
        });
        let asks_a_tool = b::Message {
            role: b::MessageRole::Assistant,
            content: vec![call],
        };
        let own = vec![
            b::Message::text(b::MessageRole::User, "hi"),
            b::Message::assistant("hello"),
            b::Message::text(b::MessageRole::User, "and 6 * 7?"),
            asks_a_tool,
        ];
        let kept: Vec<b::Message> =
            serde_json::from_str(&turn_of(&own).expect("a turn")).expect("JSON");
        assert_eq!(kept, own[..2]);
        assert_eq!(turn_of(&own[..1]), None);
    }
}
