//! Mapping between the backend's chat types and the Converse SDK types, both ways.

use std::sync::Arc;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Blob;
use aws_smithy_types::error::operation::BuildError;
use gamecode_backend::{
    BackendError, CachePoint, CacheTtl, ChatResponse, Citation, CitationLocation, CitedText,
    ContentBlock, Document, DocumentFormat, Image, ImageFormat, InferenceConfig, Message,
    MessageRole, Reasoning, ReasoningConfig, ResponseMeta, ServiceTier, StopReason, Tool, ToolCall,
    ToolChoice, ToolResultContent, Usage,
};

use crate::document::{document_to_json, json_to_document};
use crate::normalize::{Normalized, SystemBlock};

/// A request converted once, reused by every retry attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseParts {
    pub model_id: String,
    /// The turns, shared with what a conversation keeps: each attempt copies them once into
    /// the SDK's request, which owns its input.
    pub messages: Vec<Arc<sdk::Message>>,
    pub system: Option<Vec<sdk::SystemContentBlock>>,
    pub tool_config: Option<sdk::ToolConfiguration>,
    pub inference_config: Option<sdk::InferenceConfiguration>,
    /// Model-specific fields (extended thinking, and the caller's own).
    pub additional_model_request_fields: Option<aws_smithy_types::Document>,
    pub additional_model_response_field_paths: Option<Vec<String>>,
    pub output_config: Option<sdk::OutputConfig>,
    pub service_tier: Option<sdk::ServiceTier>,
    pub performance_config: Option<sdk::PerformanceConfiguration>,
    pub request_metadata: Option<std::collections::HashMap<String, String>>,
    /// The guardrail, as each API takes it.
    pub guardrail: Option<sdk::GuardrailConfiguration>,
    pub guardrail_stream: Option<sdk::GuardrailStreamConfiguration>,
}

impl ConverseParts {
    /// The turns as the SDK's request owns them: the one copy an attempt makes.
    pub fn sdk_messages(&self) -> Vec<sdk::Message> {
        self.messages
            .iter()
            .map(|m| sdk::Message::clone(m))
            .collect()
    }
}

fn build_error(e: BuildError) -> BackendError {
    BackendError::validation(format!("request could not be expressed for Converse: {e}"))
}

