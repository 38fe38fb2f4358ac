//! Chat types shared by every backend and by the plugin host.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::media::{Document, Image};

/// Who wrote a message. `System` messages carry instructions; backends send them through the
/// provider's system-prompt channel (for Bedrock, Converse's `system` field), never as a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    System,
    #[default]
    User,
    Assistant,
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id; the matching [`ToolResult::tool_use_id`] must repeat it.
    pub id: String,
    pub name: String,
    /// The arguments, a JSON object conforming to the tool's input schema.
    pub input: Value,
}

/// One piece of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolResultContent {
    Text(String),
    Json(Value),
    /// An image the tool produced (a screenshot, a chart).
    Image(Image),
    /// A document the tool produced.
    Document(Document),
}

/// The answer to a [`ToolCall`], sent back in a user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
    /// Set when the tool failed; the model sees the content as an error report.
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResult {
    /// A successful textual result.
    pub fn text(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Text(text.into())],
            is_error: false,
        }
    }

    /// A successful structured result.
    pub fn json(tool_use_id: impl Into<String>, value: Value) -> Self {
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Json(value)],
            is_error: false,
        }
    }

    /// A failed tool call, reported to the model.
    pub fn error(tool_use_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Text(message.into())],
            is_error: true,
        }
    }
}

/// One block of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse(ToolCall),
    ToolResult(ToolResult),
    /// An image for the model to look at (user turns only).
    Image(Image),
    /// A document for the model to read (user turns only, beside a text block).
    Document(Document),
    /// Text the model wrote with the passages it cites from documents given with citations
    /// on ([`Document::citations`](crate::Document::citations)).
    Cited(CitedText),
    /// The model's reasoning before its answer (extended thinking). In a tool loop, send the
    /// assistant turn back with its reasoning unmodified, signature included: Bedrock refuses
    /// a later turn whose reasoning was dropped or altered.
    Reasoning(Reasoning),
    /// A prompt-cache checkpoint: the conversation up to here may be cached and billed at
    /// the cache-read price by later calls with the same prefix. In a `System` message it
    /// marks the system prompt. At most 4 per request, counting [`ChatOptions::cache_tools`].
    CachePoint(CachePoint),
}

/// Text with its citations (see [`ContentBlock::Cited`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CitedText {
    pub text: String,
    pub citations: Vec<Citation>,
}

/// One passage the model cites.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Citation {
    /// The cited document's name.
    #[serde(default)]
    pub title: Option<String>,
    /// The cited passages, verbatim.
    #[serde(default)]
    pub quoted: Vec<String>,
    #[serde(default)]
    pub location: Option<CitationLocation>,
}

/// Where a cited passage is, in the request's documents (0-based document index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CitationLocation {
    /// Characters `start..end` of a text document.
    DocumentChars { document: u32, start: u32, end: u32 },
    /// Pages `start..end` of a PDF.
    DocumentPages { document: u32, start: u32, end: u32 },
    /// Chunks `start..end` of a document.
    DocumentChunks { document: u32, start: u32, end: u32 },
}

/// A reasoning block (see [`ContentBlock::Reasoning`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reasoning {
    /// Readable reasoning and the provider's signature over it.
    Text {
        text: String,
        signature: Option<String>,
    },
    /// Reasoning the provider's safety systems encrypted; opaque, sent back as is.
    Redacted { data: Vec<u8> },
}

/// Extended thinking for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningConfig {
    /// Think with up to this many tokens (at least 1,024, below `max_tokens`).
    Budget { tokens: u32 },
    /// Let the model decide how long to think, at this effort (newer models).
    Effort(ReasoningEffort),
}

/// How hard the model should think (`outputConfig.effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
    #[serde(rename = "xhigh")]
    XHigh,
    Max,
}

impl ReasoningEffort {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::XHigh => "xhigh",
            Self::Max => "max",
        }
    }
}

/// How long a cached prefix lives after its last use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CacheTtl {
    /// Five minutes (every model with prompt caching).
    #[default]
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour (the newest Claude models).
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// The wire value (`5m`, `1h`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
        }
    }
}

/// A prompt-cache checkpoint (see [`ContentBlock::CachePoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CachePoint {
    #[serde(default)]
    pub ttl: CacheTtl,
}

