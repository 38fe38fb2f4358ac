//! Turning a validated request into the model's answer.
//!
//! The default responder behaves like a tool-using model, deterministically: it calls an
//! offered tool with schema-valid arguments, answers from tool results once they arrive, and
//! otherwise echoes the user's question. Scripted replies replace it when a test needs a
//! specific answer. Either way `maxTokens` and `stopSequences` are honoured and token usage is
//! estimated (about four characters per token), so clients see realistic stop reasons and
//! usage figures.

use crate::schema::generate_input;
use crate::script::{Reply, message_text};
use serde_json::{Value, json};

/// The prefix of the default plain-text answer.
pub(crate) const ECHO_PREFIX: &str = "This is the Bedrock emulator answering: ";
/// The prefix of the default answer to tool results.
pub(crate) const TOOL_RESULTS_PREFIX: &str = "Based on the tool results: ";

/// A complete model answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Converse content blocks (`{"text": …}` / `{"toolUse": …}` / raw ones).
    pub(crate) content: Vec<Value>,
    pub(crate) stop_reason: String,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// Estimated tokens of a text: ceil(chars / 4).
pub(crate) fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Produce the answer to a validated request: `reply` if scripted, else the default
/// responder's. `next_tool_use_id` mints toolUse ids.
pub(crate) fn answer(
    body: &Value,
    reply: Option<Reply>,
    next_tool_use_id: &mut dyn FnMut() -> String,
) -> Answer {
    let (content, stop_reason, limited) = match reply {
        Some(Reply::Text(text)) => (vec![json!({ "text": text })], "end_turn".to_string(), true),
        Some(Reply::ToolUse { name, input }) => (
            vec![tool_use_block(next_tool_use_id(), &name, input)],
            "tool_use".to_string(),
            false,
        ),
        Some(Reply::Raw {
            content,
            stop_reason,
        }) => (
            fill_tool_use_ids(content, next_tool_use_id),
            stop_reason,
            false,
        ),
        None => {
            let (content, stop) = default_reply(body, next_tool_use_id);
            (content, stop, true)
        }
    };
    let (content, stop_reason) = if limited {
        apply_limits(content, stop_reason, body.get("inferenceConfig"))
    } else {
        (content, stop_reason)
    };
    let output_chars: usize = content.iter().map(block_chars).sum();
    Answer {
        input_tokens: tokens(request_chars(body)).max(1),
        output_tokens: tokens(output_chars).max(1),
        content,
        stop_reason,
    }
}

fn tool_use_block(id: String, name: &str, input: Value) -> Value {
    json!({ "toolUse": { "toolUseId": id, "name": name, "input": input } })
}

fn fill_tool_use_ids(mut content: Vec<Value>, next_id: &mut dyn FnMut() -> String) -> Vec<Value> {
    for block in &mut content {
        if let Some(tu) = block.get_mut("toolUse").and_then(Value::as_object_mut)
            && !tu.contains_key("toolUseId")
        {
            tu.insert("toolUseId".to_string(), Value::String(next_id()));
        }
    }
    content
}

fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn blocks<'a>(m: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    m.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |b| b.get(kind))
}

/// The deterministic "model".
fn default_reply(body: &Value, next_id: &mut dyn FnMut() -> String) -> (Vec<Value>, String) {
    let msgs = messages(body);
    let last = msgs.last();

    // 1. Tool results arrived: answer from them.
    if let Some(last) = last.filter(|m| role(m) == "user") {
        let results: Vec<String> = blocks(last, "toolResult").map(render_tool_result).collect();
        if !results.is_empty() {
            let text = format!("{TOOL_RESULTS_PREFIX}{}", results.join("; "));
            return (vec![json!({ "text": text })], "end_turn".to_string());
        }
    }

    let user_text = msgs
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(message_text)
        .unwrap_or_default();

    // 2. Tools offered and not used yet for this user turn: call one.
    if last.is_some_and(|m| role(m) == "user")
        && let Some((name, schema, forced)) = chosen_tool(body)
        && (forced || !tool_used_this_turn(msgs))
    {
        let input = generate_input(&schema, &user_text);
        let mut content = Vec::new();
        if !forced {
            content.push(json!({ "text": format!("I'll use the {name} tool.") }));
        }
        content.push(tool_use_block(next_id(), &name, input));
        return (content, "tool_use".to_string());
    }

    // 3. Plain answer.
    let shown = if user_text.trim().is_empty() {
        "(no text)".to_string()
    } else {
        user_text
    };
    (
        vec![json!({ "text": format!("{ECHO_PREFIX}{shown}") })],
        "end_turn".to_string(),
    )
}

