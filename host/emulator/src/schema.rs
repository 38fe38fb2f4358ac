//! Schema-driven tool input generation for the default responder.
//!
//! A model that calls tools produces arguments satisfying the tool's JSON schema, with values
//! lifted from the user's request ("Tokyo" from "What's the weather in Tokyo?", numbers from
//! "add 2 and 3"). The emulator does the same, deterministically, so tool-calling agents can be
//! exercised end to end without a real model.

use serde_json::{Map, Number, Value, json};

/// Deeper schemas (or `$ref` cycles) are cut off with a neutral value.
const MAX_DEPTH: usize = 24;
/// At most this many values are generated, so `$ref` fan-out cannot blow up exponentially.
const MAX_NODES: usize = 10_000;

/// Generate a JSON value satisfying `schema`, taking strings and numbers from `user_text`.
/// A string property is filled by what its name asks for: a path named in the text for
/// `path`/`file`, the arithmetic for `expression`, the text the task is about for
/// `text`/`input`/`query`…, else the text's salient word.
pub fn generate_input(schema: &Value, user_text: &str) -> Value {
    Generator::new(schema, user_text, path_in(user_text)).value(schema, 0, None)
}

/// [`generate_input`] for a call on one path (a file a listing named).
pub(crate) fn generate_input_for_path(schema: &Value, path: &str) -> Value {
    Generator::new(schema, "", Some(path.to_string())).value(schema, 0, None)
}

struct Generator<'a> {
    root: &'a Value,
    word: Option<String>,
    expression: Option<String>,
    path: Option<String>,
    subject: Option<String>,
    numbers: Vec<f64>,
    next_number: usize,
    nodes_left: usize,
}

impl<'a> Generator<'a> {
    fn new(root: &'a Value, text: &str, path: Option<String>) -> Self {
        Self {
            root,
            word: salient_word(text),
            expression: arithmetic_expression(text),
            path,
            subject: subject_of(text),
            numbers: numbers_in(text),
            next_number: 0,
            nodes_left: MAX_NODES,
        }
    }
}

/// Whether a property name asks for a path.
pub(crate) fn is_path_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "path" | "file" | "filename" | "file_name" | "filepath" | "file_path" | "dir" | "directory"
    )
}

/// Whether a property name asks for the text the task is about.
fn is_subject_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "text"
            | "input"
            | "string"
            | "content"
            | "message"
            | "sentence"
            | "query"
            | "q"
            | "prompt"
            | "value"
            | "str"
            | "word"
            | "words"
    )
}

/// A path named in the text: a token with a `/` or a file extension (`notes.txt`,
/// `docs/guide.md`), quotes and trailing punctuation removed.
pub(crate) fn path_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|t| t.trim_matches(|c: char| "\"'`,;:!?()[]{}<>".contains(c)))
        .map(|t| t.trim_end_matches('.'))
        .find(|t| {
            let has_ext = t.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && (1..=5).contains(&ext.len())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
                    && !ext.chars().all(|c| c.is_ascii_digit())
            });
            (t.contains('/') && t.len() > 1) || has_ext
        })
        .map(str::to_string)
}