pub fn to_converse(model_id: String, n: &Normalized) -> Result<ConverseParts, BackendError> {
    Ok(ConverseParts {
        model_id,
        messages: n
            .messages
            .iter()
            .map(|m| message_to_sdk(m).map(Arc::new))
            .collect::<Result<_, _>>()?,
        system: if n.system.is_empty() {
            None
        } else {
            Some(
                n.system
                    .iter()
                    .map(|b| {
                        Ok(match b {
                            SystemBlock::Text(t) => sdk::SystemContentBlock::Text(t.clone()),
                            SystemBlock::CachePoint(p) => {
                                sdk::SystemContentBlock::CachePoint(cache_point_to_sdk(p)?)
                            }
                        })
                    })
                    .collect::<Result<_, BackendError>>()?,
            )
        },
        tool_config: tool_config_to_sdk(
            &n.tools,
            n.tool_choice.as_ref(),
            n.cache_tools,
            n.options.strict_tools,
        )?,
        inference_config: n.inference.as_ref().map(inference_to_sdk),
        additional_model_request_fields: request_fields(n),
        additional_model_response_field_paths: (!n
            .options
            .additional_model_response_field_paths
            .is_empty())
        .then(|| n.options.additional_model_response_field_paths.clone()),
        output_config: output_config(n)?,
        service_tier: n
            .options
            .service_tier
            .map(|t| {
                sdk::ServiceTier::builder()
                    .r#type(sdk::ServiceTierType::from(t.as_str()))
                    .build()
                    .map_err(build_error)
            })
            .transpose()?,
        performance_config: n.options.latency_optimized.then(|| {
            sdk::PerformanceConfiguration::builder()
                .latency(sdk::PerformanceConfigLatency::Optimized)
                .build()
        }),
        guardrail: n.options.guardrail.as_ref().map(|g| {
            sdk::GuardrailConfiguration::builder()
                .guardrail_identifier(&g.identifier)
                .guardrail_version(&g.version)
                .trace(guardrail_trace_mode(g.trace))
                .build()
        }),
        guardrail_stream: n.options.guardrail.as_ref().map(|g| {
            sdk::GuardrailStreamConfiguration::builder()
                .guardrail_identifier(&g.identifier)
                .guardrail_version(&g.version)
                .trace(guardrail_trace_mode(g.trace))
                .stream_processing_mode(if g.stream_async {
                    sdk::GuardrailStreamProcessingMode::Async
                } else {
                    sdk::GuardrailStreamProcessingMode::Sync
                })
                .build()
        }),
        request_metadata: (!n.options.request_metadata.is_empty()).then(|| {
            n.options
                .request_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
    })
}

fn guardrail_trace_mode(on: bool) -> sdk::GuardrailTrace {
    if on {
        sdk::GuardrailTrace::Enabled
    } else {
        sdk::GuardrailTrace::Disabled
    }
}

/// A guardrail's assessment as JSON: what it said of the model's output, why it acted, and
/// per assessment the word, topic and content policy findings.
pub fn guardrail_trace_json(t: &sdk::GuardrailTraceAssessment) -> serde_json::Value {
    use serde_json::json;
    let assessment = |a: &sdk::GuardrailAssessment| {
        let mut out = serde_json::Map::new();
        if let Some(w) = a.word_policy() {
            out.insert(
                "wordPolicy".into(),
                json!({"customWords": w.custom_words().iter().map(|c| json!({
                    "match": c.r#match(), "action": c.action().as_str(), "detected": c.detected()
                })).collect::<Vec<_>>()}),
            );
        }
        if let Some(tp) = a.topic_policy() {
            out.insert(
                "topicPolicy".into(),
                json!({"topics": tp.topics().iter().map(|t| json!({
                    "name": t.name(), "type": t.r#type().as_str(), "action": t.action().as_str()
                })).collect::<Vec<_>>()}),
            );
        }
        if let Some(cp) = a.content_policy() {
            out.insert(
                "contentPolicy".into(),
                json!({"filters": cp.filters().iter().map(|f| json!({
                    "type": f.r#type().as_str(), "confidence": f.confidence().as_str(),
                    "action": f.action().as_str()
                })).collect::<Vec<_>>()}),
            );
        }
        serde_json::Value::Object(out)
    };
    json!({
        "modelOutput": t.model_output(),
        "actionReason": t.action_reason(),
        "inputAssessment": t.input_assessment().map(|m| m.iter()
            .map(|(id, a)| (id.clone(), assessment(a))).collect::<serde_json::Map<_, _>>()),
        "outputAssessments": t.output_assessments().map(|m| m.iter()
            .map(|(id, v)| (id.clone(), serde_json::Value::Array(v.iter().map(assessment).collect())))
            .collect::<serde_json::Map<_, _>>()),
    })
}

/// The caller's model-specific fields, with extended thinking's added.
fn request_fields(n: &Normalized) -> Option<aws_smithy_types::Document> {
    let mut fields = n.options.additional_model_request_fields.clone();
    if let Some(reasoning) = n.options.reasoning {
        let object = fields.get_or_insert_with(|| serde_json::json!({}));
        if let Some(map) = object.as_object_mut() {
            map.insert("thinking".into(), thinking_field(reasoning));
        }
    }
    fields.as_ref().map(json_to_document)
}

/// `outputConfig`: the answer's JSON schema and the thinking effort.
fn output_config(n: &Normalized) -> Result<Option<sdk::OutputConfig>, BackendError> {
    let effort = match n.options.reasoning {
        Some(ReasoningConfig::Effort(effort)) => Some(effort.as_str().to_string()),
        _ => None,
    };
    let format = n
        .options
        .structured_output
        .as_ref()
        .map(|so| {
            let schema = sdk::JsonSchemaDefinition::builder()
                .schema(so.schema.to_string())
                .set_name(so.name.clone())
                .set_description(so.description.clone())
                .build()
                .map_err(build_error)?;
            sdk::OutputFormat::builder()
                .r#type(sdk::OutputFormatType::JsonSchema)
                .structure(sdk::OutputFormatStructure::JsonSchema(schema))
                .build()
                .map_err(build_error)
        })
        .transpose()?;
    Ok((effort.is_some() || format.is_some()).then(|| {
        sdk::OutputConfig::builder()
            .set_effort(effort)
            .set_text_format(format)
            .build()
    }))
}

/// The `thinking` request field: a fixed budget, or adaptive thinking steered by
/// `outputConfig.effort`.
fn thinking_field(reasoning: ReasoningConfig) -> serde_json::Value {
    match reasoning {
        ReasoningConfig::Budget { tokens } => {
            serde_json::json!({"type": "enabled", "budget_tokens": tokens})
        }
        ReasoningConfig::Effort(_) => serde_json::json!({"type": "adaptive"}),
    }
}

fn message_to_sdk(m: &Message) -> Result<sdk::Message, BackendError> {
    let role = match m.role {
        MessageRole::Assistant => sdk::ConversationRole::Assistant,
        // System messages were moved to `system` by normalization.
        MessageRole::User | MessageRole::System => sdk::ConversationRole::User,
    };
    let content = m
        .content
        .iter()
        .map(block_to_sdk)
        .collect::<Result<Vec<_>, _>>()?;
    sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(build_error)
}

fn block_to_sdk(block: &ContentBlock) -> Result<sdk::ContentBlock, BackendError> {
    Ok(match block {
        ContentBlock::Text { text } => sdk::ContentBlock::Text(text.clone()),
        ContentBlock::ToolUse(call) => sdk::ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id(&call.id)
                .name(&call.name)
                .input(json_to_document(&call.input))
                .build()
                .map_err(build_error)?,
        ),
        ContentBlock::Image(image) => sdk::ContentBlock::Image(image_to_sdk(image)?),
        ContentBlock::CachePoint(p) => sdk::ContentBlock::CachePoint(cache_point_to_sdk(p)?),
        ContentBlock::Reasoning(r) => sdk::ContentBlock::ReasoningContent(reasoning_to_sdk(r)?),
        ContentBlock::Cited(c) => sdk::ContentBlock::CitationsContent(
            sdk::CitationsContentBlock::builder()
                .content(sdk::CitationGeneratedContent::Text(c.text.clone()))
                .set_citations(Some(c.citations.iter().map(citation_to_sdk).collect()))
                .build(),
        ),
        ContentBlock::Document(doc) => sdk::ContentBlock::Document(document_to_sdk(doc)?),
        ContentBlock::ToolResult(result) => {
            let content = result
                .content
                .iter()
                .map(|c| {
                    Ok(match c {
                        ToolResultContent::Text(t) => sdk::ToolResultContentBlock::Text(t.clone()),
                        ToolResultContent::Json(v) => {
                            sdk::ToolResultContentBlock::Json(json_to_document(v))
                        }
                        ToolResultContent::Image(i) => {
                            sdk::ToolResultContentBlock::Image(image_to_sdk(i)?)
                        }
                        ToolResultContent::Document(d) => {
                            sdk::ToolResultContentBlock::Document(document_to_sdk(d)?)
                        }
                        other => return Err(not_sendable(other)),
                    })
                })
                .collect::<Result<_, BackendError>>()?;
            sdk::ContentBlock::ToolResult(
                sdk::ToolResultBlock::builder()
                    .tool_use_id(&result.tool_use_id)
                    .set_content(Some(content))
                    .set_status(result.is_error.then_some(sdk::ToolResultStatus::Error))
                    .build()
                    .map_err(build_error)?,
            )
        }
        other => return Err(not_sendable(other)),
    })
}

/// Content of a kind this backend does not know how to send (newer than it).
fn not_sendable(content: &impl std::fmt::Debug) -> BackendError {
    let kind = format!("{content:?}");
    let kind = kind.split(['(', ' ', '{']).next().unwrap_or("this");
    BackendError::unsupported(format!(
        "the Bedrock backend cannot send a `{kind}` content block"
    ))
}

fn location_to_sdk(l: &CitationLocation) -> sdk::CitationLocation {
    let i = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    match *l {
        CitationLocation::DocumentChars {
            document,
            start,
            end,
        } => sdk::CitationLocation::DocumentChar(
            sdk::DocumentCharLocation::builder()
                .document_index(i(document))
                .start(i(start))
                .end(i(end))
                .build(),
        ),
        CitationLocation::DocumentPages {
            document,
            start,
            end,
        } => sdk::CitationLocation::DocumentPage(
            sdk::DocumentPageLocation::builder()
                .document_index(i(document))
                .start(i(start))
                .end(i(end))
                .build(),
        ),
        CitationLocation::DocumentChunks {
            document,
            start,
            end,
        } => sdk::CitationLocation::DocumentChunk(
            sdk::DocumentChunkLocation::builder()
                .document_index(i(document))
                .start(i(start))
                .end(i(end))
                .build(),
        ),
    }
}

fn citation_to_sdk(c: &Citation) -> sdk::Citation {
    sdk::Citation::builder()
        .set_title(c.title.clone())
        .set_source_content(Some(
            c.quoted
                .iter()
                .map(|q| sdk::CitationSourceContent::Text(q.clone()))
                .collect(),
        ))
        .set_location(c.location.as_ref().map(location_to_sdk))
        .build()
}

/// A citation location the chat types can hold (web and search-result locations cannot).
pub fn location_from_sdk(l: &sdk::CitationLocation) -> Option<CitationLocation> {
    let u = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Some(match l {
        sdk::CitationLocation::DocumentChar(c) => CitationLocation::DocumentChars {
            document: u(c.document_index()),
            start: u(c.start()),
            end: u(c.end()),
        },
        sdk::CitationLocation::DocumentPage(c) => CitationLocation::DocumentPages {
            document: u(c.document_index()),
            start: u(c.start()),
            end: u(c.end()),
        },
        sdk::CitationLocation::DocumentChunk(c) => CitationLocation::DocumentChunks {
            document: u(c.document_index()),
            start: u(c.start()),
            end: u(c.end()),
        },
        _ => return None,
    })
}

fn citation_from_sdk(c: &sdk::Citation) -> Citation {
    Citation {
        title: c.title().map(str::to_string),
        quoted: c
            .source_content()
            .iter()
            .filter_map(|s| s.as_text().ok().cloned())
            .collect(),
        location: c.location().and_then(location_from_sdk),
    }
}

/// A streamed citation, as the chat types hold it.
pub fn citation_from_delta(d: &sdk::CitationsDelta) -> Citation {
    Citation {
        title: d.title().map(str::to_string),
        quoted: d
            .source_content()
            .iter()
            .filter_map(|s| s.text().map(str::to_string))
            .collect(),
        location: d.location().and_then(location_from_sdk),
    }
}

fn reasoning_to_sdk(r: &Reasoning) -> Result<sdk::ReasoningContentBlock, BackendError> {
    Ok(match r {
        Reasoning::Text { text, signature } => sdk::ReasoningContentBlock::ReasoningText(
            sdk::ReasoningTextBlock::builder()
                .text(text)
                .set_signature(signature.clone())
                .build()
                .map_err(build_error)?,
        ),
        Reasoning::Redacted { data } => {
            sdk::ReasoningContentBlock::RedactedContent(Blob::new(data.clone()))
        }
    })
}

/// A reasoning block of a reply, exactly as it must be sent back.
pub fn reasoning_from_sdk(r: &sdk::ReasoningContentBlock) -> Result<Reasoning, BackendError> {
    match r {
        sdk::ReasoningContentBlock::ReasoningText(t) => Ok(Reasoning::Text {
            text: t.text().to_string(),
            signature: t.signature().map(str::to_string),
        }),
        sdk::ReasoningContentBlock::RedactedContent(b) => Ok(Reasoning::Redacted {
            data: b.clone().into_inner(),
        }),
        _ => Err(malformed("a reasoning block of an unknown kind")),
    }
}

fn cache_point_to_sdk(point: &CachePoint) -> Result<sdk::CachePointBlock, BackendError> {
    // Five minutes is the default; only a longer TTL is sent.
    let ttl = match point.ttl {
        CacheTtl::FiveMinutes => None,
        CacheTtl::OneHour => Some(sdk::CacheTtl::OneHour),
    };
    sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::Default)
        .set_ttl(ttl)
        .build()
        .map_err(build_error)
}