/// The tool to call (name, input schema, whether toolChoice forces a tool), if tools are
/// offered.
fn chosen_tool(body: &Value) -> Option<(String, Value, bool)> {
    let cfg = body.get("toolConfig")?;
    let specs: Vec<&Value> = cfg
        .get("tools")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.get("toolSpec"))
        .collect();
    let choice = cfg.get("toolChoice");
    let forced_name = choice
        .and_then(|c| c.get("tool"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str);
    let forced = forced_name.is_some() || choice.and_then(|c| c.get("any")).is_some();
    let spec = match forced_name {
        Some(name) => specs
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))?,
        None => specs.first()?,
    };
    let name = spec.get("name").and_then(Value::as_str)?.to_string();
    let schema = spec
        .get("inputSchema")
        .and_then(|s| s.get("json"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    Some((name, schema, forced))
}

/// Whether an assistant message used a tool after the last plain (non-toolResult) user turn.
fn tool_used_this_turn(msgs: &[Value]) -> bool {
    let start = msgs
        .iter()
        .rposition(|m| role(m) == "user" && blocks(m, "toolResult").next().is_none())
        .unwrap_or(0);
    msgs[start..]
        .iter()
        .any(|m| role(m) == "assistant" && blocks(m, "toolUse").next().is_some())
}

/// One toolResult rendered for the answer: its text/json content (and whether it failed).
fn render_tool_result(result: &Value) -> String {
    let parts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                t.to_string()
            } else if let Some(j) = c.get("json") {
                j.to_string()
            } else if let Some(k) = c.as_object().and_then(|o| o.keys().next()) {
                format!("[{k}]")
            } else {
                String::new()
            }
        })
        .collect();
    let content = parts.join(" ");
    if result.get("status").and_then(Value::as_str) == Some("error") {
        format!("the tool reported an error: {content}")
    } else {
        content
    }
}

/// Characters a content block contributes to output usage.
fn block_chars(block: &Value) -> usize {
    if let Some(t) = block.get("text").and_then(Value::as_str) {
        t.chars().count()
    } else if let Some(tu) = block.get("toolUse") {
        let name = tu.get("name").and_then(Value::as_str).unwrap_or("");
        let input = tu.get("input").map(Value::to_string).unwrap_or_default();
        name.chars().count() + input.chars().count()
    } else {
        block.to_string().chars().count()
    }
}

/// Characters of request text and JSON that count as input tokens.
fn request_chars(body: &Value) -> usize {
    let mut n = 0;
    for m in messages(body) {
        for b in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                n += t.chars().count();
            } else if let Some(tu) = b.get("toolUse") {
                n += block_chars(&json!({ "toolUse": tu }));
            } else if let Some(tr) = b.get("toolResult") {
                n += render_tool_result(tr).chars().count();
            }
        }
    }
    for s in body
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = s.get("text").and_then(Value::as_str) {
            n += t.chars().count();
        }
    }
    if let Some(cfg) = body.get("toolConfig") {
        n += cfg.to_string().chars().count();
    }
    n
}

