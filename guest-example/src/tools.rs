//! Tool specs and dispatch: the agent's own tools run here, inside the sandbox; everything
//! else the model may call is a host tool, reached through the `tools` import.
//!
//! Tool inputs come from the model, so every malformed input becomes a tool result flagged
//! `is-error` (which the model reads and can correct), never a panic.

use crate::Host;
use crate::calculator::{self, format_number};
use crate::gamecode::plugin::types::{
    ToolCall, ToolError, ToolResult, ToolResultContent, ToolSpec,
};
use crate::text_stats::text_stats;
use serde_json::{Map, Value, json};

/// The calculator tool's name.
pub const CALCULATOR: &str = "calculator";
/// The text statistics tool's name.
pub const TEXT_STATS: &str = "text_stats";

/// Progress lines show at most this many characters of a tool's input and output.
const PREVIEW_CHARS: usize = 120;

/// The specs of the tools this plugin implements itself.
pub fn own_specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: CALCULATOR.to_string(),
            description: "Evaluates an arithmetic expression exactly and returns the number. \
                Supports + - * / % (remainder), ^ (power), unary minus, parentheses and \
                decimals. Use it for any arithmetic instead of computing in your head."
                .to_string(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "description": "The expression, e.g. \"(3 + 4) * 2 ^ 3 / 7\"."
                    }
                },
                "required": ["expression"],
                "additionalProperties": false
            })
            .to_string(),
        },
        ToolSpec {
            name: TEXT_STATS.to_string(),
            description: "Counts the characters, words and lines of a text and finds its most \
                frequent word (case-insensitive). Returns JSON."
                .to_string(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "description": "The text to analyse." }
                },
                "required": ["text"],
                "additionalProperties": false
            })
            .to_string(),
        },
    ]
}

/// Whether `name` is one of this plugin's own tools.
pub fn is_own(name: &str) -> bool {
    name == CALCULATOR || name == TEXT_STATS
}

/// Runs one tool call and answers it: own tools locally, offered host tools through the host,
/// anything else as an "unknown tool" error. Prints one progress line to stderr, which the host
/// captures and attributes to this plugin.
pub fn execute(host: &mut impl Host, call: &ToolCall, host_tools: &[ToolSpec]) -> ToolResult {
    let outcome = if is_own(&call.name) {
        run_own(&call.name, &call.input)
    } else if host_tools.iter().any(|spec| spec.name == call.name) {
        match host.call_tool(&call.name, &call.input) {
            Ok(output) => Ok(ToolResultContent::Text(output)),
            Err(e) => Err(describe_tool_error(&e)),
        }
    } else {
        Err(format!("unknown tool {:?}: it was not offered", call.name))
    };
    let (content, is_error) = match outcome {
        Ok(content) => {
            let shown = match &content {
                ToolResultContent::Text(s) | ToolResultContent::Json(s) => s.as_str(),
                ToolResultContent::Image(_) => "(an image)",
                ToolResultContent::Document(_) => "(a document)",
            };
            eprintln!(
                "tool {}({}) -> {}",
                call.name,
                preview(&call.input),
                preview(shown)
            );
            (content, false)
        }
        Err(message) => {
            // The model reads `failed: …` (the WIT case first); people read it once.
            eprintln!(
                "tool {}({}) failed: {}",
                call.name,
                preview(&call.input),
                preview(message.strip_prefix("failed: ").unwrap_or(&message))
            );
            (ToolResultContent::Text(message), true)
        }
    };
    ToolResult {
        tool_use_id: call.id.clone(),
        content: vec![content],
        is_error,
    }
}

/// Runs one of the plugin's own tools on the model's JSON input.
pub fn run_own(name: &str, input: &str) -> Result<ToolResultContent, String> {
    let args = parse_object(input)?;
    match name {
        CALCULATOR => {
            let expression = match args.get("expression") {
                Some(Value::String(s)) => s.clone(),
                // A bare number is a (trivial) expression too. Its value is taken as is: as
                // text, `1e20` would read as prose around the expression `20`.
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(value) if value.is_finite() => {
                        return Ok(ToolResultContent::Text(format_number(value)));
                    }
                    _ => return Err(format!("cannot evaluate {n}: a number is too large")),
                },
                _ => return Err(missing_field("expression")),
            };
            let (value, evaluated) = calculator::evaluate_lenient(&expression)
                .map_err(|e| format!("cannot evaluate {:?}: {e}", preview(&expression)))?;
            if evaluated != expression.trim() {
                eprintln!("calculator: took {evaluated:?} out of the input");
            }
            Ok(ToolResultContent::Text(format_number(value)))
        }
        TEXT_STATS => match args.get("text") {
            Some(Value::String(text)) => Ok(ToolResultContent::Json(
                text_stats(text).to_json().to_string(),
            )),
            _ => Err(missing_field("text")),
        },
        other => Err(format!("unknown tool {other:?}")),
    }
}

