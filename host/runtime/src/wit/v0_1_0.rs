//! `gamecode:plugin@0.1.0`: bindings and a thin adapter onto the 0.2.1 implementation.
//!
//! Like Zed's older `since_vX` modules, this version converts only between its own types and
//! the newest version's ([`super::v0_2_1`]), which alone converts to and from backend types
//! and holds the host logic. What 0.2.0 added and 0.1.0 cannot carry is dropped on the way
//! out (reasoning, cache points) or described (images and documents become a placeholder,
//! cited text its text).

use tracing::Instrument;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::v0_2_1 as new;
use super::v0_2_1::t as n;
pub use crate::run::ReplyStreamState;
use crate::run::RunState;

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

/// Adds this version's imports to a linker (WASI is added once, by the caller).
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    Bindings::add_to_linker::<RunState, HasSelf<RunState>>(linker, |state| state)
}

// ---- 0.1.0 → 0.2.0 ----

fn role_up(role: t::Role) -> n::Role {
    match role {
        t::Role::System => n::Role::System,
        t::Role::User => n::Role::User,
        t::Role::Assistant => n::Role::Assistant,
    }
}

fn call_up(c: t::ToolCall) -> n::ToolCall {
    n::ToolCall {
        id: c.id,
        name: c.name,
        input: c.input,
    }
}

fn block_up(block: t::ContentBlock) -> n::ContentBlock {
    match block {
        t::ContentBlock::Text(text) => n::ContentBlock::Text(text),
        t::ContentBlock::ToolUse(c) => n::ContentBlock::ToolUse(call_up(c)),
        t::ContentBlock::ToolResult(r) => n::ContentBlock::ToolResult(n::ToolResult {
            tool_use_id: r.tool_use_id,
            content: r
                .content
                .into_iter()
                .map(|c| match c {
                    t::ToolResultContent::Text(s) => n::ToolResultContent::Text(s),
                    t::ToolResultContent::Json(s) => n::ToolResultContent::Json(s),
                })
                .collect(),
            is_error: r.is_error,
        }),
    }
}

fn request_up(r: t::ChatRequest) -> n::ChatRequest {
    n::ChatRequest {
        messages: r
            .messages
            .into_iter()
            .map(|m| n::Message {
                role: role_up(m.role),
                content: m.content.into_iter().map(block_up).collect(),
            })
            .collect(),
        model: r.model,
        tools: r
            .tools
            .into_iter()
            .map(|s| n::ToolSpec {
                name: s.name,
                description: s.description,
                input_schema: s.input_schema,
            })
            .collect(),
        tool_choice: r.tool_choice.map(|c| match c {
            t::ToolChoice::Auto => n::ToolChoice::Auto,
            t::ToolChoice::Any => n::ToolChoice::Any,
            t::ToolChoice::Tool(name) => n::ToolChoice::Tool(name),
        }),
        inference_config: r.inference_config.map(|c| n::InferenceConfig {
            temperature: c.temperature,
            top_p: c.top_p,
            max_tokens: c.max_tokens,
            stop_sequences: c.stop_sequences,
        }),
        options: n::ChatOptions {
            reasoning: None,
            structured_output: None,
            strict_tools: false,
            service_tier: None,
            latency_optimized: false,
            metadata: Vec::new(),
            guardrail: None,
            cache_tools: None,
        },
    }
}

fn chat_error_up(e: t::ChatError) -> n::ChatError {
    match e {
        t::ChatError::RateLimited(m) => n::ChatError::RateLimited(m),
        t::ChatError::Validation(m) => n::ChatError::Validation(m),
        t::ChatError::Authentication(m) => n::ChatError::Authentication(m),
        t::ChatError::Network(m) => n::ChatError::Network(m),
        t::ChatError::Provider(m) => n::ChatError::Provider(m),
        t::ChatError::Unsupported(m) => n::ChatError::Unsupported(m),
        t::ChatError::ChatLimitReached(m) => n::ChatError::ChatLimitReached(m),
        t::ChatError::TokenBudgetExhausted(m) => n::ChatError::TokenBudgetExhausted(m),
        t::ChatError::ModelNotAllowed(m) => n::ChatError::ModelNotAllowed(m),
        t::ChatError::RequestTooLarge(m) => n::ChatError::RequestTooLarge(m),
    }
}

