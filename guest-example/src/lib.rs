//! The example gamecode agent plugin.
//!
//! A WASI component (world `gamecode:plugin/plugin@0.2.1`) that answers a task with a tool
//! loop over a conversation the host holds: it opens the session's conversation (`chat`, so
//! that in `gamecode chat` or `gamecode run --session` it remembers the earlier turns; a new
//! one outside a session) with its own tools — [`calculator`]
//! and [`text_stats`], which run here, inside the sandbox — plus every tool the host offers,
//! pushes the task (and any attached images and documents), and then only the tool results of
//! each turn; the host keeps the history, the model's reasoning and the prompt-cache points.
//! It stops at the model's final answer or after [`MAX_TURNS`] model turns. Every turn is
//! streamed (`conversation.send-stream`, read by [`stream::Assembler`]); a host that answers
//! `unsupported` gets one-shot `send` calls for the rest of the run. When the model can think
//! (`describe-model`), it asks for extended thinking; with `gamecode run -v` it prints a line
//! of each reasoning block on stderr.
//!
//! The loop is written against the small [`Host`] and [`Conversation`] traits: the plugin
//! implements them with the WIT imports, the unit tests with a scripted fake, so everything
//! except the import calls themselves is tested natively (`cargo test`).

mod calculator;
mod stream;
mod text_stats;
mod tools;

wit_bindgen::generate!({
    path: "../wit/v0.2.1",
    world: "plugin",
    // For the tests' assertions; unused impls cost nothing in the component.
    additional_derives: [PartialEq],
});

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::{ConversationSetup, ReplyStream};
use gamecode::plugin::types::{
    AgentError, Attachment, ChatError, ChatOptions, ChatResponse, ContentBlock, InferenceConfig,
    Message, ModelInfo, Reasoning, ReasoningConfig, StopReason, StreamEvent, Task, ToolCall,
    ToolError, ToolSpec,
};
use stream::{Assembler, Reply};

/// The key of the session conversation the agent continues.
const SESSION_KEY: &str = "chat";

/// The most model turns (chat calls) one run makes.
pub const MAX_TURNS: u32 = 8;

/// The thinking budget when the model can think (`--config reasoning-budget=N` changes it;
/// 0 turns thinking off). Bedrock's minimum.
const REASONING_BUDGET: u32 = 1024;

/// What the agent loop needs from the host.
pub(crate) trait Host {
    type Conversation: Conversation;
    /// The conversation the host holds for this run: the session's, continued.
    fn start(&mut self, setup: &ConversationSetup) -> Result<Self::Conversation, ChatError>;
    /// What the host knows of the default model.
    fn model(&mut self) -> Option<ModelInfo>;
    /// A configuration value.
    fn config(&mut self, key: &str) -> Option<String>;
    /// The host tools this plugin may offer the model.
    fn list_tools(&mut self) -> Vec<ToolSpec>;
    /// Calls a host tool.
    fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError>;
}

/// A conversation the host holds: push the user's content, then send.
pub(crate) trait Conversation {
    /// A streamed reply.
    type Stream: EventStream;
    fn push(&mut self, content: &[ContentBlock]) -> Result<(), ChatError>;
    /// One model turn, answered whole (and appended by the host).
    fn send(&mut self) -> Result<ChatResponse, ChatError>;
    /// One model turn, streamed (appended by the host when the stream ends).
    fn send_stream(&mut self) -> Result<Self::Stream, ChatError>;
}

/// A streamed reply: events until `None`. Dropping it cancels the request.
pub(crate) trait EventStream {
    fn next_event(&mut self) -> Result<Option<StreamEvent>, ChatError>;
}

/// The real host, through the WIT imports.
struct Imports;

impl Host for Imports {
    type Conversation = gamecode::plugin::chat::Conversation;

    fn start(&mut self, setup: &ConversationSetup) -> Result<Self::Conversation, ChatError> {
        gamecode::plugin::chat::session_conversation(SESSION_KEY, setup)
    }

    fn model(&mut self) -> Option<ModelInfo> {
        gamecode::plugin::chat::describe_model(None)
    }

    fn config(&mut self, key: &str) -> Option<String> {
        gamecode::plugin::config::get(key)
    }

    fn list_tools(&mut self) -> Vec<ToolSpec> {
        gamecode::plugin::tools::list_tools()
    }

    fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError> {
        gamecode::plugin::tools::call_tool(name, input)
    }
}

impl Conversation for gamecode::plugin::chat::Conversation {
    type Stream = ReplyStream;

    fn push(&mut self, content: &[ContentBlock]) -> Result<(), ChatError> {
        gamecode::plugin::chat::Conversation::push(self, content)
    }