/// Apply stopSequences, then maxTokens, to the answer's content.
fn apply_limits(
    mut content: Vec<Value>,
    mut stop_reason: String,
    cfg: Option<&Value>,
) -> (Vec<Value>, String) {
    let stop_sequences: Vec<&str> = cfg
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !stop_sequences.is_empty() {
        for i in 0..content.len() {
            let Some(text) = content[i].get("text").and_then(Value::as_str) else {
                continue;
            };
            let cut = stop_sequences.iter().filter_map(|s| text.find(s)).min();
            if let Some(cut) = cut {
                let kept = text[..cut].to_string();
                content.truncate(i + 1);
                content[i] = json!({ "text": kept });
                if kept.is_empty() {
                    content.pop();
                }
                stop_reason = "stop_sequence".to_string();
                break;
            }
        }
    }

    let max_tokens = cfg.and_then(|c| c.get("maxTokens")).and_then(Value::as_u64);
    if let Some(max_tokens) = max_tokens {
        let mut budget = usize::try_from(max_tokens.saturating_mul(4)).unwrap_or(usize::MAX);
        for i in 0..content.len() {
            let chars = block_chars(&content[i]);
            if chars <= budget {
                budget -= chars;
                continue;
            }
            content.truncate(i + 1);
            match content[i].get("text").and_then(Value::as_str) {
                Some(text) => {
                    let kept: String = text.chars().take(budget).collect();
                    content[i] = json!({ "text": kept });
                    if budget == 0 {
                        content.pop();
                    }
                }
                // A tool call that does not fit is cut off entirely.
                None => {
                    content.pop();
                }
            }
            stop_reason = "max_tokens".to_string();
            break;
        }
    }
    (content, stop_reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("tooluse_{n}")
        }
    }

    fn weather_config() -> Value {
        json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]})
    }

    #[test]
    fn echoes_the_user_without_tools() {
        let body = json!({"system": [{"text": "SECRET SYSTEM"}],
            "messages": [{"role": "user", "content": [{"text": "Hello there"}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "end_turn");
        assert_eq!(
            a.content,
            vec![json!({"text": format!("{ECHO_PREFIX}Hello there")})]
        );
        assert!(!a.content[0].to_string().contains("SECRET"));
        assert_eq!(
            a.input_tokens,
            tokens("Hello there".len() + "SECRET SYSTEM".len())
        );
        assert_eq!(a.output_tokens, tokens(ECHO_PREFIX.len() + 11));
    }

    #[test]
    fn calls_the_offered_tool_then_answers_from_results() {
        let mut body = json!({"messages": [{"role": "user", "content": [{"text": "What's the weather in Tokyo?"}]}],
            "toolConfig": weather_config()});
        let mut next = ids();
        let a = answer(&body, None, &mut next);
        assert_eq!(a.stop_reason, "tool_use");
        assert_eq!(
            a.content[0],
            json!({"text": "I'll use the get_weather tool."})
        );
        assert_eq!(
            a.content[1],
            json!({"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Tokyo"}}})
        );
        let msgs = body["messages"].as_array_mut().unwrap();
        msgs.push(json!({"role": "assistant", "content": a.content}));
        msgs.push(
            json!({"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1",
            "content": [{"json": {"temp": 21}}, {"text": "sunny"}]}}]}),
        );
        let a = answer(&body, None, &mut next);
        assert_eq!(a.stop_reason, "end_turn");
        assert_eq!(
            a.content,
            vec![json!({"text": format!("{TOOL_RESULTS_PREFIX}{{\"temp\":21}} sunny")})]
        );
    }

    #[test]
    fn tool_errors_are_reported() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "x"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "t", "input": {}}},
                                              {"toolUse": {"toolUseId": "b", "name": "t", "input": {}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "a", "content": [{"text": "boom"}], "status": "error"}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "ok"}]}}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(
            a.content[0]["text"],
            json!(format!(
                "{TOOL_RESULTS_PREFIX}the tool reported an error: boom; ok"
            ))
        );
    }

    #[test]
    fn tool_choice_forces_a_named_tool_without_preamble() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {"tools": [
                {"toolSpec": {"name": "a", "inputSchema": {"json": {"type": "object"}}}},
                {"toolSpec": {"name": "b", "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"tool": {"name": "b"}}}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.content.len(), 1);
        assert_eq!(a.content[0]["toolUse"]["name"], json!("b"));
        assert_eq!(a.content[0]["toolUse"]["input"], json!({}));
    }

    #[test]
    fn max_tokens_and_stop_sequences() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "abc STOP def"}]}],
            "inferenceConfig": {"stopSequences": ["STOP"]}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "stop_sequence");
        assert_eq!(a.content[0]["text"], json!(format!("{ECHO_PREFIX}abc ")));

        let body = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "inferenceConfig": {"maxTokens": 2}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "max_tokens");
        assert_eq!(a.content[0]["text"], json!(ECHO_PREFIX[..8].to_string()));
        assert_eq!(a.output_tokens, 2);

        // Scripted text is limited too; raw replies are not.
        let a = answer(&body, Some(Reply::Text("0123456789".into())), &mut ids());
        assert_eq!(a.content, vec![json!({"text": "01234567"})]);
        let a = answer(
            &body,
            Some(Reply::Raw {
                content: vec![json!({"text": "0123456789"})],
                stop_reason: "end_turn".into(),
            }),
            &mut ids(),
        );
        assert_eq!(a.content, vec![json!({"text": "0123456789"})]);
    }

    #[test]
    fn scripted_replies() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]});
        let a = answer(
            &body,
            Some(Reply::ToolUse {
                name: "calc".into(),
                input: json!({"a": 1}),
            }),
            &mut ids(),
        );
        assert_eq!(a.stop_reason, "tool_use");
        assert_eq!(a.content[0]["toolUse"]["toolUseId"], json!("tooluse_1"));
        let a = answer(
            &body,
            Some(Reply::Raw {
                content: vec![
                    json!({"text": "t"}),
                    json!({"toolUse": {"name": "calc", "input": {}}}),
                ],
                stop_reason: "tool_use".into(),
            }),
            &mut ids(),
        );
        assert_eq!(a.content[1]["toolUse"]["toolUseId"], json!("tooluse_1"));
    }
}
