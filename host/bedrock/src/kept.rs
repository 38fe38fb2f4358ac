//! What a `ConversationCache` keeps for Bedrock: a conversation's closed turns, normalized,
//! checked and converted to the SDK's types once.
//!
//! A turn is closed once a turn of the other role follows it: nothing appended later can
//! change it. The last turn stays open (the next message may merge into it) and is normalized
//! again with whatever is new, so each call converts only its new content and the open turn.
//! Each kept turn remembers the messages it was made of, by role, block count and the address
//! of their blocks; a message that no longer matches (a cache point the host moved, a request
//! rebuilt from scratch) drops its turn and every later one, which are then made again. That
//! check touches no content: a few nanoseconds per message.

use std::sync::Arc;

use aws_sdk_bedrockruntime::types as sdk;
use gamecode_backend::{BackendError, ChatRequest, Message, MessageRole};

use crate::catalogue::admit_with;
use crate::convert::{ConverseParts, to_converse};
use crate::normalize::{Carry, Fresh, normalize_after};

/// A conversation's closed turns, as Converse takes them.
#[derive(Debug, Default)]
pub(crate) struct KeptTurns {
    /// The non-system messages the closed turns were made of, in order.
    sources: Vec<Source>,
    turns: Vec<KeptTurn>,
}

#[derive(Debug)]
struct KeptTurn {
    /// Where its messages start in `sources`.
    first_source: usize,
    message: Arc<sdk::Message>,
    /// The checks' carry after it.
    carry: Carry,
}

/// A message as last seen: enough to tell that it is still the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Source {
    role: MessageRole,
    blocks: usize,
    /// The address of its blocks.
    at: usize,
}

impl Source {
    fn of(message: &Message) -> Self {
        Self {
            role: message.role,
            blocks: message.content.len(),
            at: message.content.as_ptr() as usize,
        }
    }
}

impl KeptTurns {
    /// `request` for `model`, checked and converted for Converse after the turns kept here;
    /// the turns it closes join them once the whole request is admitted. (A fresh
    /// `KeptTurns` converts a request on its own.)
    pub(crate) fn prepare(
        &mut self,
        model: String,
        request: &ChatRequest,
        region: Option<&str>,
    ) -> Result<ConverseParts, BackendError> {
        let mut start = self.reconcile(&request.messages);
        let mut carry = self.carry();
        let mut fresh = normalize_after(request, start, &carry)?;
        let first_role = fresh.normalized.messages.first().map(|m| m.role);
        if first_role.is_some() && first_role == self.last_role() {
            // What follows the last kept turn merges into it: the request was not only
            // appended to. Make that turn again with it.
            self.drop_last();
            start = self.reconcile(&request.messages);
            carry = self.carry();
            fresh = normalize_after(request, start, &carry)?;
        }
        let facts = fresh.facts(&carry);
        admit_with(&model, &mut fresh.normalized, &facts, region)?;
        let mut parts = to_converse(model, &fresh.normalized)?;
        let new = std::mem::take(&mut parts.messages);
        parts.messages = self.messages().chain(new.iter().cloned()).collect();
        self.keep(&request.messages, &fresh, &new);
        Ok(parts)
    }