    fn send(&mut self) -> Result<ChatResponse, ChatError> {
        gamecode::plugin::chat::Conversation::send(self)
    }

    fn send_stream(&mut self) -> Result<ReplyStream, ChatError> {
        gamecode::plugin::chat::Conversation::send_stream(self)
    }
}

impl EventStream for ReplyStream {
    fn next_event(&mut self) -> Result<Option<StreamEvent>, ChatError> {
        ReplyStream::next(self)
    }
}

struct Agent;

impl Guest for Agent {
    fn run(task: Task) -> Result<String, AgentError> {
        run_agent(&mut Imports, task)
    }
}

export!(Agent);

/// How the run talks to the model, and what it has used so far.
struct Session {
    /// Cleared for the rest of the run once the host answers `send-stream` with `unsupported`.
    streaming: bool,
    /// Print a line of each reasoning block (`gamecode run -v`).
    verbose: bool,
    turns: u32,
    /// Total tokens of the turns that reported usage; `None` if none did.
    tokens: Option<u32>,
    /// Input tokens read from the prompt cache.
    cached: u32,
}

impl Session {
    /// One model turn: streamed while the host streams, one-shot after it said it cannot.
    fn ask(&mut self, conversation: &mut impl Conversation) -> Result<Reply, AgentError> {
        let streamed = if self.streaming {
            streamed_turn(conversation)?
        } else {
            None
        };
        let reply = match streamed {
            Some(reply) => reply,
            None => {
                self.streaming = false;
                conversation.send().map_err(AgentError::Chat)?.into()
            }
        };
        // Only answered turns count: a turn that failed is reported by the host.
        self.turns += 1;
        if let Some(usage) = &reply.usage {
            self.tokens = Some(self.tokens.unwrap_or(0).saturating_add(usage.total_tokens));
            self.cached = self.cached.saturating_add(usage.cache_read_input_tokens);
        }
        if self.verbose {
            for block in &reply.message.content {
                if let ContentBlock::Reasoning(Reasoning::Text(r)) = block {
                    eprintln!("thinking: {}", first_line(&r.text, 100));
                }
            }
        }
        Ok(reply)
    }

    /// The run's closing progress line.
    fn summary(&self) -> String {
        let mut line = format!(
            "agent: {} model turn{} ({})",
            self.turns,
            if self.turns == 1 { "" } else { "s" },
            if self.streaming {
                "streamed"
            } else {
                "not streamed"
            },
        );
        if let Some(tokens) = self.tokens {
            line.push_str(&format!(", {tokens} tokens"));
            if self.cached > 0 {
                line.push_str(&format!(" ({} read from the prompt cache)", self.cached));
            }
        }
        line
    }
}

/// The first line of `text`, cut to `max` characters.
fn first_line(text: &str, max: usize) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// Pulls one streamed reply to its end and assembles it; `Ok(None)` if the host does not
/// stream (`unsupported` when opening the stream or as its first event).
fn streamed_turn(conversation: &mut impl Conversation) -> Result<Option<Reply>, AgentError> {
    let unsupported = |reason: &str| {
        eprintln!("streaming is unsupported ({reason}); using send for the rest of the run");
    };
    let mut stream = match conversation.send_stream() {
        Ok(stream) => stream,
        Err(ChatError::Unsupported(reason)) => {
            unsupported(&reason);
            return Ok(None);
        }
        Err(e) => return Err(AgentError::Chat(e)),
    };
    let malformed = |e: String| AgentError::Failed(format!("malformed reply stream: {e}"));
    let mut assembler = Assembler::default();
    let mut first = true;
    loop {
        match stream.next_event() {
            Ok(Some(event)) => assembler.push(event).map_err(malformed)?,
            Ok(None) => break,
            Err(ChatError::Unsupported(reason)) if first => {
                unsupported(&reason);
                return Ok(None);
            }
            Err(e) => return Err(AgentError::Chat(e)),
        }
        first = false;
    }
    assembler.finish().map(Some).map_err(malformed)
}

/// Runs the tool loop for `task` and returns the model's final answer. Ends with a summary
/// line on stderr once the model was asked at least once.
fn run_agent(host: &mut impl Host, task: Task) -> Result<String, AgentError> {
    if task.text.trim().is_empty() {
        return Err(AgentError::Failed("the task is empty".to_string()));
    }
    let verbose = host
        .config("gamecode.verbose")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v > 0);
    let mut session = Session {
        streaming: true,
        verbose,
        turns: 0,
        tokens: None,
        cached: 0,
    };
    let outcome = tool_loop(host, task, &mut session);
    if session.turns > 0 {
        eprintln!("{}", session.summary());
    }
    outcome
}

