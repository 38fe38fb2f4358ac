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

use std::collections::HashMap;

use serde_json::Value;

/// Larger texts are not kept.
const MAX_TEXT_BYTES: usize = 8 << 10;
/// Total text kept per run.
const MAX_TOTAL_BYTES: usize = 32 << 10;
/// Entries kept per run.
const MAX_ENTRIES: usize = 64;

/// JSON text → its parsed value, for one run.
#[derive(Debug, Default)]
pub(crate) struct JsonCache {
    parsed: HashMap<Box<str>, Value>,
    text_bytes: usize,
}

impl JsonCache {
    /// Parses `text`, or clones the value parsed from the same text before.
    pub(crate) fn parse(&mut self, text: &str) -> Result<Value, serde_json::Error> {
        if let Some(value) = self.parsed.get(text) {
            return Ok(value.clone());
        }
        let value: Value = serde_json::from_str(text)?;
        if text.len() <= MAX_TEXT_BYTES {
            if self.parsed.len() >= MAX_ENTRIES || self.text_bytes + text.len() > MAX_TOTAL_BYTES {
                self.parsed.clear();
                self.text_bytes = 0;
            }
            self.text_bytes += text.len();
            self.parsed.insert(text.into(), value.clone());
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

    #[test]
    fn same_text_same_value_and_errors_are_not_kept() {
        let mut c = JsonCache::default();
        let a = c.parse(r#"{"type":"object","properties":{"x":{"type":"number"}}}"#);
        let b = c.parse(r#"{"type":"object","properties":{"x":{"type":"number"}}}"#);
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(c.len(), 1);
        assert!(c.parse("{not json").is_err());
        assert_eq!(c.len(), 1);
        // Whitespace is part of the key, not of the value.
        assert_eq!(c.parse("[1, 2]").unwrap(), c.parse("[1,2]").unwrap());
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let mut c = JsonCache::default();
        for i in 0..1000 {
            assert_eq!(c.parse(&i.to_string()).unwrap(), serde_json::json!(i));
            assert!(c.len() <= MAX_ENTRIES);
        }
        let big = format!("\"{}\"", "x".repeat(MAX_TEXT_BYTES));
        assert!(c.parse(&big).unwrap().is_string());
        assert!(c.parsed.keys().all(|k| k.len() <= MAX_TEXT_BYTES));
        let mid = "y".repeat(MAX_TEXT_BYTES - 10);
        for i in 0..10 {
            assert!(c.parse(&format!("\"{mid}{i}\"")).unwrap().is_string());
            assert!(c.text_bytes <= MAX_TOTAL_BYTES);
        }
        assert!(c.len() < 10, "the byte cap started over");
    }
}
