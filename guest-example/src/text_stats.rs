//! The `text_stats` tool: character, word and line counts and the most frequent word.
//!
//! Definitions, chosen to match what a reader would count:
//! - `chars`: Unicode scalar values (not bytes).
//! - `words`: whitespace-separated tokens containing at least one letter or digit (a lone
//!   "-" or "—" is not a word).
//! - `lines`: as `str::lines`: a final newline does not start another line; empty text has 0.
//! - `most_frequent_word`: words compared case-insensitively with surrounding punctuation
//!   removed ("The", "the," and "THE" are one word; "don't" keeps its apostrophe); ties go to
//!   the word that appears first; `null` when there are no words.

use serde_json::{Value, json};
use std::collections::HashMap;

/// The statistics of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStats {
    pub chars: usize,
    pub words: usize,
    pub lines: usize,
    /// The most frequent word (normalized) and how often it occurs.
    pub most_frequent_word: Option<(String, usize)>,
}

impl TextStats {
    /// The tool's JSON output.
    pub fn to_json(&self) -> Value {
        json!({
            "chars": self.chars,
            "words": self.words,
            "lines": self.lines,
            "most_frequent_word": self
                .most_frequent_word
                .as_ref()
                .map(|(word, count)| json!({ "word": word, "count": count })),
        })
    }
}

/// Computes the statistics of `text`.
pub fn text_stats(text: &str) -> TextStats {
    // word -> (count, index of first occurrence)
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let mut words = 0;
    for token in text.split_whitespace() {
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() {
            continue;
        }
        let entry = counts.entry(word.to_lowercase()).or_insert((0, words));
        entry.0 += 1;
        words += 1;
    }
    let most_frequent_word = counts
        .into_iter()
        .max_by(|(_, (count_a, first_a)), (_, (count_b, first_b))| {
            count_a.cmp(count_b).then(first_b.cmp(first_a))
        })
        .map(|(word, (count, _))| (word, count));
    TextStats {
        chars: text.chars().count(),
        words,
        lines: text.lines().count(),
        most_frequent_word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_small_text() {
        let stats = text_stats("The cat sat.\nThe dog sat too!\nthe end");
        assert_eq!(stats.chars, 37);
        assert_eq!(stats.words, 9);
        assert_eq!(stats.lines, 3);
        assert_eq!(stats.most_frequent_word, Some(("the".to_string(), 3)));
    }

    #[test]
    fn empty_and_blank_text() {
        let empty = text_stats("");
        assert_eq!((empty.chars, empty.words, empty.lines), (0, 0, 0));
        assert_eq!(empty.most_frequent_word, None);
        let blank = text_stats("  \n - \n");
        assert_eq!((blank.chars, blank.words, blank.lines), (7, 0, 2));
        assert_eq!(blank.most_frequent_word, None);
    }

    #[test]
    fn ties_go_to_the_first_word_and_unicode_counts_as_chars() {
        let stats = text_stats("Café b a b A café");
        assert_eq!(stats.chars, 17);
        assert_eq!(stats.words, 6);
        assert_eq!(stats.lines, 1);
        assert_eq!(stats.most_frequent_word, Some(("café".to_string(), 2)));
    }

    #[test]
    fn punctuation_is_trimmed_but_apostrophes_inside_stay() {
        let stats = text_stats("don't stop, don't (don't) \"go\" go");
        assert_eq!(stats.words, 6);
        assert_eq!(stats.most_frequent_word, Some(("don't".to_string(), 3)));
    }

    #[test]
    fn json_shape() {
        assert_eq!(
            text_stats("hi hi\n").to_json(),
            json!({"chars": 6, "words": 2, "lines": 1,
                   "most_frequent_word": {"word": "hi", "count": 2}})
        );
        assert_eq!(
            text_stats("").to_json(),
            json!({"chars": 0, "words": 0, "lines": 0, "most_frequent_word": null})
        );
    }
}
