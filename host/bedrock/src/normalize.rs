//! Request normalization and pre-flight validation.
//!
//! Converse is strict: turns must alternate user/assistant starting with user, text must not
//! be blank, every toolResult must answer a toolUse of the previous assistant turn. Clients
//! trip over these constantly and pay a network round trip to learn it. We repair what has
//! one obvious meaning (system messages move to `system`, blank text is dropped, runs of the
//! same role merge) and reject the rest here, with a validation error that says where.

use std::collections::HashSet;

use gamecode_backend::media::{
    self, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, MAX_IMAGES,
};
use gamecode_backend::{
    BackendError, CachePoint, CacheTtl, ChatRequest, ContentBlock, Document, Image, ImageFormat,
    InferenceConfig, Message, MessageRole, ReasoningConfig, Tool, ToolChoice, ToolResultContent,
};

/// The smallest thinking budget Bedrock accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// The most cache points one request may carry (messages, system prompt and tools together).
pub const MAX_CACHE_POINTS: usize = 4;

/// One block of the system prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemBlock {
    Text(String),
    /// A prompt-cache checkpoint after the system text before it.
    CachePoint(CachePoint),
}

/// A request in the shape Converse accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// System prompt blocks, in order of appearance.
    pub system: Vec<SystemBlock>,
    /// A cache point after the tool definitions.
    pub cache_tools: Option<CachePoint>,
    /// Extended thinking.
    pub reasoning: Option<ReasoningConfig>,
    /// The request's options (checked).
    pub options: gamecode_backend::ChatOptions,
    /// Alternating user/assistant turns, starting with user.
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub inference: Option<InferenceConfig>,
}

fn invalid(message: impl Into<String>) -> BackendError {
    BackendError::validation(message)
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// `[a-zA-Z0-9_-]{1,64}`, Converse's rule for tool names.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Normalizes and validates `request`; no network is involved.
pub fn normalize(request: &ChatRequest) -> Result<Normalized, BackendError> {
    normalize_after(request, 0, &Carry::default()).map(|fresh| fresh.normalized)
}

/// What the checks carry from one turn to the next: kept after each turn a conversation has
/// closed, so that a later call checks only the turns after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Carry {
    /// Turns so far.
    turns: usize,
    last_role: Option<MessageRole>,
    /// The tool calls of the last assistant turn, still to be answered.
    pending: Vec<String>,
    /// Some turn so far holds a tool call or result.
    tool_blocks: bool,
    images: usize,
    documents: usize,
    /// The lifetimes of the messages' cache points so far.
    cache_points: Vec<CacheTtl>,
}

/// What the checks after normalization need to know of all the turns, kept ones included.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TurnFacts {
    pub images: bool,
    pub cache_points: Vec<CacheTtl>,
    pub last_role: Option<MessageRole>,
}

impl Carry {
    pub(crate) fn last_role(&self) -> Option<MessageRole> {
        self.last_role
    }

    pub(crate) fn facts(&self) -> TurnFacts {
        TurnFacts {
            images: self.images > 0,
            cache_points: self.cache_points.clone(),
            last_role: self.last_role,
        }
    }
}

impl TurnFacts {
    /// The facts of whole turns, counted.
    pub(crate) fn of(turns: &[Message]) -> Self {
        let blocks = || turns.iter().flat_map(|m| m.content.iter());
        Self {
            images: blocks().any(|b| match b {
                ContentBlock::Image(_) => true,
                ContentBlock::ToolResult(r) => r
                    .content
                    .iter()
                    .any(|c| matches!(c, ToolResultContent::Image(_))),
                _ => false,
            }),
            cache_points: blocks()
                .filter_map(|b| match b {
                    ContentBlock::CachePoint(p) => Some(p.ttl),
                    _ => None,
                })
                .collect(),
            last_role: turns.last().map(|m| m.role),
        }
    }
}

