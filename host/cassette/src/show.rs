//! Readable summaries: `gamecode cassette show` (turns, tool calls, tokens, stop reasons,
//! timing) and `gamecode cassette diff` (where two recordings of a task diverge).

use serde_json::Value;

use crate::drift::short;
use crate::{Cassette, Exchange};

/// What the model answered in one exchange, from its response or its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    /// `(name, input)` of each tool call.
    pub tool_calls: Vec<(String, String)>,
    pub stop_reason: Option<String>,
    /// input, output, cache-read, cache-write.
    pub tokens: Option<[u64; 4]>,
    /// Characters of reasoning.
    pub reasoning: usize,
}

fn tokens_of(usage: &Value) -> Option<[u64; 4]> {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    usage.is_object().then(|| {
        [
            n("inputTokens"),
            n("outputTokens"),
            n("cacheReadInputTokens"),
            n("cacheWriteInputTokens"),
        ]
    })
}

/// The answer of an exchange (empty for an error).
pub fn answer(x: &Exchange) -> Answer {
    let mut a = Answer::default();
    if let Some(response) = &x.response {
        let content = response["output"]["message"]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for block in &content {
            if let Some(t) = block["text"].as_str() {
                a.text.push_str(t);
            }
            if let Some(t) = block["citationsContent"]["content"][0]["text"].as_str() {
                a.text.push_str(t);
            }
            if let Some(r) = block["reasoningContent"]["reasoningText"]["text"].as_str() {
                a.reasoning += r.chars().count();
            }
            if block["toolUse"].is_object() {
                a.tool_calls.push((
                    block["toolUse"]["name"].as_str().unwrap_or("").to_string(),
                    block["toolUse"]["input"].to_string(),
                ));
            }
        }
        a.stop_reason = response["stopReason"].as_str().map(str::to_string);
        a.tokens = tokens_of(&response["usage"]);
    }
    if let Some(events) = &x.events {
        // Tool input arrives in fragments per content block.
        let mut tools: Vec<(u64, String, String)> = Vec::new();
        for e in events {
            let b = &e.body;
            let index = b["contentBlockIndex"].as_u64().unwrap_or(0);
            match e.event_type.as_str() {
                "contentBlockStart" => {
                    if let Some(name) = b["start"]["toolUse"]["name"].as_str() {
                        tools.push((index, name.to_string(), String::new()));
                    }
                }
                "contentBlockDelta" => {
                    let d = &b["delta"];
                    if let Some(t) = d["text"].as_str() {
                        a.text.push_str(t);
                    }
                    if let Some(t) = d["reasoningContent"]["text"].as_str() {
                        a.reasoning += t.chars().count();
                    }
                    if let Some(f) = d["toolUse"]["input"].as_str()
                        && let Some(tool) = tools.iter_mut().rev().find(|t| t.0 == index)
                    {
                        tool.2.push_str(f);
                    }
                }
                "messageStop" => a.stop_reason = b["stopReason"].as_str().map(str::to_string),
                "metadata" => a.tokens = tokens_of(&b["usage"]),
                _ => {}
            }
        }
        a.tool_calls = tools
            .into_iter()
            .map(|(_, name, input)| {
                // The fragments concatenate to the JSON input; shown compact.
                let input = serde_json::from_str::<Value>(&input)
                    .map(|v| v.to_string())
                    .unwrap_or(input);
                (name, input)
            })
            .collect();
    }
    a
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let chars: Vec<char> = flat.trim().chars().collect();
    if chars.len() > max {
        format!("{}…", chars[..max].iter().collect::<String>())
    } else {
        chars.into_iter().collect()
    }
}

/// The last user text of a request: what this turn asks.
fn asked(request: &Value) -> String {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    for m in messages.iter().rev() {
        if m["role"] != "user" {
            continue;
        }
        let blocks = m["content"].as_array().cloned().unwrap_or_default();
        let results = blocks
            .iter()
            .filter(|b| b["toolResult"].is_object())
            .count();
        if results > 0 {
            return format!(
                "{results} tool result{}",
                if results == 1 { "" } else { "s" }
            );
        }
        let text: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
        return format!("\"{}\"", one_line(&text.join(" "), 60));
    }
    "(no user message)".into()
}

/// A readable account of a cassette, one block per exchange.
pub fn show(c: &Cassette) -> String {
    let mut out = format!(
        "cassette recorded {} (format {} v{}), {} exchange{}\n",
        c.header.recorded_at,
        c.header.format,
        c.header.version,
        c.exchanges.len(),
        if c.exchanges.len() == 1 { "" } else { "s" }
    );
    let mut totals = [0u64; 4];
    for x in &c.exchanges {
        out.push_str(&format!(
            "\n#{} {} {} — at {} ms, {} ms, status {}\n",
            x.exchange, x.operation, x.model, x.at_ms, x.elapsed_ms, x.status
        ));
        out.push_str(&format!("   asks: {}\n", asked(&x.request)));
        if let Some(e) = &x.error {
            out.push_str(&format!(
                "   error: {} ({}): {}\n",
                e.code,
                e.category,
                one_line(&e.message, 100)
            ));
        }
        let a = answer(x);
        if a.reasoning > 0 {
            out.push_str(&format!("   reasoning: {} characters\n", a.reasoning));
        }
        for (name, input) in &a.tool_calls {
            out.push_str(&format!("   tool call: {name}({})\n", one_line(input, 80)));
        }
        if !a.text.is_empty() {
            out.push_str(&format!("   text: \"{}\"\n", one_line(&a.text, 100)));
        }
        if let Some(stop) = &a.stop_reason {
            out.push_str(&format!("   stop: {stop}"));
            if let Some(t) = a.tokens {
                out.push_str(&format!(
                    " — tokens in {} out {} cache-read {} cache-write {}",
                    t[0], t[1], t[2], t[3]
                ));
                for (sum, n) in totals.iter_mut().zip(t) {
                    *sum += n;
                }
            }
            out.push('\n');
        }
        if let Some(events) = &x.events {
            let first = events.iter().find(|e| e.event_type == "contentBlockDelta");
            out.push_str(&format!(
                "   {} events, first delta at {} ms\n",
                events.len(),
                first.map_or("-".to_string(), |e| e.at_ms.to_string())
            ));
        }
    }
    out.push_str(&format!(
        "\ntotal tokens: in {} out {} cache-read {} cache-write {}\n",
        totals[0], totals[1], totals[2], totals[3]
    ));
    out
}

