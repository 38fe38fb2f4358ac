//! Validation of Converse / ConverseStream request bodies, with Bedrock's messages.
//!
//! Peers of this project hit Bedrock's ValidationExceptions constantly (non-alternating roles,
//! blank text, orphaned tool results, bad tool names); a lenient emulator would hide exactly
//! those bugs. Like the real service this runs in two passes: shape and member constraints
//! first (collected as "N validation errors detected: …"), then the conversation rules, which
//! stop at the first violation.

use crate::models::is_valid_model_id;
use crate::shape::{
    CONTENT_BLOCK_KINDS, INVALID_MODEL, Invalid, SYSTEM_BLOCK_KINDS, TOOL_RESULT_BLOCK_KINDS,
    union_member,
};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub(crate) const MALFORMED: &str =
    "Malformed input request, please reformat your input and try again.";
const MUST_START_WITH_USER: &str = "A conversation must start with a user message. Try again with a conversation that starts with a user message.";
const MUST_ALTERNATE: &str = "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.";
const TOOL_CONFIG_REQUIRED: &str =
    "The toolConfig field must be defined when using toolUse and toolResult content blocks.";

fn malformed() -> Invalid {
    Invalid(MALFORMED.to_string())
}

/// Validate a Converse request for `model_id` (`None`: the path segment was not UTF-8).
pub(crate) fn validate_converse(model_id: Option<&str>, body: &Value) -> Result<(), Invalid> {
    let Some(req) = body.as_object() else {
        return Err(malformed());
    };
    let constraints = check_shapes(req)?;
    if !constraints.is_empty() {
        let n = constraints.len();
        let noun = if n == 1 { "error" } else { "errors" };
        return Err(Invalid(format!(
            "{n} validation {noun} detected: {}",
            constraints.join("; ")
        )));
    }
    if !model_id.is_some_and(is_valid_model_id) {
        return Err(Invalid(INVALID_MODEL.to_string()));
    }
    check_conversation(req, model_id.and_then(crate::catalogue::model))
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn matches_name_pattern(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// How a value is quoted in constraint messages.
fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(quoted).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn constraint(value: &Value, path: &str, what: &str) -> String {
    format!(
        "Value '{}' at '{path}' failed to satisfy constraint: Member must {what}",
        quoted(value)
    )
}

fn not_null(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// Pass 1: JSON types (malformed ⇒ immediate error) and member constraints (collected).
fn check_shapes(req: &Map<String, Value>) -> Result<Vec<String>, Invalid> {
    let mut errors = Vec::new();

    match req.get("messages") {
        None | Some(Value::Null) => errors.push(not_null("messages")),
        Some(Value::Array(messages)) => {
            for (i, m) in messages.iter().enumerate() {
                let m = m.as_object().ok_or_else(malformed)?;
                let path = format!("messages.{}.member", i + 1);
                match m.get("role") {
                    None | Some(Value::Null) => errors.push(not_null(&format!("{path}.role"))),
                    Some(Value::String(r)) if r == "user" || r == "assistant" => {}
                    Some(v @ Value::String(_)) => errors.push(constraint(
                        v,
                        &format!("{path}.role"),
                        "satisfy enum value set: [user, assistant]",
                    )),
                    Some(_) => return Err(malformed()),
                }
                match m.get("content") {
                    None | Some(Value::Null) => errors.push(not_null(&format!("{path}.content"))),
                    Some(Value::Array(blocks)) => {
                        for b in blocks {
                            check_block_shape(b)?;
                        }
                    }
                    Some(_) => return Err(malformed()),
                }
            }
        }
        Some(_) => return Err(malformed()),
    }

    match req.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::Array(blocks)) => {
            for b in blocks {
                let (kind, v) = union_member(b, SYSTEM_BLOCK_KINDS).ok_or_else(malformed)?;
                if kind == "text" && !v.is_string() {
                    return Err(malformed());
                }
            }
        }
        Some(_) => return Err(malformed()),
    }

    match req.get("inferenceConfig") {
        None | Some(Value::Null) => {}
        Some(Value::Object(cfg)) => check_inference_config(cfg, &mut errors)?,
        Some(_) => return Err(malformed()),
    }

    match req.get("toolConfig") {
        None | Some(Value::Null) => {}
        Some(Value::Object(cfg)) => check_tool_config_shape(cfg, &mut errors)?,
        Some(_) => return Err(malformed()),
    }

    for key in [
        "additionalModelRequestFields",
        "promptVariables",
        "requestMetadata",
    ] {
        if let Some(v) = req.get(key)
            && !v.is_object()
            && !v.is_null()
        {
            return Err(malformed());
        }
    }
    if let Some(v) = req.get("additionalModelResponseFieldPaths") {
        match v {
            Value::Null => {}
            Value::Array(paths) if paths.iter().all(Value::is_string) => {}
            _ => return Err(malformed()),
        }
    }
    Ok(errors)
}

fn check_block_shape(block: &Value) -> Result<(), Invalid> {
    let (kind, v) = union_member(block, CONTENT_BLOCK_KINDS).ok_or_else(malformed)?;
    match kind {
        "text" if !v.is_string() => Err(malformed()),
        "toolUse" => {
            let tu = v.as_object().ok_or_else(malformed)?;
            if !tu.get("toolUseId").is_some_and(Value::is_string)
                || !tu.get("name").is_some_and(Value::is_string)
                || tu.get("input").is_none()
            {
                return Err(malformed());
            }
            Ok(())
        }
        "toolResult" => {
            let tr = v.as_object().ok_or_else(malformed)?;
            if !tr.get("toolUseId").is_some_and(Value::is_string) {
                return Err(malformed());
            }
            let content = tr
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(malformed)?;
            for c in content {
                let (k, cv) = union_member(c, TOOL_RESULT_BLOCK_KINDS).ok_or_else(malformed)?;
                if k == "text" && !cv.is_string() {
                    return Err(malformed());
                }
            }
            match tr.get("status") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::String(s)) if s == "success" || s == "error" => Ok(()),
                Some(_) => Err(malformed()),
            }
        }
        _ => Ok(()),
    }
}

