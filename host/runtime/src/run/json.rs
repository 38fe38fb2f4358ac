//! Parsed JSON texts a run sends again and again.
//!
//! JSON crosses the WIT boundary as text (tool input schemas, tool-call inputs, JSON tool
//! results), and an agent resends the same texts on every turn: its tool list, and the tool
//! calls of earlier turns in the history. Parsing them all again is most of the host's
//! per-call cost for a realistic request; cloning the parsed value is a fraction of that.
//!
//! The cache belongs to one run (its store), so nothing is shared between plugins. It is
//! bounded: texts above [`MAX_TEXT_BYTES`] are parsed every time, and when the entries or
//! their total text would exceed the caps it starts over, so a plugin sending ever-new JSON
//! costs the host at most a few hundred KiB.
//!
//! Guest JSON is hostile: `[0,0,0,…]` of 64 MB parses into a gigabyte of values. So every text
//! is first *scanned* (one pass over its bytes, nothing allocated) for how many values it
//! holds and how deep it nests, and parsed only when that fits what the request may still
//! build ([`JsonBudget`]).

use std::collections::HashMap;

use serde_json::Value;

/// Larger texts are not kept.
const MAX_TEXT_BYTES: usize = 8 << 10;
/// Total text kept per run.
const MAX_TOTAL_BYTES: usize = 32 << 10;
/// Entries kept per run.
const MAX_ENTRIES: usize = 64;

/// The deepest nesting of arrays and objects accepted (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 64;

/// Why guest JSON was not parsed.
#[derive(Debug)]
pub(crate) enum JsonError {
    /// Not JSON.
    Invalid(serde_json::Error),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More values than the request may still hold.
    TooLarge { items: usize },
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "{e}"),
            Self::TooDeep => write!(f, "it nests deeper than {MAX_DEPTH} levels"),
            Self::TooLarge { items } => write!(f, "it holds {items} JSON values"),
        }
    }
}

/// How many more JSON values a request may build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonBudget {
    pub(crate) items_left: usize,
}

/// The values in `text` (each scalar, array and object counts one) and its deepest nesting,
/// from one pass over the bytes. An upper bound for malformed text, which the parse refuses.
pub(crate) fn scan(text: &str) -> (usize, usize) {
    let mut items = 1usize;
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                items += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => items += 1,
            _ => {}
        }
    }
    (items, deepest)
}

/// JSON text → its parsed value (and the values it holds), for one run.
#[derive(Debug, Default)]
pub(crate) struct JsonCache {
    parsed: HashMap<Box<str>, (Value, usize)>,
    text_bytes: usize,
}

impl JsonCache {
    /// Parses `text` within `budget`, or clones the value parsed from the same text before.
    pub(crate) fn parse(
        &mut self,
        text: &str,
        budget: &mut JsonBudget,
    ) -> Result<Value, JsonError> {
        if let Some((value, items)) = self.parsed.get(text) {
            budget.items_left = budget
                .items_left
                .checked_sub(*items)
                .ok_or(JsonError::TooLarge { items: *items })?;
            return Ok(value.clone());
        }
        let (items, depth) = scan(text);
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        budget.items_left = budget
            .items_left
            .checked_sub(items)
            .ok_or(JsonError::TooLarge { items })?;
        let value: Value = serde_json::from_str(text).map_err(JsonError::Invalid)?;
        if text.len() <= MAX_TEXT_BYTES {
            if self.parsed.len() >= MAX_ENTRIES || self.text_bytes + text.len() > MAX_TOTAL_BYTES {
                self.parsed.clear();
                self.text_bytes = 0;
            }
            self.text_bytes += text.len();
            self.parsed.insert(text.into(), (value.clone(), items));
        }
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.parsed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unbounded() -> JsonBudget {
        JsonBudget {
            items_left: usize::MAX,
        }
    }

    trait ParseAll {
        fn p(&mut self, text: &str) -> Result<Value, JsonError>;
    }

    impl ParseAll for JsonCache {
        fn p(&mut self, text: &str) -> Result<Value, JsonError> {
            self.parse(text, &mut unbounded())
        }
    }

    #[test]
    fn scan_counts_values_and_depth_outside_strings() {
        assert_eq!(scan("1"), (1, 0));
        assert_eq!(scan("[1,2,3]"), (4, 1));
        assert_eq!(scan(r#"{"a":[1,{"b":"x,[{"}]}"#), (5, 3));
        assert_eq!(scan(r#""esc\"aped,[""#), (1, 0));
        assert_eq!(scan(&"[".repeat(100)).1, 100);
    }

    #[test]
    fn oversized_or_deep_json_is_refused_before_parsing() {
        let mut c = JsonCache::default();
        let big = format!("[{}0]", "0,".repeat(10_000));
        let mut budget = JsonBudget { items_left: 1000 };
        assert!(matches!(
            c.parse(&big, &mut budget),
            Err(JsonError::TooLarge { items: 10_002 })
        ));
        assert_eq!(budget.items_left, 1000);
        let mut budget = JsonBudget { items_left: 20_000 };
        assert!(c.parse(&big, &mut budget).is_ok());
        assert_eq!(budget.items_left, 20_000 - 10_002);
        // From the cache, the same count is charged.
        let small = "[1,2]";
        let mut budget = JsonBudget { items_left: 3 };
        c.parse(small, &mut budget).unwrap();
        assert_eq!(budget.items_left, 0);
        assert!(matches!(
            c.parse(small, &mut budget),
            Err(JsonError::TooLarge { items: 3 })
        ));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(c.p(&deep), Err(JsonError::TooDeep)));
    }

    #[test]
    fn same_text_same_value_and_errors_are_not_kept() {
        let mut c = JsonCache::default();
        let a = c.p(r#"{"type":"object","properties":{"x":{"type":"number"}}}"#);
        let b = c.p(r#"{"type":"object","properties":{"x":{"type":"number"}}}"#);
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(c.len(), 1);
        assert!(c.p("{not json").is_err());
        assert_eq!(c.len(), 1);
        // Whitespace is part of the key, not of the value.
        assert_eq!(c.p("[1, 2]").unwrap(), c.p("[1,2]").unwrap());
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let mut c = JsonCache::default();
        for i in 0..1000 {
            assert_eq!(c.p(&i.to_string()).unwrap(), serde_json::json!(i));
            assert!(c.len() <= MAX_ENTRIES);
        }
        let big = format!("\"{}\"", "x".repeat(MAX_TEXT_BYTES));
        assert!(c.p(&big).unwrap().is_string());
        assert!(c.parsed.keys().all(|k| k.len() <= MAX_TEXT_BYTES));
        let mid = "y".repeat(MAX_TEXT_BYTES - 10);
        for i in 0..10 {
            assert!(c.p(&format!("\"{mid}{i}\"")).unwrap().is_string());
            assert!(c.text_bytes <= MAX_TOTAL_BYTES);
        }
        assert!(c.len() < 10, "the byte cap started over");
    }
}