/// Where two recordings of the same task diverge: the first exchange whose request or answer
/// differs, and how.
pub fn diff(a: &Cassette, b: &Cassette) -> String {
    let mut out = String::new();
    for (x, y) in a.exchanges.iter().zip(&b.exchanges) {
        let n = x.exchange;
        if x.model != y.model || x.operation != y.operation {
            out.push_str(&format!(
                "exchange {n}: A calls {} {}, B calls {} {}\n",
                x.operation, x.model, y.operation, y.model
            ));
            return out;
        }
        let (ra, rb) = (
            crate::normalize_request(&x.request),
            crate::normalize_request(&y.request),
        );
        if let Some((path, va, vb)) = crate::first_difference(&ra, &rb) {
            out.push_str(&format!(
                "exchange {n}: the requests differ at {path}\n  A: {}\n  B: {}\n",
                short(&va),
                short(&vb)
            ));
            return out;
        }
        let (aa, ab) = (answer(x), answer(y));
        let err = |e: &Option<crate::RecordedError>| {
            e.as_ref().map_or("none".to_string(), |e| {
                format!("{} ({})", e.code, e.category)
            })
        };
        if x.error != y.error {
            out.push_str(&format!(
                "exchange {n}: same request; errors differ\n  A: {}\n  B: {}\n",
                err(&x.error),
                err(&y.error)
            ));
            return out;
        }
        if aa.tool_calls != ab.tool_calls || aa.stop_reason != ab.stop_reason || aa.text != ab.text
        {
            let describe = |a: &Answer| {
                let calls: Vec<String> = a
                    .tool_calls
                    .iter()
                    .map(|(name, input)| format!("{name}({})", one_line(input, 40)))
                    .collect();
                format!(
                    "stop {}, tool calls [{}], text \"{}\"",
                    a.stop_reason.as_deref().unwrap_or("-"),
                    calls.join(", "),
                    one_line(&a.text, 60)
                )
            };
            out.push_str(&format!(
                "exchange {n}: same request; the model answered differently\n  A: {}\n  B: {}\n",
                describe(&aa),
                describe(&ab)
            ));
            return out;
        }
    }
    if a.exchanges.len() != b.exchanges.len() {
        out.push_str(&format!(
            "the same for {} exchanges; then A has {} and B {}\n",
            a.exchanges.len().min(b.exchanges.len()),
            a.exchanges.len(),
            b.exchanges.len()
        ));
        return out;
    }
    format!(
        "no divergence: {} exchanges, same requests and answers (tool-use ids aside)\n",
        a.exchanges.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Header, Operation};
    use serde_json::json;

    fn streamed(n: u32, question: &str, tool: &str) -> Exchange {
        let ev = |at_ms, t: &str, body: Value| Event {
            at_ms,
            event_type: t.into(),
            body,
        };
        Exchange {
            exchange: n,
            operation: Operation::ConverseStream,
            model: "m".into(),
            at_ms: 0,
            elapsed_ms: 9,
            status: 200,
            request: json!({"messages": [{"role": "user", "content": [{"text": question}]}]}),
            response: None,
            events: Some(vec![
                ev(1, "messageStart", json!({"role": "assistant"})),
                ev(
                    2,
                    "contentBlockStart",
                    json!({"contentBlockIndex": 0,
                    "start": {"toolUse": {"toolUseId": "t", "name": tool}}}),
                ),
                ev(
                    3,
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0,
                    "delta": {"toolUse": {"input": "{\"expression\":"}}}),
                ),
                ev(
                    4,
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0,
                    "delta": {"toolUse": {"input": "\"6*7\"}"}}}),
                ),
                ev(5, "messageStop", json!({"stopReason": "tool_use"})),
                ev(
                    6,
                    "metadata",
                    json!({"usage": {"inputTokens": 10, "outputTokens": 5}}),
                ),
            ]),
            error: None,
        }
    }

    #[test]
    fn show_and_diff_read_streams() {
        let a = Cassette {
            header: Header::new("t"),
            exchanges: vec![streamed(1, "What is 6 * 7?", "calculator")],
        };
        let shown = show(&a);
        assert!(shown.contains("asks: \"What is 6 * 7?\""), "{shown}");
        assert!(
            shown.contains("tool call: calculator({\"expression\":\"6*7\"})"),
            "{shown}"
        );
        assert!(
            shown.contains("stop: tool_use — tokens in 10 out 5"),
            "{shown}"
        );
        assert!(diff(&a, &a).starts_with("no divergence"));
        let b = Cassette {
            header: Header::new("t"),
            exchanges: vec![streamed(1, "What is 6 * 7?", "text_stats")],
        };
        let d = diff(&a, &b);
        assert!(
            d.contains("exchange 1: same request; the model answered differently"),
            "{d}"
        );
        let c = Cassette {
            header: Header::new("t"),
            exchanges: vec![streamed(1, "What is 6 * 8?", "calculator")],
        };
        let d = diff(&a, &c);
        assert!(
            d.contains("requests differ at messages[0].content[0].text"),
            "{d}"
        );
    }
}
