//! `gamecode:plugin@0.1.0`: bindings and the thin host implementation.
//!
//! Thin on purpose: each import measures the guest's request, has the policy layer in
//! [`crate::run`] admit it, and only then converts WIT types to `gamecode-backend` types (JSON
//! text is parsed here, through the run's [`JsonCache`], within what the request may still
//! hold; a parse error is the guest's `validation` error, never a panic), opens a tracing span,
//! and delegates. No policy decision is made here: every check happens before any expensive
//! work.

use gamecode_backend as b;
use tracing::Instrument;
use wasmtime::component::{HasSelf, Linker, Resource};

use crate::policy::ChatAsk;
pub use crate::run::ReplyStreamState;
use crate::run::{ChatFailure, RunState, next_stream_item};
use crate::wit::json_cache::{JsonBudget, JsonCache, JsonError};

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit/v0.1.0",
    // Every import is async (model calls take seconds; the fiber yields meanwhile) and may
    // trap (resource-table errors are host bugs or guest misuse of handles, not chat errors).
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "gamecode:plugin/chat.reply-stream": ReplyStreamState,
    },
});

use exports::gamecode::plugin::agent::AgentError as WitAgentError;
use gamecode::plugin::types as t;

pub(crate) use self::Plugin as Bindings;
pub(crate) use self::PluginPre as BindingsPre;

/// A linker with WASI 0.2 (sandboxed by the store's `WasiCtx`) and this version's imports.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<RunState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Bindings::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |state| state)?;
    Ok(linker)
}

// ---- guest → backend ----

/// Parses guest JSON text within `budget`; `what` names it in the error (built only on
/// failure: this runs for every schema and tool input of every call).
fn parse_json(
    json: &mut JsonCache,
    budget: &mut JsonBudget,
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<serde_json::Value, Unbuilt> {
    json.parse(text, budget).map_err(|e| match e {
        JsonError::TooLarge { items } => Unbuilt::TooLarge { items },
        e => Unbuilt::Invalid(format!("{} is not valid JSON: {e}", what())),
    })
}

/// Why a request admitted by the policy could not be built.
#[derive(Debug)]
enum Unbuilt {
    Invalid(String),
    /// A JSON text holds more values (`items`) than the request had left.
    TooLarge {
        items: usize,
    },
}

/// What the policy sees of a request before anything is built from it: the bytes of its
/// strings and its structure, one walk over what wasmtime lifted.
fn measure(request: &t::ChatRequest, streaming: bool) -> ChatAsk<'_> {
    let items = request.messages.len()
        + request
            .messages
            .iter()
            .flat_map(|m| m.content.iter())
            .map(|b| match b {
                t::ContentBlock::ToolResult(r) => 1 + r.content.len(),
                _ => 1,
            })
            .sum::<usize>()
        + request.tools.len()
        + request
            .inference_config
            .as_ref()
            .map_or(0, |c| c.stop_sequences.len());
    ChatAsk {
        model: request.model.as_deref(),
        bytes: payload_bytes(request),
        items,
        max_tokens: request.inference_config.as_ref().and_then(|c| c.max_tokens),
        streaming,
    }
}

/// The request's size as the policy counts it: the bytes of every string the guest sent
/// (text, ids, names, JSON texts, tool specs, model, stop sequences). It is independent of
/// how the guest's language laid the request out, and costs a walk, not a serialization.
fn payload_bytes(request: &t::ChatRequest) -> usize {
    let block = |b: &t::ContentBlock| match b {
        t::ContentBlock::Text(text) => text.len(),
        t::ContentBlock::ToolUse(c) => c.id.len() + c.name.len() + c.input.len(),
        t::ContentBlock::ToolResult(r) => {
            r.tool_use_id.len()
                + r.content
                    .iter()
                    .map(|c| match c {
                        t::ToolResultContent::Text(s) | t::ToolResultContent::Json(s) => s.len(),
                    })
                    .sum::<usize>()
        }
    };
    let messages: usize = request
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(block)
        .sum();
    let tools: usize = request
        .tools
        .iter()
        .map(|s| s.name.len() + s.description.len() + s.input_schema.len())
        .sum();
    let choice = match &request.tool_choice {
        Some(t::ToolChoice::Tool(name)) => name.len(),
        _ => 0,
    };
    let stops: usize = request
        .inference_config
        .iter()
        .flat_map(|c| c.stop_sequences.iter())
        .map(String::len)
        .sum();
    messages + tools + choice + stops + request.model.as_ref().map_or(0, String::len)
}