/// A request normalized from one of its messages on, after turns already checked.
#[derive(Debug)]
pub(crate) struct Fresh {
    /// `messages` holds the turns from `start` on only; the system prompt, tools and options
    /// are the whole request's.
    pub normalized: Normalized,
    /// The carry after each of those turns.
    pub carries: Vec<Carry>,
    /// The indexes (in the request) of the non-system messages each of those turns was made
    /// of; a message with nothing left after normalization belongs to the turn before it (the
    /// first turn, when it comes first).
    pub sources: Vec<Vec<usize>>,
}

impl Fresh {
    /// The facts of every turn: the carried ones and these.
    pub(crate) fn facts(&self, before: &Carry) -> TurnFacts {
        self.carries.last().unwrap_or(before).facts()
    }
}

/// Normalizes and validates `request`'s turns from its message `start` on, as turns that
/// follow those `carry` describes (checked already, and not read again). The system prompt is
/// gathered from every system message, wherever it is.
pub(crate) fn normalize_after(
    request: &ChatRequest,
    start: usize,
    carry: &Carry,
) -> Result<Fresh, BackendError> {
    let mut system = Vec::new();
    let mut turns: Vec<Message> = Vec::new();
    let mut sources: Vec<Vec<usize>> = Vec::new();
    let mut leading = Vec::new();

    for (i, message) in request.messages.iter().enumerate() {
        if message.role == MessageRole::System {
            for block in &message.content {
                match block {
                    ContentBlock::Text { text } if !is_blank(text) => {
                        system.push(SystemBlock::Text(text.clone()))
                    }
                    ContentBlock::Text { .. } => {}
                    ContentBlock::CachePoint(point) => system.push(SystemBlock::CachePoint(*point)),
                    _ => {
                        return Err(invalid(format!(
                            "messages[{i}]: a system message may only contain text and cache \
                             points"
                        )));
                    }
                }
            }
            continue;
        }
        if i < start {
            continue;
        }
        let content: Vec<ContentBlock> = message
            .content
            .iter()
            .filter(|b| !matches!(b, ContentBlock::Text { text } if is_blank(text)))
            .cloned()
            .map(normalize_block)
            .collect();
        if content.is_empty() {
            match sources.last_mut() {
                Some(last) => last.push(i),
                None => leading.push(i),
            }
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == message.role => {
                last.content.extend(content);
                if let Some(last) = sources.last_mut() {
                    last.push(i);
                }
            }
            _ => {
                turns.push(Message {
                    role: message.role,
                    content,
                });
                let mut made_of = std::mem::take(&mut leading);
                made_of.push(i);
                sources.push(made_of);
            }
        }
    }

    let tools = request.tools.clone().unwrap_or_default();
    let cache_tools = request.options.cache_tools;
    if cache_tools.is_some() && tools.is_empty() {
        return Err(invalid("a cache point after the tools needs tools"));
    }
    let mut carries = vec![carry.clone(); turns.len()];
    check_pairing(&turns, !tools.is_empty(), carry, &mut carries)?;
    check_media(&turns, carry, &mut carries)?;
    check_cache_points(&system, &turns, cache_tools.is_some(), carry, &mut carries)?;
    validate_options(&request.options)?;
    if let Some(reasoning) = request.options.reasoning {
        validate_reasoning(reasoning, request.inference_config.as_ref())?;
    }
    validate_tools(&tools, request.tool_choice.as_ref())?;
    if let Some(cfg) = &request.inference_config {
        validate_inference(cfg)?;
    }
    Ok(Fresh {
        normalized: Normalized {
            system,
            cache_tools,
            reasoning: request.options.reasoning,
            options: request.options.clone(),
            messages: turns,
            tool_choice: if tools.is_empty() {
                None
            } else {
                request.tool_choice.clone()
            },
            tools,
            inference: request.inference_config.clone(),
        },
        carries,
        sources,
    })
}

/// Fixes a block's representable-but-rejected forms: a tool call without arguments sends
/// `{}`, and an empty tool result says so in words rather than sending an empty list.
fn normalize_block(block: ContentBlock) -> ContentBlock {
    match block {
        ContentBlock::ToolUse(mut call) if call.input.is_null() => {
            call.input = serde_json::Value::Object(Default::default());
            ContentBlock::ToolUse(call)
        }
        ContentBlock::ToolResult(mut result) => {
            result
                .content
                .retain(|c| !matches!(c, ToolResultContent::Text(t) if is_blank(t)));
            if result.content.is_empty() {
                result
                    .content
                    .push(ToolResultContent::Text("(no output)".into()));
            }
            ContentBlock::ToolResult(result)
        }
        other => other,
    }
}