/// Request options beyond the seed's fields. `Default` is "none of them".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatOptions {
    /// A prompt-cache checkpoint after the tool definitions (they come first in the prompt,
    /// so this caches the tools alone).
    #[serde(default)]
    pub cache_tools: Option<CachePoint>,
    /// Extended thinking (Claude 3.7 and later): the reply starts with reasoning blocks.
    #[serde(default)]
    pub reasoning: Option<ReasoningConfig>,
    /// The answer must be JSON following this schema.
    #[serde(default)]
    pub structured_output: Option<StructuredOutput>,
    /// Tool calls must follow their tools' input schemas exactly.
    #[serde(default)]
    pub strict_tools: bool,
    /// Which capacity serves the call (and how it is billed).
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
    /// Ask for the latency-optimized version of the model, where there is one.
    #[serde(default)]
    pub latency_optimized: bool,
    /// Key/value pairs logged with the call (at most 16; up to 256 characters each).
    #[serde(default)]
    pub request_metadata: std::collections::BTreeMap<String, String>,
    /// Model-specific request fields, passed as they are (the escape hatch).
    #[serde(default)]
    pub additional_model_request_fields: Option<Value>,
    /// JSON pointers of model-specific response fields to return (at most 10).
    #[serde(default)]
    pub additional_model_response_field_paths: Vec<String>,
    /// A Bedrock guardrail to apply to the input and the answer.
    #[serde(default)]
    pub guardrail: Option<GuardrailConfig>,
}

/// A Bedrock guardrail (created in the Bedrock console or API) and how to apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailConfig {
    /// The guardrail's id or ARN.
    pub identifier: String,
    /// Its version (`"1"`, or `"DRAFT"`).
    pub version: String,
    /// Return the guardrail's assessment (`ResponseMeta::guardrail_trace`).
    #[serde(default)]
    pub trace: bool,
    /// For streams: assess each chunk before it is sent (`false`, the default) or after.
    #[serde(default)]
    pub stream_async: bool,
}

/// A JSON schema the answer must follow (`outputConfig.textFormat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredOutput {
    pub schema: Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Bedrock's service tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    Priority,
    Default,
    Flex,
    Reserved,
}

impl ServiceTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Default => "default",
            Self::Flex => "flex",
            Self::Reserved => "reserved",
        }
    }

    pub fn from_wire(s: &str) -> Option<Self> {
        [Self::Priority, Self::Default, Self::Flex, Self::Reserved]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// What a reply says about how it was served.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseMeta {
    /// The provider's own latency figure for the call.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// The service tier that served it.
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
    /// Model-specific response fields asked for by path.
    #[serde(default)]
    pub additional_model_response_fields: Option<Value>,
    /// The guardrail's assessment, when a guardrail with `trace` was applied: `modelOutput`,
    /// `actionReason`, and per assessment its word, topic and content policy findings.
    #[serde(default)]
    pub guardrail_trace: Option<Value>,
}