    /// Drops the kept turns `messages` no longer match and returns the index of the first
    /// message they do not cover: normalization starts there.
    fn reconcile(&mut self, messages: &[Message]) -> usize {
        let mut turns = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role != MessageRole::System);
        let mut matched = 0;
        for kept in &self.sources {
            match turns.next() {
                Some((_, m)) if Source::of(m) == *kept => matched += 1,
                _ => break,
            }
        }
        if matched < self.sources.len() {
            self.drop_from_source(matched);
        }
        // Normalization starts at the first message the kept turns do not cover (after a
        // drop, the first message of the dropped turn).
        messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role != MessageRole::System)
            .nth(self.sources.len())
            .map_or(messages.len(), |(i, _)| i)
    }

    /// Drops the turn made of source `at`, and every later one.
    fn drop_from_source(&mut self, at: usize) {
        // The turn holding source `at` is the last one that starts at or before it.
        let holding = self
            .turns
            .partition_point(|t| t.first_source <= at)
            .saturating_sub(1);
        let sources_end = self.turns.get(holding).map_or(0, |t| t.first_source);
        self.turns.truncate(holding);
        self.sources.truncate(sources_end);
    }

    /// Drops the last kept turn: what follows it merges into it after all (a request that
    /// was not only appended to).
    fn drop_last(&mut self) {
        if let Some(last) = self.turns.last() {
            self.drop_from_source(last.first_source);
        }
    }

    /// The role of the last kept turn.
    fn last_role(&self) -> Option<MessageRole> {
        self.turns.last().and_then(|t| t.carry.last_role())
    }

    /// The checks' carry after the kept turns.
    fn carry(&self) -> Carry {
        self.turns
            .last()
            .map_or_else(Carry::default, |t| t.carry.clone())
    }

    /// The kept turns, shared.
    fn messages(&self) -> impl Iterator<Item = Arc<sdk::Message>> + '_ {
        self.turns.iter().map(|t| t.message.clone())
    }

    /// Keeps the turns of `fresh` that are closed (all but its last), with `converted`, their
    /// SDK form in the same order.
    fn keep(&mut self, messages: &[Message], fresh: &Fresh, converted: &[Arc<sdk::Message>]) {
        let closed = fresh.sources.len().saturating_sub(1);
        for ((made_of, carry), message) in fresh
            .sources
            .iter()
            .zip(&fresh.carries)
            .zip(converted)
            .take(closed)
        {
            self.turns.push(KeptTurn {
                first_source: self.sources.len(),
                message: message.clone(),
                carry: carry.clone(),
            });
            self.sources.extend(
                made_of
                    .iter()
                    .filter_map(|&i| messages.get(i).map(Source::of)),
            );
        }
    }

    /// How many closed turns are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.turns.len()
    }
}