fn role_in(role: t::Role) -> b::MessageRole {
    match role {
        t::Role::System => b::MessageRole::System,
        t::Role::User => b::MessageRole::User,
        t::Role::Assistant => b::MessageRole::Assistant,
    }
}

fn block_in(
    json: &mut JsonCache,
    budget: &mut JsonBudget,
    index: usize,
    block: t::ContentBlock,
) -> Result<b::ContentBlock, Unbuilt> {
    Ok(match block {
        t::ContentBlock::Text(text) => b::ContentBlock::Text { text },
        t::ContentBlock::ToolUse(call) => {
            let input = parse_json(json, budget, &call.input, || {
                format!(
                    "message {index}: the input of tool call `{}`",
                    crate::text::echo(&call.name)
                )
            })?;
            b::ContentBlock::ToolUse(b::ToolCall {
                id: call.id,
                name: call.name,
                input,
            })
        }
        t::ContentBlock::ToolResult(result) => {
            let content = result
                .content
                .into_iter()
                .map(|c| match c {
                    t::ToolResultContent::Text(text) => Ok(b::ToolResultContent::Text(text)),
                    t::ToolResultContent::Json(text) => parse_json(json, budget, &text, || {
                        format!(
                            "message {index}: the JSON result for tool call `{}`",
                            crate::text::echo(&result.tool_use_id)
                        )
                    })
                    .map(b::ToolResultContent::Json),
                })
                .collect::<Result<_, _>>()?;
            b::ContentBlock::ToolResult(b::ToolResult {
                tool_use_id: result.tool_use_id,
                content,
                is_error: result.is_error,
            })
        }
    })
}

