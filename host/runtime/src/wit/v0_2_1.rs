//! `gamecode:plugin@0.2.1`: bindings and the thin host implementation — the newest version,
//! so the only conversions between WIT and backend types (0.1.0 is adapted onto these). 0.2.0
//! plugins link to it unchanged: wasmtime matches `@0.2.0` imports and exports to `@0.2.1`
//! definitions (semver-compatible), and 0.2.1 only adds `chat.session-conversation`.
//!
//! Here: how the run measures what the guest sent (`Guest::size`) and builds backend types
//! from it (`Guest::build`), the conversions back, and host methods that open a tracing span
//! and delegate to [`RunState`] (`crate::run`), where admission, calls and accounting live.

use std::collections::BTreeMap;

use gamecode_backend as b;
use tracing::Instrument;
use wasmtime::component::{HasSelf, Linker, Resource};

use crate::policy::Size;
pub use crate::run::ConversationHandle;
pub use crate::run::ReplyStreamState;
use crate::run::{Builder, ChatFailure, Guest, GuestRequest, RunState, Setup, Unbuilt};

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit/v0.2.1",
    // Every import is async (model calls take seconds; the fiber yields meanwhile) and may
    // trap (resource-table errors are host bugs or guest misuse of handles, not chat errors).
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "gamecode:plugin/chat.reply-stream": ReplyStreamState,
        "gamecode:plugin/chat.conversation": ConversationHandle,
    },
});

pub(crate) use exports::gamecode::plugin::agent::AgentError as WitAgentError;
use gamecode::plugin::chat::ConversationSetup;
pub(crate) use gamecode::plugin::types as t;

pub(crate) use self::Plugin as Bindings;
pub(crate) use self::PluginPre as BindingsPre;

/// Adds this version's imports to a linker (WASI is added once, by the caller).
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    Bindings::add_to_linker::<RunState, HasSelf<RunState>>(linker, |state| state)
}

// ---- measuring what the guest sent ----

fn media_size(bytes: usize) -> Size {
    Size {
        bytes: 0,
        items: 1,
        attachments: 1,
        largest_attachment: bytes,
        attachment_bytes: bytes,
    }
}

fn document_size(d: &t::Document) -> Size {
    let mut s = media_size(d.data.len());
    s.bytes = d.name.len();
    s
}

/// What content blocks add to a request: one walk over what wasmtime lifted.
pub(crate) fn blocks_size(blocks: &[t::ContentBlock]) -> Size {
    let mut size = Size::default();
    for block in blocks {
        let add = match block {
            t::ContentBlock::Text(text) => Size {
                bytes: text.len(),
                items: 1,
                ..Size::default()
            },
            t::ContentBlock::Image(i) => media_size(i.data.len()),
            t::ContentBlock::Document(d) => document_size(d),
            t::ContentBlock::ToolUse(c) => Size {
                bytes: c.id.len() + c.name.len() + c.input.len(),
                items: 1,
                ..Size::default()
            },
            t::ContentBlock::ToolResult(r) => {
                let mut s = Size {
                    bytes: r.tool_use_id.len(),
                    items: 1,
                    ..Size::default()
                };
                for c in &r.content {
                    s.add(match c {
                        t::ToolResultContent::Text(x) | t::ToolResultContent::Json(x) => Size {
                            bytes: x.len(),
                            items: 1,
                            ..Size::default()
                        },
                        t::ToolResultContent::Image(i) => media_size(i.data.len()),
                        t::ToolResultContent::Document(d) => document_size(d),
                    });
                }
                s
            }
            t::ContentBlock::Reasoning(t::Reasoning::Text(r)) => Size {
                bytes: r.text.len() + r.signature.as_ref().map_or(0, String::len),
                items: 1,
                ..Size::default()
            },
            t::ContentBlock::Reasoning(t::Reasoning::Redacted(data)) => Size {
                bytes: data.len(),
                items: 1,
                ..Size::default()
            },
            t::ContentBlock::Cited(c) => Size {
                bytes: c.text.len()
                    + c.citations
                        .iter()
                        .map(|x| {
                            x.title.as_ref().map_or(0, String::len)
                                + x.quoted.iter().map(String::len).sum::<usize>()
                        })
                        .sum::<usize>(),
                items: 1 + c.citations.len(),
                ..Size::default()
            },
            t::ContentBlock::CachePoint(_) => Size {
                items: 1,
                ..Size::default()
            },
        };
        size.add(add);
    }
    size
}

