//! The example gamecode agent plugin.
//!
//! A WASI component (world `gamecode:plugin/plugin@0.1.0`) that answers a task with a tool
//! loop: it offers the model its own tools — [`calculator`] and [`text_stats`], which run here,
//! inside the sandbox — plus every tool the host offers, runs the calls the model makes, sends
//! the results back (failures flagged `is-error`) and stops at the model's final answer or
//! after [`MAX_TURNS`] model turns. Every turn is streamed (`chat.chat-stream`, assembled by
//! [`stream::Assembler`]); a host that answers `unsupported` gets one-shot `chat.chat` calls for
//! the rest of the run.
//!
//! The loop is written against the small [`Host`] trait: the plugin implements it with the WIT
//! imports, the unit tests with a scripted fake, so everything except the import calls
//! themselves is tested natively (`cargo test`).

mod calculator;
mod stream;
mod text_stats;
mod tools;

wit_bindgen::generate!({
    path: "../wit/v0.1.0",
    world: "plugin",
    // For the tests' assertions; unused impls cost nothing in the component.
    additional_derives: [PartialEq],
});

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::chat::ReplyStream;
use gamecode::plugin::types::{
    AgentError, ChatError, ChatRequest, ChatResponse, ContentBlock, Message, Role, StopReason,
    StreamEvent, ToolCall, ToolError, ToolSpec,
};
use stream::{Assembler, Reply};

/// The most model turns (chat calls) one run makes.
pub const MAX_TURNS: u32 = 8;

/// What the agent loop needs from the host.
pub(crate) trait Host {
    /// A streamed reply.
    type Stream: EventStream;
    /// One chat call, answered whole.
    fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, ChatError>;
    /// One chat call, answered as a stream of events.
    fn chat_stream(&mut self, request: &ChatRequest) -> Result<Self::Stream, ChatError>;
    /// The host tools this plugin may offer the model.
    fn list_tools(&mut self) -> Vec<ToolSpec>;
    /// Calls a host tool.
    fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError>;
}

/// A streamed reply: events until `None`. Dropping it cancels the request.
pub(crate) trait EventStream {
    fn next_event(&mut self) -> Result<Option<StreamEvent>, ChatError>;
}

/// The real host, through the WIT imports.
struct Imports;

impl Host for Imports {
    type Stream = ReplyStream;

    fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        gamecode::plugin::chat::chat(request)
    }

    fn chat_stream(&mut self, request: &ChatRequest) -> Result<ReplyStream, ChatError> {
        gamecode::plugin::chat::chat_stream(request)
    }

    fn list_tools(&mut self) -> Vec<ToolSpec> {
        gamecode::plugin::tools::list_tools()
    }

    fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError> {
        gamecode::plugin::tools::call_tool(name, input)
    }
}

impl EventStream for ReplyStream {
    fn next_event(&mut self) -> Result<Option<StreamEvent>, ChatError> {
        ReplyStream::next(self)
    }
}

struct Agent;

impl Guest for Agent {
    fn run(task: String) -> Result<String, AgentError> {
        run_agent(&mut Imports, &task)
    }
}

export!(Agent);

/// How the run talks to the model, and what it has used so far.
struct Session {
    /// Cleared for the rest of the run once the host answers `chat-stream` with `unsupported`.
    streaming: bool,
    turns: u32,
    /// Total tokens of the turns that reported usage; `None` if none did.
    tokens: Option<u32>,
}

impl Session {
    /// One model turn: streamed while the host streams, one-shot after it said it cannot.
    fn ask(&mut self, host: &mut impl Host, request: &ChatRequest) -> Result<Reply, AgentError> {
        self.turns += 1;
        let streamed = if self.streaming {
            streamed_turn(host, request)?
        } else {
            None
        };
        let reply = match streamed {
            Some(reply) => reply,
            None => {
                self.streaming = false;
                host.chat(request).map_err(AgentError::Chat)?.into()
            }
        };
        if let Some(usage) = &reply.usage {
            self.tokens = Some(self.tokens.unwrap_or(0).saturating_add(usage.total_tokens));
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
        }
        line
    }
}