fn image_to_sdk(image: &Image) -> Result<sdk::ImageBlock, BackendError> {
    let format = match image.format {
        ImageFormat::Png => sdk::ImageFormat::Png,
        ImageFormat::Jpeg => sdk::ImageFormat::Jpeg,
        ImageFormat::Gif => sdk::ImageFormat::Gif,
        ImageFormat::Webp => sdk::ImageFormat::Webp,
    };
    sdk::ImageBlock::builder()
        .format(format)
        .source(sdk::ImageSource::Bytes(Blob::new(image.bytes.clone())))
        .build()
        .map_err(build_error)
}

fn document_to_sdk(doc: &Document) -> Result<sdk::DocumentBlock, BackendError> {
    let format = match doc.format {
        DocumentFormat::Pdf => sdk::DocumentFormat::Pdf,
        DocumentFormat::Csv => sdk::DocumentFormat::Csv,
        DocumentFormat::Doc => sdk::DocumentFormat::Doc,
        DocumentFormat::Docx => sdk::DocumentFormat::Docx,
        DocumentFormat::Xls => sdk::DocumentFormat::Xls,
        DocumentFormat::Xlsx => sdk::DocumentFormat::Xlsx,
        DocumentFormat::Html => sdk::DocumentFormat::Html,
        DocumentFormat::Txt => sdk::DocumentFormat::Txt,
        DocumentFormat::Md => sdk::DocumentFormat::Md,
    };
    sdk::DocumentBlock::builder()
        .format(format)
        .name(&doc.name)
        .source(sdk::DocumentSource::Bytes(Blob::new(doc.bytes.clone())))
        .set_citations(
            doc.citations
                .then(|| sdk::CitationsConfig::builder().enabled(true).build())
                .transpose()
                .map_err(build_error)?,
        )
        .build()
        .map_err(build_error)
}