fn tool_error_up(e: t::ToolError) -> n::ToolError {
    match e {
        t::ToolError::NotFound(m) => n::ToolError::NotFound(m),
        t::ToolError::NotAllowed(m) => n::ToolError::NotAllowed(m),
        t::ToolError::InvalidInput(m) => n::ToolError::InvalidInput(m),
        t::ToolError::Failed(m) => n::ToolError::Failed(m),
    }
}

/// The guest's final error, through 0.2.0's conversion.
pub(crate) fn agent_error_in(e: WitAgentError) -> crate::error::AgentError {
    new::agent_error_in(match e {
        WitAgentError::Chat(c) => new::WitAgentError::Chat(chat_error_up(c)),
        WitAgentError::Tool(te) => new::WitAgentError::Tool(tool_error_up(te)),
        WitAgentError::TurnLimit(turns) => new::WitAgentError::TurnLimit(turns),
        WitAgentError::Failed(m) => new::WitAgentError::Failed(m),
    })
}

// ---- 0.2.0 → 0.1.0 ----

fn role_down(role: n::Role) -> t::Role {
    match role {
        n::Role::System => t::Role::System,
        n::Role::User => t::Role::User,
        n::Role::Assistant => t::Role::Assistant,
    }
}

fn call_down(c: n::ToolCall) -> t::ToolCall {
    t::ToolCall {
        id: c.id,
        name: c.name,
        input: c.input,
    }
}

/// What a 0.1.0 plugin sees of an image or document (its WIT has no media).
fn media_placeholder(kind: &str, format: &str, bytes: usize) -> String {
    format!("[{kind}: {format}, {bytes} bytes]")
}

fn image_placeholder(i: &n::Image) -> String {
    let format = match i.format {
        n::ImageFormat::Png => "png",
        n::ImageFormat::Jpeg => "jpeg",
        n::ImageFormat::Gif => "gif",
        n::ImageFormat::Webp => "webp",
    };
    media_placeholder("image", format, i.data.len())
}

fn document_placeholder(d: &n::Document) -> String {
    let format = match d.format {
        n::DocumentFormat::Pdf => "pdf",
        n::DocumentFormat::Csv => "csv",
        n::DocumentFormat::Doc => "doc",
        n::DocumentFormat::Docx => "docx",
        n::DocumentFormat::Xls => "xls",
        n::DocumentFormat::Xlsx => "xlsx",
        n::DocumentFormat::Html => "html",
        n::DocumentFormat::Txt => "txt",
        n::DocumentFormat::Md => "md",
    };
    media_placeholder("document", format, d.data.len())
}

/// `None` for blocks 0.1.0 has no room for and that carry nothing it can use.
fn block_down(block: n::ContentBlock) -> Option<t::ContentBlock> {
    Some(match block {
        n::ContentBlock::Text(text) => t::ContentBlock::Text(text),
        n::ContentBlock::Cited(c) => t::ContentBlock::Text(c.text),
        n::ContentBlock::Image(i) => t::ContentBlock::Text(image_placeholder(&i)),
        n::ContentBlock::Document(d) => t::ContentBlock::Text(document_placeholder(&d)),
        n::ContentBlock::ToolUse(c) => t::ContentBlock::ToolUse(call_down(c)),
        n::ContentBlock::ToolResult(r) => t::ContentBlock::ToolResult(t::ToolResult {
            tool_use_id: r.tool_use_id,
            content: r
                .content
                .into_iter()
                .map(|c| match c {
                    n::ToolResultContent::Text(s) => t::ToolResultContent::Text(s),
                    n::ToolResultContent::Json(s) => t::ToolResultContent::Json(s),
                    n::ToolResultContent::Image(i) => {
                        t::ToolResultContent::Text(image_placeholder(&i))
                    }
                    n::ToolResultContent::Document(d) => {
                        t::ToolResultContent::Text(document_placeholder(&d))
                    }
                })
                .collect(),
            is_error: r.is_error,
        }),
        // A 0.1.0 request never asks for reasoning nor places cache points.
        n::ContentBlock::Reasoning(_) | n::ContentBlock::CachePoint(_) => return None,
    })
}