/// The task as the first user turn: the attachments (if the model reads them), then the words.
fn task_content(task: Task, model: Option<&ModelInfo>) -> Result<Vec<ContentBlock>, AgentError> {
    let mut content = Vec::with_capacity(task.attachments.len() + 1);
    for attachment in task.attachments {
        let (kind, readable, block) = match attachment {
            Attachment::Image(i) => (
                "images",
                model.is_none_or(|m| m.images),
                ContentBlock::Image(i),
            ),
            Attachment::Document(d) => (
                "documents",
                model.is_none_or(|m| m.documents),
                ContentBlock::Document(d),
            ),
        };
        if !readable {
            let name = model.map_or("the model", |m| m.name.as_str());
            return Err(AgentError::Failed(format!("{name} does not read {kind}")));
        }
        content.push(block);
    }
    content.push(ContentBlock::Text(task.text));
    Ok(content)
}

/// The tool loop proper.
fn tool_loop(
    host: &mut impl Host,
    task: Task,
    session: &mut Session,
) -> Result<String, AgentError> {
    // Own tools first; a host tool with the same name as one of them (or as an earlier host
    // tool) is left out, since tool names must be unique within a request.
    let mut specs = tools::own_specs();
    let mut host_tools = Vec::new();
    for spec in host.list_tools() {
        if specs.iter().any(|s| s.name == spec.name) {
            eprintln!(
                "host tool {:?} is shadowed by another tool of that name",
                spec.name
            );
            continue;
        }
        host_tools.push(spec.clone());
        specs.push(spec);
    }

    let model = host.model();
    // Think first when the model can (the host keeps the reasoning for the tool loop).
    let budget = host
        .config("reasoning-budget")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(REASONING_BUDGET);
    let thinking = budget > 0 && model.as_ref().is_some_and(|m| m.reasoning);
    let setup = ConversationSetup {
        system: Some(system_prompt(&specs)),
        model: None,
        tools: specs,
        tool_choice: None,
        // Thinking needs room to answer after it.
        inference_config: thinking.then(|| InferenceConfig {
            temperature: None,
            top_p: None,
            max_tokens: Some(budget.saturating_add(4096)),
            stop_sequences: Vec::new(),
        }),
        options: ChatOptions {
            reasoning: thinking.then_some(ReasoningConfig::Budget(budget)),
            structured_output: None,
            strict_tools: false,
            service_tier: None,
            latency_optimized: false,
            metadata: Vec::new(),
            guardrail: None,
            cache_tools: None,
        },
        auto_cache: true,
    };
    let content = task_content(task, model.as_ref())?;
    let mut conversation = host.start(&setup).map_err(AgentError::Chat)?;
    conversation.push(&content).map_err(AgentError::Chat)?;

    for turn in 1..=MAX_TURNS {
        let reply = session.ask(&mut conversation)?;
        let calls: Vec<ToolCall> = reply
            .message
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::ToolUse(call) => Some(call.clone()),
                _ => None,
            })
            .collect();
        let text = message_text(&reply.message);

        match reply.stop_reason {
            StopReason::ToolUse if !calls.is_empty() => {
                if turn == MAX_TURNS {
                    // No turn left to show the model the results.
                    break;
                }
                let results: Vec<ContentBlock> = calls
                    .iter()
                    .map(|call| ContentBlock::ToolResult(tools::execute(host, call, &host_tools)))
                    .collect();
                conversation.push(&results).map_err(AgentError::Chat)?;
            }
            StopReason::ToolUse
            | StopReason::EndTurn
            | StopReason::StopSequence
            | StopReason::MaxTokens => {
                return if text.is_empty() {
                    Err(AgentError::Failed(format!(
                        "the model stopped ({}) without an answer",
                        stop_reason_name(&reply.stop_reason)
                    )))
                } else {
                    Ok(text)
                };
            }
            other => {
                let mut message = format!("the model stopped: {}", stop_reason_name(&other));
                if !text.is_empty() {
                    message.push_str(&format!(" (it said: {text})"));
                }
                return Err(AgentError::Failed(message));
            }
        }
    }
    Err(AgentError::TurnLimit(MAX_TURNS))
}

/// The message's text (cited text included), joined by newlines and trimmed.
fn message_text(message: &Message) -> String {
    let parts: Vec<&str> = message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            ContentBlock::Cited(c) if !c.text.trim().is_empty() => Some(c.text.trim()),
            _ => None,
        })
        .collect();
    parts.join("\n")
}