fn tools_size(tools: &[t::ToolSpec]) -> Size {
    Size {
        bytes: tools
            .iter()
            .map(|s| s.name.len() + s.description.len() + s.input_schema.len())
            .sum(),
        items: tools.len(),
        ..Size::default()
    }
}

fn options_size(
    choice: &Option<t::ToolChoice>,
    config: &Option<t::InferenceConfig>,
    options: &t::ChatOptions,
) -> Size {
    let choice = match choice {
        Some(t::ToolChoice::Tool(name)) => name.len(),
        _ => 0,
    };
    let stops = config.as_ref().map_or(&[][..], |c| &c.stop_sequences[..]);
    let structured = options.structured_output.as_ref().map_or(0, |s| {
        s.schema.len()
            + s.name.as_ref().map_or(0, String::len)
            + s.description.as_ref().map_or(0, String::len)
    });
    let metadata: usize = options
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    Size {
        bytes: choice
            + stops.iter().map(String::len).sum::<usize>()
            + structured
            + metadata
            + options.guardrail.as_ref().map_or(0, String::len),
        items: stops.len() + options.metadata.len(),
        ..Size::default()
    }
}

/// What the policy sees of a stateless request before anything is built from it.
fn measure(request: &t::ChatRequest) -> Size {
    let mut size = Size {
        bytes: request.model.as_ref().map_or(0, String::len),
        items: request.messages.len(),
        ..Size::default()
    };
    for m in &request.messages {
        size.add(blocks_size(&m.content));
    }
    size.add(tools_size(&request.tools));
    size.add(options_size(
        &request.tool_choice,
        &request.inference_config,
        &request.options,
    ));
    size
}

// ---- guest → backend ----

/// A stateless request: measured whole, built whole.
impl Guest for t::ChatRequest {
    type Built = b::ChatRequest;

    fn size(&self) -> Size {
        measure(self)
    }

    fn build(self, to: &mut Builder<'_>) -> Result<b::ChatRequest, Unbuilt> {
        request_in(to, self)
    }
}

impl GuestRequest for t::ChatRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    fn max_tokens(&self) -> Option<u32> {
        self.inference_config.as_ref().and_then(|c| c.max_tokens)
    }
}

/// A conversation's setup: its tools, options, system prompt and model.
impl Guest for ConversationSetup {
    type Built = Setup;

    fn size(&self) -> Size {
        let mut size = tools_size(&self.tools);
        size.add(options_size(
            &self.tool_choice,
            &self.inference_config,
            &self.options,
        ));
        size.bytes += self.system.as_ref().map_or(0, String::len)
            + self.model.as_ref().map_or(0, String::len);
        size.items += 1;
        size
    }

    fn build(self, to: &mut Builder<'_>) -> Result<Setup, Unbuilt> {
        Ok(Setup {
            tools: tools_in(to, self.tools)?,
            options: options_in(to, self.options)?,
            system: self.system,
            model: self.model,
            tool_choice: self.tool_choice.map(choice_in),
            inference_config: self.inference_config.map(inference_in),
            auto_cache: self.auto_cache,
        })
    }
}

/// Content pushed onto a conversation.
impl Guest for Vec<t::ContentBlock> {
    type Built = Vec<b::ContentBlock>;

    fn size(&self) -> Size {
        blocks_size(self)
    }

    fn build(self, to: &mut Builder<'_>) -> Result<Vec<b::ContentBlock>, Unbuilt> {
        let place = to.place().to_string();
        blocks_in(to, &place, self)
    }
}

