//! Extended thinking: Bedrock's rules for a thinking request (a budget of at least 1,024
//! tokens below `maxTokens`, sampling left alone, no forced tool choice), reasoning blocks
//! signed by the emulator, and the refusal of a tool turn whose reasoning was dropped or
//! altered — what makes a tool loop that loses its reasoning blocks fail in production.
//!
//! The signature is a keyed hash of the reasoning text, not cryptography: it only has to
//! show that a block came back exactly as the emulator sent it.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

use crate::shape::{CONTENT_BLOCK_KINDS, Invalid, union_member};

const PREFIX: &str = "The model returned the following errors: ";
const EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max"];

/// Whether the request asks for extended thinking.
pub(crate) fn enabled(body: &Value) -> bool {
    matches!(thinking_type(body), Some("enabled") | Some("adaptive"))
}

fn thinking(body: &Value) -> Option<&Value> {
    body.get("additionalModelRequestFields")?.get("thinking")
}

fn thinking_type(body: &Value) -> Option<&str> {
    thinking(body)?.get("type")?.as_str()
}

/// The emulator's signature over a reasoning text.
pub(crate) fn sign(text: &str) -> String {
    let mut h = DefaultHasher::new();
    "bedrock-emulator reasoning v1".hash(&mut h);
    text.hash(&mut h);
    format!("emu1.{:016x}", h.finish())
}

fn refused(message: String) -> Invalid {
    Invalid(format!("{PREFIX}{message}"))
}

/// Checks a request's thinking settings and the reasoning blocks it sends back.
/// `forced_tool_ok`: the model thinks with a forced tool choice (Claude Opus 4.8).
pub(crate) fn check(req: &Map<String, Value>, forced_tool_ok: bool) -> Result<(), Invalid> {
    let body = Value::Object(req.clone());
    if let Some(effort) = req.get("outputConfig").and_then(|c| c.get("effort"))
        && !effort.as_str().is_some_and(|e| EFFORTS.contains(&e))
    {
        return Err(Invalid(format!(
            "1 validation error detected: Value {effort} at 'outputConfig.effort' failed to satisfy constraint: Member must be one of low, medium, high, xhigh, max"
        )));
    }
    check_signatures(&body)?;
    let Some(config) = thinking(&body) else {
        return Ok(());
    };
    match config.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(()),
        Some("adaptive") => {}
        Some("enabled") => {
            let budget = config.get("budget_tokens").and_then(Value::as_u64);
            let Some(budget) = budget.filter(|b| *b >= 1024) else {
                return Err(refused(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                        .into(),
                ));
            };
            let max = req
                .get("inferenceConfig")
                .and_then(|c| c.get("maxTokens"))
                .and_then(Value::as_u64);
            if max.is_none_or(|m| m <= budget) {
                return Err(refused(
                    "`max_tokens` must be greater than `thinking.budget_tokens`".into(),
                ));
            }
        }
        _ => {
            return Err(refused(
                "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'".into(),
            ));
        }
    }
    let cfg = req.get("inferenceConfig");
    if cfg.and_then(|c| c.get("temperature")).is_some() || cfg.and_then(|c| c.get("topP")).is_some()
    {
        return Err(refused(
            "`temperature` and `top_p` may not be changed when thinking is enabled".into(),
        ));
    }
    let choice = req.get("toolConfig").and_then(|c| c.get("toolChoice"));
    if !forced_tool_ok && choice.is_some_and(|c| c.get("any").is_some() || c.get("tool").is_some())
    {
        return Err(refused(
            "Thinking may not be enabled when tool_choice forces tool use.".into(),
        ));
    }
    check_tool_loop(&body)
}

