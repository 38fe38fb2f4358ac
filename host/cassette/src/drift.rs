//! Replay matching: what may legitimately change between a recording and a replay, and the
//! first difference that may not (the drift report).

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

/// Where a replayed request first differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The exchange (1-based) the request was matched against.
    pub exchange: u32,
    /// The path of the first differing field (`messages[2].content[0].text`), or `model`,
    /// `operation`, `exchanges`.
    pub path: String,
    /// The recorded value, short.
    pub recorded: String,
    /// The replayed value, short.
    pub now: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "drift at exchange {}: {} was {}, now {}",
            self.exchange, self.path, self.recorded, self.now
        )
    }
}

/// A request as replay compares it: scrubbed like a cassette, and tool-use ids renamed by
/// order of first appearance (`toolu_1`, `toolu_2`, …), since a model mints fresh ones on
/// every call while the conversation's shape stays the same.
pub fn normalize_request(request: &Value) -> Value {
    let mut v = request.clone();
    crate::scrub(&mut v);
    let mut ids = HashMap::new();
    rename_ids(&mut v, &mut ids);
    v
}

fn rename_ids(v: &mut Value, ids: &mut HashMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "toolUseId"
                    && let Value::String(id) = value
                {
                    let next = format!("toolu_{}", ids.len() + 1);
                    *id = ids.entry(id.clone()).or_insert(next).clone();
                } else {
                    rename_ids(value, ids);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rename_ids(i, ids)),
        _ => {}
    }
}

/// A value cut short for a report line.
pub(crate) fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "absent".to_string(),
        other => other.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > 80 {
        format!("{}…", chars[..80].iter().collect::<String>())
    } else {
        text
    }
}

/// The first place `now` differs from `recorded` (depth first, keys in order), as
/// `(path, recorded value, replayed value)`.
pub fn first_difference(recorded: &Value, now: &Value) -> Option<(String, Value, Value)> {
    fn walk(path: String, a: &Value, b: &Value) -> Option<(String, Value, Value)> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let (va, vb) = (
                        x.get(key).unwrap_or(&Value::Null),
                        y.get(key).unwrap_or(&Value::Null),
                    );
                    if let Some(d) = walk(p, va, vb) {
                        return Some(d);
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    let (va, vb) = (
                        x.get(i).unwrap_or(&Value::Null),
                        y.get(i).unwrap_or(&Value::Null),
                    );
                    if let Some(d) = walk(format!("{path}[{i}]"), va, vb) {
                        return Some(d);
                    }
                }
                None
            }
            (a, b) if a == b => None,
            (a, b) => Some((path, a.clone(), b.clone())),
        }
    }
    walk(String::new(), recorded, now)
}

impl Drift {
    /// Compares a replayed request with exchange `exchange` of the cassette.
    pub fn check(
        recorded: &crate::Exchange,
        operation: crate::Operation,
        model: &str,
        request: &Value,
    ) -> Option<Drift> {
        let drift = |path: &str, was: String, now: String| Drift {
            exchange: recorded.exchange,
            path: path.into(),
            recorded: was,
            now,
        };
        let mut model = model.to_string();
        crate::scrub_text(&mut model);
        let mut recorded_model = recorded.model.clone();
        crate::scrub_text(&mut recorded_model);
        if recorded_model != model {
            return Some(drift("model", recorded_model, model));
        }
        if recorded.operation != operation {
            return Some(drift(
                "operation",
                recorded.operation.to_string(),
                operation.to_string(),
            ));
        }
        let (was, now) = (
            normalize_request(&recorded.request),
            normalize_request(request),
        );
        first_difference(&was, &now).map(|(path, a, b)| drift(&path, short(&a), short(&b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_use_ids_are_mapped_and_the_first_difference_is_named() {
        let recorded = json!({"messages": [
            {"role": "user", "content": [{"text": "What is 6 * 7?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_AAA", "name": "calc", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_AAA", "content": [{"text": "42"}]}}]}]});
        let mut replayed = recorded.clone();
        replayed["messages"][1]["content"][0]["toolUse"]["toolUseId"] = json!("tooluse_BBB");
        replayed["messages"][2]["content"][0]["toolResult"]["toolUseId"] = json!("tooluse_BBB");
        assert_eq!(
            normalize_request(&recorded),
            normalize_request(&replayed),
            "fresh ids are not drift"
        );
        replayed["messages"][0]["content"][0]["text"] = json!("What is 6 * 8?");
        let (path, was, now) =
            first_difference(&normalize_request(&recorded), &normalize_request(&replayed))
                .expect("a difference");
        assert_eq!(path, "messages[0].content[0].text");
        assert_eq!(
            (was, now),
            (json!("What is 6 * 7?"), json!("What is 6 * 8?"))
        );
        // A missing message is a difference too.
        let shorter = json!({"messages": [recorded["messages"][0].clone()]});
        let (path, _, now) = first_difference(&recorded, &shorter).expect("shorter");
        assert_eq!((path.as_str(), now), ("messages[1]", Value::Null));
    }
}