fn stop_reason_down(reason: n::StopReason) -> t::StopReason {
    match reason {
        n::StopReason::EndTurn => t::StopReason::EndTurn,
        n::StopReason::ToolUse => t::StopReason::ToolUse,
        n::StopReason::MaxTokens => t::StopReason::MaxTokens,
        n::StopReason::StopSequence => t::StopReason::StopSequence,
        n::StopReason::GuardrailIntervened => t::StopReason::GuardrailIntervened,
        n::StopReason::ContentFiltered => t::StopReason::ContentFiltered,
        n::StopReason::MalformedModelOutput => t::StopReason::MalformedModelOutput,
        n::StopReason::MalformedToolUse => t::StopReason::MalformedToolUse,
        n::StopReason::ModelContextWindowExceeded => t::StopReason::ModelContextWindowExceeded,
        n::StopReason::Other(s) => t::StopReason::Other(s),
    }
}

fn usage_down(u: n::Usage) -> t::Usage {
    t::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        total_tokens: u.total_tokens,
    }
}

fn response_down(r: n::ChatResponse) -> t::ChatResponse {
    t::ChatResponse {
        message: t::Message {
            role: role_down(r.message.role),
            content: r
                .message
                .content
                .into_iter()
                .filter_map(block_down)
                .collect(),
        },
        model: r.model,
        stop_reason: stop_reason_down(r.stop_reason),
        usage: r.usage.map(usage_down),
    }
}

fn chat_error_down(e: n::ChatError) -> t::ChatError {
    match e {
        n::ChatError::RateLimited(m) => t::ChatError::RateLimited(m),
        n::ChatError::Validation(m) => t::ChatError::Validation(m),
        n::ChatError::Authentication(m) => t::ChatError::Authentication(m),
        n::ChatError::Network(m) => t::ChatError::Network(m),
        n::ChatError::Provider(m) => t::ChatError::Provider(m),
        n::ChatError::Unsupported(m) => t::ChatError::Unsupported(m),
        n::ChatError::ChatLimitReached(m) => t::ChatError::ChatLimitReached(m),
        n::ChatError::TokenBudgetExhausted(m) => t::ChatError::TokenBudgetExhausted(m),
        n::ChatError::ModelNotAllowed(m) => t::ChatError::ModelNotAllowed(m),
        n::ChatError::RequestTooLarge(m) => t::ChatError::RequestTooLarge(m),
        // A 0.1.0 request asks for no options and holds no conversation.
        n::ChatError::OptionNotAllowed(m) | n::ChatError::ConversationState(m) => {
            t::ChatError::Validation(m)
        }
    }
}

/// `None` for events 0.1.0 does not carry.
fn event_down(event: n::StreamEvent) -> Option<t::StreamEvent> {
    Some(match event {
        n::StreamEvent::MessageStart => t::StreamEvent::MessageStart,
        n::StreamEvent::TextDelta(text) => t::StreamEvent::TextDelta(text),
        n::StreamEvent::ToolUseStart(s) => t::StreamEvent::ToolUseStart(t::ToolUseStart {
            id: s.id,
            name: s.name,
        }),
        n::StreamEvent::ToolUseInputDelta(f) => t::StreamEvent::ToolUseInputDelta(f),
        n::StreamEvent::ToolUseStop(c) => t::StreamEvent::ToolUseStop(call_down(c)),
        n::StreamEvent::MessageStop(r) => t::StreamEvent::MessageStop(stop_reason_down(r)),
        n::StreamEvent::Metadata(u) => t::StreamEvent::Metadata(usage_down(u)),
        n::StreamEvent::ReasoningDelta(_)
        | n::StreamEvent::ReasoningSignature(_)
        | n::StreamEvent::RedactedReasoning(_)
        | n::StreamEvent::Citation(_) => return None,
    })
}

fn tool_error_down(e: n::ToolError) -> t::ToolError {
    match e {
        n::ToolError::NotFound(m) => t::ToolError::NotFound(m),
        n::ToolError::NotAllowed(m) => t::ToolError::NotAllowed(m),
        n::ToolError::InvalidInput(m) => t::ToolError::InvalidInput(m),
        n::ToolError::Failed(m) => t::ToolError::Failed(m),
    }
}

// ---- the host implementation: adapt, delegate ----