fn request_in(
    json: &mut JsonCache,
    budget: &mut JsonBudget,
    request: t::ChatRequest,
) -> Result<b::ChatRequest, Unbuilt> {
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(b::Message {
                role: role_in(m.role),
                content: m
                    .content
                    .into_iter()
                    .map(|block| block_in(json, budget, i, block))
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect::<Result<_, _>>()?;
    let tools = request
        .tools
        .into_iter()
        .map(|spec| {
            let input_schema = parse_json(json, budget, &spec.input_schema, || {
                format!(
                    "the input schema of tool `{}`",
                    crate::text::echo(&spec.name)
                )
            })?;
            Ok(b::Tool {
                name: spec.name,
                description: spec.description,
                input_schema,
            })
        })
        .collect::<Result<Vec<_>, Unbuilt>>()?;
    Ok(b::ChatRequest {
        messages,
        model: request.model,
        tools: (!tools.is_empty()).then_some(tools),
        inference_config: request.inference_config.map(|c| b::InferenceConfig {
            temperature: c.temperature,
            top_p: c.top_p,
            max_tokens: c.max_tokens,
            stop_sequences: c.stop_sequences,
        }),
        session_id: None,
        tool_choice: request.tool_choice.map(|c| match c {
            t::ToolChoice::Auto => b::ToolChoice::Auto,
            t::ToolChoice::Any => b::ToolChoice::Any,
            t::ToolChoice::Tool(name) => b::ToolChoice::Tool(name),
        }),
        options: b::ChatOptions::default(),
    })
}

// ---- backend → guest ----

fn role_out(role: b::MessageRole) -> t::Role {
    match role {
        b::MessageRole::System => t::Role::System,
        b::MessageRole::User => t::Role::User,
        b::MessageRole::Assistant => t::Role::Assistant,
    }
}

fn call_out(call: b::ToolCall) -> t::ToolCall {
    t::ToolCall {
        id: call.id,
        name: call.name,
        input: call.input.to_string(),
    }
}

fn message_out(message: b::Message) -> t::Message {
    t::Message {
        role: role_out(message.role),
        content: message
            .content
            .into_iter()
            // Cache points are not content, and this version cannot carry reasoning back (it
            // never asks for it): nothing for the plugin to see.
            .filter(|block| {
                !matches!(
                    block,
                    b::ContentBlock::CachePoint(_) | b::ContentBlock::Reasoning(_)
                )
            })
            .map(|block| match block {
                b::ContentBlock::Text { text } => t::ContentBlock::Text(text),
                // This version has no citations: the text alone.
                b::ContentBlock::Cited(c) => t::ContentBlock::Text(c.text),
                b::ContentBlock::ToolUse(call) => t::ContentBlock::ToolUse(call_out(call)),
                // This WIT version has no media: the plugin learns one was there.
                b::ContentBlock::Image(i) => t::ContentBlock::Text(media_placeholder(
                    "image",
                    i.format.as_str(),
                    i.bytes.len(),
                )),
                b::ContentBlock::Document(d) => t::ContentBlock::Text(media_placeholder(
                    "document",
                    d.format.as_str(),
                    d.bytes.len(),
                )),
                b::ContentBlock::CachePoint(_) | b::ContentBlock::Reasoning(_) => {
                    t::ContentBlock::Text(String::new())
                }
                b::ContentBlock::ToolResult(r) => t::ContentBlock::ToolResult(t::ToolResult {
                    tool_use_id: r.tool_use_id,
                    content: r
                        .content
                        .into_iter()
                        .map(|c| match c {
                            b::ToolResultContent::Text(s) => t::ToolResultContent::Text(s),
                            b::ToolResultContent::Json(v) => {
                                t::ToolResultContent::Json(v.to_string())
                            }
                            b::ToolResultContent::Image(i) => t::ToolResultContent::Text(
                                media_placeholder("image", i.format.as_str(), i.bytes.len()),
                            ),
                            b::ToolResultContent::Document(d) => t::ToolResultContent::Text(
                                media_placeholder("document", d.format.as_str(), d.bytes.len()),
                            ),
                        })
                        .collect(),
                    is_error: r.is_error,
                }),
            })
            .collect(),
    }
}

/// What a 0.1.0 plugin sees of an image or document (its WIT has no media).
fn media_placeholder(kind: &str, format: &str, bytes: usize) -> String {
    format!("[{kind}: {format}, {bytes} bytes]")
}

fn stop_reason_out(reason: b::StopReason) -> t::StopReason {
    match reason {
        b::StopReason::EndTurn => t::StopReason::EndTurn,
        b::StopReason::ToolUse => t::StopReason::ToolUse,
        b::StopReason::MaxTokens => t::StopReason::MaxTokens,
        b::StopReason::StopSequence => t::StopReason::StopSequence,
        b::StopReason::GuardrailIntervened => t::StopReason::GuardrailIntervened,
        b::StopReason::ContentFiltered => t::StopReason::ContentFiltered,
        b::StopReason::MalformedModelOutput => t::StopReason::MalformedModelOutput,
        b::StopReason::MalformedToolUse => t::StopReason::MalformedToolUse,
        b::StopReason::ModelContextWindowExceeded => t::StopReason::ModelContextWindowExceeded,
        b::StopReason::Other(s) => t::StopReason::Other(s),
    }
}

fn usage_out(u: b::Usage) -> t::Usage {
    t::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        total_tokens: u.total_tokens,
    }
}

fn response_out(r: b::ChatResponse) -> t::ChatResponse {
    t::ChatResponse {
        message: message_out(r.message),
        model: r.model,
        stop_reason: stop_reason_out(r.stop_reason),
        usage: r.usage.map(usage_out),
    }
}

/// The guest's view of a failed chat call.
fn failure_out(failure: ChatFailure) -> t::ChatError {
    use crate::policy::ViolationKind as K;
    match failure {
        ChatFailure::Policy(v) => match v.kind {
            K::ChatLimit => t::ChatError::ChatLimitReached(v.message),
            K::TokenBudget => t::ChatError::TokenBudgetExhausted(v.message),
            K::ModelNotAllowed => t::ChatError::ModelNotAllowed(v.message),
            K::RequestTooLarge => t::ChatError::RequestTooLarge(v.message),
            // Not produced by chat admission; kept total rather than panicking.
            K::ToolNotAllowed => t::ChatError::Validation(v.message),
        },
        ChatFailure::Invalid(m) => t::ChatError::Validation(m),
        ChatFailure::Backend(e) => {
            let message = e.message().to_string();
            match e {
                b::BackendError::RateLimited { .. } => t::ChatError::RateLimited(message),
                b::BackendError::Validation { .. } => t::ChatError::Validation(message),
                b::BackendError::Authentication { .. } => t::ChatError::Authentication(message),
                b::BackendError::Network { .. } => t::ChatError::Network(message),
                b::BackendError::Provider { .. } => t::ChatError::Provider(message),
                b::BackendError::Unsupported { .. } => t::ChatError::Unsupported(message),
            }
        }
    }
}

/// A stream event for the guest; `None` for events this WIT version does not carry.
fn event_out(event: b::StreamEvent) -> Option<t::StreamEvent> {
    Some(match event {
        b::StreamEvent::MessageStart { .. } => t::StreamEvent::MessageStart,
        b::StreamEvent::TextDelta { text, .. } => t::StreamEvent::TextDelta(text),
        b::StreamEvent::ToolUseStart { id, name, .. } => {
            t::StreamEvent::ToolUseStart(t::ToolUseStart { id, name })
        }
        b::StreamEvent::ToolUseInputDelta { fragment, .. } => {
            t::StreamEvent::ToolUseInputDelta(fragment)
        }
        b::StreamEvent::ToolUseStop { call, .. } => t::StreamEvent::ToolUseStop(call_out(call)),
        b::StreamEvent::ContentBlockStop { .. }
        | b::StreamEvent::ReasoningDelta { .. }
        | b::StreamEvent::ReasoningSignature { .. }
        | b::StreamEvent::RedactedReasoning { .. }
        | b::StreamEvent::Citation { .. } => return None,
        b::StreamEvent::MessageStop { stop_reason } => {
            t::StreamEvent::MessageStop(stop_reason_out(stop_reason))
        }
        b::StreamEvent::Metadata { usage } => t::StreamEvent::Metadata(usage_out(usage)),
    })
}

/// Converts the guest's final error into the host's types. Its messages are the guest's
/// own words, of any length: kept to [`MESSAGE_MAX_BYTES`](crate::text::MESSAGE_MAX_BYTES).
pub(crate) fn agent_error_in(e: WitAgentError) -> crate::error::AgentError {
    use crate::error::{AgentError, ChatErrorKind as K, GuestChatError};
    use crate::text::{MESSAGE_MAX_BYTES, truncate};
    use crate::tools::ToolError;
    let cut = |m: String| truncate(m, MESSAGE_MAX_BYTES);
    match e {
        WitAgentError::Chat(c) => {
            let (kind, message) = match c {
                t::ChatError::RateLimited(m) => (K::RateLimited, m),
                t::ChatError::Validation(m) => (K::Validation, m),
                t::ChatError::Authentication(m) => (K::Authentication, m),
                t::ChatError::Network(m) => (K::Network, m),
                t::ChatError::Provider(m) => (K::Provider, m),
                t::ChatError::Unsupported(m) => (K::Unsupported, m),
                t::ChatError::ChatLimitReached(m) => (K::ChatLimitReached, m),
                t::ChatError::TokenBudgetExhausted(m) => (K::TokenBudgetExhausted, m),
                t::ChatError::ModelNotAllowed(m) => (K::ModelNotAllowed, m),
                t::ChatError::RequestTooLarge(m) => (K::RequestTooLarge, m),
            };
            AgentError::Chat(GuestChatError {
                kind,
                message: cut(message),
            })
        }
        WitAgentError::Tool(te) => AgentError::Tool(match te {
            t::ToolError::NotFound(m) => ToolError::NotFound(cut(m)),
            t::ToolError::NotAllowed(m) => ToolError::NotAllowed(cut(m)),
            t::ToolError::InvalidInput(m) => ToolError::InvalidInput(cut(m)),
            t::ToolError::Failed(m) => ToolError::Failed(cut(m)),
        }),
        WitAgentError::TurnLimit(n) => AgentError::TurnLimit(n),
        WitAgentError::Failed(m) => AgentError::Failed(cut(m)),
    }
}

fn tool_error_out(e: crate::tools::ToolError) -> t::ToolError {
    use crate::tools::ToolError as E;
    match e {
        E::NotFound(m) => t::ToolError::NotFound(m),
        E::NotAllowed(m) => t::ToolError::NotAllowed(m),
        E::InvalidInput(m) => t::ToolError::InvalidInput(m),
        E::Failed(m) => t::ToolError::Failed(m),
    }
}

// ---- the host implementation ----

impl RunState {
    /// The policy admits the request as measured; only then is it built (and its JSON
    /// parsed, within what it may still hold).
    fn admit_and_build(
        &mut self,
        request: t::ChatRequest,
        streaming: bool,
    ) -> Result<(crate::policy::Grant, b::ChatRequest), ChatFailure> {
        let ask = measure(&request, streaming);
        let items = ask.items;
        let grant = self.admit(&ask)?;
        let max = self.policy.max_request_items;
        let mut budget = JsonBudget {
            items_left: max.saturating_sub(items),
        };
        match request_in(&mut self.json, &mut budget, request) {
            Ok(request) => Ok((grant, request)),
            Err(Unbuilt::Invalid(m)) => Err(self.unbuilt(grant, ChatFailure::Invalid(m))),
            Err(Unbuilt::TooLarge { items }) => {
                let seen = max - budget.items_left + items;
                let v = crate::policy::too_many_items(seen, max, true);
                Err(self.unbuilt(grant, ChatFailure::Policy(v)))
            }
        }
    }
}

impl t::Host for RunState {}

impl gamecode::plugin::chat::Host for RunState {
    async fn chat(
        &mut self,
        request: t::ChatRequest,
    ) -> wasmtime::Result<Result<t::ChatResponse, t::ChatError>> {
        let span = tracing::info_span!(
            "gamecode.chat",
            plugin = %self.plugin,
            model = crate::text::echo(request.model.as_deref().unwrap_or("(default)")),
            messages = request.messages.len(),
            tools = request.tools.len(),
        );
        let (grant, request) = match self.admit_and_build(request, false) {
            Ok(admitted) => admitted,
            Err(f) => return Ok(Err(failure_out(f))),
        };
        Ok(RunState::chat(self, grant, request)
            .instrument(span)
            .await
            .map(response_out)
            .map_err(failure_out))
    }

    async fn chat_stream(
        &mut self,
        request: t::ChatRequest,
    ) -> wasmtime::Result<Result<Resource<ReplyStreamState>, t::ChatError>> {
        let span = tracing::info_span!(
            "gamecode.chat_stream",
            plugin = %self.plugin,
            model = crate::text::echo(request.model.as_deref().unwrap_or("(default)")),
        );
        let (grant, request) = match self.admit_and_build(request, true) {
            Ok(admitted) => admitted,
            Err(f) => return Ok(Err(failure_out(f))),
        };
        match RunState::chat_stream(self, grant, request)
            .instrument(span)
            .await
        {
            Ok(stream) => Ok(Ok(self.table.push(stream)?)),
            Err(f) => Ok(Err(failure_out(f))),
        }
    }

    async fn default_model(&mut self) -> wasmtime::Result<String> {
        Ok(RunState::default_model(self))
    }

    async fn models(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(RunState::models(self))
    }
}

impl gamecode::plugin::chat::HostReplyStream for RunState {
    async fn next(
        &mut self,
        stream: Resource<ReplyStreamState>,
    ) -> wasmtime::Result<Result<Option<t::StreamEvent>, t::ChatError>> {
        loop {
            let state = self.table.get_mut(&stream)?;
            let attempts = state.meta.attempts.clone();
            self.model_wait = Some(attempts);
            let state = self.table.get_mut(&stream)?;
            let item = next_stream_item(state).await;
            self.model_wait = None;
            let mut meta = state.meta.clone();
            let result = self.stream_item(&mut meta, item);
            self.table.get_mut(&stream)?.meta = meta;
            match result {
                Ok(Some(event)) => match event_out(event) {
                    Some(event) => return Ok(Ok(Some(event))),
                    None => continue,
                },
                Ok(None) => return Ok(Ok(None)),
                Err(f) => return Ok(Err(failure_out(f))),
            }
        }
    }

    async fn drop(&mut self, stream: Resource<ReplyStreamState>) -> wasmtime::Result<()> {
        // Dropping the backend stream cancels the upstream request.
        let mut state = self.table.delete(stream)?;
        self.stream_finished(&mut state.meta, Some("cancelled".into()));
        Ok(())
    }
}

impl gamecode::plugin::tools::Host for RunState {
    async fn list_tools(&mut self) -> wasmtime::Result<Vec<t::ToolSpec>> {
        Ok(self
            .tool_specs()
            .into_iter()
            .map(|s| t::ToolSpec {
                name: s.name,
                description: s.description,
                input_schema: s.input_schema.to_string(),
            })
            .collect())
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, t::ToolError>> {
        let span = tracing::info_span!("gamecode.tool", plugin = %self.plugin, tool = %name);
        Ok(RunState::call_tool(self, &name, &input)
            .instrument(span)
            .await
            .map_err(tool_error_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(input: &str, schema: &str) -> t::ChatRequest {
        t::ChatRequest {
            messages: vec![
                t::Message {
                    role: t::Role::User,
                    content: vec![t::ContentBlock::Text("hi".into())],
                },
                t::Message {
                    role: t::Role::Assistant,
                    content: vec![t::ContentBlock::ToolUse(t::ToolCall {
                        id: "t1".into(),
                        name: "calc".into(),
                        input: input.into(),
                    })],
                },
            ],
            model: None,
            tools: vec![t::ToolSpec {
                name: "calc".into(),
                description: "d".into(),
                input_schema: schema.into(),
            }],
            tool_choice: Some(t::ToolChoice::Tool("calc".into())),
            inference_config: None,
        }
    }

    #[test]
    fn guest_json_is_parsed_and_errors_are_validation() {
        let json = &mut JsonCache::default();
        let budget = &mut JsonBudget { items_left: 100 };
        let r = request_in(json, budget, request(r#"{"x":1}"#, r#"{"type":"object"}"#)).unwrap();
        assert_eq!(r.tools.unwrap()[0].input_schema["type"], "object");
        assert_eq!(r.tool_choice, Some(b::ToolChoice::Tool("calc".into())));
        // Parsed again from the cache: the same value.
        let r = request_in(json, budget, request(r#"{"x":1}"#, r#"{"type":"object"}"#)).unwrap();
        assert_eq!(r.tools.unwrap()[0].input_schema["type"], "object");
        let e = request_in(json, budget, request("{not json", "{}")).unwrap_err();
        assert!(matches!(&e, Unbuilt::Invalid(m) if m.contains("tool call `calc`")));
        let e = request_in(json, budget, request("{}", "nope")).unwrap_err();
        assert!(matches!(&e, Unbuilt::Invalid(m) if m.contains("input schema")));
        // More JSON values than the request has left: refused before the parse.
        let big = format!("[{}1]", "1,".repeat(1000));
        let budget = &mut JsonBudget { items_left: 100 };
        let e = request_in(json, budget, request(&big, "{}")).unwrap_err();
        assert!(matches!(e, Unbuilt::TooLarge { items: 1002 }), "{e:?}");
    }

    #[test]
    fn payload_bytes_counts_every_string_the_guest_sent() {
        let mut r = request(r#"{"x":1}"#, r#"{"type":"object"}"#);
        // "hi" + ("t1" "calc" {"x":1}) + ("calc" "d" {"type":"object"}) + choice "calc"
        assert_eq!(payload_bytes(&r), 2 + (2 + 4 + 7) + (4 + 1 + 17) + 4);
        // 2 messages, 2 blocks, 1 tool.
        assert_eq!(measure(&r, false).items, 5);
        r.model = Some("m1".into());
        r.inference_config = Some(t::InferenceConfig {
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop_sequences: vec!["STOP".into()],
        });
        r.messages.push(t::Message {
            role: t::Role::User,
            content: vec![t::ContentBlock::ToolResult(t::ToolResult {
                tool_use_id: "t1".into(),
                content: vec![
                    t::ToolResultContent::Text("42".into()),
                    t::ToolResultContent::Json("[1]".into()),
                ],
                is_error: false,
            })],
        });
        assert_eq!(payload_bytes(&r), 41 + 2 + 4 + (2 + 2 + 3));
    }

    #[test]
    fn responses_serialize_tool_inputs_as_json_text() {
        let r = response_out(b::ChatResponse {
            message: b::Message {
                role: b::MessageRole::Assistant,
                content: vec![b::ContentBlock::ToolUse(b::ToolCall {
                    id: "t".into(),
                    name: "calc".into(),
                    input: serde_json::json!({"expression": "6*7"}),
                })],
            },
            model: "m".into(),
            stop_reason: b::StopReason::ToolUse,
            usage: Some(b::Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
                ..Default::default()
            }),
            session_id: None,
            meta: Default::default(),
        });
        match &r.message.content[0] {
            t::ContentBlock::ToolUse(c) => assert_eq!(c.input, r#"{"expression":"6*7"}"#),
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.stop_reason, t::StopReason::ToolUse));
    }
}
