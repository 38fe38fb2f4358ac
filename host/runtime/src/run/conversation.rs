//! A conversation the host holds for a plugin (WIT 0.2.0 `conversation`): its history, its
//! running size for the policy, and the prompt-cache points the host places on it.
//!
//! Per turn only the new content crosses the boundary and is converted; the history stays in
//! backend types, is measured incrementally (the policy's checks cost O(1) per turn) and is
//! lent to the backend rather than copied (a borrowed [`ChatCall`](gamecode_backend::ChatCall)).
//! The host memory a run's conversations hold is bounded by the plugin's own memory limit.

use std::sync::{Arc, Mutex, MutexGuard};

use gamecode_backend as b;

use crate::policy::Size;

/// Bedrock's limit on cache points per request.
const MAX_CACHE_POINTS: usize = 4;

/// How a conversation is set up (fixed for its lifetime), in backend types.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setup {
    /// Moved into the conversation's first message when it starts.
    pub system: Option<String>,
    pub model: Option<String>,
    pub tools: Vec<b::Tool>,
    pub tool_choice: Option<b::ToolChoice>,
    pub inference_config: Option<b::InferenceConfig>,
    pub options: b::ChatOptions,
    pub auto_cache: bool,
}

/// Why the conversation cannot take a call now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateError {
    Streaming,
    NoUserTurn,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Streaming => {
                "a reply to this conversation is still streaming; drain or drop it first"
            }
            Self::NoUserTurn => "nothing to send: push the user's content (or tool results) first",
        })
    }
}

/// The conversation's state.
#[derive(Debug)]
pub(crate) struct Conversation {
    setup: Setup,
    /// The system prompt as a message (when the setup has one: `turns_from` is 1), then the
    /// turns, in backend types: a request's messages as they go out, without shifting them.
    messages: Vec<b::Message>,
    /// Where the turns start in `messages`.
    turns_from: usize,
    /// The cache points the plugin put in its own content (the host places its own per
    /// request, within Bedrock's limit).
    own_points: usize,
    /// Everything it holds, setup included, as the policy counts it.
    size: Size,
    /// The size of the setup alone (system prompt and tools): the first cacheable prefix.
    setup_size: Size,
    /// Where the host placed the last message cache point: (message index, prefix size).
    last_cache_point: Option<(usize, Size)>,
    /// Message indexes holding a cache point the host appended for the request in flight.
    placed: Vec<usize>,
    /// A streamed reply is open.
    streaming: bool,
}

/// A conversation shared between its WIT resource and a streamed reply that will append to
/// it. The lock is never held across an await.
#[derive(Debug, Clone)]
pub struct ConversationHandle {
    state: Arc<Mutex<Conversation>>,
    /// What the backend keeps of the turns sent so far, so that a turn converts only what
    /// is new (outside the lock: the backend reads it during its call).
    cache: Arc<b::ConversationCache>,
}

impl ConversationHandle {
    pub(crate) fn new(mut setup: Setup, setup_size: Size) -> Self {
        // The system prompt moves into the messages, where each request finds it.
        let messages: Vec<b::Message> = setup
            .system
            .take()
            .into_iter()
            .map(|text| b::Message::text(b::MessageRole::System, text))
            .collect();
        let state = Arc::new(Mutex::new(Conversation {
            setup,
            turns_from: messages.len(),
            messages,
            own_points: 0,
            size: setup_size,
            setup_size,
            last_cache_point: None,
            placed: Vec::new(),
            streaming: false,
        }));
        Self {
            state,
            cache: Arc::default(),
        }
    }

    /// Whether both are handles of one conversation.
    pub(crate) fn same_as(&self, other: &ConversationHandle) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }

    /// What the backend keeps of this conversation between turns.
    pub(crate) fn cache(&self) -> &b::ConversationCache {
        &self.cache
    }

    /// The conversation, for a moment. A poisoned lock (a panic elsewhere while it was held)
    /// still holds consistent data: every mutation below completes without panicking.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Conversation> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A streamed reply that will be appended to its conversation when it ends.