/// An SDK image with its bytes inline, as the chat types hold it.
pub fn image_from_sdk(image: &sdk::ImageBlock) -> Result<Image, BackendError> {
    let format = match image.format() {
        sdk::ImageFormat::Png => ImageFormat::Png,
        sdk::ImageFormat::Jpeg => ImageFormat::Jpeg,
        sdk::ImageFormat::Gif => ImageFormat::Gif,
        sdk::ImageFormat::Webp => ImageFormat::Webp,
        other => return Err(malformed(format!("image format {}", other.as_str()))),
    };
    match image.source() {
        Some(sdk::ImageSource::Bytes(b)) => Ok(Image {
            format,
            bytes: b.clone().into_inner(),
        }),
        _ => Err(malformed("an image without inline bytes")),
    }
}

fn tool_config_to_sdk(
    tools: &[Tool],
    choice: Option<&ToolChoice>,
    cache: Option<CachePoint>,
    strict: bool,
) -> Result<Option<sdk::ToolConfiguration>, BackendError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let specs = tools
        .iter()
        .map(|t| {
            sdk::ToolSpecification::builder()
                .name(&t.name)
                .set_description((!t.description.is_empty()).then(|| t.description.clone()))
                .input_schema(sdk::ToolInputSchema::Json(json_to_document(
                    &t.input_schema,
                )))
                .set_strict(strict.then_some(true))
                .build()
                .map(sdk::Tool::ToolSpec)
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut specs = specs;
    if let Some(point) = cache {
        specs.push(sdk::Tool::CachePoint(cache_point_to_sdk(&point)?));
    }
    let choice = match choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::Any) => Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build())),
        Some(ToolChoice::Tool(name)) => Some(sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(build_error)?,
        )),
    };
    sdk::ToolConfiguration::builder()
        .set_tools(Some(specs))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(build_error)
}