/// The rules of the remaining options: metadata and response-field limits, a schema that is
/// an object, raw fields that are an object and do not fight the typed options.
fn validate_options(o: &gamecode_backend::ChatOptions) -> Result<(), BackendError> {
    if o.request_metadata.len() > 16 {
        return Err(invalid(format!(
            "request metadata has {} pairs; Bedrock accepts at most 16",
            o.request_metadata.len()
        )));
    }
    for (k, v) in &o.request_metadata {
        if k.is_empty() || k.chars().count() > 256 || v.chars().count() > 256 {
            return Err(invalid(format!(
                "request metadata {k:?}: keys are 1 to 256 characters, values at most 256"
            )));
        }
    }
    if o.additional_model_response_field_paths.len() > 10 {
        return Err(invalid(
            "at most 10 additional model response field paths may be requested",
        ));
    }
    if let Some(p) = o
        .additional_model_response_field_paths
        .iter()
        .find(|p| !p.starts_with('/'))
    {
        return Err(invalid(format!(
            "additional model response field path {p:?} must be a JSON pointer (starting with `/`)"
        )));
    }
    if let Some(fields) = &o.additional_model_request_fields {
        if !fields.is_object() {
            return Err(invalid(
                "additional model request fields must be a JSON object",
            ));
        }
        if o.reasoning.is_some() && fields.get("thinking").is_some() {
            return Err(invalid(
                "set extended thinking with `reasoning` or in the additional fields, not both",
            ));
        }
    }
    if let Some(g) = &o.guardrail {
        let version_ok = g.version == "DRAFT"
            || (!g.version.is_empty() && g.version.bytes().all(|b| b.is_ascii_digit()));
        if g.identifier.is_empty() || !version_ok {
            return Err(invalid(format!(
                "guardrail {:?} version {:?}: give the guardrail's id or ARN and a version \
                 (a number, or DRAFT)",
                g.identifier, g.version
            )));
        }
    }
    if let Some(so) = &o.structured_output
        && !so.schema.is_object()
    {
        return Err(invalid(
            "the structured-output schema must be a JSON object",
        ));
    }
    Ok(())
}

/// Extended thinking's rules: a budget of at least 1,024 tokens below `max_tokens`, and
/// sampling left at its defaults.
fn validate_reasoning(
    reasoning: ReasoningConfig,
    inference: Option<&InferenceConfig>,
) -> Result<(), BackendError> {
    if let ReasoningConfig::Budget { tokens } = reasoning {
        if tokens < MIN_THINKING_BUDGET {
            return Err(invalid(format!(
                "the thinking budget is {tokens} tokens; Bedrock needs at least \
                 {MIN_THINKING_BUDGET}"
            )));
        }
        match inference.and_then(|c| c.max_tokens) {
            Some(max) if max > tokens => {}
            Some(max) => {
                return Err(invalid(format!(
                    "max_tokens ({max}) must be greater than the thinking budget ({tokens})"
                )));
            }
            None => {
                return Err(invalid(format!(
                    "a thinking budget needs max_tokens above it (the budget is {tokens})"
                )));
            }
        }
    }
    if inference.is_some_and(|c| c.temperature.is_some() || c.top_p.is_some()) {
        return Err(invalid(
            "temperature and top_p cannot be set when extended thinking is on",
        ));
    }
    // A forced tool choice is the model's rule (most refuse it with thinking, a few take
    // it): `catalogue::admit` checks it.
    Ok(())
}