fn check_inference_config(
    cfg: &Map<String, Value>,
    errors: &mut Vec<String>,
) -> Result<(), Invalid> {
    if let Some(v) = cfg.get("maxTokens").filter(|v| !v.is_null()) {
        let n = v.as_i64().ok_or_else(malformed)?;
        if n < 1 {
            errors.push(constraint(
                v,
                "inferenceConfig.maxTokens",
                "have value greater than or equal to 1",
            ));
        }
    }
    for key in ["temperature", "topP"] {
        if let Some(v) = cfg.get(key).filter(|v| !v.is_null()) {
            let x = v.as_f64().ok_or_else(malformed)?;
            let path = format!("inferenceConfig.{key}");
            if x < 0.0 {
                errors.push(constraint(
                    v,
                    &path,
                    "have value greater than or equal to 0",
                ));
            } else if x > 1.0 {
                errors.push(constraint(v, &path, "have value less than or equal to 1"));
            }
        }
    }
    if let Some(v) = cfg.get("stopSequences").filter(|v| !v.is_null()) {
        let seqs = v.as_array().ok_or_else(malformed)?;
        if !seqs.iter().all(Value::is_string) {
            return Err(malformed());
        }
        if seqs.len() > 4 {
            errors.push(constraint(
                v,
                "inferenceConfig.stopSequences",
                "have length less than or equal to 4",
            ));
        }
        for (i, s) in seqs.iter().enumerate() {
            if s.as_str().is_some_and(str::is_empty) {
                errors.push(constraint(
                    s,
                    &format!("inferenceConfig.stopSequences.{}.member", i + 1),
                    "have length greater than or equal to 1",
                ));
            }
        }
    }
    Ok(())
}

fn check_tool_name(name: &Value, path: &str, errors: &mut Vec<String>) -> Result<(), Invalid> {
    let s = name.as_str().ok_or_else(malformed)?;
    if s.chars().count() > 64 {
        errors.push(constraint(
            name,
            path,
            "have length less than or equal to 64",
        ));
    }
    if !matches_name_pattern(s) {
        errors.push(constraint(
            name,
            path,
            "satisfy regular expression pattern: [a-zA-Z0-9_-]+",
        ));
    }
    Ok(())
}