/// A chat message: a role and its content blocks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A message holding one text block.
    pub fn text(role: MessageRole, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    pub fn system(text: impl Into<String>) -> Self {
        Self::text(MessageRole::System, text)
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self::text(MessageRole::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(MessageRole::Assistant, text)
    }

    /// A user message answering the previous assistant turn's tool calls.
    pub fn tool_results(results: impl IntoIterator<Item = ToolResult>) -> Self {
        Self {
            role: MessageRole::User,
            content: results.into_iter().map(ContentBlock::ToolResult).collect(),
        }
    }

    /// All text blocks joined together.
    pub fn text_content(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls in this message, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(call) => Some(call),
            _ => None,
        })
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Must match `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    pub description: String,
    /// A JSON Schema object describing the tool's input.
    pub input_schema: Value,
}

/// How the model must use the offered tools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides whether to call a tool.
    #[default]
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
}

/// Sampling parameters. `None` leaves the provider's default in place.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InferenceConfig {
    /// 0.0..=1.0
    pub temperature: Option<f32>,
    /// 0.0..=1.0
    pub top_p: Option<f32>,
    /// At least 1.
    pub max_tokens: Option<u32>,
    /// Generation stops when the model produces one of these.
    #[serde(default)]
    pub stop_sequences: Vec<String>,
}

/// A request to [`LLMBackend::chat`](crate::LLMBackend::chat).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Model id, inference profile id or ARN; `None` uses the backend's default.
    pub model: Option<String>,
    pub tools: Option<Vec<Tool>>,
    pub inference_config: Option<InferenceConfig>,
    /// Caller's correlation id, echoed in the response and in logs.
    pub session_id: Option<String>,
    /// Only meaningful with `tools`; `None` means [`ToolChoice::Auto`].
    pub tool_choice: Option<ToolChoice>,
    /// Prompt caching and the other options of the Converse surface.
    #[serde(default)]
    pub options: ChatOptions,
}

/// Why the model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    GuardrailIntervened,
    ContentFiltered,
    MalformedModelOutput,
    MalformedToolUse,
    ModelContextWindowExceeded,
    /// A reason this version does not know yet, verbatim.
    Other(String),
}

impl StopReason {
    /// Parses the provider's snake_case name; unknown names are kept as [`StopReason::Other`].
    pub fn from_wire(s: &str) -> Self {
        match s {
            "end_turn" => Self::EndTurn,
            "tool_use" => Self::ToolUse,
            "max_tokens" => Self::MaxTokens,
            "stop_sequence" => Self::StopSequence,
            "guardrail_intervened" => Self::GuardrailIntervened,
            "content_filtered" => Self::ContentFiltered,
            "malformed_model_output" => Self::MalformedModelOutput,
            "malformed_tool_use" => Self::MalformedToolUse,
            "model_context_window_exceeded" => Self::ModelContextWindowExceeded,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_wire(&self) -> &str {
        match self {
            Self::EndTurn => "end_turn",
            Self::ToolUse => "tool_use",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::GuardrailIntervened => "guardrail_intervened",
            Self::ContentFiltered => "content_filtered",
            Self::MalformedModelOutput => "malformed_model_output",
            Self::MalformedToolUse => "malformed_tool_use",
            Self::ModelContextWindowExceeded => "model_context_window_exceeded",
            Self::Other(s) => s,
        }
    }
}

/// Token accounting for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Input tokens billed at the full price (not read from or written to the cache).
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Everything: input, output, cache reads and cache writes.
    pub total_tokens: u32,
    /// Input tokens read from the prompt cache (billed at a fraction of the input price).
    #[serde(default)]
    pub cache_read_input_tokens: u32,
    /// Input tokens written to the prompt cache (billed at a premium, once).
    #[serde(default)]
    pub cache_write_input_tokens: u32,
}

impl Usage {
    /// `input` and `output` tokens, nothing cached; the total is their sum.
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            cache_read_input_tokens: 0,
            cache_write_input_tokens: 0,
        }
    }

    /// With `read` tokens read from the prompt cache and `written` written to it (both in the
    /// total).
    pub fn with_cache(mut self, read: u32, written: u32) -> Self {
        self.cache_read_input_tokens = read;
        self.cache_write_input_tokens = written;
        self.total_tokens = self
            .input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(read)
            .saturating_add(written);
        self
    }

    /// As a provider reports it, total included.
    pub fn reported(input_tokens: u32, output_tokens: u32, total_tokens: u32) -> Self {
        Self {
            total_tokens,
            ..Self::new(input_tokens, output_tokens)
        }
    }
}

/// The model's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The assistant message: text and/or tool calls.
    pub message: Message,
    /// The model that answered.
    pub model: String,
    pub stop_reason: StopReason,
    pub usage: Option<Usage>,
    /// Echo of [`ChatRequest::session_id`].
    pub session_id: Option<String>,
    /// Latency, service tier and model-specific fields of the reply.
    #[serde(default)]
    pub meta: ResponseMeta,
}

impl ChatResponse {
    /// A reply of `message` from `model`; no usage, session or metadata yet (see the `with_`
    /// methods). Backends outside this crate build their replies this way.
    pub fn new(message: Message, model: impl Into<String>, stop_reason: StopReason) -> Self {
        Self {
            message,
            model: model.into(),
            stop_reason,
            usage: None,
            session_id: None,
            meta: ResponseMeta::default(),
        }
    }

    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    pub fn with_session_id(mut self, session_id: Option<String>) -> Self {
        self.session_id = session_id;
        self
    }

    pub fn with_meta(mut self, meta: ResponseMeta) -> Self {
        self.meta = meta;
        self
    }
}

impl ChatResponse {
    /// The reply's text blocks joined together.
    pub fn text(&self) -> String {
        self.message.text_content()
    }

    /// The tool calls the model asked for.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.message.tool_calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reason_round_trips_and_keeps_unknowns() {
        for s in [
            "end_turn",
            "tool_use",
            "max_tokens",
            "stop_sequence",
            "guardrail_intervened",
            "content_filtered",
            "malformed_model_output",
            "malformed_tool_use",
            "model_context_window_exceeded",
            "something_new",
        ] {
            assert_eq!(StopReason::from_wire(s).as_wire(), s);
        }
        assert_eq!(
            StopReason::from_wire("something_new"),
            StopReason::Other("something_new".into())
        );
    }

    #[test]
    fn message_helpers_pick_text_and_tool_calls() {
        let m = Message {
            role: MessageRole::Assistant,
            content: vec![
                ContentBlock::Text { text: "a".into() },
                ContentBlock::ToolUse(ToolCall {
                    id: "t1".into(),
                    name: "calc".into(),
                    input: serde_json::json!({}),
                }),
                ContentBlock::Text { text: "b".into() },
            ],
        };
        assert_eq!(m.text_content(), "ab");
        assert_eq!(
            m.tool_calls().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["t1"]
        );
    }
}