/// A host tool error as the model reads it: the WIT case name, then the host's message.
pub fn describe_tool_error(e: &ToolError) -> String {
    let (case, message) = match e {
        ToolError::NotFound(m) => ("not-found", m),
        ToolError::NotAllowed(m) => ("not-allowed", m),
        ToolError::InvalidInput(m) => ("invalid-input", m),
        ToolError::Failed(m) => ("failed", m),
    };
    format!("{case}: {message}")
}

fn parse_object(input: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the input must be a JSON object".to_string()),
        Err(e) => Err(format!("the input is not valid JSON: {e}")),
    }
}

fn missing_field(field: &str) -> String {
    format!("the input needs a string field {field:?}")
}

/// The first [`PREVIEW_CHARS`] characters of `s` on one line.
fn preview(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(PREVIEW_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(PREVIEW_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Result<ToolResultContent, String>) -> Result<String, String> {
        r.map(|c| match c {
            ToolResultContent::Text(s) => format!("text:{s}"),
            ToolResultContent::Json(s) => format!("json:{s}"),
            other => panic!("own tools answer in text or JSON, not {other:?}"),
        })
    }

    #[test]
    fn specs_are_valid_json_schemas_with_valid_names() {
        for spec in own_specs() {
            assert!(is_own(&spec.name));
            assert!(
                spec.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            );
            let schema: Value = serde_json::from_str(&spec.input_schema).expect("valid JSON");
            assert_eq!(schema["type"], "object");
        }
    }

    #[test]
    fn calculator_tool() {
        assert_eq!(
            text(run_own(CALCULATOR, r#"{"expression": "6 * 7"}"#)),
            Ok("text:42".into())
        );
        assert_eq!(
            text(run_own(CALCULATOR, r#"{"expression": "What is 2 ^ 10?"}"#)),
            Ok("text:1024".into())
        );
        assert_eq!(
            text(run_own(CALCULATOR, r#"{"expression": 7}"#)),
            Ok("text:7".into())
        );
        for (number, shown) in [
            ("1e20", "1e20"),
            ("1e-7", "1e-7"),
            ("2.5e3", "2500"),
            ("-3", "-3"),
            ("12345678901234567890", "1.2345678901234567e19"),
        ] {
            assert_eq!(
                text(run_own(
                    CALCULATOR,
                    &format!(r#"{{"expression": {number}}}"#)
                )),
                Ok(format!("text:{shown}")),
                "{number}"
            );
        }
        assert!(run_own(CALCULATOR, r#"{"expression": true}"#).is_err());
        assert_eq!(
            text(run_own(CALCULATOR, r#"{"expression": "1/0"}"#)),
            Err("cannot evaluate \"1/0\": division by zero".into())
        );
        assert_eq!(
            text(run_own(CALCULATOR, r#"{"expr": "1"}"#)),
            Err("the input needs a string field \"expression\"".into())
        );
        assert!(run_own(CALCULATOR, "not json").is_err());
        assert!(run_own(CALCULATOR, "[1]").is_err());
        assert!(run_own(CALCULATOR, "").is_err());
        let huge = format!(r#"{{"expression": "{}"}}"#, "(".repeat(20_000));
        let error = run_own(CALCULATOR, &huge).expect_err("too long");
        assert!(error.chars().count() < 200, "{error}");
    }

    #[test]
    fn text_stats_tool() {
        let out = text(run_own(TEXT_STATS, r#"{"text": "a b a"}"#)).expect("ok");
        let json: Value = serde_json::from_str(out.trim_start_matches("json:")).expect("JSON");
        assert_eq!(json["words"], 3);
        assert_eq!(json["most_frequent_word"]["word"], "a");
        assert!(run_own(TEXT_STATS, r#"{"text": 3}"#).is_err());
    }

    #[test]
    fn previews_are_short_single_lines() {
        assert_eq!(preview("a\nb"), "a b");
        let long = "x".repeat(500);
        assert_eq!(preview(&long).chars().count(), PREVIEW_CHARS + 1);
    }
}