/// At most [`MAX_CACHE_POINTS`] in all, and each after some content (a checkpoint of nothing
/// caches nothing; Bedrock refuses a message or system prompt that starts with one).
fn check_cache_points(
    system: &[SystemBlock],
    turns: &[Message],
    after_tools: bool,
    carry: &Carry,
    carries: &mut [Carry],
) -> Result<(), BackendError> {
    if matches!(system.first(), Some(SystemBlock::CachePoint(_))) {
        return Err(invalid(
            "the system prompt starts with a cache point: put it after text",
        ));
    }
    let mut points = carry.cache_points.clone();
    for (k, turn) in turns.iter().enumerate() {
        if matches!(turn.content.first(), Some(ContentBlock::CachePoint(_))) {
            let i = carry.turns + k;
            return Err(invalid(format!(
                "turn {i} starts with a cache point: put it after the content it caches"
            )));
        }
        points.extend(turn.content.iter().filter_map(|b| match b {
            ContentBlock::CachePoint(p) => Some(p.ttl),
            _ => None,
        }));
        carries[k].cache_points.clone_from(&points);
    }
    let count = usize::from(after_tools)
        + system
            .iter()
            .filter(|b| matches!(b, SystemBlock::CachePoint(_)))
            .count()
        + points.len();
    if count > MAX_CACHE_POINTS {
        return Err(invalid(format!(
            "the request has {count} cache points; Bedrock accepts at most {MAX_CACHE_POINTS}"
        )));
    }
    Ok(())
}

/// Bedrock's rules for images and documents: how many, how large, in which turns, and that
/// the bytes are what the block says they are.
fn check_media(
    turns: &[Message],
    carry: &Carry,
    carries: &mut [Carry],
) -> Result<(), BackendError> {
    let (mut images, mut documents) = (carry.images, carry.documents);
    for (k, turn) in turns.iter().enumerate() {
        let i = carry.turns + k;
        let mut has_text = false;
        let mut has_document = false;
        for block in &turn.content {
            let media_here = matches!(block, ContentBlock::Image(_) | ContentBlock::Document(_));
            if media_here && turn.role == MessageRole::Assistant {
                return Err(invalid(format!(
                    "turn {i}: images and documents can only appear in user messages"
                )));
            }
            match block {
                ContentBlock::Text { .. } => has_text = true,
                ContentBlock::Image(image) => {
                    images += 1;
                    check_image(i, image)?;
                }
                ContentBlock::Document(doc) => {
                    documents += 1;
                    has_document = true;
                    check_document(i, doc)?;
                }
                ContentBlock::ToolResult(result) => {
                    for c in &result.content {
                        match c {
                            ToolResultContent::Image(image) => {
                                images += 1;
                                check_image(i, image)?;
                            }
                            ToolResultContent::Document(doc) => {
                                documents += 1;
                                check_document(i, doc)?;
                            }
                            _ => {}
                        }
                    }
                }
                ContentBlock::Reasoning(_) | ContentBlock::Cited(_)
                    if turn.role == MessageRole::User =>
                {
                    return Err(invalid(format!(
                        "turn {i}: reasoning and cited text can only appear in assistant messages"
                    )));
                }
                // Kinds newer than this check are refused when converted.
                _ => {}
            }
        }
        if has_document && !has_text {
            return Err(invalid(format!(
                "turn {i}: a message with a document must also have a text block (say what to \
                 do with it)"
            )));
        }
        (carries[k].images, carries[k].documents) = (images, documents);
    }
    if images > MAX_IMAGES {
        return Err(invalid(format!(
            "the request has {images} images; Bedrock accepts at most {MAX_IMAGES}"
        )));
    }
    if documents > MAX_DOCUMENTS {
        return Err(invalid(format!(
            "the request has {documents} documents; Bedrock accepts at most {MAX_DOCUMENTS}"
        )));
    }
    Ok(())
}

