//! Exact conversion between `serde_json::Value` and the SDK's `aws_smithy_types::Document`.
//!
//! Tool inputs and JSON tool results cross this boundary. Numbers keep their kind: unsigned
//! integers (including those above `i64::MAX`) stay `PosInt`, negative ones `NegInt`, floats
//! `Float`. JSON cannot carry a non-finite float, so one coming from the provider is an error,
//! never a silent `0` or `null`.

use std::collections::HashMap;

use aws_smithy_types::{Document, Number};
use serde_json::{Map, Value};

/// A `Document` that has no JSON equivalent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("document is not representable as JSON: {0}")]
pub struct DocumentError(pub String);

/// JSON → `Document`. Infallible: every JSON value has an exact `Document` form.
pub fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            // serde_json numbers are u64, i64 or finite f64; nothing else reaches here.
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// `Document` → JSON; fails on a non-finite float.
pub fn document_to_json(doc: &Document) -> Result<Value, DocumentError> {
    Ok(match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| DocumentError(format!("non-finite number {f}")))?
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(
            items
                .iter()
                .map(document_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Document::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), document_to_json(v)?);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 256, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::hash_map(".*", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_round_trips_exactly(v in arb_json()) {
            let back = document_to_json(&json_to_document(&v)).unwrap();
            prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn number_kinds_are_kept() {
        let big = u64::MAX;
        assert_eq!(
            json_to_document(&json!(big)),
            Document::Number(Number::PosInt(big))
        );
        assert_eq!(
            json_to_document(&json!(-5)),
            Document::Number(Number::NegInt(-5))
        );
        assert_eq!(
            json_to_document(&json!(i64::MIN)),
            Document::Number(Number::NegInt(i64::MIN))
        );
        assert_eq!(
            json_to_document(&json!(1.5)),
            Document::Number(Number::Float(1.5))
        );
        assert_eq!(
            document_to_json(&json_to_document(&json!(big))).unwrap(),
            json!(big)
        );
    }

    #[test]
    fn deep_nesting_survives() {
        let mut v = json!(1);
        for _ in 0..64 {
            v = json!({ "a": [v] });
        }
        assert_eq!(document_to_json(&json_to_document(&v)).unwrap(), v);
    }

    #[test]
    fn non_finite_floats_are_errors() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let doc = Document::Array(vec![Document::Number(Number::Float(f))]);
            assert!(document_to_json(&doc).is_err(), "{f} must not convert");
        }
    }
}