fn check_tool_config_shape(
    cfg: &Map<String, Value>,
    errors: &mut Vec<String>,
) -> Result<(), Invalid> {
    match cfg.get("tools") {
        None | Some(Value::Null) => errors.push(not_null("toolConfig.tools")),
        Some(v @ Value::Array(tools)) => {
            if tools.is_empty() {
                errors.push(constraint(
                    v,
                    "toolConfig.tools",
                    "have length greater than or equal to 1",
                ));
            }
            for (i, t) in tools.iter().enumerate() {
                let (kind, spec) = union_member(t, &["toolSpec", "systemTool", "cachePoint"])
                    .ok_or_else(malformed)?;
                if kind != "toolSpec" {
                    continue;
                }
                let spec = spec.as_object().ok_or_else(malformed)?;
                let path = format!("toolConfig.tools.{}.member.toolSpec", i + 1);
                match spec.get("name") {
                    None | Some(Value::Null) => errors.push(not_null(&format!("{path}.name"))),
                    Some(name) => check_tool_name(name, &format!("{path}.name"), errors)?,
                }
                match spec.get("description") {
                    None | Some(Value::Null) => {}
                    Some(d @ Value::String(s)) if s.is_empty() => errors.push(constraint(
                        d,
                        &format!("{path}.description"),
                        "have length greater than or equal to 1",
                    )),
                    Some(Value::String(_)) => {}
                    Some(_) => return Err(malformed()),
                }
                match spec.get("inputSchema") {
                    None | Some(Value::Null) => {
                        errors.push(not_null(&format!("{path}.inputSchema")))
                    }
                    Some(schema) => {
                        union_member(schema, &["json"]).ok_or_else(malformed)?;
                    }
                }
            }
        }
        Some(_) => return Err(malformed()),
    }
    match cfg.get("toolChoice") {
        None | Some(Value::Null) => {}
        Some(choice) => {
            let (kind, v) = union_member(choice, &["auto", "any", "tool"]).ok_or_else(malformed)?;
            let obj = v.as_object().ok_or_else(malformed)?;
            if kind == "tool" {
                match obj.get("name") {
                    None | Some(Value::Null) => {
                        errors.push(not_null("toolConfig.toolChoice.tool.name"))
                    }
                    Some(name) => check_tool_name(name, "toolConfig.toolChoice.tool.name", errors)?,
                }
            }
        }
    }
    Ok(())
}