fn check_image(turn: usize, image: &Image) -> Result<(), BackendError> {
    let declared = image.format.as_str();
    if image.bytes.len() > MAX_IMAGE_BYTES {
        return Err(invalid(format!(
            "turn {turn}: an image is {} bytes; Bedrock accepts at most {MAX_IMAGE_BYTES} \
             (3.75 MB)",
            image.bytes.len()
        )));
    }
    match ImageFormat::sniff(&image.bytes) {
        Some(real) if real == image.format => {}
        Some(real) => {
            return Err(invalid(format!(
                "turn {turn}: an image declared {declared} is {}",
                real.as_str()
            )));
        }
        None => {
            return Err(invalid(format!(
                "turn {turn}: an image declared {declared} is not a {declared} image"
            )));
        }
    }
    match media::image_size(image.format, &image.bytes) {
        Some((w, h)) if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE => Err(invalid(format!(
            "turn {turn}: an image is {w}×{h} pixels; Bedrock accepts at most \
             {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE}"
        ))),
        Some(_) => Ok(()),
        None => Err(invalid(format!(
            "turn {turn}: the {declared} image's size cannot be read (a truncated or corrupt \
             file?)"
        ))),
    }
}

fn check_document(turn: usize, doc: &Document) -> Result<(), BackendError> {
    if !media::is_valid_document_name(&doc.name) {
        return Err(invalid(format!(
            "turn {turn}: document name {:?} is not allowed: use letters, digits, single \
             spaces, hyphens, parentheses and square brackets (no file extension)",
            doc.name
        )));
    }
    if doc.bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "turn {turn}: document {:?} is {} bytes; Bedrock accepts at most \
             {MAX_DOCUMENT_BYTES} (4.5 MB)",
            doc.name,
            doc.bytes.len()
        )));
    }
    if !doc.format.matches(&doc.bytes) {
        return Err(invalid(format!(
            "turn {turn}: document {:?} is declared {} but its bytes are not",
            doc.name,
            doc.format.as_str()
        )));
    }
    Ok(())
}

/// Turns alternate from a user turn, and every tool call is answered by the next turn.
fn check_pairing(
    turns: &[Message],
    tools_offered: bool,
    carry: &Carry,
    carries: &mut [Carry],
) -> Result<(), BackendError> {
    if carry.turns == 0 {
        let Some(first) = turns.first() else {
            return Err(invalid(
                "the request has no user or assistant message with content",
            ));
        };
        if first.role != MessageRole::User {
            return Err(invalid(
                "a conversation must start with a user message (messages[0] is from the assistant)",
            ));
        }
    }
    let no_tools =
        || invalid("the conversation contains tool calls or results, so `tools` must be set");
    if carry.tool_blocks && !tools_offered {
        return Err(no_tools());
    }
    let mut pending: Vec<&str> = carry.pending.iter().map(String::as_str).collect();
    let mut tool_blocks = carry.tool_blocks;
    for (k, turn) in turns.iter().enumerate() {
        let i = carry.turns + k;
        let mut answered = HashSet::new();
        let mut uses = Vec::new();
        for block in &turn.content {
            match (turn.role, block) {
                (MessageRole::Assistant, ContentBlock::ToolUse(call)) => {
                    if call.id.is_empty() {
                        return Err(invalid(format!("turn {i}: a tool call has an empty id")));
                    }
                    if !call.input.is_object() {
                        return Err(invalid(format!(
                            "turn {i}: the input of tool call {} must be a JSON object",
                            call.id
                        )));
                    }
                    uses.push(call.id.as_str());
                }
                (MessageRole::User, ContentBlock::ToolResult(result)) => {
                    if !pending.contains(&result.tool_use_id.as_str()) {
                        return Err(invalid(format!(
                            "turn {i}: tool result {} answers no tool call of the previous assistant turn",
                            result.tool_use_id
                        )));
                    }
                    if !answered.insert(result.tool_use_id.as_str()) {
                        return Err(invalid(format!(
                            "turn {i}: tool call {} is answered twice",
                            result.tool_use_id
                        )));
                    }
                }
                (MessageRole::User, ContentBlock::ToolUse(_)) => {
                    return Err(invalid(format!(
                        "turn {i}: tool calls can only appear in assistant messages"
                    )));
                }
                (MessageRole::Assistant, ContentBlock::ToolResult(_)) => {
                    return Err(invalid(format!(
                        "turn {i}: tool results can only appear in user messages"
                    )));
                }
                _ => {}
            }
        }
        if !uses.is_empty() || !answered.is_empty() {
            if !tools_offered {
                return Err(no_tools());
            }
            tool_blocks = true;
        }
        if turn.role == MessageRole::User {
            if let Some(missing) = pending.iter().find(|id| !answered.contains(*id)) {
                return Err(invalid(format!(
                    "turn {i}: tool call {missing} of the previous assistant turn has no result"
                )));
            }
            pending.clear();
        } else {
            pending = uses;
        }
        let after = &mut carries[k];
        after.turns = i + 1;
        after.last_role = Some(turn.role);
        after.pending = pending.iter().map(|id| id.to_string()).collect();
        after.tool_blocks = tool_blocks;
    }
    if !pending.is_empty() {
        return Err(invalid(
            "the conversation ends with tool calls that have no results",
        ));
    }
    Ok(())
}