pub(super) struct StreamedTurn {
    conversation: ConversationHandle,
    collector: b::StreamCollector,
}

impl StreamedTurn {
    pub(super) fn new(conversation: ConversationHandle) -> Self {
        Self {
            conversation,
            collector: b::StreamCollector::new(),
        }
    }

    /// Folds one event into the reply.
    pub(crate) fn push(&mut self, event: &b::StreamEvent) {
        self.collector.push(event);
    }

    /// The stream ended: the reply joins the conversation (if the stream completed). Returns
    /// the host memory the conversation grew by.
    pub(super) fn finish(self, completed: bool) -> usize {
        let mut c = self.conversation.lock();
        c.streaming = false;
        let before = c.size.held_bytes();
        if completed {
            // `None`: the stream ended without its message stop (the provider's fault,
            // already reported to the plugin); the turn is not recorded.
            if let Some(response) = self.collector.finish(String::new(), None) {
                c.append_reply(response.message);
            }
        }
        c.size.held_bytes() - before
    }
}

impl Conversation {
    pub(crate) fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Everything it holds, as the policy counts it.
    pub(crate) fn size(&self) -> Size {
        self.size
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len() - self.turns_from
    }

    /// The turns so far.
    pub(crate) fn messages(&self) -> &[b::Message] {
        &self.messages[self.turns_from..]
    }

    pub(crate) fn check_idle(&self) -> Result<(), StateError> {
        if self.streaming {
            Err(StateError::Streaming)
        } else {
            Ok(())
        }
    }

    /// Appends user content (a new user turn after a reply).
    pub(crate) fn push(&mut self, content: Vec<b::ContentBlock>, size: Size) {
        self.own_points += count_cache_points(&content);
        match self.messages.last_mut() {
            Some(m) if m.role == b::MessageRole::User => m.content.extend(content),
            _ => {
                self.size.items += 1;
                self.messages.push(b::Message {
                    role: b::MessageRole::User,
                    content,
                });
            }
        }
        self.size.add(size);
    }

    /// Takes the conversation out as a request to send (give it back with
    /// [`restore`](Self::restore)), with cache points placed when `cache_min_tokens` says
    /// the model caches prompts from that many tokens.
    pub(crate) fn take_request(
        &mut self,
        cache_min_tokens: Option<u32>,
    ) -> Result<b::ChatRequest, StateError> {
        self.check_idle()?;
        if self
            .messages
            .last()
            .is_none_or(|m| m.role != b::MessageRole::User)
        {
            return Err(StateError::NoUserTurn);
        }
        let mut messages = std::mem::take(&mut self.messages);
        let mut options = self.setup.options.clone();
        self.placed.clear();
        if let (true, Some(min)) = (self.setup.auto_cache, cache_min_tokens) {
            let min = u64::from(min);
            let mut free = MAX_CACHE_POINTS
                .saturating_sub(self.own_points + usize::from(options.cache_tools.is_some()));
            // The setup prefix: after the system prompt (which follows the tools), else
            // after the tools.
            if free > 0 && self.setup_size.tokens() >= min {
                if self.turns_from == 1 {
                    messages[0]
                        .content
                        .push(b::ContentBlock::CachePoint(Default::default()));
                    self.placed.push(0);
                } else if !self.setup.tools.is_empty() && options.cache_tools.is_none() {
                    options.cache_tools = Some(Default::default());
                } else {
                    free += 1;
                }
                free -= 1;
            }
            // The growing prefix: the point placed last turn (now a cache read) and one at
            // the end (a cache write, read by the next turn).
            let last = messages.len() - 1;
            let mut points = Vec::with_capacity(2);
            if let Some((at, size)) = self.last_cache_point
                && at < last
                && size.tokens() >= min
            {
                points.push(at);
            }
            if self.size.tokens() >= min {
                points.push(last);
                self.last_cache_point = Some((last, self.size));
            }
            for at in points.into_iter().rev().take(free) {
                messages[at]
                    .content
                    .push(b::ContentBlock::CachePoint(Default::default()));
                self.placed.push(at);
            }
        }
        Ok(b::ChatRequest {
            messages,
            model: self.setup.model.clone(),
            tools: (!self.setup.tools.is_empty()).then(|| self.setup.tools.clone()),
            inference_config: self.setup.inference_config.clone(),
            session_id: None,
            tool_choice: self.setup.tool_choice.clone(),
            options,
        })
    }