impl t::Host for RunState {}

impl gamecode::plugin::chat::Host for RunState {
    async fn chat(
        &mut self,
        request: t::ChatRequest,
    ) -> wasmtime::Result<Result<t::ChatResponse, t::ChatError>> {
        let reply = new::gamecode::plugin::chat::Host::chat(self, request_up(request)).await?;
        Ok(reply.map(response_down).map_err(chat_error_down))
    }

    async fn chat_stream(
        &mut self,
        request: t::ChatRequest,
    ) -> wasmtime::Result<Result<Resource<ReplyStreamState>, t::ChatError>> {
        let stream =
            new::gamecode::plugin::chat::Host::chat_stream(self, request_up(request)).await?;
        Ok(stream.map_err(chat_error_down))
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
        let event = self
            .next_event(&stream, |e| {
                super::v0_2_1::event_out(e).and_then(event_down)
            })
            .await?;
        self.halted()?;
        Ok(event.map_err(|f| chat_error_down(super::v0_2_1::failure_out(f))))
    }

    async fn drop(&mut self, stream: Resource<ReplyStreamState>) -> wasmtime::Result<()> {
        self.drop_stream(stream)?;
        self.halted()
    }
}

impl gamecode::plugin::tools::Host for RunState {
    async fn list_tools(&mut self) -> wasmtime::Result<Vec<t::ToolSpec>> {
        let specs = new::gamecode::plugin::tools::Host::list_tools(self).await?;
        Ok(specs
            .into_iter()
            .map(|s| t::ToolSpec {
                name: s.name,
                description: s.description,
                input_schema: s.input_schema,
            })
            .collect())
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, t::ToolError>> {
        let span = tracing::info_span!("gamecode.tool", plugin = %self.plugin, tool = %name);
        let result = new::gamecode::plugin::tools::Host::call_tool(self, name, input)
            .instrument(span)
            .await?;
        Ok(result.map_err(tool_error_down))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_adapt_up_field_for_field() {
        let r = request_up(t::ChatRequest {
            messages: vec![t::Message {
                role: t::Role::Assistant,
                content: vec![t::ContentBlock::ToolUse(t::ToolCall {
                    id: "t1".into(),
                    name: "calc".into(),
                    input: r#"{"x":1}"#.into(),
                })],
            }],
            model: Some("m".into()),
            tools: vec![],
            tool_choice: Some(t::ToolChoice::Tool("calc".into())),
            inference_config: None,
        });
        assert!(matches!(r.messages[0].role, n::Role::Assistant));
        assert!(
            matches!(&r.messages[0].content[0], n::ContentBlock::ToolUse(c) if c.input == r#"{"x":1}"#)
        );
        assert!(matches!(&r.tool_choice, Some(n::ToolChoice::Tool(t)) if t == "calc"));
        assert!(r.options.reasoning.is_none() && r.options.guardrail.is_none());
    }

    #[test]
    fn responses_adapt_down_dropping_what_0_1_0_cannot_carry() {
        let r = response_down(n::ChatResponse {
            message: n::Message {
                role: n::Role::Assistant,
                content: vec![
                    n::ContentBlock::Reasoning(n::Reasoning::Redacted(vec![1])),
                    n::ContentBlock::Image(n::Image {
                        format: n::ImageFormat::Png,
                        data: vec![0; 10],
                    }),
                    n::ContentBlock::Cited(n::CitedText {
                        text: "cited".into(),
                        citations: vec![],
                    }),
                    n::ContentBlock::CachePoint(n::CacheTtl::FiveMinutes),
                ],
            },
            model: "m".into(),
            stop_reason: n::StopReason::EndTurn,
            usage: None,
            latency_ms: Some(3),
            service_tier: None,
            guardrail_trace: None,
        });
        let texts: Vec<_> = r
            .message
            .content
            .iter()
            .map(|b| match b {
                t::ContentBlock::Text(s) => s.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(texts, vec!["[image: png, 10 bytes]", "cited"]);
        assert!(event_down(n::StreamEvent::ReasoningDelta("x".into())).is_none());
        assert!(matches!(
            chat_error_down(n::ChatError::OptionNotAllowed("no".into())),
            t::ChatError::Validation(_)
        ));
    }
}
