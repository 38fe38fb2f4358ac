//! Mapping between the backend's chat types and the Converse SDK types, both ways.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::error::operation::BuildError;
use gamecode_backend::{
    BackendError, ChatResponse, ContentBlock, InferenceConfig, Message, MessageRole, StopReason,
    Tool, ToolCall, ToolChoice, ToolResultContent, Usage,
};

use crate::document::{document_to_json, json_to_document};
use crate::normalize::Normalized;

/// A request converted once, reused by every retry attempt.
#[derive(Debug, Clone)]
pub struct ConverseParts {
    pub model_id: String,
    pub messages: Vec<sdk::Message>,
    pub system: Option<Vec<sdk::SystemContentBlock>>,
    pub tool_config: Option<sdk::ToolConfiguration>,
    pub inference_config: Option<sdk::InferenceConfiguration>,
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
            .map(message_to_sdk)
            .collect::<Result<_, _>>()?,
        system: (!n.system.is_empty()).then(|| {
            n.system
                .iter()
                .cloned()
                .map(sdk::SystemContentBlock::Text)
                .collect()
        }),
        tool_config: tool_config_to_sdk(&n.tools, n.tool_choice.as_ref())?,
        inference_config: n.inference.as_ref().map(inference_to_sdk),
    })
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
        ContentBlock::ToolResult(result) => {
            let content = result
                .content
                .iter()
                .map(|c| match c {
                    ToolResultContent::Text(t) => sdk::ToolResultContentBlock::Text(t.clone()),
                    ToolResultContent::Json(v) => {
                        sdk::ToolResultContentBlock::Json(json_to_document(v))
                    }
                })
                .collect();
            sdk::ContentBlock::ToolResult(
                sdk::ToolResultBlock::builder()
                    .tool_use_id(&result.tool_use_id)
                    .set_content(Some(content))
                    .set_status(result.is_error.then_some(sdk::ToolResultStatus::Error))
                    .build()
                    .map_err(build_error)?,
            )
        }
    })
}

fn tool_config_to_sdk(
    tools: &[Tool],
    choice: Option<&ToolChoice>,
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
                .build()
                .map(sdk::Tool::ToolSpec)
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    Usage {
        input_tokens: clamp(usage.input_tokens()),
        output_tokens: clamp(usage.output_tokens()),
        total_tokens: clamp(usage.total_tokens()),
    }
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
            // Reasoning traces, citations and media have no place in the chat types yet;
            // they are skipped rather than failing the whole reply.
            other => tracing::debug!(?other, "skipping unsupported content block"),
        }
    }
    Ok(ChatResponse {
        message: Message {
            role: MessageRole::Assistant,
            content,
        },
        model,
        stop_reason: stop_reason_from_sdk(output.stop_reason()),
        usage: output.usage().map(usage_from_sdk),
        session_id,
    })
}