/// The text a task is about: a quoted part (`"…"`, `'…'`, `` `…` ``), else what follows a
/// colon, else the task without its leading instruction words ("Reverse the text hello
/// world" → "hello world").
pub(crate) fn subject_of(text: &str) -> Option<String> {
    for q in ['"', '\'', '`', '“'] {
        let close = if q == '“' { '”' } else { q };
        if let Some(start) = text.find(q) {
            let rest = &text[start + q.len_utf8()..];
            if let Some(end) = rest.find(close)
                && end > 0
            {
                return Some(rest[..end].to_string());
            }
        }
    }
    if let Some((_, after)) = text.split_once(':') {
        let after = after.trim();
        if !after.is_empty() {
            return Some(after.to_string());
        }
    }
    const LEAD: &[&str] = &[
        "please",
        "reverse",
        "count",
        "the",
        "words",
        "word",
        "characters",
        "in",
        "of",
        "text",
        "string",
        "this",
        "sentence",
        "how",
        "many",
        "are",
        "is",
        "there",
        "what",
        "search",
        "for",
        "find",
        "look",
        "up",
        "translate",
        "summarize",
        "uppercase",
        "lowercase",
        "echo",
        "repeat",
        "say",
        "a",
        "an",
        "me",
        "tell",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    let skip = words
        .iter()
        .take_while(|w| {
            let w = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            LEAD.contains(&w.as_str())
        })
        .count();
    let rest = words[skip..].join(" ");
    let rest = rest.trim_end_matches(['?', '.', '!']).trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

impl Generator<'_> {
    /// A value for `schema`; `name` is the property it is for, if any.
    fn value(&mut self, schema: &Value, depth: usize, name: Option<&str>) -> Value {
        if depth > MAX_DEPTH || self.nodes_left == 0 {
            return Value::Null;
        }
        self.nodes_left -= 1;
        let Some(obj) = schema.as_object() else {
            // `true`, `{}`-like or invalid schemas accept anything; a string is a safe choice.
            return Value::String(self.string(&Map::new(), name));
        };
        if let Some(target) = obj.get("$ref").and_then(Value::as_str)
            && let Some(resolved) = resolve(self.root, target)
        {
            return self.value(resolved, depth + 1, name);
        }
        if let Some(c) = obj.get("const") {
            return c.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(branch) = obj
                .get(key)
                .and_then(Value::as_array)
                .and_then(|b| b.first())
            {
                return self.value(branch, depth + 1, name);
            }
        }
        if let Some(default) = obj.get("default") {
            return default.clone();
        }
        match schema_type(obj) {
            "object" => self.object(obj, depth),
            "array" => self.array(obj, depth),
            "integer" => self.integer(obj),
            "number" => self.number(obj),
            "boolean" => Value::Bool(true),
            "null" => Value::Null,
            _ => Value::String(self.string(obj, name)),
        }
    }

    fn object(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut out = Map::new();
        let empty = Map::new();
        let properties = obj
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Required properties first so numbers from the text go to them first.
        for name in &required {
            let schema = properties.get(*name).cloned().unwrap_or(json!({}));
            let v = self.value(&schema, depth + 1, Some(name));
            out.insert((*name).to_string(), v);
        }
        for (name, schema) in properties {
            if !out.contains_key(name) {
                let v = self.value(schema, depth + 1, Some(name));
                out.insert(name.clone(), v);
            }
        }
        Value::Object(out)
    }

    fn array(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(1);
        let max = obj.get("maxItems").and_then(Value::as_u64);
        let count = match max {
            Some(max) => min.max(1).min(max),
            None => min.max(1),
        }
        .min(16);
        let items = obj.get("items").cloned().unwrap_or(json!({}));
        let mut out = Vec::new();
        for i in 0..count {
            let mut v = match &items {
                // Tuple-style `items: [..]` schemas.
                Value::Array(tuple) => tuple
                    .get(i as usize)
                    .map(|s| self.value(s, depth + 1, None))
                    .unwrap_or(Value::Null),
                schema => self.value(schema, depth + 1, None),
            };
            // Keep items distinct for `uniqueItems` by suffixing repeated strings.
            if i > 0
                && out.contains(&v)
                && let Value::String(s) = &mut v
            {
                s.push_str(&(i + 1).to_string());
            }
            out.push(v);
        }
        Value::Array(out)
    }

    fn next_number(&mut self) -> Option<f64> {
        let n = self.numbers.get(self.next_number).copied();
        if n.is_some() {
            self.next_number += 1;
        }
        n
    }

    fn integer(&mut self, obj: &Map<String, Value>) -> Value {
        let mut v = self.next_number().map(|n| n.trunc()).unwrap_or(1.0);
        let (lo, hi) = bounds(obj);
        if let Some(lo) = lo
            && v < lo
        {
            v = lo.ceil();
        }
        if let Some(hi) = hi
            && v > hi
        {
            v = hi.floor();
        }
        if v.is_finite() && v.abs() < 9.0e15 {
            Value::Number(Number::from(v as i64))
        } else {
            Value::Number(Number::from(1))
        }
    }

    fn number(&mut self, obj: &Map<String, Value>) -> Value {
        let mut v = self.next_number().unwrap_or(1.0);
        let (lo, hi) = bounds(obj);
        if let Some(lo) = lo
            && v < lo
        {
            v = lo;
        }
        if let Some(hi) = hi
            && v > hi
        {
            v = hi;
        }
        Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::Number(Number::from(1)))
    }

    fn string(&mut self, obj: &Map<String, Value>, name: Option<&str>) -> String {
        let by_name = match name {
            Some(n) if is_path_name(n) => Some(self.path.clone().unwrap_or_else(|| ".".into())),
            Some(n) if n.to_ascii_lowercase().contains("expression") => self.expression.clone(),
            Some(n) if is_subject_name(n) => self.subject.clone(),
            _ => None,
        };
        let mut s = match obj.get("format").and_then(Value::as_str) {
            Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
            Some("date") => "2024-01-01".to_string(),
            Some("time") => "00:00:00".to_string(),
            Some("email") => "user@example.com".to_string(),
            Some("uri") | Some("url") => "https://example.com".to_string(),
            Some("uuid") => "00000000-0000-4000-8000-000000000000".to_string(),
            // A question with arithmetic in it is about that arithmetic ("What is 6 * 7?").
            _ => by_name
                .or_else(|| self.expression.clone())
                .or_else(|| self.word.clone())
                .or_else(|| self.subject.clone())
                .unwrap_or_else(|| "example".to_string()),
        };
        let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = obj
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m as usize);
        let min = min.min(4096);
        while s.chars().count() < min {
            s.push('x');
        }
        if let Some(max) = max
            && s.chars().count() > max
        {
            s = s.chars().take(max).collect();
        }
        s
    }
}

