//! The session conversations a run opened (WIT 0.2.1 `session-conversation`), and the turn
//! they add to the session when the run ends with an answer.

use std::sync::Arc;

use gamecode_state::StateStore;

use super::conversation::ConversationHandle;
use crate::session::{SessionAt, turn_of};

/// A session conversation this run opened, and where its own messages start.
#[derive(Debug)]
struct Opened {
    key: String,
    conversation: ConversationHandle,
    /// Messages before this index came from the session.
    from: usize,
}

/// The session a run belongs to, with the conversations it opened.
#[derive(Debug)]
pub(crate) struct RunSession {
    store: Arc<dyn StateStore>,
    at: SessionAt,
    opened: Vec<Opened>,
}

impl RunSession {
    pub(crate) fn new(store: Arc<dyn StateStore>, at: SessionAt) -> Self {
        Self {
            store,
            at,
            opened: Vec::new(),
        }
    }

    /// Whether `conversation` is one of the session's (its memory stays held until the end).
    pub(crate) fn keeps(&self, conversation: &ConversationHandle) -> bool {
        self.opened
            .iter()
            .any(|o| o.conversation.same_as(conversation))
    }

    /// Whether this run already opened `key`.
    pub(crate) fn is_open(&self, key: &str) -> bool {
        self.opened.iter().any(|o| o.key == key)
    }

    /// The history of the conversation kept under `key`, as of the run's start.
    pub(crate) async fn history(
        &self,
        key: &str,
    ) -> Result<Vec<gamecode_backend::Message>, String> {
        self.at.history(self.store.clone(), key).await
    }

    /// Keeps `conversation` as the session's `key`: its messages from `from` on are this run's.
    pub(crate) fn opened(&mut self, key: String, conversation: ConversationHandle, from: usize) {
        self.opened.push(Opened {
            key,
            conversation,
            from,
        });
    }

    /// Adds what this run said, per conversation it opened, to the session.
    pub(crate) async fn save(&self, run_id: String) -> Result<(), String> {
        let turns = self
            .opened
            .iter()
            .filter_map(|o| {
                let c = o.conversation.lock();
                let own = c.messages().get(o.from..).unwrap_or_default();
                turn_of(own).map(|json| (o.key.clone(), json))
            })
            .collect();
        self.at.save(self.store.clone(), run_id, turns).await
    }
}