#[cfg(test)]
mod tests {
    use gamecode_backend::{
        CachePoint, ChatRequest, ContentBlock, ConversationCache, Tool, ToolCall, ToolResult,
        ToolResultContent,
    };
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// One change to a conversation between calls, as a host or an embedder makes them.
    #[derive(Debug, Clone)]
    enum Step {
        /// The user says something (blank text too); a user message after a user message
        /// merges into it.
        User(String),
        /// The model answers with text, or with a tool call answered by the next user turn.
        Reply { tool: bool },
        /// A cache point at the end of message `back` from the end (placed or removed, as the
        /// host moves them).
        TogglePoint { back: usize },
        /// A block added to an earlier message (the length changes: seen).
        Grow { back: usize },
        /// The messages rebuilt from scratch (new addresses).
        Rebuild,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => "[a-z ]{0,6}".prop_map(Step::User),
            3 => any::<bool>().prop_map(|tool| Step::Reply { tool }),
            2 => (0usize..4).prop_map(|back| Step::TogglePoint { back }),
            1 => (0usize..6).prop_map(|back| Step::Grow { back }),
            1 => Just(Step::Rebuild),
        ]
    }

    /// The default model in us-east-1, as `BedrockBackend` would send to.
    fn prepare(kept: &mut KeptTurns, request: &ChatRequest) -> Result<ConverseParts, BackendError> {
        let model = crate::catalogue::default_model_for_region(Some("us-east-1")).to_string();
        kept.prepare(model, request, Some("us-east-1"))
    }

    fn text(t: &str) -> ContentBlock {
        ContentBlock::Text { text: t.into() }
    }

    fn apply(messages: &mut Vec<Message>, step: &Step, calls: &mut usize) {
        let at = |back: usize, len: usize| len.checked_sub(1 + back);
        match step {
            Step::User(t) => match messages.last_mut() {
                Some(m) if m.role == MessageRole::User => m.content.push(text(t)),
                _ => messages.push(Message {
                    role: MessageRole::User,
                    content: vec![text(t)],
                }),
            },
            Step::Reply { tool } => {
                *calls += 1;
                let id = format!("call{calls}");
                let content = if *tool {
                    vec![ContentBlock::ToolUse(ToolCall {
                        id: id.clone(),
                        name: "lookup".into(),
                        input: json!({"q": calls.to_string()}),
                    })]
                } else {
                    vec![text("an answer")]
                };
                messages.push(Message {
                    role: MessageRole::Assistant,
                    content,
                });
                if *tool {
                    messages.push(Message {
                        role: MessageRole::User,
                        content: vec![ContentBlock::ToolResult(ToolResult {
                            tool_use_id: id,
                            content: vec![ToolResultContent::Text("found".into())],
                            is_error: false,
                        })],
                    });
                }
            }
            Step::TogglePoint { back } => {
                if let Some(i) = at(*back, messages.len()) {
                    let content = &mut messages[i].content;
                    match content.last() {
                        Some(ContentBlock::CachePoint(_)) => {
                            content.pop();
                        }
                        _ => content.push(ContentBlock::CachePoint(CachePoint::default())),
                    }
                }
            }
            Step::Grow { back } => {
                if let Some(i) = at(*back, messages.len())
                    && messages[i].role == MessageRole::User
                {
                    messages[i].content.insert(0, text("more"));
                }
            }
            Step::Rebuild => *messages = messages.clone(),
        }
    }

    fn request(messages: Vec<Message>) -> ChatRequest {
        let mut all = vec![Message::text(MessageRole::System, "Be brief.")];
        all.extend(messages);
        ChatRequest {
            messages: all,
            tools: Some(vec![Tool {
                name: "lookup".into(),
                description: "Looks things up.".into(),
                input_schema: json!({"type": "object"}),
            }]),
            ..Default::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever a conversation does between calls, what is kept changes nothing: each
        /// call converts to exactly what converting the whole request converts to, and is
        /// refused with exactly the same error.
        #[test]
        fn kept_turns_convert_to_what_the_whole_request_does(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            let cache = ConversationCache::new();
            let mut messages = vec![Message::text(MessageRole::User, "Start.")];
            let mut calls = 0;
            for step in &steps {
                apply(&mut messages, step, &mut calls);
                // The host's pattern: the messages go out in a request and come back.
                let request = request(std::mem::take(&mut messages));
                let whole = prepare(&mut KeptTurns::default(), &request);
                let kept = cache.with(|k: &mut KeptTurns| prepare(k, &request));
                match (&whole, &kept) {
                    (Ok(w), Ok(k)) => prop_assert_eq!(w, k),
                    (Err(w), Err(k)) => prop_assert_eq!(w.to_string(), k.to_string()),
                    _ => prop_assert!(false, "whole {:?} but kept {:?}", whole, kept),
                }
                let mut back = request.messages;
                back.remove(0);
                messages = back;
            }
        }
    }

    #[test]
    fn a_growing_conversation_converts_only_its_open_turn_and_what_is_new() {
        let cache = ConversationCache::new();
        let mut messages = vec![Message::text(MessageRole::User, "Start.")];
        let mut calls = 0;
        for turn in 1..=20 {
            apply(&mut messages, &Step::Reply { tool: true }, &mut calls);
            let request = request(std::mem::take(&mut messages));
            cache
                .with(|k: &mut KeptTurns| prepare(k, &request))
                .expect("admitted");
            // Every turn but the open last one (the tool result) is kept.
            let kept = cache.with(|k: &mut KeptTurns| k.len());
            assert_eq!(kept, 2 * turn, "turn {turn}");
            let mut back = request.messages;
            back.remove(0);
            messages = back;
        }
    }
}