/// Resolve a local JSON pointer like `#/$defs/Point` against the root schema (reference
/// cycles are cut off by the depth limit).
fn resolve<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    root.pointer(target.strip_prefix('#')?)
}

/// The effective lower and upper bounds of a numeric schema (exclusive bounds nudged inward).
fn bounds(obj: &Map<String, Value>) -> (Option<f64>, Option<f64>) {
    let get = |k: &str| obj.get(k).and_then(Value::as_f64);
    let lo = match (get("minimum"), get("exclusiveMinimum")) {
        (Some(a), Some(b)) => Some(a.max(b + 1.0)),
        (a, b) => a.or(b.map(|b| b + 1.0)),
    };
    let hi = match (get("maximum"), get("exclusiveMaximum")) {
        (Some(a), Some(b)) => Some(a.min(b - 1.0)),
        (a, b) => a.or(b.map(|b| b - 1.0)),
    };
    (lo, hi)
}

/// The schema's type; the first non-null type of a type list; inferred when absent.
fn schema_type(obj: &Map<String, Value>) -> &str {
    match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or_else(|| types.iter().filter_map(Value::as_str).next())
            .unwrap_or("string"),
        _ if obj.contains_key("properties") || obj.contains_key("required") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    }
}

/// The last capitalized word that does not start a sentence, stripped of punctuation
/// ("Tokyo" in "What's the weather in Tokyo?").
pub(crate) fn salient_word(text: &str) -> Option<String> {
    let mut sentence_start = true;
    let mut best = None;
    for raw in text.split_whitespace() {
        let word: &str = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let starts_upper = word.chars().next().is_some_and(char::is_uppercase);
        if !sentence_start && starts_upper {
            best = Some(word.to_string());
        }
        if !word.is_empty() {
            sentence_start = raw.ends_with(['.', '!', '?', ':']);
        }
    }
    best
}

/// The longest run of arithmetic in the text ("6 * 7" in "What is 6 * 7?"): digits, dots,
/// spaces, parentheses and operators, holding at least two numbers and an operator.
pub(crate) fn arithmetic_expression(text: &str) -> Option<String> {
    let is_math = |c: char| c.is_ascii_digit() || " .+-*/%^()".contains(c);
    let mut best: Option<&str> = None;
    for run in text.split(|c: char| !is_math(c)) {
        let run = run.trim();
        let numbers = run
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .count();
        let has_operator = run.chars().any(|c| "+-*/%^".contains(c));
        if numbers >= 2 && has_operator && best.is_none_or(|b| run.len() > b.len()) {
            best = Some(run);
        }
    }
    best.map(str::to_string)
}