/// Every readable reasoning block sent back must carry the emulator's signature of its text.
fn check_signatures(body: &Value) -> Result<(), Invalid> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, m) in messages.iter().enumerate() {
        let blocks = m
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (j, b) in blocks.iter().enumerate() {
            let Some(("reasoningContent", r)) = union_member(b, CONTENT_BLOCK_KINDS) else {
                continue;
            };
            if let Some(t) = r.get("reasoningText") {
                let text = t.get("text").and_then(Value::as_str).unwrap_or("");
                let signature = t.get("signature").and_then(Value::as_str).unwrap_or("");
                if signature != sign(text) {
                    return Err(refused(format!(
                        "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// With thinking on, the assistant turn whose tool calls the last message answers must start
/// with its reasoning.
fn check_tool_loop(body: &Value) -> Result<(), Invalid> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let [.., assistant, last] = messages else {
        return Ok(());
    };
    let has = |m: &Value, kind: &str| {
        m.get("content")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|b| b.get(kind).is_some()))
    };
    if !has(last, "toolResult") || !has(assistant, "toolUse") {
        return Ok(());
    }
    let first = assistant
        .get("content")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    if first.is_some_and(|b| b.get("reasoningContent").is_some()) {
        return Ok(());
    }
    let i = messages.len() - 2;
    Err(refused(format!(
        "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceding the lastmost set of `tool_use` and `tool_result` blocks).",
        first
            .and_then(|b| b.as_object())
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default()
    )))
}

/// The reasoning block the emulated model starts its answer with: what it was asked and what
/// it is about to do.
pub(crate) fn reasoning_block(task: &str, content: &[Value]) -> Value {
    let plan = match content
        .iter()
        .find_map(|b| b.get("toolUse")?.get("name")?.as_str())
    {
        Some(tool) => format!("The {tool} tool fits this; I will call it."),
        None => "I can answer this now.".to_string(),
    };
    let shown: String = task.chars().take(200).collect();
    let text = format!("The user asks: \"{shown}\". {plan}");
    serde_json::json!({ "reasoningContent": { "reasoningText": {
        "signature": sign(&text), "text": text } } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_body(body: Value) -> Result<(), Invalid> {
        check(body.as_object().unwrap(), false)
    }

    fn with(thinking: Value, max: u64) -> Value {
        json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": max},
            "additionalModelRequestFields": {"thinking": thinking}})
    }

    #[test]
    fn thinking_settings_follow_bedrocks_rules() {
        check_body(with(
            json!({"type": "enabled", "budget_tokens": 1024}),
            2000,
        ))
        .unwrap();
        check_body(with(json!({"type": "adaptive"}), 100)).unwrap();
        let err = |b: Value| check_body(b).unwrap_err().0;
        assert!(err(with(json!({"type": "enabled", "budget_tokens": 500}), 2000)).contains("1024"));
        assert!(
            err(with(
                json!({"type": "enabled", "budget_tokens": 2000}),
                2000
            ))
            .contains("max_tokens")
        );
        assert!(err(with(json!({"type": "sometimes"}), 2000)).contains("thinking.type"));
        let mut b = with(json!({"type": "adaptive"}), 100);
        b["inferenceConfig"]["temperature"] = json!(0.2);
        assert!(err(b).contains("temperature"));
        let mut b = with(json!({"type": "adaptive"}), 100);
        b["toolConfig"] = json!({"tools": [], "toolChoice": {"any": {}}});
        assert!(err(b).contains("forces tool use"));
    }

    #[test]
    fn reasoning_must_come_back_unmodified_in_a_tool_loop() {
        let reasoning = reasoning_block("x", &[json!({"toolUse": {"name": "calc"}})]);
        let body = |assistant: Vec<Value>| {
            json!({"messages": [
                {"role": "user", "content": [{"text": "x"}]},
                {"role": "assistant", "content": assistant},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "1"}]}}]}],
                "inferenceConfig": {"maxTokens": 100},
                "additionalModelRequestFields": {"thinking": {"type": "adaptive"}}})
        };
        let tool_use = json!({"toolUse": {"toolUseId": "t", "name": "calc", "input": {}}});
        check_body(body(vec![reasoning.clone(), tool_use.clone()])).unwrap();
        let dropped = check_body(body(vec![tool_use.clone()])).unwrap_err().0;
        assert!(dropped.contains("Expected `thinking`"), "{dropped}");
        let mut altered = reasoning.clone();
        altered["reasoningContent"]["reasoningText"]["text"] = json!("edited");
        let err = check_body(body(vec![altered, tool_use])).unwrap_err().0;
        assert!(err.contains("Invalid `signature`"), "{err}");
    }
}
