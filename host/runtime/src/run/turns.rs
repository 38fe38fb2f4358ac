//! A run's conversation turns (WIT 0.2.0 `conversation`): starting one, pushing the guest's
//! content, sending a turn whole or streamed. The history itself lives in `conversation`.

use gamecode_backend as b;

use super::conversation::{ConversationHandle, Setup, StreamedTurn, size_of_history};
use super::stream::ReplyStreamState;
use super::{ChatFailure, Guest, RunState};
use crate::policy::{ChatAsk, Grant, PolicyViolation, ViolationKind};

impl RunState {
    /// Starts a conversation: its setup is admitted by size, then built.
    pub(crate) fn start_conversation(
        &mut self,
        setup: impl Guest<Built = Setup>,
    ) -> Result<ConversationHandle, ChatFailure> {
        let size = setup.size();
        if let Err(v) = self.policy.admit_size(size.bytes, size.items) {
            return Err(ChatFailure::Policy(self.record_violation(v)));
        }
        let setup = self.build(setup, size.items, String::new())?;
        self.hold(size.held_bytes())?;
        Ok(ConversationHandle::new(setup, size))
    }

    /// The conversation the run's session keeps under `key`, with its history (a new one
    /// outside a session): started like any, then given the session's messages, which are
    /// admitted by size like pushed content.
    pub(crate) async fn session_conversation(
        &mut self,
        key: String,
        setup: impl Guest<Built = Setup>,
    ) -> Result<ConversationHandle, ChatFailure> {
        if self.session.as_ref().is_some_and(|s| s.is_open(&key)) {
            return Err(ChatFailure::State(format!(
                "this run already opened the session's conversation `{}`",
                crate::text::echo(&key)
            )));
        }
        let conversation = self.start_conversation(setup)?;
        let Some(session) = &self.session else {
            return Ok(conversation);
        };
        let history = match session.history(&key).await {
            Ok(history) => history,
            // The host's store failed, not the plugin: the run stops where it is.
            Err(e) => {
                let message = self.halt(crate::journal::JournalHalt::Store(e));
                return Err(ChatFailure::State(message));
            }
        };
        let added = size_of_history(&history);
        let mut total = conversation.lock().size();
        total.add(added);
        let admitted = self
            .policy
            .admit_size(total.bytes, total.items)
            .and_then(|()| self.policy.admit_attachments(&total));
        if let Err(mut v) = admitted {
            v.message = format!(
                "the session's conversation `{}` has outgrown this plugin's policy: {}",
                crate::text::echo(&key),
                v.message
            );
            self.conversation_dropped(&conversation);
            return Err(ChatFailure::Policy(self.record_violation(v)));
        }
        if let Err(f) = self.hold(added.held_bytes()) {
            self.conversation_dropped(&conversation);
            return Err(f);
        }
        let from = {
            let mut c = conversation.lock();
            c.continue_from(history, added);
            c.len()
        };
        if let Some(session) = &mut self.session {
            session.opened(key, conversation.clone(), from);
        }
        Ok(conversation)
    }

    /// Appends the guest's content to a conversation: the whole conversation with it is
    /// admitted by size, then the content is built.
    pub(crate) fn push(
        &mut self,
        conversation: &ConversationHandle,
        content: impl Guest<Built = Vec<b::ContentBlock>>,
    ) -> Result<(), ChatFailure> {
        let added = content.size();
        let (mut total, place) = {
            let c = conversation.lock();
            c.check_idle()
                .map_err(|e| ChatFailure::State(e.to_string()))?;
            (c.size(), format!("message {}", c.len()))
        };
        total.add(added);
        let admitted = self
            .policy
            .admit_size(total.bytes, total.items)
            .and_then(|()| self.policy.admit_attachments(&total));
        if let Err(v) = admitted {
            return Err(ChatFailure::Policy(self.record_violation(v)));
        }
        let blocks = self.build(content, total.items, place)?;
        self.hold(added.held_bytes())?;
        conversation.lock().push(blocks, added);
        Ok(())
    }

    /// Sends a conversation's turn for a whole reply, which joins the conversation.
    pub(crate) async fn send(
        &mut self,
        conversation: &ConversationHandle,
    ) -> Result<b::ChatResponse, ChatFailure> {
        let (grant, mut request) = self.conversation_turn(conversation, false)?;
        let model = self.prepare(&grant, &mut request, false);
        let cache = Some(conversation.cache());
        let result = self.call_whole(grant, model, &request, cache).await;
        let mut c = conversation.lock();
        c.restore(request);
        let response = result?;
        let before = c.size().held_bytes();
        c.append_reply(response.message.clone());
        self.held.grow(c.size().held_bytes() - before);
        Ok(response)
    }

    /// Sends a conversation's turn for a streamed reply, which joins the conversation when
    /// the stream completes.
    pub(crate) async fn send_stream(
        &mut self,
        conversation: &ConversationHandle,
    ) -> Result<ReplyStreamState, ChatFailure> {
        let (grant, mut request) = self.conversation_turn(conversation, true)?;
        let model = self.prepare(&grant, &mut request, true);
        let cache = Some(conversation.cache());
        let result = self.call_stream(grant, model, &request, cache).await;
        let mut c = conversation.lock();
        c.restore(request);
        let mut stream = result?;
        c.set_streaming(true);
        stream.turn = Some(StreamedTurn::new(conversation.clone()));
        Ok(stream)
    }

    /// A conversation the guest dropped: the memory it held is free, unless the run's
    /// session keeps it (to save at the run's end), when it stays counted.
    pub(crate) fn conversation_dropped(&mut self, conversation: &ConversationHandle) {
        if self.session.as_ref().is_some_and(|s| s.keeps(conversation)) {
            return;
        }
        let held = conversation.lock().size().held_bytes();
        self.held.release(held);
    }

    /// Admits a conversation turn and takes its request out (to be restored afterwards).
    fn conversation_turn(
        &mut self,
        conversation: &ConversationHandle,
        streaming: bool,
    ) -> Result<(Grant, b::ChatRequest), ChatFailure> {
        let (size, model, max_tokens) = {
            let c = conversation.lock();
            c.check_idle()
                .map_err(|e| ChatFailure::State(e.to_string()))?;
            let setup = c.setup();
            (
                c.size(),
                setup.model.clone(),
                setup.inference_config.as_ref().and_then(|i| i.max_tokens),
            )
        };
        let grant = self.admit(&ChatAsk::of(model.as_deref(), &size, max_tokens, streaming))?;
        let model = model.unwrap_or_else(|| self.backend.default_model().to_string());
        let cache_min = self.backend.model_info(&model).and_then(|m| m.caching);
        match conversation.lock().take_request(cache_min) {
            Ok(request) => Ok((grant, request)),
            Err(e) => Err(self.unbuilt(grant, ChatFailure::State(e.to_string()))),
        }
    }

    /// Counts `bytes` more of host memory held for this run's conversations. Their total is
    /// bounded by the plugin's own memory limit: the host keeps no more for a plugin than the
    /// plugin may keep itself.
    fn hold(&mut self, bytes: usize) -> Result<(), ChatFailure> {
        let limit = usize::try_from(self.policy.memory_limit_bytes).unwrap_or(usize::MAX);
        if let Err(total) = self.held.hold(bytes, limit) {
            let v = PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the conversations of this run would hold {total} bytes in the host; a \
                     plugin's conversations may hold at most its memory limit, {limit} bytes"
                ),
            );
            return Err(ChatFailure::Policy(self.record_violation(v)));
        }
        Ok(())
    }
}