/// Pass 2: Bedrock's conversation rules.
fn check_conversation(
    req: &Map<String, Value>,
    model: Option<&bedrock_models::Model>,
) -> Result<(), Invalid> {
    let empty = Vec::new();
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);

    if let Some(system) = req.get("system").and_then(Value::as_array) {
        for (i, b) in system.iter().enumerate() {
            if let Some(("text", Value::String(t))) = union_member(b, SYSTEM_BLOCK_KINDS)
                && is_blank(t)
            {
                return Err(Invalid(format!(
                    "The text field in the SystemContentBlock object at system.{i} is blank. Add text to the text field, and try again."
                )));
            }
        }
    }

    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match messages.first() {
        None => return Err(Invalid(MUST_START_WITH_USER.to_string())),
        Some(m) if role(m) != "user" => return Err(Invalid(MUST_START_WITH_USER.to_string())),
        Some(_) => {}
    }

    let mut uses_tools = false;
    for (i, m) in messages.iter().enumerate() {
        let r = role(m);
        if i > 0 && role(&messages[i - 1]) == r {
            return Err(Invalid(MUST_ALTERNATE.to_string()));
        }
        let blocks = m.get("content").and_then(Value::as_array).unwrap_or(&empty);
        if blocks.is_empty() {
            return Err(Invalid(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        for (j, b) in blocks.iter().enumerate() {
            match union_member(b, CONTENT_BLOCK_KINDS) {
                Some(("text", Value::String(t))) if is_blank(t) => {
                    return Err(Invalid(format!(
                        "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                    )));
                }
                Some(("toolUse", tu)) => {
                    uses_tools = true;
                    if r != "assistant" {
                        return Err(Invalid(format!(
                            "The toolUse block at messages.{i}.content.{j} is not allowed in a user message. toolUse blocks can only appear in assistant messages."
                        )));
                    }
                    let id = tu.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    if id.chars().count() > 64 || !matches_name_pattern(id) {
                        return Err(Invalid(format!(
                            "1 validation error detected: Value '{id}' at 'messages.{}.member.content.{}.member.toolUse.toolUseId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                            i + 1,
                            j + 1
                        )));
                    }
                    if !tu.get("input").is_some_and(Value::is_object) {
                        return Err(Invalid(format!(
                            "The input field in the ToolUseBlock object at messages.{i}.content.{j} must be a JSON object."
                        )));
                    }
                }
                Some(("toolResult", _)) => {
                    uses_tools = true;
                    if r != "user" {
                        return Err(Invalid(format!(
                            "The toolResult block at messages.{i}.content.{j} is not allowed in an assistant message. toolResult blocks can only appear in user messages."
                        )));
                    }
                }
                _ => {}
            }
        }
        check_tool_pairing(messages, i)?;
    }
    crate::media::check(messages)?;
    check_cache_points(req, messages)?;
    crate::thinking::check(req, model.is_some_and(|m| m.thinking_with_forced_tool))?;
    check_options(req)?;
    crate::guardrail::check(&Value::Object(req.clone()))?;

    let tool_config = req.get("toolConfig").filter(|v| !v.is_null());
    if uses_tools && tool_config.is_none() {
        return Err(Invalid(TOOL_CONFIG_REQUIRED.to_string()));
    }
    if let Some(cfg) = tool_config {
        check_tool_config_rules(cfg)?;
    }
    Ok(())
}

fn block_ids<'a>(message: &'a Value, kind: &str) -> Vec<&'a str> {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get(kind))
                .filter_map(|v| v.get("toolUseId").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// A user message's toolResults must answer exactly the previous assistant turn's toolUses.
fn check_tool_pairing(messages: &[Value], i: usize) -> Result<(), Invalid> {
    let m = &messages[i];
    if m.get("role").and_then(Value::as_str) != Some("user") {
        return Ok(());
    }
    let results = block_ids(m, "toolResult");
    let uses = if i > 0 {
        block_ids(&messages[i - 1], "toolUse")
    } else {
        Vec::new()
    };
    if results.iter().any(|id| !uses.contains(id)) {
        let prev = i.saturating_sub(1);
        return Err(Invalid(format!(
            "The toolUse blocks at messages.{prev}.content do not match the toolResult blocks at messages.{i}.content. Each toolResult block must have a toolUseId that matches a toolUse block in the previous assistant message."
        )));
    }
    let missing: Vec<&str> = uses
        .iter()
        .copied()
        .filter(|id| !results.contains(id))
        .collect();
    if !missing.is_empty() {
        return Err(Invalid(format!(
            "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Structured output's schema, request metadata and response field paths.
fn check_options(req: &Map<String, Value>) -> Result<(), Invalid> {
    if let Some(format) = req.get("outputConfig").and_then(|c| c.get("textFormat")) {
        if format.get("type").and_then(Value::as_str) != Some("json_schema") {
            return Err(Invalid(
                "The textFormat type must be json_schema.".to_string(),
            ));
        }
        let schema = format
            .get("structure")
            .and_then(|s| s.get("jsonSchema"))
            .and_then(|s| s.get("schema"))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        if !schema.is_some_and(|s| s.is_object()) {
            return Err(Invalid(
                "The provided JSON schema for structured output is not valid JSON Schema."
                    .to_string(),
            ));
        }
    }
    if let Some(meta) = req.get("requestMetadata").and_then(Value::as_object)
        && meta.len() > 16
    {
        return Err(Invalid(format!(
            "1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 16] (got {})",
            meta.len()
        )));
    }
    if let Some(paths) = req
        .get("additionalModelResponseFieldPaths")
        .and_then(Value::as_array)
    {
        if paths.len() > 10 {
            return Err(Invalid(
                "1 validation error detected: Value at 'additionalModelResponseFieldPaths' failed to satisfy constraint: Member must have length less than or equal to 10".to_string(),
            ));
        }
        if paths
            .iter()
            .any(|p| !p.as_str().is_some_and(|p| p.starts_with('/')))
        {
            return Err(Invalid(
                "The additionalModelResponseFieldPaths must be valid JSON pointers.".to_string(),
            ));
        }
    }
    Ok(())
}

/// At most four cache points, in messages, system prompt and tools together.
fn check_cache_points(req: &Map<String, Value>, messages: &[Value]) -> Result<(), Invalid> {
    let in_list = |v: Option<&Value>| {
        v.and_then(Value::as_array).map_or(0, |a| {
            a.iter().filter(|b| b.get("cachePoint").is_some()).count()
        })
    };
    let count = in_list(req.get("system"))
        + in_list(req.get("toolConfig").and_then(|c| c.get("tools")))
        + messages
            .iter()
            .map(|m| in_list(m.get("content")))
            .sum::<usize>();
    if count > 4 {
        return Err(Invalid(format!(
            "The request has {count} cache points; the maximum is 4. Remove cache points and try again."
        )));
    }
    Ok(())
}

fn check_tool_config_rules(cfg: &Value) -> Result<(), Invalid> {
    let empty = Vec::new();
    let tools = cfg.get("tools").and_then(Value::as_array).unwrap_or(&empty);
    let mut names = HashSet::new();
    for (i, t) in tools.iter().enumerate() {
        let Some(spec) = t.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        if !names.insert(name) {
            return Err(Invalid(format!(
                "The toolConfig field contains duplicate tool names: {name}. Tool names must be unique."
            )));
        }
        let schema = spec.get("inputSchema").and_then(|s| s.get("json"));
        match schema {
            Some(Value::Object(json)) => match json.get("type") {
                None => {}
                Some(Value::String(t)) if t == "object" => {}
                Some(_) => {
                    return Err(Invalid(format!(
                        "The value at toolConfig.tools.{i}.toolSpec.inputSchema.json.type must be one of the following: object."
                    )));
                }
            },
            _ => {
                return Err(Invalid(format!(
                    "The value at toolConfig.tools.{i}.toolSpec.inputSchema.json must be a JSON object."
                )));
            }
        }
    }
    if let Some(choice) = cfg.get("toolChoice").filter(|v| !v.is_null()) {
        if names.is_empty() {
            return Err(Invalid(
                "toolChoice can only be specified when toolConfig.tools contains at least one tool."
                    .to_string(),
            ));
        }
        if let Some(name) = choice
            .get("tool")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
            && !names.contains(name)
        {
            return Err(Invalid(format!(
                "The tool {name} specified in toolChoice is not defined in toolConfig.tools. Specify a tool that is defined in toolConfig.tools and try again."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MODEL: Option<&str> = Some("us.anthropic.claude-3-7-sonnet-20250219-v1:0");

    fn err(body: Value) -> String {
        validate_converse(MODEL, &body).unwrap_err().0
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    fn weather_tools() -> Value {
        json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}]})
    }

    #[test]
    fn accepts_a_simple_and_a_tool_conversation() {
        validate_converse(MODEL, &json!({"messages": [user("hi")]})).unwrap();
        validate_converse(
            MODEL,
            &json!({
                "system": [{"text": "be brief"}],
                "messages": [
                    user("weather?"),
                    {"role": "assistant", "content": [
                        {"text": "I'll check."},
                        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Tokyo"}}}
                    ]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"t": 20}}], "status": "success"}}
                    ]}
                ],
                "toolConfig": weather_tools(),
                "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 1, "stopSequences": ["END"]}
            }),
        )
        .unwrap();
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            json!(null),
            json!([]),
            json!({"messages": "hi"}),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            json!({"messages": [{"role": "user", "content": [{"txt": "hi"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}),
            json!({"messages": [{"role": "user", "content": [{"text": 3}]}]}),
            json!({"messages": [user("hi")], "inferenceConfig": {"temperature": "hot"}}),
            json!({"messages": [user("hi")], "system": "be brief"}),
            json!({"messages": [user("hi")], "toolConfig": {"tools": [{"toolSpec": {"name": "x", "inputSchema": {}}}]}}),
        ] {
            assert_eq!(err(body.clone()), MALFORMED, "{body}");
        }
    }

    #[test]
    fn model_ids() {
        let body = json!({"messages": [user("hi")]});
        assert_eq!(
            validate_converse(Some("not a model"), &body).unwrap_err().0,
            INVALID_MODEL
        );
        assert_eq!(validate_converse(None, &body).unwrap_err().0, INVALID_MODEL);
    }

    #[test]
    fn conversation_rules() {
        assert_eq!(err(json!({"messages": []})), MUST_START_WITH_USER);
        assert_eq!(
            err(json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]})),
            MUST_START_WITH_USER
        );
        assert_eq!(
            err(json!({"messages": [user("a"), user("b")]})),
            MUST_ALTERNATE
        );
        assert_eq!(
            err(
                json!({"messages": [user("a"), {"role": "assistant", "content": [{"text": "  "}]}]})
            ),
            "The text field in the ContentBlock object at messages.1.content.0 is blank. Add text to the text field, and try again."
        );
        assert_eq!(
            err(json!({"messages": [{"role": "user", "content": []}]})),
            "The content field in the Message object at messages.0 is empty. Add a ContentBlock object to the content field and try again."
        );
        assert!(
            err(json!({"messages": [user("a")], "system": [{"text": ""}]}))
                .contains("SystemContentBlock object at system.0 is blank")
        );
        let m = err(json!({"messages": [{"role": "user"}]}));
        assert!(m.contains("at 'messages.1.member.content'"), "{m}");
        let m = err(json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}));
        assert!(m.contains("enum value set: [user, assistant]"), "{m}");
        let m = err(json!({}));
        assert!(m.contains("Value null at 'messages'"), "{m}");
    }

    #[test]
    fn tool_rules() {
        let assistant_use = json!({"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {}}}]});
        let result = |id: &str| {
            json!({"role": "user", "content": [
            {"toolResult": {"toolUseId": id, "content": [{"text": "sunny"}]}}]})
        };

        assert_eq!(
            err(json!({"messages": [user("a"), assistant_use.clone(), result("tooluse_1")]})),
            TOOL_CONFIG_REQUIRED
        );
        let m = err(
            json!({"messages": [user("a"), assistant_use.clone(), result("tooluse_2")],
            "toolConfig": weather_tools()}),
        );
        assert!(m.starts_with("The toolUse blocks at messages.1.content do not match the toolResult blocks at messages.2.content"), "{m}");
        let m = err(
            json!({"messages": [user("a"), assistant_use.clone(), user("b")],
            "toolConfig": weather_tools()}),
        );
        assert_eq!(
            m,
            "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_1"
        );
        let m = err(json!({"messages": [result("tooluse_1")], "toolConfig": weather_tools()}));
        assert!(m.contains("do not match"), "{m}");
        let m = err(json!({"messages": [
            {"role": "user", "content": [{"toolUse": {"toolUseId": "t", "name": "get_weather", "input": {}}}]}],
            "toolConfig": weather_tools()}));
        assert!(m.contains("not allowed in a user message"), "{m}");
        let m = err(json!({"messages": [user("a"),
            {"role": "assistant", "content": [{"toolResult": {"toolUseId": "t", "content": []}}]}],
            "toolConfig": weather_tools()}));
        assert!(m.contains("not allowed in an assistant message"), "{m}");
    }

    #[test]
    fn tool_config_rules() {
        let tool = |name: &str| json!({"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}});
        let m =
            err(json!({"messages": [user("a")], "toolConfig": {"tools": [tool("get weather")]}}));
        assert_eq!(
            m,
            "1 validation error detected: Value 'get weather' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
        );
        let long = "a".repeat(65);
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": [tool(&long)]}}));
        assert!(m.contains("length less than or equal to 64"), "{m}");
        let m =
            err(json!({"messages": [user("a")], "toolConfig": {"tools": [tool("x"), tool("x")]}}));
        assert!(m.contains("duplicate tool names"), "{m}");
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": []}}));
        assert!(m.contains("at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"), "{m}");
        let m = err(
            json!({"messages": [user("a")], "toolConfig": {"tools": [tool("x")], "toolChoice": {"tool": {"name": "y"}}}}),
        );
        assert!(m.contains("The tool y specified in toolChoice"), "{m}");
        validate_converse(
            MODEL,
            &json!({"messages": [user("a")],
            "toolConfig": {"tools": [tool("x")], "toolChoice": {"any": {}}}}),
        )
        .unwrap();
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": [
            {"toolSpec": {"name": "x", "inputSchema": {"json": {"type": "array"}}}}]}}));
        assert!(m.contains("must be one of the following: object"), "{m}");
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": [
            {"toolSpec": {"name": "x", "inputSchema": {"json": "{}"}}}]}}));
        assert!(m.contains("must be a JSON object"), "{m}");
    }

    #[test]
    fn inference_config_constraints() {
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"temperature": 1.5}}));
        assert_eq!(
            m,
            "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        );
        let m = err(
            json!({"messages": [user("a")], "inferenceConfig": {"maxTokens": 0, "topP": -0.1}}),
        );
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(m.contains("'inferenceConfig.maxTokens'"), "{m}");
        assert!(m.contains("'inferenceConfig.topP'"), "{m}");
        let m = err(
            json!({"messages": [user("a")], "inferenceConfig": {"stopSequences": ["a", "b", "c", "d", "e"]}}),
        );
        assert!(
            m.contains("Value '[a, b, c, d, e]' at 'inferenceConfig.stopSequences'"),
            "{m}"
        );
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"stopSequences": [""]}}));
        assert!(m.contains("inferenceConfig.stopSequences.1.member"), "{m}");
    }
}