/// Pulls one streamed reply to its end and assembles it; `Ok(None)` if the host does not
/// stream (`unsupported` when opening the stream or as its first event).
fn streamed_turn(host: &mut impl Host, request: &ChatRequest) -> Result<Option<Reply>, AgentError> {
    let unsupported = |reason: &str| {
        eprintln!("chat-stream is unsupported ({reason}); using chat for the rest of the run");
    };
    let mut stream = match host.chat_stream(request) {
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
fn run_agent(host: &mut impl Host, task: &str) -> Result<String, AgentError> {
    if task.trim().is_empty() {
        return Err(AgentError::Failed("the task is empty".to_string()));
    }
    let mut session = Session {
        streaming: true,
        turns: 0,
        tokens: None,
    };
    let outcome = tool_loop(host, task, &mut session);
    if session.turns > 0 {
        eprintln!("{}", session.summary());
    }
    outcome
}

/// The tool loop proper.
fn tool_loop(
    host: &mut impl Host,
    task: &str,
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

    let mut request = ChatRequest {
        messages: vec![
            text_message(Role::System, system_prompt(&specs)),
            text_message(Role::User, task.to_string()),
        ],
        model: None,
        tools: specs,
        tool_choice: None,
        inference_config: None,
    };

    for turn in 1..=MAX_TURNS {
        let reply = session.ask(host, &request)?;
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
        request.messages.push(reply.message);

        match reply.stop_reason {
            StopReason::ToolUse if !calls.is_empty() => {
                if turn == MAX_TURNS {
                    // No turn left to show the model the results.
                    break;
                }
                let results = calls
                    .iter()
                    .map(|call| ContentBlock::ToolResult(tools::execute(host, call, &host_tools)))
                    .collect();
                request.messages.push(Message {
                    role: Role::User,
                    content: results,
                });
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

fn text_message(role: Role, text: String) -> Message {
    Message {
        role,
        content: vec![ContentBlock::Text(text)],
    }
}

/// The message's text blocks, joined by newlines and trimmed.
fn message_text(message: &Message) -> String {
    let parts: Vec<&str> = message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(t) if !t.trim().is_empty() => Some(t.trim()),
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
    use gamecode::plugin::types::{ToolResult, ToolResultContent, ToolUseStart, Usage};
    use std::collections::VecDeque;

    /// How the fake host answers `chat-stream`.
    #[derive(Default, Clone, Copy, PartialEq, Debug)]
    enum Streaming {
        /// Streams each scripted reply as events (split into small deltas).
        #[default]
        Events,
        /// `chat-stream` itself returns `unsupported`.
        Unsupported,
        /// The stream opens, and its first event is an `unsupported` error.
        UnsupportedFirstEvent,
    }

    /// A scripted host: replies in order (streamed or whole), a fixed tool list, recorded calls.
    #[derive(Default)]
    struct FakeHost {
        replies: VecDeque<Result<ChatResponse, ChatError>>,
        /// Raw event scripts, used by `chat-stream` before `replies`.
        streams: VecDeque<Vec<Result<StreamEvent, ChatError>>>,
        streaming: Streaming,
        host_tools: Vec<ToolSpec>,
        requests: Vec<ChatRequest>,
        /// "chat" or "chat-stream", per request.
        methods: Vec<&'static str>,
        tool_calls: Vec<(String, String)>,
    }

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
                ContentBlock::ToolResult(_) => panic!("no tool results in assistant messages"),
            }
        }
        events.push(StreamEvent::MessageStop(response.stop_reason));
        events.extend(response.usage.map(StreamEvent::Metadata));
        events.into_iter().map(Ok).collect()
    }

    impl Host for FakeHost {
        type Stream = FakeStream;

        fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
            self.requests.push(request.clone());
            self.methods.push("chat");
            self.replies
                .pop_front()
                .expect("the test scripted too few replies")
        }

        fn chat_stream(&mut self, request: &ChatRequest) -> Result<FakeStream, ChatError> {
            match self.streaming {
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
            self.requests.push(request.clone());
            self.methods.push("chat-stream");
            if let Some(events) = self.streams.pop_front() {
                return Ok(FakeStream(events.into()));
            }
            let reply = self
                .replies
                .pop_front()
                .expect("the test scripted too few replies")?;
            Ok(FakeStream(events_of(reply).into()))
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

    /// The tool results in the last message of a request.
    fn results(request: &ChatRequest) -> Vec<ToolResult> {
        let last = request.messages.last().expect("messages");
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

    #[test]
    fn calculator_round_trip() {
        let mut host = FakeHost {
            replies: VecDeque::from([
                reply(
                    vec![
                        ContentBlock::Text("I'll use the calculator.".into()),
                        call("t1", "calculator", r#"{"expression":"6 * 7"}"#),
                    ],
                    StopReason::ToolUse,
                ),
                say("6 times 7 is 42."),
            ]),
            ..FakeHost::default()
        };
        assert_eq!(
            run_agent(&mut host, "What is 6 * 7?").ok(),
            Some("6 times 7 is 42.".into())
        );
        assert_eq!(host.requests.len(), 2);

        // First request: system prompt, then the task; own tools offered.
        let first = &host.requests[0];
        assert_eq!(first.messages.len(), 2);
        assert_eq!(first.messages[0].role, Role::System);
        assert!(message_text(&first.messages[0]).contains("calculator"));
        assert_eq!(first.messages[1].role, Role::User);
        assert_eq!(message_text(&first.messages[1]), "What is 6 * 7?");
        let names: Vec<&str> = first.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["calculator", "text_stats"]);

        // Second request: the assistant turn, then the result.
        let second = &host.requests[1];
        assert_eq!(second.messages.len(), 4);
        assert_eq!(second.messages[2].role, Role::Assistant);
        let results = results(second);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].tool_use_id, "t1");
        assert!(!results[0].is_error);
        assert_eq!(result_text(&results[0]), "42");
        assert!(host.tool_calls.is_empty());
    }

    #[test]
    fn every_call_of_a_turn_is_answered_in_one_message_with_failures_flagged() {
        let mut host = FakeHost {
            host_tools: vec![
                host_tool("read_file"),
                host_tool("secret"),
                host_tool("calculator"),
            ],
            replies: VecDeque::from([
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
            ]),
            ..FakeHost::default()
        };
        assert_eq!(run_agent(&mut host, "do things").ok(), Some("done".into()));

        // Host tools after own ones; the host's "calculator" is shadowed by the plugin's.
        let names: Vec<&str> = host.requests[0]
            .tools
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["calculator", "text_stats", "read_file", "secret"]);
        assert!(message_text(&host.requests[0].messages[0]).contains("- read_file: host tool"));

        let results = results(&host.requests[1]);
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
        let mut host = FakeHost {
            replies,
            ..FakeHost::default()
        };
        assert!(matches!(
            run_agent(&mut host, "loop forever"),
            Err(AgentError::TurnLimit(MAX_TURNS))
        ));
        assert_eq!(host.requests.len(), MAX_TURNS as usize);
    }

    #[test]
    fn chat_errors_end_the_run() {
        let mut host = FakeHost {
            replies: VecDeque::from([Err(ChatError::ChatLimitReached("3 of 3".into()))]),
            ..FakeHost::default()
        };
        assert!(matches!(
            run_agent(&mut host, "hi"),
            Err(AgentError::Chat(ChatError::ChatLimitReached(m))) if m == "3 of 3"
        ));
    }

    #[test]
    fn final_answers_and_failures() {
        let run = |r: Result<ChatResponse, ChatError>| {
            let mut host = FakeHost {
                replies: VecDeque::from([r]),
                ..FakeHost::default()
            };
            run_agent(&mut host, "task")
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
            run_agent(&mut host, "  "),
            Err(AgentError::Failed(_))
        ));
        assert!(host.requests.is_empty());
    }

    #[test]
    fn turns_are_streamed_by_default() {
        let mut host = FakeHost {
            replies: VecDeque::from([
                reply(
                    vec![
                        ContentBlock::Text("Let me compute that.".into()),
                        call("t1", "calculator", r#"{"expression":"6*7"}"#),
                    ],
                    StopReason::ToolUse,
                ),
                say("The answer is 42."),
            ]),
            ..FakeHost::default()
        };
        assert_eq!(
            run_agent(&mut host, "What is 6 * 7?").ok(),
            Some("The answer is 42.".into())
        );
        assert_eq!(host.methods, ["chat-stream", "chat-stream"]);
        // The assembled assistant turn went back to the model intact.
        let assistant = &host.requests[1].messages[2];
        assert_eq!(assistant.role, Role::Assistant);
        assert_eq!(
            assistant.content,
            [
                ContentBlock::Text("Let me compute that.".into()),
                call("t1", "calculator", r#"{"expression":"6*7"}"#)
            ]
        );
        assert_eq!(result_text(&results(&host.requests[1])[0]), "42");
    }

    #[test]
    fn unsupported_streaming_falls_back_to_chat_for_the_rest_of_the_run() {
        for mode in [Streaming::Unsupported, Streaming::UnsupportedFirstEvent] {
            let mut host = FakeHost {
                streaming: mode,
                replies: VecDeque::from([
                    reply(
                        vec![call("t1", "calculator", r#"{"expression":"6*7"}"#)],
                        StopReason::ToolUse,
                    ),
                    say("42"),
                ]),
                ..FakeHost::default()
            };
            assert_eq!(
                run_agent(&mut host, "6*7?").ok(),
                Some("42".into()),
                "{mode:?}"
            );
            assert_eq!(host.methods, ["chat", "chat"], "{mode:?}");
            let session_line = Session {
                streaming: false,
                turns: 2,
                tokens: None,
            }
            .summary();
            assert_eq!(session_line, "agent: 2 model turns (not streamed)");
        }
    }

    #[test]
    fn stream_errors_end_the_run() {
        // An error mid-stream is a chat error (no fallback, even when it says unsupported).
        for error in [
            ChatError::Network("connection reset".into()),
            ChatError::Unsupported("late".into()),
        ] {
            let mut host = FakeHost {
                streams: VecDeque::from([vec![
                    Ok(StreamEvent::MessageStart),
                    Ok(StreamEvent::TextDelta("partial".into())),
                    Err(error.clone()),
                ]]),
                ..FakeHost::default()
            };
            assert_eq!(
                run_agent(&mut host, "hi").err(),
                Some(AgentError::Chat(error))
            );
            assert_eq!(host.methods, ["chat-stream"]);
        }
        // Opening the stream can fail like chat does.
        let mut host = FakeHost {
            replies: VecDeque::from([Err(ChatError::TokenBudgetExhausted("0 left".into()))]),
            ..FakeHost::default()
        };
        assert_eq!(
            run_agent(&mut host, "hi").err(),
            Some(AgentError::Chat(ChatError::TokenBudgetExhausted(
                "0 left".into()
            )))
        );
        // A stream that ends without a stop reason is malformed.
        let mut host = FakeHost {
            streams: VecDeque::from([vec![Ok(StreamEvent::TextDelta("cut".into()))]]),
            ..FakeHost::default()
        };
        assert_eq!(
            run_agent(&mut host, "hi").err(),
            Some(AgentError::Failed(
                "malformed reply stream: the reply ended without a stop reason".into()
            ))
        );
    }

    #[test]
    fn usage_is_summed_over_turns() {
        let usage = |total| Usage {
            input_tokens: total - 1,
            output_tokens: 1,
            total_tokens: total,
        };
        let with_usage = |r: Result<ChatResponse, ChatError>, total| {
            r.map(|mut r| {
                r.usage = Some(usage(total));
                r
            })
        };
        let mut host = FakeHost {
            replies: VecDeque::from([
                with_usage(
                    reply(
                        vec![call("t1", "calculator", r#"{"expression":"1+1"}"#)],
                        StopReason::ToolUse,
                    ),
                    30,
                ),
                with_usage(say("2"), 12),
            ]),
            ..FakeHost::default()
        };
        let mut session = Session {
            streaming: true,
            turns: 0,
            tokens: None,
        };
        assert_eq!(
            tool_loop(&mut host, "1+1", &mut session).ok(),
            Some("2".into())
        );
        assert_eq!(
            session.summary(),
            "agent: 2 model turns (streamed), 42 tokens"
        );
        session.turns = 1;
        session.tokens = None;
        assert_eq!(session.summary(), "agent: 1 model turn (streamed)");
    }
}