fn system_prompt(specs: &[ToolSpec]) -> String {
    let mut prompt = String::from(
        "You are the gamecode example agent, running as a sandboxed WebAssembly plugin. \
         Solve the user's task. Use the tools when they help: never do arithmetic in your head, \
         call `calculator`; call `text_stats` to count characters, words or lines. \
         When a tool reports an error, correct the input or work around it. \
         When you have the answer, reply with it in plain text, without calling more tools.\n\n\
         Tools:",
    );
    for spec in specs {
        prompt.push_str(&format!("\n- {}: {}", spec.name, spec.description));
    }
    prompt
}

/// The WIT case name of a stop reason (`other` keeps the provider's value).
fn stop_reason_name(reason: &StopReason) -> String {
    match reason {
        StopReason::EndTurn => "end-turn",
        StopReason::ToolUse => "tool-use",
        StopReason::MaxTokens => "max-tokens",
        StopReason::StopSequence => "stop-sequence",
        StopReason::GuardrailIntervened => "guardrail-intervened",
        StopReason::ContentFiltered => "content-filtered",
        StopReason::MalformedModelOutput => "malformed-model-output",
        StopReason::MalformedToolUse => "malformed-tool-use",
        StopReason::ModelContextWindowExceeded => "model-context-window-exceeded",
        StopReason::Other(other) => return format!("other: {other}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode::plugin::types::{
        Document, DocumentFormat, Image, ImageFormat, ReasoningText, Role, ToolResult,
        ToolResultContent, ToolUseStart, Usage,
    };
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// How the fake host answers `send-stream`.
    #[derive(Default, Clone, Copy, PartialEq, Debug)]
    enum Streaming {
        /// Streams each scripted reply as events (split into small deltas).
        #[default]
        Events,
        /// `send-stream` itself returns `unsupported`.
        Unsupported,
        /// The stream opens, and its first event is an `unsupported` error.
        UnsupportedFirstEvent,
    }

    /// The conversation as a scripted host holds it.
    #[derive(Default)]
    struct Held {
        replies: VecDeque<Result<ChatResponse, ChatError>>,
        /// Raw event scripts, used by `send-stream` before `replies`.
        streams: VecDeque<Vec<Result<StreamEvent, ChatError>>>,
        streaming: Streaming,
        history: Vec<Message>,
        /// The history at each send.
        sent: Vec<Vec<Message>>,
        /// "send" or "send-stream", per turn.
        methods: Vec<&'static str>,
    }

    impl Held {
        fn reply(&mut self, method: &'static str) -> Result<ChatResponse, ChatError> {
            self.sent.push(self.history.clone());
            self.methods.push(method);
            let reply = self
                .replies
                .pop_front()
                .expect("the test scripted too few replies")?;
            self.history.push(reply.message.clone());
            Ok(reply)
        }
    }

    /// A scripted host: replies in order (streamed or whole), a fixed tool list, recorded calls.
    #[derive(Default)]
    struct FakeHost {
        held: Rc<RefCell<Held>>,
        setup: Option<ConversationSetup>,
        model: Option<ModelInfo>,
        config: Vec<(&'static str, &'static str)>,
        host_tools: Vec<ToolSpec>,
        tool_calls: Vec<(String, String)>,
    }

    impl FakeHost {
        fn scripted(replies: Vec<Result<ChatResponse, ChatError>>) -> Self {
            let host = FakeHost::default();
            host.held.borrow_mut().replies = replies.into();
            host
        }

        fn sent(&self) -> Vec<Vec<Message>> {
            self.held.borrow().sent.clone()
        }

        fn methods(&self) -> Vec<&'static str> {
            self.held.borrow().methods.clone()
        }
    }

    struct FakeConversation(Rc<RefCell<Held>>);

    struct FakeStream(VecDeque<Result<StreamEvent, ChatError>>);

    impl EventStream for FakeStream {
        fn next_event(&mut self) -> Result<Option<StreamEvent>, ChatError> {
            self.0.pop_front().transpose()
        }
    }

    /// The events a provider would stream for `response`: text in 3-character deltas (plus an
    /// empty one), tool input in two fragments.
    fn events_of(response: ChatResponse) -> Vec<Result<StreamEvent, ChatError>> {
        let mut events = vec![
            StreamEvent::MessageStart,
            StreamEvent::TextDelta(String::new()),
        ];
        for block in response.message.content {
            match block {
                ContentBlock::Text(text) => {
                    let chars: Vec<char> = text.chars().collect();
                    for chunk in chars.chunks(3) {
                        events.push(StreamEvent::TextDelta(chunk.iter().collect()));
                    }
                }
                ContentBlock::ToolUse(call) => {
                    events.push(StreamEvent::ToolUseStart(ToolUseStart {
                        id: call.id.clone(),
                        name: call.name.clone(),
                    }));
                    let half = call.input.len() / 2;
                    let (a, b) = call.input.split_at(call.input.floor_char_boundary(half));
                    events.push(StreamEvent::ToolUseInputDelta(a.to_string()));
                    events.push(StreamEvent::ToolUseInputDelta(b.to_string()));
                    events.push(StreamEvent::ToolUseStop(call));
                }
                ContentBlock::Reasoning(Reasoning::Text(r)) => {
                    events.push(StreamEvent::ReasoningDelta(r.text));
                    events.extend(r.signature.map(StreamEvent::ReasoningSignature));
                }
                other => panic!("the fake host does not stream {other:?}"),
            }
        }
        events.push(StreamEvent::MessageStop(response.stop_reason));
        events.extend(response.usage.map(StreamEvent::Metadata));
        events.into_iter().map(Ok).collect()
    }

    impl Host for FakeHost {
        type Conversation = FakeConversation;

        fn start(&mut self, setup: &ConversationSetup) -> Result<FakeConversation, ChatError> {
            self.setup = Some(setup.clone());
            Ok(FakeConversation(self.held.clone()))
        }

        fn model(&mut self) -> Option<ModelInfo> {
            self.model.clone()
        }

        fn config(&mut self, key: &str) -> Option<String> {
            self.config
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }

        fn list_tools(&mut self) -> Vec<ToolSpec> {
            self.host_tools.clone()
        }

        fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError> {
            self.tool_calls.push((name.to_string(), input.to_string()));
            match name {
                "read_file" => Ok(format!("contents for {input}")),
                _ => Err(ToolError::NotAllowed(format!("{name} is not granted"))),
            }
        }
    }

    impl Conversation for FakeConversation {
        type Stream = FakeStream;

        fn push(&mut self, content: &[ContentBlock]) -> Result<(), ChatError> {
            let history = &mut self.0.borrow_mut().history;
            match history.last_mut() {
                Some(m) if m.role == Role::User => m.content.extend_from_slice(content),
                _ => history.push(Message {
                    role: Role::User,
                    content: content.to_vec(),
                }),
            }
            Ok(())
        }

        fn send(&mut self) -> Result<ChatResponse, ChatError> {
            self.0.borrow_mut().reply("send")
        }

        fn send_stream(&mut self) -> Result<FakeStream, ChatError> {
            let mut held = self.0.borrow_mut();
            match held.streaming {
                Streaming::Unsupported => {
                    return Err(ChatError::Unsupported("no streaming here".into()));
                }
                Streaming::UnsupportedFirstEvent => {
                    return Ok(FakeStream(VecDeque::from([Err(ChatError::Unsupported(
                        "no streaming here".into(),
                    ))])));
                }
                Streaming::Events => {}
            }
            if let Some(events) = held.streams.pop_front() {
                held.methods.push("send-stream");
                return Ok(FakeStream(events.into()));
            }
            let reply = held.reply("send-stream")?;
            Ok(FakeStream(events_of(reply).into()))
        }
    }

    fn task(text: &str) -> Task {
        Task {
            text: text.to_string(),
            attachments: Vec::new(),
        }
    }

    fn reply(
        content: Vec<ContentBlock>,
        stop_reason: StopReason,
    ) -> Result<ChatResponse, ChatError> {
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                content,
            },
            model: "test-model".to_string(),
            stop_reason,
            usage: None,
            latency_ms: None,
            service_tier: None,
            guardrail_trace: None,
        })
    }

    fn say(text: &str) -> Result<ChatResponse, ChatError> {
        reply(
            vec![ContentBlock::Text(text.to_string())],
            StopReason::EndTurn,
        )
    }

    fn call(id: &str, name: &str, input: &str) -> ContentBlock {
        ContentBlock::ToolUse(ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            input: input.to_string(),
        })
    }

    fn host_tool(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.to_string(),
            description: format!("host tool {name}"),
            input_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    /// The tool results in the last message of a turn's history.
    fn results(history: &[Message]) -> Vec<ToolResult> {
        let last = history.last().expect("messages");
        assert_eq!(last.role, Role::User);
        last.content
            .iter()
            .map(|block| match block {
                ContentBlock::ToolResult(r) => r.clone(),
                other => panic!("expected only tool results, got {other:?}"),
            })
            .collect()
    }

    fn result_text(r: &ToolResult) -> &str {
        match &r.content[..] {
            [ToolResultContent::Text(s)] | [ToolResultContent::Json(s)] => s,
            other => panic!("expected one content block, got {other:?}"),
        }
    }

    fn model(reasoning: bool, images: bool) -> ModelInfo {
        ModelInfo {
            id: "anthropic.test".into(),
            name: "Test Model".into(),
            images,
            documents: true,
            reasoning,
            adaptive_reasoning: false,
            cache_min_tokens: Some(1024),
            context_window: 200_000,
            max_output_tokens: 64_000,
        }
    }

    #[test]
    fn calculator_round_trip_sends_only_new_content() {
        let mut host = FakeHost::scripted(vec![
            reply(
                vec![
                    ContentBlock::Text("I'll use the calculator.".into()),
                    call("t1", "calculator", r#"{"expression":"6 * 7"}"#),
                ],
                StopReason::ToolUse,
            ),
            say("6 times 7 is 42."),
        ]);
        assert_eq!(
            run_agent(&mut host, task("What is 6 * 7?")).ok(),
            Some("6 times 7 is 42.".into())
        );
        let sent = host.sent();
        assert_eq!(sent.len(), 2);

        // The setup: system prompt naming the tools, own tools offered, host caching on.
        let setup = host.setup.as_ref().expect("a conversation");
        assert!(
            setup
                .system
                .as_deref()
                .is_some_and(|s| s.contains("calculator"))
        );
        let names: Vec<&str> = setup.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["calculator", "text_stats"]);
        assert!(setup.auto_cache);
        assert!(setup.options.reasoning.is_none(), "the model is unknown");

        // First turn: the task. Second: the host appended the reply; the plugin the result.
        assert_eq!(sent[0].len(), 1);
        assert_eq!(message_text(&sent[0][0]), "What is 6 * 7?");
        assert_eq!(sent[1].len(), 3);
        assert_eq!(sent[1][1].role, Role::Assistant);
        let results = results(&sent[1]);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].tool_use_id, "t1");
        assert!(!results[0].is_error);
        assert_eq!(result_text(&results[0]), "42");
        assert!(host.tool_calls.is_empty());
    }

    #[test]
    fn every_call_of_a_turn_is_answered_in_one_message_with_failures_flagged() {
        let mut host = FakeHost::scripted(vec![
            reply(
                vec![
                    call("a", "read_file", r#"{"path":"notes.txt"}"#),
                    call("b", "secret", "{}"),
                    call("c", "nonexistent", "{}"),
                    call("d", "calculator", r#"{"expression":"1/0"}"#),
                    call("e", "text_stats", "not json"),
                    call("f", "text_stats", r#"{"text":"to be or not to be"}"#),
                ],
                StopReason::ToolUse,
            ),
            say("done"),
        ]);
        host.host_tools = vec![
            host_tool("read_file"),
            host_tool("secret"),
            host_tool("calculator"),
        ];
        assert_eq!(
            run_agent(&mut host, task("do things")).ok(),
            Some("done".into())
        );

        // Host tools after own ones; the host's "calculator" is shadowed by the plugin's.
        let setup = host.setup.as_ref().expect("a conversation");
        let names: Vec<&str> = setup.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["calculator", "text_stats", "read_file", "secret"]);
        assert!(
            setup
                .system
                .as_deref()
                .is_some_and(|s| s.contains("- read_file: host tool"))
        );

        let results = results(&host.sent()[1]);
        let summary: Vec<(&str, bool, &str)> = results
            .iter()
            .map(|r| (r.tool_use_id.as_str(), r.is_error, result_text(r)))
            .collect();
        assert_eq!(
            summary[0],
            ("a", false, r#"contents for {"path":"notes.txt"}"#)
        );
        assert_eq!(
            summary[1],
            ("b", true, "not-allowed: secret is not granted")
        );
        assert_eq!(
            summary[2],
            (
                "c",
                true,
                "unknown tool \"nonexistent\": it was not offered"
            )
        );
        assert_eq!(
            summary[3],
            ("d", true, "cannot evaluate \"1/0\": division by zero")
        );
        assert!(summary[4].1 && summary[4].2.starts_with("the input is not valid JSON"));
        assert!(!summary[5].1);
        let stats: serde_json::Value = serde_json::from_str(summary[5].2).expect("JSON");
        assert_eq!(stats["words"], 6);
        assert_eq!(
            host.tool_calls,
            [
                (
                    "read_file".to_string(),
                    r#"{"path":"notes.txt"}"#.to_string()
                ),
                ("secret".to_string(), "{}".to_string())
            ]
        );
    }

    #[test]
    fn stops_at_the_turn_limit() {
        let replies = (0..MAX_TURNS)
            .map(|i| {
                reply(
                    vec![call(
                        &format!("t{i}"),
                        "calculator",
                        r#"{"expression":"1+1"}"#,
                    )],
                    StopReason::ToolUse,
                )
            })
            .collect();
        let mut host = FakeHost::scripted(replies);
        assert!(matches!(
            run_agent(&mut host, task("loop forever")),
            Err(AgentError::TurnLimit(MAX_TURNS))
        ));
        assert_eq!(host.sent().len(), MAX_TURNS as usize);
    }

    #[test]
    fn chat_errors_end_the_run() {
        let mut host = FakeHost::scripted(vec![Err(ChatError::ChatLimitReached("3 of 3".into()))]);
        assert!(matches!(
            run_agent(&mut host, task("hi")),
            Err(AgentError::Chat(ChatError::ChatLimitReached(m))) if m == "3 of 3"
        ));
    }

    #[test]
    fn final_answers_and_failures() {
        let run = |r: Result<ChatResponse, ChatError>| {
            let mut host = FakeHost::scripted(vec![r]);
            run_agent(&mut host, task("task"))
        };
        let text = |t: &str| vec![ContentBlock::Text(t.to_string())];
        assert_eq!(
            run(reply(text(" cut off "), StopReason::MaxTokens)).ok(),
            Some("cut off".into())
        );
        assert_eq!(
            run(reply(text("x"), StopReason::StopSequence)).ok(),
            Some("x".into())
        );
        // tool-use without any tool call: the text is the answer.
        assert_eq!(
            run(reply(text("y"), StopReason::ToolUse)).ok(),
            Some("y".into())
        );
        assert!(matches!(
            run(reply(text("  "), StopReason::EndTurn)),
            Err(AgentError::Failed(m)) if m == "the model stopped (end-turn) without an answer"
        ));
        assert!(matches!(
            run(reply(text("no"), StopReason::GuardrailIntervened)),
            Err(AgentError::Failed(m)) if m == "the model stopped: guardrail-intervened (it said: no)"
        ));
        let mut host = FakeHost::default();
        assert!(matches!(
            run_agent(&mut host, task("  ")),
            Err(AgentError::Failed(_))
        ));
        assert!(host.setup.is_none());
    }

    #[test]
    fn turns_are_streamed_by_default() {
        let mut host = FakeHost::scripted(vec![
            reply(
                vec![
                    ContentBlock::Text("Let me compute that.".into()),
                    call("t1", "calculator", r#"{"expression":"6*7"}"#),
                ],
                StopReason::ToolUse,
            ),
            say("The answer is 42."),
        ]);
        assert_eq!(
            run_agent(&mut host, task("What is 6 * 7?")).ok(),
            Some("The answer is 42.".into())
        );
        assert_eq!(host.methods(), ["send-stream", "send-stream"]);
        assert_eq!(result_text(&results(&host.sent()[1])[0]), "42");
    }

    #[test]
    fn unsupported_streaming_falls_back_to_send_for_the_rest_of_the_run() {
        for mode in [Streaming::Unsupported, Streaming::UnsupportedFirstEvent] {
            let mut host = FakeHost::scripted(vec![
                reply(
                    vec![call("t1", "calculator", r#"{"expression":"6*7"}"#)],
                    StopReason::ToolUse,
                ),
                say("42"),
            ]);
            host.held.borrow_mut().streaming = mode;
            assert_eq!(
                run_agent(&mut host, task("6*7?")).ok(),
                Some("42".into()),
                "{mode:?}"
            );
            assert_eq!(host.methods(), ["send", "send"], "{mode:?}");
        }
    }

    #[test]
    fn stream_errors_end_the_run() {
        // An error mid-stream is a chat error (no fallback, even when it says unsupported).
        for error in [
            ChatError::Network("connection reset".into()),
            ChatError::Unsupported("late".into()),
        ] {
            let mut host = FakeHost::default();
            host.held.borrow_mut().streams = VecDeque::from([vec![
                Ok(StreamEvent::MessageStart),
                Ok(StreamEvent::TextDelta("partial".into())),
                Err(error.clone()),
            ]]);
            assert_eq!(
                run_agent(&mut host, task("hi")).err(),
                Some(AgentError::Chat(error))
            );
            assert_eq!(host.methods(), ["send-stream"]);
        }
        // Opening the stream can fail like send does.
        let mut host =
            FakeHost::scripted(vec![Err(ChatError::TokenBudgetExhausted("0 left".into()))]);
        assert_eq!(
            run_agent(&mut host, task("hi")).err(),
            Some(AgentError::Chat(ChatError::TokenBudgetExhausted(
                "0 left".into()
            )))
        );
        // A stream that ends without a stop reason is malformed.
        let mut host = FakeHost::default();
        host.held.borrow_mut().streams =
            VecDeque::from([vec![Ok(StreamEvent::TextDelta("cut".into()))]]);
        assert_eq!(
            run_agent(&mut host, task("hi")).err(),
            Some(AgentError::Failed(
                "malformed reply stream: the reply ended without a stop reason".into()
            ))
        );
    }

    #[test]
    fn usage_is_summed_over_turns() {
        let usage = |total, cached| Usage {
            input_tokens: total - 1,
            output_tokens: 1,
            total_tokens: total,
            cache_read_input_tokens: cached,
            cache_write_input_tokens: 0,
        };
        let with_usage = |r: Result<ChatResponse, ChatError>, total, cached| {
            r.map(|mut r| {
                r.usage = Some(usage(total, cached));
                r
            })
        };
        let mut host = FakeHost::scripted(vec![
            with_usage(
                reply(
                    vec![call("t1", "calculator", r#"{"expression":"1+1"}"#)],
                    StopReason::ToolUse,
                ),
                30,
                0,
            ),
            with_usage(say("2"), 12, 1500),
        ]);
        let mut session = Session {
            streaming: true,
            verbose: false,
            turns: 0,
            tokens: None,
            cached: 0,
        };
        assert_eq!(
            tool_loop(&mut host, task("1+1"), &mut session).ok(),
            Some("2".into())
        );
        assert_eq!(
            session.summary(),
            "agent: 2 model turns (streamed), 42 tokens (1500 read from the prompt cache)"
        );
        session.turns = 1;
        session.tokens = None;
        assert_eq!(session.summary(), "agent: 1 model turn (streamed)");
        // A turn that failed is not counted (the host reports the failure).
        let mut host =
            FakeHost::scripted(vec![Err(ChatError::TokenBudgetExhausted("0 left".into()))]);
        let mut session = Session {
            streaming: true,
            verbose: false,
            turns: 0,
            tokens: None,
            cached: 0,
        };
        assert!(tool_loop(&mut host, task("hi"), &mut session).is_err());
        assert_eq!(session.turns, 0);
    }

    #[test]
    fn thinks_when_the_model_can_and_keeps_attachments_first() {
        let thought = ContentBlock::Reasoning(Reasoning::Text(ReasoningText {
            text: "The user wants a product.\nStep two.".into(),
            signature: Some("sig".into()),
        }));
        let mut host = FakeHost::scripted(vec![reply(
            vec![thought, ContentBlock::Text("It is a PNG.".into())],
            StopReason::EndTurn,
        )]);
        host.model = Some(model(true, true));
        host.config = vec![("reasoning-budget", "2048")];
        let image = Image {
            format: ImageFormat::Png,
            data: vec![1, 2, 3],
        };
        let document = Document {
            format: DocumentFormat::Txt,
            name: "notes".into(),
            data: b"hello".to_vec(),
            citations: false,
        };
        let picture = Task {
            text: "What is this?".into(),
            attachments: vec![
                Attachment::Image(image.clone()),
                Attachment::Document(document.clone()),
            ],
        };
        assert_eq!(
            run_agent(&mut host, picture).ok(),
            Some("It is a PNG.".into())
        );
        let setup = host.setup.as_ref().expect("a conversation");
        assert_eq!(setup.options.reasoning, Some(ReasoningConfig::Budget(2048)));
        assert_eq!(
            setup.inference_config.as_ref().and_then(|c| c.max_tokens),
            Some(2048 + 4096)
        );
        assert_eq!(
            host.sent()[0][0].content,
            [
                ContentBlock::Image(image),
                ContentBlock::Document(document),
                ContentBlock::Text("What is this?".into())
            ]
        );
        assert_eq!(first_line("  a\nb", 10), "a");
        assert_eq!(first_line("abcdef", 3), "abc…");

        // Images refused for a model that cannot see, before anything starts.
        let mut host = FakeHost::scripted(vec![say("ok")]);
        host.model = Some(model(true, false));
        let image_task = Task {
            text: "look".into(),
            attachments: vec![Attachment::Image(Image {
                format: ImageFormat::Png,
                data: vec![1],
            })],
        };
        assert!(matches!(
            run_agent(&mut host, image_task),
            Err(AgentError::Failed(m)) if m == "Test Model does not read images"
        ));
        assert!(host.setup.is_none());
        // Thinking off by configuration.
        host.config = vec![("reasoning-budget", "0")];
        assert_eq!(run_agent(&mut host, task("hi")).ok(), Some("ok".into()));
        assert!(
            host.setup
                .as_ref()
                .is_some_and(|s| s.options.reasoning.is_none())
        );
    }
}