fn inference_to_sdk(cfg: &InferenceConfig) -> sdk::InferenceConfiguration {
    sdk::InferenceConfiguration::builder()
        .set_max_tokens(cfg.max_tokens.map(|m| i32::try_from(m).unwrap_or(i32::MAX)))
        .set_temperature(cfg.temperature)
        .set_top_p(cfg.top_p)
        .set_stop_sequences((!cfg.stop_sequences.is_empty()).then(|| cfg.stop_sequences.clone()))
        .build()
}

fn malformed(what: impl std::fmt::Display) -> BackendError {
    BackendError::provider(format!("malformed Converse response: {what}"))
}

/// Maps an SDK stop reason, keeping ones this version does not know verbatim.
pub fn stop_reason_from_sdk(reason: &sdk::StopReason) -> StopReason {
    StopReason::from_wire(reason.as_str())
}

pub fn usage_from_sdk(usage: &sdk::TokenUsage) -> Usage {
    let clamp = |n: i32| u32::try_from(n).unwrap_or(0);
    let mut out = Usage::reported(
        clamp(usage.input_tokens()),
        clamp(usage.output_tokens()),
        clamp(usage.total_tokens()),
    );
    out.cache_read_input_tokens = usage.cache_read_input_tokens().map_or(0, clamp);
    out.cache_write_input_tokens = usage.cache_write_input_tokens().map_or(0, clamp);
    out
}

/// Converts a tool call's SDK form, rejecting inputs that have no JSON form.
pub fn tool_call_from_sdk(block: &sdk::ToolUseBlock) -> Result<ToolCall, BackendError> {
    Ok(ToolCall {
        id: block.tool_use_id().to_string(),
        name: block.name().to_string(),
        input: document_to_json(block.input()).map_err(malformed)?,
    })
}