    /// Takes back what [`take_request`](Self::take_request) took, without its cache points.
    pub(crate) fn restore(&mut self, request: b::ChatRequest) {
        let mut messages = request.messages;
        for at in self.placed.drain(..) {
            if let Some(m) = messages.get_mut(at)
                && matches!(m.content.last(), Some(b::ContentBlock::CachePoint(_)))
            {
                m.content.pop();
            }
        }
        self.messages = messages;
    }

    /// The model answered: its message joins the conversation as it is (reasoning blocks
    /// and signatures intact, as the provider requires in a tool loop).
    pub(crate) fn append_reply(&mut self, message: b::Message) {
        self.own_points += count_cache_points(&message.content);
        let size = size_of_message(&message);
        self.size.add(size);
        self.messages.push(message);
    }

    /// A streamed reply is open (or not).
    pub(crate) fn set_streaming(&mut self, on: bool) {
        self.streaming = on;
    }

    /// Continues `history` (a session's, before this run's first turn).
    pub(crate) fn continue_from(&mut self, history: Vec<b::Message>, size: Size) {
        for m in &history {
            self.own_points += count_cache_points(&m.content);
        }
        self.size.add(size);
        self.messages.extend(history);
    }
}

/// What kept messages measure, as the policy counts them: the model's content, and the user's
/// text, tool results and media.
pub(crate) fn size_of_history(messages: &[b::Message]) -> Size {
    let mut size = Size::default();
    for message in messages {
        size.add(size_of_message(message));
        for block in &message.content {
            match block {
                b::ContentBlock::ToolResult(r) => {
                    size.bytes += r.tool_use_id.len();
                    size.items += r.content.len();
                    for part in &r.content {
                        match part {
                            b::ToolResultContent::Text(t) => size.bytes += t.len(),
                            b::ToolResultContent::Json(v) => size.bytes += json_len(v),
                            b::ToolResultContent::Image(i) => media(&mut size, i.bytes.len()),
                            b::ToolResultContent::Document(d) => {
                                size.bytes += d.name.len();
                                media(&mut size, d.bytes.len());
                            }
                            // Kinds newer than this host are not measured.
                            _ => {}
                        }
                    }
                }
                b::ContentBlock::Image(i) => media(&mut size, i.bytes.len()),
                b::ContentBlock::Document(d) => {
                    size.bytes += d.name.len();
                    media(&mut size, d.bytes.len());
                }
                // The model's blocks were measured above; user text is measured there too.
                _ => {}
            }
        }
    }
    size
}

fn media(size: &mut Size, bytes: usize) {
    size.attachments += 1;
    size.largest_attachment = size.largest_attachment.max(bytes);
    size.attachment_bytes += bytes;
}

fn count_cache_points(content: &[b::ContentBlock]) -> usize {
    content
        .iter()
        .filter(|b| matches!(b, b::ContentBlock::CachePoint(_)))
        .count()
}

/// The size of a message the model wrote (a reply is measured once, when it joins).
pub(crate) fn size_of_message(message: &b::Message) -> Size {
    let mut size = Size {
        items: 1 + message.content.len(),
        ..Size::default()
    };
    for block in &message.content {
        size.bytes += match block {
            b::ContentBlock::Text { text } => text.len(),
            b::ContentBlock::Cited(c) => c.text.len(),
            b::ContentBlock::ToolUse(c) => c.id.len() + c.name.len() + json_len(&c.input),
            b::ContentBlock::Reasoning(b::Reasoning::Text { text, signature }) => {
                text.len() + signature.as_ref().map_or(0, String::len)
            }
            b::ContentBlock::Reasoning(b::Reasoning::Redacted { data }) => data.len(),
            // Results, media and cache points are not the model's (and kinds newer than this
            // host are not measured).
            _ => 0,
        };
    }
    size
}