/// Numbers in the text, in order ("-3", "2.5", "42").
pub(crate) fn numbers_in(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let negative = chars[i] == '-'
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if chars[i].is_ascii_digit() || negative {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            if let Ok(n) = s.parse::<f64>()
                && n.is_finite()
            {
                out.push(n);
            }
            // Skip to the end of an alphanumeric token like "v2" or "3rd".
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
        } else if chars[i].is_alphanumeric() {
            // Digits inside words ("claude3") are not numbers the user asked about.
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_lifted_from_questions() {
        assert_eq!(
            arithmetic_expression("What is 6 * 7?").as_deref(),
            Some("6 * 7")
        );
        assert_eq!(
            arithmetic_expression("Compute (2 + 3) ^ 2, please").as_deref(),
            Some("(2 + 3) ^ 2")
        );
        assert_eq!(arithmetic_expression("What's the weather in Tokyo?"), None);
        assert_eq!(arithmetic_expression("I have 3 cats"), None);
        assert_eq!(
            generate_input(
                &json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
                "What is 6 * 7?"
            ),
            json!({"expression": "6 * 7"})
        );
    }

    #[test]
    fn salient_word_finds_proper_nouns() {
        assert_eq!(
            salient_word("What's the weather in Tokyo?").as_deref(),
            Some("Tokyo")
        );
        assert_eq!(
            salient_word("Fly from Paris to New York.").as_deref(),
            Some("York")
        );
        assert_eq!(salient_word("Hello there. How are you?"), None);
        assert_eq!(salient_word(""), None);
        assert_eq!(salient_word("look up \"Rust\"").as_deref(), Some("Rust"));
    }

    #[test]
    fn numbers_are_extracted_in_order() {
        assert_eq!(numbers_in("add 2 and 3.5, minus -4"), vec![2.0, 3.5, -4.0]);
        assert_eq!(numbers_in("claude3 v2 is 10x"), vec![10.0]);
        assert_eq!(numbers_in("no numbers"), Vec::<f64>::new());
        assert_eq!(numbers_in("1-2"), vec![1.0, 2.0]);
    }

    #[test]
    fn string_arguments_come_from_the_task_by_what_they_are_for() {
        let schema = json!({
            "type": "object",
            "properties": {"text": {"type": "string"}, "path": {"type": "string"}},
            "required": ["text"]
        });
        let v = generate_input(&schema, "Reverse the text: hello world");
        assert_eq!(v, json!({"text": "hello world", "path": "."}));
        let v = generate_input(&schema, "Reverse 'abc def' please");
        assert_eq!(v["text"], "abc def");
        let v = generate_input(&schema, "Reverse the words gamecode rocks");
        assert_eq!(v["text"], "gamecode rocks");
        let v = generate_input(&schema, "Summarize docs/guide.md.");
        assert_eq!(v["path"], "docs/guide.md");
        let v = generate_input_for_path(&schema, "notes.txt");
        assert_eq!(v["path"], "notes.txt");
        let calc = json!({"type": "object", "properties": {"expression": {"type": "string"}}});
        assert_eq!(
            generate_input(&calc, "What is 12 * 34?"),
            json!({"expression": "12 * 34"})
        );
        assert_eq!(path_in("version 1.2 of the tool"), None);
        assert_eq!(path_in("read README.md now").as_deref(), Some("README.md"));
    }

    #[test]
    fn weather_tool_gets_the_city() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city"]
        });
        let v = generate_input(&schema, "What's the weather in Tokyo?");
        assert_eq!(v, json!({"city": "Tokyo", "unit": "celsius"}));
    }

    #[test]
    fn numbers_respect_bounds_and_order() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "number"},
                "c": {"type": "integer", "minimum": 10, "maximum": 20},
                "d": {"type": "number", "exclusiveMaximum": 0}
            },
            "required": ["a", "b"]
        });
        let v = generate_input(&schema, "add 2 and 3.5 please");
        assert_eq!(v["a"], json!(2));
        assert_eq!(v["b"], json!(3.5));
        assert_eq!(v["c"], json!(10));
        assert_eq!(v["d"], json!(-1.0));
    }

    #[test]
    fn strings_respect_lengths_and_formats() {
        let v = generate_input(
            &json!({"type": "string", "minLength": 10, "maxLength": 12}),
            "in Tokyo",
        );
        assert_eq!(v, json!("Tokyoxxxxx"));
        // No proper noun: the task's own words, cut to fit.
        let v = generate_input(&json!({"type": "string", "maxLength": 3}), "no caps");
        assert_eq!(v, json!("no "));
        let v = generate_input(&json!({"type": "string", "maxLength": 3}), "");
        assert_eq!(v, json!("exa"));
        let v = generate_input(&json!({"type": "string", "format": "date"}), "");
        assert_eq!(v, json!("2024-01-01"));
    }

    #[test]
    fn composite_schemas() {
        let schema = json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "flag": {"type": "boolean"},
                "nothing": {"type": "null"},
                "kind": {"const": "fixed"},
                "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "maybe": {"type": ["null", "string"]},
                "nested": {"properties": {"x": {"type": "number"}}, "required": ["x"]},
                "point": {"$ref": "#/$defs/Point"}
            },
            "required": ["missing_but_required"],
            "$defs": {"Point": {"type": "object", "properties": {"y": {"type": "integer"}}}}
        });
        let v = generate_input(&schema, "");
        assert_eq!(v["tags"], json!(["example", "example2"]));
        assert_eq!(v["flag"], json!(true));
        assert_eq!(v["nothing"], Value::Null);
        assert_eq!(v["kind"], json!("fixed"));
        assert_eq!(v["choice"], json!(1));
        assert_eq!(v["maybe"], json!("example"));
        assert_eq!(v["nested"], json!({"x": 1.0}));
        assert_eq!(v["point"], json!({"y": 1}));
        assert_eq!(v["missing_but_required"], json!("example"));
    }

    #[test]
    fn empty_and_recursive_schemas_terminate() {
        assert_eq!(generate_input(&json!({"type": "object"}), "hi"), json!({}));
        let recursive = json!({
            "type": "object",
            "properties": {"child": {"$ref": "#"}},
            "required": ["child"]
        });
        let v = generate_input(&recursive, "");
        assert!(v.is_object());
        assert_eq!(generate_input(&json!(true), ""), json!("example"));
        let fan_out = json!({
            "$defs": {"A": {"type": "object",
                "properties": {"x": {"$ref": "#/$defs/A"}, "y": {"$ref": "#/$defs/A"}},
                "required": ["x", "y"]}},
            "$ref": "#/$defs/A"
        });
        assert!(generate_input(&fan_out, "").is_object());
    }
}