fn validate_tools(tools: &[Tool], choice: Option<&ToolChoice>) -> Result<(), BackendError> {
    let mut names = HashSet::new();
    for tool in tools {
        if !is_valid_tool_name(&tool.name) {
            return Err(invalid(format!(
                "tool name {:?} must match [a-zA-Z0-9_-]{{1,64}}",
                tool.name
            )));
        }
        if !names.insert(tool.name.as_str()) {
            return Err(invalid(format!("tool {:?} is offered twice", tool.name)));
        }
        if !tool.input_schema.is_object() {
            return Err(invalid(format!(
                "the input schema of tool {:?} must be a JSON object",
                tool.name
            )));
        }
    }
    match choice {
        Some(ToolChoice::Tool(name)) if !names.contains(name.as_str()) => Err(invalid(format!(
            "tool choice names {name:?}, which is not among the offered tools"
        ))),
        Some(ToolChoice::Any | ToolChoice::Tool(_)) if tools.is_empty() => {
            Err(invalid("a tool choice was given but no tools are offered"))
        }
        _ => Ok(()),
    }
}

fn validate_inference(cfg: &InferenceConfig) -> Result<(), BackendError> {
    if cfg.max_tokens == Some(0) {
        return Err(invalid("inference_config.max_tokens must be at least 1"));
    }
    if cfg.max_tokens.is_some_and(|m| m > i32::MAX as u32) {
        return Err(invalid("inference_config.max_tokens is too large"));
    }
    for (name, value) in [("temperature", cfg.temperature), ("top_p", cfg.top_p)] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(invalid(format!(
                "inference_config.{name} must be between 0 and 1, got {v}"
            )));
        }
    }
    if cfg.stop_sequences.iter().any(|s| s.is_empty()) {
        return Err(invalid(
            "inference_config.stop_sequences must not contain empty strings",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_backend::{ToolCall, ToolResult};
    use serde_json::json;

    fn req(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: "d".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    fn call(id: &str) -> ContentBlock {
        ContentBlock::ToolUse(ToolCall {
            id: id.into(),
            name: "calc".into(),
            input: json!({}),
        })
    }

    #[test]
    fn system_messages_move_out_of_the_turns() {
        let n = normalize(&req(vec![
            Message::system("be brief"),
            Message::user("hi"),
            Message::system("  "),
            Message::system("and kind"),
        ]))
        .unwrap();
        assert_eq!(
            n.system,
            [
                SystemBlock::Text("be brief".into()),
                SystemBlock::Text("and kind".into())
            ]
        );
        assert_eq!(n.messages, [Message::user("hi")]);
    }

    #[test]
    fn same_role_runs_merge_and_blank_text_drops() {
        let n = normalize(&req(vec![
            Message::user("a"),
            Message::user(""),
            Message::assistant("   "),
            Message::user("b"),
            Message::assistant("c"),
        ]))
        .unwrap();
        assert_eq!(n.messages.len(), 2);
        assert_eq!(n.messages[0].role, MessageRole::User);
        assert_eq!(n.messages[0].text_content(), "ab");
        assert_eq!(n.messages[1], Message::assistant("c"));
    }

    #[test]
    fn unfixable_conversations_are_rejected_before_the_network() {
        for (messages, needle) in [
            (vec![], "no user or assistant message"),
            (vec![Message::system("only system")], "no user or assistant"),
            (
                vec![Message::assistant("hi")],
                "must start with a user message",
            ),
        ] {
            let err = normalize(&req(messages)).unwrap_err();
            assert!(matches!(err, BackendError::Validation { .. }));
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn tool_results_must_answer_the_previous_turn() {
        let mut r = req(vec![
            Message::user("go"),
            Message {
                role: MessageRole::Assistant,
                content: vec![call("t1"), call("t2")],
            },
            Message::tool_results([ToolResult::text("t1", "ok")]),
        ]);
        r.tools = Some(vec![tool("calc")]);
        let err = normalize(&r).unwrap_err();
        assert!(err.to_string().contains("t2"), "{err}");

        r.messages[2] =
            Message::tool_results([ToolResult::text("t1", "ok"), ToolResult::text("zz", "?")]);
        assert!(normalize(&r).unwrap_err().to_string().contains("zz"));

        r.messages[2] = Message::tool_results([
            ToolResult::text("t1", "ok"),
            ToolResult::error("t2", "failed"),
        ]);
        assert!(normalize(&r).is_ok());

        r.tools = None;
        assert!(
            normalize(&r)
                .unwrap_err()
                .to_string()
                .contains("`tools` must be set")
        );
    }

    #[test]
    fn null_tool_input_becomes_an_empty_object_and_empty_results_say_so() {
        let mut r = req(vec![
            Message::user("go"),
            Message {
                role: MessageRole::Assistant,
                content: vec![ContentBlock::ToolUse(ToolCall {
                    id: "t1".into(),
                    name: "calc".into(),
                    input: serde_json::Value::Null,
                })],
            },
            Message::tool_results([ToolResult::text("t1", "")]),
        ]);
        r.tools = Some(vec![tool("calc")]);
        let n = normalize(&r).unwrap();
        assert_eq!(n.messages[1].tool_calls().next().unwrap().input, json!({}));
        match &n.messages[2].content[0] {
            ContentBlock::ToolResult(res) => {
                assert_eq!(res.content, [ToolResultContent::Text("(no output)".into())])
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tools_and_choice_are_checked() {
        assert!(is_valid_tool_name("get_weather-2"));
        assert!(!is_valid_tool_name("get weather"));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name(&"x".repeat(65)));
        let mut r = req(vec![Message::user("hi")]);
        r.tools = Some(vec![tool("bad name")]);
        assert!(normalize(&r).is_err());
        r.tools = Some(vec![tool("a"), tool("a")]);
        assert!(normalize(&r).is_err());
        r.tools = Some(vec![tool("a")]);
        r.tool_choice = Some(ToolChoice::Tool("b".into()));
        assert!(normalize(&r).is_err());
        r.tools = None;
        r.tool_choice = Some(ToolChoice::Any);
        assert!(normalize(&r).is_err());
    }

    #[test]
    fn inference_ranges_are_checked() {
        let mut r = req(vec![Message::user("hi")]);
        for cfg in [
            InferenceConfig {
                max_tokens: Some(0),
                ..Default::default()
            },
            InferenceConfig {
                temperature: Some(1.5),
                ..Default::default()
            },
            InferenceConfig {
                top_p: Some(-0.1),
                ..Default::default()
            },
            InferenceConfig {
                temperature: Some(f32::NAN),
                ..Default::default()
            },
            InferenceConfig {
                stop_sequences: vec![String::new()],
                ..Default::default()
            },
        ] {
            r.inference_config = Some(cfg.clone());
            assert!(normalize(&r).is_err(), "{cfg:?} must be rejected");
        }
        r.inference_config = Some(InferenceConfig {
            temperature: Some(0.3),
            top_p: Some(0.9),
            max_tokens: Some(1000),
            stop_sequences: vec!["END".into()],
        });
        assert!(normalize(&r).is_ok());
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    fn with(blocks: Vec<ContentBlock>) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: MessageRole::User,
                content: blocks,
            }],
            ..Default::default()
        }
    }

    fn image(bytes: Vec<u8>, format: gamecode_backend::ImageFormat) -> ContentBlock {
        ContentBlock::Image(Image { format, bytes })
    }

    fn doc(name: &str, format: gamecode_backend::DocumentFormat, bytes: &[u8]) -> ContentBlock {
        ContentBlock::Document(Document {
            format,
            name: name.into(),
            bytes: bytes.to_vec(),
            citations: false,
        })
    }

    fn text(t: &str) -> ContentBlock {
        ContentBlock::Text { text: t.into() }
    }

    #[test]
    fn images_and_documents_follow_bedrocks_rules_before_any_call() {
        use gamecode_backend::{DocumentFormat as D, ImageFormat as I};
        let err = |r: ChatRequest| normalize(&r).unwrap_err().message().to_string();
        // Fine: an image, a document beside text.
        normalize(&with(vec![
            text("what is this?"),
            image(png(640, 480), I::Png),
            doc("Spec (v2)", D::Pdf, b"%PDF-1.7"),
        ]))
        .unwrap();
        assert!(err(with(vec![text("x"), image(png(8001, 10), I::Png)])).contains("8001×10"));
        assert!(
            err(with(vec![text("x"), image(png(1, 1), I::Jpeg)])).contains("declared jpeg is png")
        );
        assert!(err(with(vec![text("x"), image(b"nope".to_vec(), I::Gif)])).contains("not a gif"));
        let big = [png(1, 1), vec![0; MAX_IMAGE_BYTES]].concat();
        assert!(err(with(vec![text("x"), image(big, I::Png)])).contains("3.75 MB"));
        let many: Vec<_> = (0..21).map(|_| image(png(1, 1), I::Png)).collect();
        assert!(err(with(many)).contains("at most 20"));
        assert!(err(with(vec![doc("spec", D::Pdf, b"%PDF-")])).contains("text block"));
        assert!(err(with(vec![text("x"), doc("spec.pdf", D::Pdf, b"%PDF-")])).contains("name"));
        assert!(err(with(vec![text("x"), doc("spec", D::Pdf, b"hello")])).contains("declared pdf"));
        let docs: Vec<_> = std::iter::once(text("x"))
            .chain((0..6).map(|i| doc(&format!("d{i}"), D::Txt, b"t")))
            .collect();
        assert!(err(with(docs)).contains("at most 5"));
        let r = ChatRequest {
            messages: vec![
                Message::user("hi"),
                Message {
                    role: MessageRole::Assistant,
                    content: vec![image(png(1, 1), I::Png)],
                },
            ],
            ..Default::default()
        };
        assert!(err(r).contains("only appear in user messages"));
    }

    #[test]
    fn cache_points_are_counted_and_placed_after_content() {
        let point = || ContentBlock::CachePoint(CachePoint::default());
        let tools = vec![Tool {
            name: "t".into(),
            description: "d".into(),
            input_schema: serde_json::json!({"type": "object"}),
        }];
        let mut r = ChatRequest {
            messages: vec![
                Message {
                    role: MessageRole::System,
                    content: vec![text("be brief"), point()],
                },
                Message {
                    role: MessageRole::User,
                    content: vec![text("a"), point()],
                },
            ],
            tools: Some(tools),
            ..Default::default()
        };
        r.options.cache_tools = Some(CachePoint::default());
        let n = normalize(&r).unwrap();
        assert!(matches!(n.system[1], SystemBlock::CachePoint(_)));
        r.messages[1]
            .content
            .extend([text("b"), point(), text("c"), point()]);
        let e = normalize(&r).unwrap_err();
        assert!(e.message().contains("5 cache points"), "{e}");
        let starts = ChatRequest {
            messages: vec![Message {
                role: MessageRole::User,
                content: vec![point(), text("a")],
            }],
            ..Default::default()
        };
        assert!(
            normalize(&starts)
                .unwrap_err()
                .message()
                .contains("starts with a cache point")
        );
        let mut no_tools = ChatRequest {
            messages: vec![Message::user("a")],
            ..Default::default()
        };
        no_tools.options.cache_tools = Some(CachePoint::default());
        assert!(normalize(&no_tools).is_err());
    }
}