/// The length of a JSON value as text, without building the text.
fn json_len(value: &serde_json::Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

/// Host memory held by a run's live conversations, in bytes (bounded by the plugin's own
/// memory limit).
#[derive(Debug, Default)]
pub(crate) struct Held(usize);

impl Held {
    /// Holds `bytes` more if the total stays within `limit`; else the total it would reach.
    pub(super) fn hold(&mut self, bytes: usize, limit: usize) -> Result<(), usize> {
        let total = self.0.saturating_add(bytes);
        if total > limit {
            return Err(total);
        }
        self.0 = total;
        Ok(())
    }

    /// A conversation grew by `bytes` (a reply joined it; the model's, not the plugin's).
    pub(super) fn grow(&mut self, bytes: usize) {
        self.0 = self.0.saturating_add(bytes);
    }

    /// A conversation that held `bytes` is gone.
    pub(super) fn release(&mut self, bytes: usize) {
        self.0 = self.0.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> b::ContentBlock {
        b::ContentBlock::Text { text: t.into() }
    }

    fn sized(bytes: usize) -> Size {
        Size {
            bytes,
            items: 1,
            ..Size::default()
        }
    }

    fn points(request: &b::ChatRequest) -> Vec<usize> {
        request
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.content.last(), Some(b::ContentBlock::CachePoint(_))))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn cache_points_follow_the_growing_prefix_and_leave_no_trace() {
        let setup = Setup {
            system: Some("s".repeat(8_000)),
            auto_cache: true,
            ..Setup::default()
        };
        let h = ConversationHandle::new(setup, sized(8_000));
        let mut c = h.lock();
        c.push(vec![text("hello")], sized(5));
        let r = c.take_request(Some(1_024)).unwrap();
        // The system prompt (index 0) and the first user turn (index 1).
        assert_eq!(points(&r), vec![0, 1]);
        c.restore(r);
        let left: usize = c
            .messages()
            .iter()
            .map(|m| count_cache_points(&m.content))
            .sum();
        assert_eq!(left, 0);
        c.append_reply(b::Message::assistant("hi"));
        c.push(vec![text("more")], sized(4));
        let r = c.take_request(Some(1_024)).unwrap();
        // System, last turn's point (now read) and the new end (written).
        assert_eq!(points(&r), vec![0, 1, 3]);
        c.restore(r);
        assert_eq!(c.len(), 3);
        // A model that does not cache, or a short prefix: no points.
        c.append_reply(b::Message::assistant("ok"));
        c.push(vec![text("x")], sized(1));
        let r = c.take_request(None).unwrap();
        assert!(points(&r).is_empty());
        c.restore(r);
        let r = c.take_request(Some(1_000_000)).unwrap();
        assert!(points(&r).is_empty());
    }

    #[test]
    fn the_four_point_limit_counts_the_plugins_own_points() {
        let setup = Setup {
            system: Some("s".repeat(8_000)),
            auto_cache: true,
            ..Setup::default()
        };
        let h = ConversationHandle::new(setup, sized(8_000));
        let mut c = h.lock();
        let own = b::ContentBlock::CachePoint(Default::default());
        c.push(vec![text("a"), own.clone(), text("b"), own], sized(2));
        c.append_reply(b::Message::assistant("r"));
        c.push(vec![text("c")], sized(1));
        let r = c.take_request(Some(1_024)).unwrap();
        let total: usize = r
            .messages
            .iter()
            .map(|m| count_cache_points(&m.content))
            .sum();
        assert_eq!(total, 4, "{:?}", r.messages);
    }

    #[test]
    fn sending_needs_a_user_turn_and_no_open_stream() {
        let h = ConversationHandle::new(Setup::default(), Size::default());
        let mut c = h.lock();
        assert_eq!(c.take_request(None).unwrap_err(), StateError::NoUserTurn);
        c.push(vec![text("q")], sized(1));
        c.set_streaming(true);
        assert_eq!(c.take_request(None).unwrap_err(), StateError::Streaming);
    }
}
