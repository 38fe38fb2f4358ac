//! The raw side of the comparisons: `aws-sdk-bedrockruntime` called directly, with the exact
//! request body the plugin path sent (as the emulator recorded it), converted back into SDK
//! types. [`RawRequest::from_body`] covers what the plugin paths send: text, toolUse,
//! toolResult and cachePoint blocks, system prompts, tool specs, tool choice and inference
//! config.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types::{
    self as sdk, ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration,
    Message, SystemContentBlock, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::timeout::TimeoutConfig;
use gamecode_bedrock::document::json_to_document;
use serde_json::Value;

/// A Converse request in SDK types.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub model_id: String,
    pub messages: Vec<Message>,
    pub system: Option<Vec<SystemContentBlock>>,
    pub tool_config: Option<ToolConfiguration>,
    pub inference_config: Option<InferenceConfiguration>,
}

fn text_of(v: &Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("missing string `{key}` in {v}"))
}

/// A `cachePoint` (its `ttl` when not the default five minutes).
fn cache_point(p: &Value) -> Result<sdk::CachePointBlock> {
    Ok(sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::Default)
        .set_ttl(
            p.get("ttl")
                .and_then(Value::as_str)
                .map(sdk::CacheTtl::from),
        )
        .build()?)
}

fn block(b: &Value) -> Result<ContentBlock> {
    if let Some(t) = b.get("text").and_then(Value::as_str) {
        return Ok(ContentBlock::Text(t.to_string()));
    }
    if let Some(p) = b.get("cachePoint") {
        return Ok(ContentBlock::CachePoint(cache_point(p)?));
    }
    if let Some(tu) = b.get("toolUse") {
        return Ok(ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id(text_of(tu, "toolUseId")?)
                .name(text_of(tu, "name")?)
                .input(json_to_document(tu.get("input").unwrap_or(&Value::Null)))
                .build()?,
        ));
    }
    if let Some(tr) = b.get("toolResult") {
        let content = tr
            .get("content")
            .and_then(Value::as_array)
            .context("toolResult without content")?
            .iter()
            .map(|c| {
                if let Some(t) = c.get("text").and_then(Value::as_str) {
                    Ok(ToolResultContentBlock::Text(t.to_string()))
                } else if let Some(j) = c.get("json") {
                    Ok(ToolResultContentBlock::Json(json_to_document(j)))
                } else {
                    Err(anyhow!("unsupported toolResult content {c}"))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let status = tr
            .get("status")
            .and_then(Value::as_str)
            .map(sdk::ToolResultStatus::from);
        return Ok(ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(text_of(tr, "toolUseId")?)
                .set_content(Some(content))
                .set_status(status)
                .build()?,
        ));
    }
    bail!("unsupported content block {b}")
}

impl RawRequest {
    /// From a Converse request body (JSON, as on the wire) and the model id of its path.
    pub fn from_body(model_id: &str, body: &Value) -> Result<Self> {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .context("no messages")?
            .iter()
            .map(|m| {
                let role = match m.get("role").and_then(Value::as_str) {
                    Some("user") => ConversationRole::User,
                    Some("assistant") => ConversationRole::Assistant,
                    other => bail!("bad role {other:?}"),
                };
                let content = m
                    .get("content")
                    .and_then(Value::as_array)
                    .context("no content")?
                    .iter()
                    .map(block)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Message::builder()
                    .role(role)
                    .set_content(Some(content))
                    .build()?)
            })
            .collect::<Result<Vec<_>>>()?;
        let system = body
            .get("system")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .map(|b| match b.get("cachePoint") {
                        Some(p) => Ok(SystemContentBlock::CachePoint(cache_point(p)?)),
                        None => Ok(SystemContentBlock::Text(text_of(b, "text")?)),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let tool_config = body
            .get("toolConfig")
            .map(|cfg| -> Result<ToolConfiguration> {
                let tools = cfg
                    .get("tools")
                    .and_then(Value::as_array)
                    .context("toolConfig without tools")?
                    .iter()
                    .map(|t| {
                        if let Some(p) = t.get("cachePoint") {
                            return Ok(sdk::Tool::CachePoint(cache_point(p)?));
                        }
                        let spec = t.get("toolSpec").context("not a toolSpec")?;
                        let mut b = ToolSpecification::builder()
                            .name(text_of(spec, "name")?)
                            .input_schema(ToolInputSchema::Json(json_to_document(
                                spec.get("inputSchema")
                                    .and_then(|s| s.get("json"))
                                    .context("no inputSchema.json")?,
                            )));
                        if let Some(d) = spec.get("description").and_then(Value::as_str) {
                            b = b.description(d);
                        }
                        Ok(sdk::Tool::ToolSpec(b.build()?))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let choice = match cfg.get("toolChoice") {
                    None => None,
                    Some(c) if c.get("auto").is_some() => Some(sdk::ToolChoice::Auto(
                        sdk::AutoToolChoice::builder().build(),
                    )),
                    Some(c) if c.get("any").is_some() => {
                        Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
                    }
                    Some(c) => Some(sdk::ToolChoice::Tool(
                        sdk::SpecificToolChoice::builder()
                            .name(text_of(c.get("tool").context("bad toolChoice")?, "name")?)
                            .build()?,
                    )),
                };
                Ok(ToolConfiguration::builder()
                    .set_tools(Some(tools))
                    .set_tool_choice(choice)
                    .build()?)
            })
            .transpose()?;
        let inference_config = body.get("inferenceConfig").map(|c| {
            InferenceConfiguration::builder()
                .set_max_tokens(c.get("maxTokens").and_then(Value::as_i64).map(|x| x as i32))
                .set_temperature(
                    c.get("temperature")
                        .and_then(Value::as_f64)
                        .map(|x| x as f32),
                )
                .set_top_p(c.get("topP").and_then(Value::as_f64).map(|x| x as f32))
                .set_stop_sequences(c.get("stopSequences").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                }))
                .build()
        });
        Ok(Self {
            model_id: model_id.to_string(),
            messages,
            system,
            tool_config,
            inference_config,
        })
    }
}

/// An SDK client for the emulator, configured like `BedrockBackend`'s (SDK retries off, the
/// same timeouts), so the comparison is like for like.
pub fn client(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(300))
        .build();
    let conf = aws_sdk_bedrockruntime::config::Builder::from(sdk_config)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .timeout_config(timeouts)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(conf)
}

/// Sends `$builder` (a `converse` or `converse_stream` fluent builder) with the parts of
/// `$r`, a [`RawRequest`]; the two builders share no trait, hence a macro.
macro_rules! send_with {
    ($builder:expr, $r:expr, $what:literal) => {
        $builder
            .model_id(&$r.model_id)
            .set_messages(Some($r.messages.clone()))
            .set_system($r.system.clone())
            .set_tool_config($r.tool_config.clone())
            .set_inference_config($r.inference_config.clone())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "{}: {}",
                    $what,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })
    };
}

/// One `converse` call.
pub async fn converse(client: &Client, r: &RawRequest) -> Result<()> {
    send_with!(client.converse(), r, "converse")?;
    Ok(())
}

/// One `converse_stream` call, pulled to its end; returns when each non-empty text delta
/// arrived.
pub async fn converse_stream(client: &Client, r: &RawRequest) -> Result<Vec<Instant>> {
    let mut out = send_with!(client.converse_stream(), r, "converse_stream")?;
    let mut deltas = Vec::new();
    while let Some(event) = out
        .stream
        .recv()
        .await
        .map_err(|e| anyhow!("converse_stream event: {e}"))?
    {
        let now = Instant::now();
        if let ConverseStreamOutput::ContentBlockDelta(d) = &event
            && let Some(sdk::ContentBlockDelta::Text(t)) = d.delta()
            && !t.is_empty()
        {
            deltas.push(now);
        }
    }
    Ok(deltas)
}