fn block_in(
    to: &mut Builder<'_>,
    at: &str,
    block: t::ContentBlock,
) -> Result<b::ContentBlock, Unbuilt> {
    Ok(match block {
        t::ContentBlock::Text(text) => b::ContentBlock::Text { text },
        t::ContentBlock::Image(i) => b::ContentBlock::Image(image_in(i)),
        t::ContentBlock::Document(d) => b::ContentBlock::Document(document_in(d)),
        t::ContentBlock::ToolUse(call) => {
            let input = to.json(&call.input, || {
                format!(
                    "{at}: the input of tool call `{}`",
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
            let id = result.tool_use_id;
            let content = result
                .content
                .into_iter()
                .map(|c| {
                    Ok(match c {
                        t::ToolResultContent::Text(text) => b::ToolResultContent::Text(text),
                        t::ToolResultContent::Json(text) => {
                            b::ToolResultContent::Json(to.json(&text, || {
                                format!(
                                    "{at}: the JSON result for tool call `{}`",
                                    crate::text::echo(&id)
                                )
                            })?)
                        }
                        t::ToolResultContent::Image(i) => b::ToolResultContent::Image(image_in(i)),
                        t::ToolResultContent::Document(d) => {
                            b::ToolResultContent::Document(document_in(d))
                        }
                    })
                })
                .collect::<Result<_, Unbuilt>>()?;
            b::ContentBlock::ToolResult(b::ToolResult {
                tool_use_id: id,
                content,
                is_error: result.is_error,
            })
        }
        t::ContentBlock::Reasoning(t::Reasoning::Text(r)) => {
            b::ContentBlock::Reasoning(b::Reasoning::Text {
                text: r.text,
                signature: r.signature,
            })
        }
        t::ContentBlock::Reasoning(t::Reasoning::Redacted(data)) => {
            b::ContentBlock::Reasoning(b::Reasoning::Redacted { data })
        }
        t::ContentBlock::Cited(c) => b::ContentBlock::Cited(b::CitedText {
            text: c.text,
            citations: c.citations.into_iter().map(citation_in).collect(),
        }),
        t::ContentBlock::CachePoint(ttl) => b::ContentBlock::CachePoint(cache_point_in(ttl)),
    })
}

fn blocks_in(
    to: &mut Builder<'_>,
    at: &str,
    blocks: Vec<t::ContentBlock>,
) -> Result<Vec<b::ContentBlock>, Unbuilt> {
    blocks
        .into_iter()
        .map(|block| block_in(to, at, block))
        .collect()
}

fn tools_in(to: &mut Builder<'_>, tools: Vec<t::ToolSpec>) -> Result<Vec<b::Tool>, Unbuilt> {
    tools
        .into_iter()
        .map(|spec| {
            let input_schema = to.json(&spec.input_schema, || {
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
        .collect()
}

/// The request options, checked against the policy (reasoning, tier, guardrail name).
fn options_in(to: &mut Builder<'_>, o: t::ChatOptions) -> Result<b::ChatOptions, Unbuilt> {
    let mut options = b::ChatOptions {
        cache_tools: o.cache_tools.map(cache_point_in),
        reasoning: o.reasoning.map(|r| match r {
            t::ReasoningConfig::Budget(tokens) => b::ReasoningConfig::Budget { tokens },
            t::ReasoningConfig::Effort(e) => b::ReasoningConfig::Effort(effort_in(e)),
        }),
        structured_output: None,
        strict_tools: o.strict_tools,
        service_tier: o.service_tier.map(tier_in),
        latency_optimized: o.latency_optimized,
        request_metadata: o.metadata.into_iter().collect::<BTreeMap<_, _>>(),
        additional_model_request_fields: None,
        additional_model_response_field_paths: Vec::new(),
        guardrail: None,
    };
    to.admit_options(&options)?;
    if let Some(name) = &o.guardrail {
        options.guardrail = Some(to.guardrail(name)?);
    }
    if let Some(s) = o.structured_output {
        options.structured_output = Some(b::StructuredOutput {
            schema: to.json(&s.schema, || "the structured-output schema".into())?,
            name: s.name,
            description: s.description,
        });
    }
    Ok(options)
}

fn request_in(to: &mut Builder<'_>, request: t::ChatRequest) -> Result<b::ChatRequest, Unbuilt> {
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(b::Message {
                role: role_in(m.role),
                content: blocks_in(to, &format!("message {i}"), m.content)?,
            })
        })
        .collect::<Result<_, Unbuilt>>()?;
    let tools = tools_in(to, request.tools)?;
    Ok(b::ChatRequest {
        messages,
        model: request.model,
        tools: (!tools.is_empty()).then_some(tools),
        inference_config: request.inference_config.map(inference_in),
        session_id: None,
        tool_choice: request.tool_choice.map(choice_in),
        options: options_in(to, request.options)?,
    })
}

fn role_in(role: t::Role) -> b::MessageRole {
    match role {
        t::Role::System => b::MessageRole::System,
        t::Role::User => b::MessageRole::User,
        t::Role::Assistant => b::MessageRole::Assistant,
    }
}

fn image_format_in(f: t::ImageFormat) -> b::ImageFormat {
    match f {
        t::ImageFormat::Png => b::ImageFormat::Png,
        t::ImageFormat::Jpeg => b::ImageFormat::Jpeg,
        t::ImageFormat::Gif => b::ImageFormat::Gif,
        t::ImageFormat::Webp => b::ImageFormat::Webp,
    }
}

fn document_format_in(f: t::DocumentFormat) -> b::DocumentFormat {
    match f {
        t::DocumentFormat::Pdf => b::DocumentFormat::Pdf,
        t::DocumentFormat::Csv => b::DocumentFormat::Csv,
        t::DocumentFormat::Doc => b::DocumentFormat::Doc,
        t::DocumentFormat::Docx => b::DocumentFormat::Docx,
        t::DocumentFormat::Xls => b::DocumentFormat::Xls,
        t::DocumentFormat::Xlsx => b::DocumentFormat::Xlsx,
        t::DocumentFormat::Html => b::DocumentFormat::Html,
        t::DocumentFormat::Txt => b::DocumentFormat::Txt,
        t::DocumentFormat::Md => b::DocumentFormat::Md,
    }
}

fn image_in(i: t::Image) -> b::Image {
    b::Image {
        format: image_format_in(i.format),
        bytes: i.data,
    }
}

fn document_in(d: t::Document) -> b::Document {
    b::Document {
        format: document_format_in(d.format),
        name: d.name,
        bytes: d.data,
        citations: d.citations,
    }
}

fn cache_point_in(ttl: t::CacheTtl) -> b::CachePoint {
    b::CachePoint {
        ttl: match ttl {
            t::CacheTtl::FiveMinutes => b::CacheTtl::FiveMinutes,
            t::CacheTtl::OneHour => b::CacheTtl::OneHour,
        },
    }
}

fn span_in(s: t::Span) -> (u32, u32, u32) {
    (s.document, s.start, s.end)
}

fn citation_in(c: t::Citation) -> b::Citation {
    b::Citation {
        title: c.title,
        quoted: c.quoted,
        location: c.location.map(|l| match l {
            t::CitationLocation::DocumentChars(s) => {
                let (document, start, end) = span_in(s);
                b::CitationLocation::DocumentChars {
                    document,
                    start,
                    end,
                }
            }
            t::CitationLocation::DocumentPages(s) => {
                let (document, start, end) = span_in(s);
                b::CitationLocation::DocumentPages {
                    document,
                    start,
                    end,
                }
            }
            t::CitationLocation::DocumentChunks(s) => {
                let (document, start, end) = span_in(s);
                b::CitationLocation::DocumentChunks {
                    document,
                    start,
                    end,
                }
            }
        }),
    }
}

fn effort_in(e: t::ReasoningEffort) -> b::ReasoningEffort {
    match e {
        t::ReasoningEffort::Low => b::ReasoningEffort::Low,
        t::ReasoningEffort::Medium => b::ReasoningEffort::Medium,
        t::ReasoningEffort::High => b::ReasoningEffort::High,
        t::ReasoningEffort::Xhigh => b::ReasoningEffort::XHigh,
        t::ReasoningEffort::Max => b::ReasoningEffort::Max,
    }
}

fn tier_in(tier: t::ServiceTier) -> b::ServiceTier {
    match tier {
        t::ServiceTier::Priority => b::ServiceTier::Priority,
        t::ServiceTier::Default => b::ServiceTier::Default,
        t::ServiceTier::Flex => b::ServiceTier::Flex,
        t::ServiceTier::Reserved => b::ServiceTier::Reserved,
    }
}

fn inference_in(c: t::InferenceConfig) -> b::InferenceConfig {
    b::InferenceConfig {
        temperature: c.temperature,
        top_p: c.top_p,
        max_tokens: c.max_tokens,
        stop_sequences: c.stop_sequences,
    }
}

fn choice_in(c: t::ToolChoice) -> b::ToolChoice {
    match c {
        t::ToolChoice::Auto => b::ToolChoice::Auto,
        t::ToolChoice::Any => b::ToolChoice::Any,
        t::ToolChoice::Tool(name) => b::ToolChoice::Tool(name),
    }
}

// ---- backend → guest ----

fn role_out(role: b::MessageRole) -> t::Role {
    match role {
        b::MessageRole::System => t::Role::System,
        b::MessageRole::User => t::Role::User,
        b::MessageRole::Assistant => t::Role::Assistant,
    }
}

fn image_out(i: b::Image) -> t::Image {
    t::Image {
        format: match i.format {
            b::ImageFormat::Png => t::ImageFormat::Png,
            b::ImageFormat::Jpeg => t::ImageFormat::Jpeg,
            b::ImageFormat::Gif => t::ImageFormat::Gif,
            b::ImageFormat::Webp => t::ImageFormat::Webp,
        },
        data: i.bytes,
    }
}

fn document_out(d: b::Document) -> t::Document {
    t::Document {
        format: match d.format {
            b::DocumentFormat::Pdf => t::DocumentFormat::Pdf,
            b::DocumentFormat::Csv => t::DocumentFormat::Csv,
            b::DocumentFormat::Doc => t::DocumentFormat::Doc,
            b::DocumentFormat::Docx => t::DocumentFormat::Docx,
            b::DocumentFormat::Xls => t::DocumentFormat::Xls,
            b::DocumentFormat::Xlsx => t::DocumentFormat::Xlsx,
            b::DocumentFormat::Html => t::DocumentFormat::Html,
            b::DocumentFormat::Txt => t::DocumentFormat::Txt,
            b::DocumentFormat::Md => t::DocumentFormat::Md,
        },
        name: d.name,
        data: d.bytes,
        citations: d.citations,
    }
}

fn citation_out(c: b::Citation) -> t::Citation {
    let span = |document, start, end| t::Span {
        document,
        start,
        end,
    };
    t::Citation {
        title: c.title,
        quoted: c.quoted,
        location: c.location.map(|l| match l {
            b::CitationLocation::DocumentChars {
                document,
                start,
                end,
            } => t::CitationLocation::DocumentChars(span(document, start, end)),
            b::CitationLocation::DocumentPages {
                document,
                start,
                end,
            } => t::CitationLocation::DocumentPages(span(document, start, end)),
            b::CitationLocation::DocumentChunks {
                document,
                start,
                end,
            } => t::CitationLocation::DocumentChunks(span(document, start, end)),
        }),
    }
}

fn call_out(call: b::ToolCall) -> t::ToolCall {
    t::ToolCall {
        id: call.id,
        name: call.name,
        input: call.input.to_string(),
    }
}

/// A part of a tool's output for the guest; `None` for a kind newer than this version.
fn tool_content_out(c: b::ToolResultContent) -> Option<t::ToolResultContent> {
    Some(match c {
        b::ToolResultContent::Text(s) => t::ToolResultContent::Text(s),
        b::ToolResultContent::Json(v) => t::ToolResultContent::Json(v.to_string()),
        b::ToolResultContent::Image(i) => t::ToolResultContent::Image(image_out(i)),
        b::ToolResultContent::Document(d) => t::ToolResultContent::Document(document_out(d)),
        _ => return None,
    })
}

/// A content block for the guest; `None` for a kind newer than this version (dropped, as an
/// older version drops what it cannot carry).
fn block_out(block: b::ContentBlock) -> Option<t::ContentBlock> {
    Some(match block {
        b::ContentBlock::Text { text } => t::ContentBlock::Text(text),
        b::ContentBlock::Image(i) => t::ContentBlock::Image(image_out(i)),
        b::ContentBlock::Document(d) => t::ContentBlock::Document(document_out(d)),
        b::ContentBlock::ToolUse(call) => t::ContentBlock::ToolUse(call_out(call)),
        b::ContentBlock::ToolResult(r) => t::ContentBlock::ToolResult(t::ToolResult {
            tool_use_id: r.tool_use_id,
            content: r.content.into_iter().filter_map(tool_content_out).collect(),
            is_error: r.is_error,
        }),
        b::ContentBlock::Reasoning(b::Reasoning::Text { text, signature }) => {
            t::ContentBlock::Reasoning(t::Reasoning::Text(t::ReasoningText { text, signature }))
        }
        b::ContentBlock::Reasoning(b::Reasoning::Redacted { data }) => {
            t::ContentBlock::Reasoning(t::Reasoning::Redacted(data))
        }
        b::ContentBlock::Cited(c) => t::ContentBlock::Cited(t::CitedText {
            text: c.text,
            citations: c.citations.into_iter().map(citation_out).collect(),
        }),
        b::ContentBlock::CachePoint(p) => t::ContentBlock::CachePoint(match p.ttl {
            b::CacheTtl::FiveMinutes => t::CacheTtl::FiveMinutes,
            b::CacheTtl::OneHour => t::CacheTtl::OneHour,
        }),
        _ => return None,
    })
}

pub(crate) fn message_out(message: b::Message) -> t::Message {
    t::Message {
        role: role_out(message.role),
        content: message.content.into_iter().filter_map(block_out).collect(),
    }
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
        other => t::StopReason::Other(other.as_wire().to_string()),
    }
}

fn usage_out(u: b::Usage) -> t::Usage {
    t::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        total_tokens: u.total_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_write_input_tokens: u.cache_write_input_tokens,
    }
}

pub(crate) fn response_out(r: b::ChatResponse) -> t::ChatResponse {
    t::ChatResponse {
        message: message_out(r.message),
        model: r.model,
        stop_reason: stop_reason_out(r.stop_reason),
        usage: r.usage.map(usage_out),
        latency_ms: r.meta.latency_ms,
        service_tier: r.meta.service_tier.map(|tier| match tier {
            b::ServiceTier::Priority => t::ServiceTier::Priority,
            b::ServiceTier::Default => t::ServiceTier::Default,
            b::ServiceTier::Flex => t::ServiceTier::Flex,
            b::ServiceTier::Reserved => t::ServiceTier::Reserved,
        }),
        guardrail_trace: r.meta.guardrail_trace.map(|v| v.to_string()),
    }
}

/// The guest's view of a failed chat call.
pub(crate) fn failure_out(failure: ChatFailure) -> t::ChatError {
    use crate::policy::ViolationKind as K;
    match failure {
        ChatFailure::Policy(v) => match v.kind {
            K::ChatLimit => t::ChatError::ChatLimitReached(v.message),
            K::TokenBudget => t::ChatError::TokenBudgetExhausted(v.message),
            K::ModelNotAllowed => t::ChatError::ModelNotAllowed(v.message),
            K::RequestTooLarge => t::ChatError::RequestTooLarge(v.message),
            K::OptionNotAllowed => t::ChatError::OptionNotAllowed(v.message),
            // Not produced by chat admission; kept total rather than panicking.
            K::ToolNotAllowed => t::ChatError::Validation(v.message),
        },
        ChatFailure::Invalid(m) => t::ChatError::Validation(m),
        ChatFailure::State(m) => t::ChatError::ConversationState(m),
        ChatFailure::Backend(e) => {
            let message = e.message().to_string();
            match e {
                b::BackendError::RateLimited { .. } => t::ChatError::RateLimited(message),
                b::BackendError::Validation { .. } => t::ChatError::Validation(message),
                b::BackendError::Authentication { .. } => t::ChatError::Authentication(message),
                b::BackendError::Network { .. } => t::ChatError::Network(message),
                b::BackendError::Provider { .. } => t::ChatError::Provider(message),
                b::BackendError::Unsupported { .. } => t::ChatError::Unsupported(message),
                // A failure newer than this version: the provider's, as far as it can tell.
                _ => t::ChatError::Provider(message),
            }
        }
    }
}

/// A stream event for the guest; `None` for events that carry nothing for it.
pub(crate) fn event_out(event: b::StreamEvent) -> Option<t::StreamEvent> {
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
        b::StreamEvent::ReasoningDelta { text, .. } => t::StreamEvent::ReasoningDelta(text),
        b::StreamEvent::ReasoningSignature { signature, .. } => {
            t::StreamEvent::ReasoningSignature(signature)
        }
        b::StreamEvent::RedactedReasoning { data, .. } => t::StreamEvent::RedactedReasoning(data),
        b::StreamEvent::Citation { citation, .. } => {
            t::StreamEvent::Citation(citation_out(citation))
        }
        b::StreamEvent::ContentBlockStop { .. } => return None,
        b::StreamEvent::MessageStop { stop_reason } => {
            t::StreamEvent::MessageStop(stop_reason_out(stop_reason))
        }
        b::StreamEvent::Metadata { usage } => t::StreamEvent::Metadata(usage_out(usage)),
        _ => return None,
    })
}

/// The task as this version's agent export takes it.
pub(crate) fn task_out(task: &crate::task::Task) -> t::Task {
    use crate::task::Attachment;
    t::Task {
        text: task.text.clone(),
        attachments: task
            .attachments
            .iter()
            .map(|a| match a {
                Attachment::Image(i) => t::Attachment::Image(image_out(i.clone())),
                Attachment::Document(d) => t::Attachment::Document(document_out(d.clone())),
            })
            .collect(),
    }
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
                t::ChatError::OptionNotAllowed(m) => (K::OptionNotAllowed, m),
                t::ChatError::ConversationState(m) => (K::ConversationState, m),
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

pub(crate) fn tool_error_out(e: crate::tools::ToolError) -> t::ToolError {
    use crate::tools::ToolError as E;
    match e {
        E::NotFound(m) => t::ToolError::NotFound(m),
        E::NotAllowed(m) => t::ToolError::NotAllowed(m),
        E::InvalidInput(m) => t::ToolError::InvalidInput(m),
        E::Failed(m) => t::ToolError::Failed(m),
    }
}

// ---- the host implementation: a span, then the run ----

impl t::Host for RunState {}

impl gamecode::plugin::chat::Host for RunState {
    async fn start_conversation(
        &mut self,
        setup: ConversationSetup,
    ) -> wasmtime::Result<Result<Resource<ConversationHandle>, t::ChatError>> {
        let _span = tracing::info_span!(
            "gamecode.start_conversation",
            plugin = %self.plugin,
            tools = setup.tools.len(),
        )
        .entered();
        match RunState::start_conversation(self, setup) {
            Ok(conversation) => Ok(Ok(self.table.push(conversation)?)),
            Err(f) => Ok(Err(failure_out(f))),
        }
    }

    async fn session_conversation(
        &mut self,
        key: String,
        setup: ConversationSetup,
    ) -> wasmtime::Result<Result<Resource<ConversationHandle>, t::ChatError>> {
        let span = tracing::info_span!(
            "gamecode.session_conversation",
            plugin = %self.plugin,
            key = crate::text::echo(&key),
            tools = setup.tools.len(),
        );
        let opened = RunState::session_conversation(self, key, setup)
            .instrument(span)
            .await;
        self.halted()?;
        match opened {
            Ok(conversation) => Ok(Ok(self.table.push(conversation)?)),
            Err(f) => Ok(Err(failure_out(f))),
        }
    }

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
        let reply = RunState::chat(self, request).instrument(span).await;
        self.halted()?;
        Ok(reply.map(response_out).map_err(failure_out))
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
        let opened = RunState::chat_stream(self, request).instrument(span).await;
        self.halted()?;
        match opened {
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

    async fn describe_model(
        &mut self,
        model: Option<String>,
    ) -> wasmtime::Result<Option<t::ModelInfo>> {
        let model = model.unwrap_or_else(|| RunState::default_model(self));
        Ok(self.backend.model_info(&model).map(|m| t::ModelInfo {
            id: m.id,
            name: m.name,
            images: m.images,
            documents: m.documents,
            // Either kind works on every thinking model (the backend translates a budget for
            // an adaptive-only model and an effort for a budget-only one); this says which
            // the model takes natively.
            reasoning: m.reasoning.thinks(),
            adaptive_reasoning: m.reasoning.adaptive(),
            cache_min_tokens: m.caching,
            context_window: m.context_window,
            max_output_tokens: m.max_output_tokens,
        }))
    }
}

impl gamecode::plugin::chat::HostConversation for RunState {
    async fn push(
        &mut self,
        conversation: Resource<ConversationHandle>,
        content: Vec<t::ContentBlock>,
    ) -> wasmtime::Result<Result<(), t::ChatError>> {
        let handle = self.table.get(&conversation)?.clone();
        Ok(RunState::push(self, &handle, content).map_err(failure_out))
    }

    async fn send(
        &mut self,
        conversation: Resource<ConversationHandle>,
    ) -> wasmtime::Result<Result<t::ChatResponse, t::ChatError>> {
        let handle = self.table.get(&conversation)?.clone();
        let span = tracing::info_span!(
            "gamecode.conversation.send",
            plugin = %self.plugin,
            messages = handle.lock().len(),
        );
        let reply = RunState::send(self, &handle).instrument(span).await;
        self.halted()?;
        Ok(reply.map(response_out).map_err(failure_out))
    }

    async fn send_stream(
        &mut self,
        conversation: Resource<ConversationHandle>,
    ) -> wasmtime::Result<Result<Resource<ReplyStreamState>, t::ChatError>> {
        let handle = self.table.get(&conversation)?.clone();
        let span = tracing::info_span!(
            "gamecode.conversation.send_stream",
            plugin = %self.plugin,
            messages = handle.lock().len(),
        );
        let opened = RunState::send_stream(self, &handle).instrument(span).await;
        self.halted()?;
        match opened {
            Ok(stream) => Ok(Ok(self.table.push(stream)?)),
            Err(f) => Ok(Err(failure_out(f))),
        }
    }

    async fn history(
        &mut self,
        conversation: Resource<ConversationHandle>,
    ) -> wasmtime::Result<Vec<t::Message>> {
        let handle = self.table.get(&conversation)?;
        let messages = handle.lock().messages().to_vec();
        Ok(messages.into_iter().map(message_out).collect())
    }

    async fn length(
        &mut self,
        conversation: Resource<ConversationHandle>,
    ) -> wasmtime::Result<u32> {
        let handle = self.table.get(&conversation)?;
        let len = handle.lock().len();
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }

    async fn drop(&mut self, conversation: Resource<ConversationHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(conversation)?;
        self.conversation_dropped(&handle);
        Ok(())
    }
}

impl gamecode::plugin::chat::HostReplyStream for RunState {
    async fn next(
        &mut self,
        stream: Resource<ReplyStreamState>,
    ) -> wasmtime::Result<Result<Option<t::StreamEvent>, t::ChatError>> {
        let event = self.next_event(&stream, event_out).await?;
        self.halted()?;
        Ok(event.map_err(failure_out))
    }

    async fn drop(&mut self, stream: Resource<ReplyStreamState>) -> wasmtime::Result<()> {
        self.drop_stream(stream)?;
        self.halted()
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
        let result = RunState::call_tool(self, &name, &input)
            .instrument(span)
            .await;
        self.halted()?;
        Ok(result.map_err(tool_error_out))
    }

    async fn call_tool_content(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<Vec<t::ToolResultContent>, t::ToolError>> {
        let span = tracing::info_span!("gamecode.tool", plugin = %self.plugin, tool = %name);
        let result = RunState::call_tool_content(self, &name, &input)
            .instrument(span)
            .await;
        self.halted()?;
        Ok(result
            .map(|content| content.into_iter().filter_map(tool_content_out).collect())
            .map_err(tool_error_out))
    }
}

impl gamecode::plugin::config::Host for RunState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.policy.config.get(&key).cloned())
    }

    async fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .policy
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