pub fn from_converse(
    output: ConverseOutput,
    model: String,
    session_id: Option<String>,
) -> Result<ChatResponse, BackendError> {
    let message = match output.output() {
        Some(sdk::ConverseOutput::Message(m)) => m,
        Some(_) => return Err(malformed("the output is not a message")),
        None => return Err(malformed("the output is missing")),
    };
    let mut content = Vec::with_capacity(message.content().len());
    for block in message.content() {
        match block {
            sdk::ContentBlock::Text(text) => {
                content.push(ContentBlock::Text { text: text.clone() })
            }
            sdk::ContentBlock::ToolUse(tool_use) => {
                content.push(ContentBlock::ToolUse(tool_call_from_sdk(tool_use)?))
            }
            sdk::ContentBlock::Image(image) => {
                content.push(ContentBlock::Image(image_from_sdk(image)?))
            }
            sdk::ContentBlock::ReasoningContent(r) => {
                content.push(ContentBlock::Reasoning(reasoning_from_sdk(r)?))
            }
            sdk::ContentBlock::CitationsContent(c) => {
                content.push(ContentBlock::Cited(CitedText {
                    text: c
                        .content()
                        .iter()
                        .filter_map(|g| g.as_text().ok().map(String::as_str))
                        .collect(),
                    citations: c.citations().iter().map(citation_from_sdk).collect(),
                }))
            }
            // Other kinds have no place in the chat types yet; they are skipped rather than
            // failing the whole reply.
            other => tracing::debug!(?other, "skipping unsupported content block"),
        }
    }
    let mut meta = ResponseMeta::default();
    meta.latency_ms = output
        .metrics()
        .and_then(|m| u64::try_from(m.latency_ms()).ok());
    meta.service_tier = output
        .service_tier()
        .and_then(|t| ServiceTier::from_wire(t.r#type().as_str()));
    meta.additional_model_response_fields = output
        .additional_model_response_fields()
        .map(document_to_json)
        .transpose()
        .map_err(malformed)?;
    meta.guardrail_trace = output
        .trace()
        .and_then(|t| t.guardrail())
        .map(guardrail_trace_json);
    let message = Message {
        role: MessageRole::Assistant,
        content,
    };
    let response = ChatResponse::new(message, model, stop_reason_from_sdk(output.stop_reason()))
        .with_session_id(session_id)
        .with_meta(meta);
    Ok(match output.usage() {
        Some(usage) => response.with_usage(usage_from_sdk(usage)),
        None => response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn image_format() -> impl Strategy<Value = ImageFormat> {
        prop::sample::select(ImageFormat::ALL.to_vec())
    }

    proptest! {
        /// Any bytes, any format: what goes out is what comes back, byte for byte.
        #[test]
        fn images_round_trip_byte_exact(
            format in image_format(),
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
        ) {
            let image = Image { format, bytes };
            let back = image_from_sdk(&image_to_sdk(&image).unwrap()).unwrap();
            prop_assert_eq!(back, image);
        }

        /// Reasoning goes back exactly as it came: text, signature, or redacted bytes.
        #[test]
        fn reasoning_round_trips_unmodified(
            text in ".{0,200}",
            signature in prop::option::of("[a-zA-Z0-9+/=.]{1,80}"),
            data in prop::collection::vec(any::<u8>(), 0..512),
            redacted in any::<bool>(),
        ) {
            let r = if redacted {
                Reasoning::Redacted { data }
            } else {
                Reasoning::Text { text, signature }
            };
            let back = reasoning_from_sdk(&reasoning_to_sdk(&r).unwrap()).unwrap();
            prop_assert_eq!(back, r);
        }

        #[test]
        fn documents_keep_name_format_bytes_and_citations(
            format in prop::sample::select(DocumentFormat::ALL.to_vec()),
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
            citations in any::<bool>(),
        ) {
            let doc = Document { format, name: "Spec (v2)".into(), bytes, citations };
            let sdk_doc = document_to_sdk(&doc).unwrap();
            prop_assert_eq!(sdk_doc.format().as_str(), format.as_str());
            prop_assert_eq!(sdk_doc.name(), "Spec (v2)");
            let Some(sdk::DocumentSource::Bytes(blob)) = sdk_doc.source() else {
                panic!("inline bytes");
            };
            prop_assert_eq!(blob.as_ref(), doc.bytes.as_slice());
            prop_assert_eq!(
                sdk_doc.citations().map(|c| c.enabled()).unwrap_or(false),
                citations
            );
        }
    }
}
