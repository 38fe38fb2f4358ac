//! Which offered tool fits the user's words, for the default responder.
//!
//! A real model reads the task and the tools' names, descriptions and schemas, and calls the
//! tool that fits ("What is 12 * 34?" → the calculator; "Summarize the docs" → list the
//! directory, then read the files). The emulator does the same, deterministically: the task and
//! each tool are reduced to *concepts* (words, lightly stemmed, with a small table of synonyms:
//! "docs" and "file", "summarize" and "read"), and the tool sharing the most with the task —
//! its name counting most — is chosen. Ties go to the tool offered first; a tool sharing
//! nothing with the task is not called at all.

use serde_json::Value;

use crate::schema::arithmetic_expression;

/// Synonym groups: every word on the right stands for the concept on the left.
const CONCEPTS: &[(&str, &[&str])] = &[
    (
        "file",
        &[
            "file", "doc", "docs", "document", "readme", "note", "notes", "page", "source", "code",
            "manual", "guide", "markdown", "md", "txt", "toml", "json", "yaml",
        ],
    ),
    (
        "dir",
        &[
            "dir",
            "directory",
            "folder",
            "list",
            "listing",
            "ls",
            "where",
            "tree",
            "entries",
            "project",
            "repository",
            "repo",
            "workspace",
        ],
    ),
    (
        "read",
        &[
            "read",
            "open",
            "show",
            "cat",
            "view",
            "summarize",
            "summarise",
            "summary",
            "describe",
            "explain",
            "content",
            "contents",
            "look",
        ],
    ),
    (
        "calc",
        &[
            "calculate",
            "calculator",
            "compute",
            "math",
            "arithmetic",
            "evaluate",
            "expression",
            "sum",
            "add",
            "plus",
            "minus",
            "subtract",
            "multiply",
            "times",
            "divide",
            "product",
            "total",
            "equal",
            "equals",
        ],
    ),
    (
        "reverse",
        &[
            "reverse",
            "backwards",
            "backward",
            "invert",
            "mirror",
            "flip",
        ],
    ),
    (
        "count",
        &[
            "count",
            "stat",
            "stats",
            "statistics",
            "word",
            "character",
            "char",
            "letter",
            "length",
            "long",
            "many",
        ],
    ),
    (
        "weather",
        &["weather", "temperature", "forecast", "rain", "sunny"],
    ),
    (
        "search",
        &["search", "find", "lookup", "query", "grep", "locate"],
    ),
    ("time", &["time", "date", "clock", "now", "today"]),
];

/// Words too common to say anything about a tool.
const STOPWORDS: &[&str] = &[
    "the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "is", "are", "it", "this",
    "that", "me", "my", "you", "your", "please", "with", "from", "by", "at", "as", "be", "can",
    "do", "does", "i", "we", "us", "user", "granted", "relative", "default", "given", "one", "per",
    "line", "into", "its", "all", "any", "if", "how", "use", "using",
];

/// `word` lower-cased, with a plural or verb ending taken off.
fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in ["ies", "ing", "es", "ed", "s"] {
        if w.len() > suffix.len() + 2
            && let Some(base) = w.strip_suffix(suffix)
        {
            if suffix == "ies" {
                return format!("{base}y");
            }
            return base.to_string();
        }
    }
    w
}

/// The words of a text or identifier: split on non-alphanumerics, `_`, `-` and camelCase.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            current.push(c);
        } else {
            prev_lower = false;
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.into_iter()
        .map(|w| w.to_lowercase())
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The concepts of a text: each word's synonym group, or the (stemmed) word itself.
pub(crate) fn concepts(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(text) {
        let stemmed = stem(&word);
        let concept = CONCEPTS
            .iter()
            .find(|(_, group)| group.contains(&word.as_str()) || group.contains(&stemmed.as_str()))
            .map(|(c, _)| (*c).to_string())
            .unwrap_or(stemmed);
        if !out.contains(&concept) {
            out.push(concept);
        }
    }
    out
}

/// One offered tool, as the picker sees it.
#[derive(Debug, Clone)]
pub(crate) struct Offered<'a> {
    pub(crate) name: &'a str,
    pub(crate) schema: Value,
    name_concepts: Vec<String>,
    other_concepts: Vec<String>,
}

impl<'a> Offered<'a> {
    /// The tools of a request's `toolConfig`, in offer order.
    pub(crate) fn all(body: &'a Value) -> Vec<Offered<'a>> {
        body.get("toolConfig")
            .and_then(|c| c.get("tools"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("toolSpec"))
            .filter_map(|spec| {
                let name = spec.get("name").and_then(Value::as_str)?;
                let schema = spec
                    .get("inputSchema")
                    .and_then(|s| s.get("json"))
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"type": "object"}));
                let description = spec
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut other = description.to_string();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (prop, s) in props {
                        other.push(' ');
                        other.push_str(prop);
                        if let Some(d) = s.get("description").and_then(Value::as_str) {
                            other.push(' ');
                            other.push_str(d);
                        }
                    }
                }
                Some(Offered {
                    name,
                    name_concepts: concepts(name),
                    other_concepts: concepts(&other),
                    schema,
                })
            })
            .collect()
    }

    /// Whether the tool is about `concept` (by its name).
    pub(crate) fn is(&self, concept: &str) -> bool {
        self.name_concepts.iter().any(|c| c == concept)
    }

    /// How well the tool fits a task with these concepts (0: not at all).
    pub(crate) fn score(&self, task: &[String], arithmetic: bool) -> u32 {
        let mut score = 0;
        for c in task {
            if self.name_concepts.contains(c) {
                score += 3;
            } else if self.other_concepts.contains(c) {
                score += 1;
            }
        }
        if arithmetic && (self.is("calc") || self.other_concepts.iter().any(|c| c == "calc")) {
            score += 5;
        }
        score
    }
}

/// The offered tool that fits `task` best, skipping `exclude` (by name); `None` when no tool
/// shares anything with it.
pub(crate) fn best<'a, 'b>(
    offered: &'b [Offered<'a>],
    task: &str,
    exclude: &[&str],
) -> Option<&'b Offered<'a>> {
    let task_concepts = concepts(task);
    let arithmetic = arithmetic_expression(task).is_some();
    let mut best: Option<(&Offered<'a>, u32)> = None;
    for tool in offered.iter().filter(|t| !exclude.contains(&t.name)) {
        let score = tool.score(&task_concepts, arithmetic);
        if score > 0 && best.is_none_or(|(_, s)| score > s) {
            best = Some((tool, score));
        }
    }
    best.map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(tools: &[(&str, &str, Value)]) -> Value {
        json!({
            "toolConfig": {"tools": tools.iter().map(|(n, d, s)| json!({
                "toolSpec": {"name": n, "description": d, "inputSchema": {"json": s}}
            })).collect::<Vec<_>>()}
        })
    }

    fn example_tools() -> Value {
        let path = json!({"type": "object", "properties": {"path": {"type": "string"}}});
        body(&[
            (
                "calculator",
                "Evaluates an arithmetic expression such as (2 + 3) * 4.",
                json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
            ),
            (
                "text_stats",
                "Counts the words, characters and lines of a text.",
                json!({"type": "object", "properties": {"text": {"type": "string"}}}),
            ),
            (
                "list_dir",
                "Lists a directory under the directory the user granted.",
                path.clone(),
            ),
            (
                "read_file",
                "Reads a UTF-8 text file from the directory the user granted.",
                path,
            ),
            (
                "reverse_text",
                "Reverses a string.",
                json!({"type": "object", "properties": {"text": {"type": "string"}}}),
            ),
        ])
    }

    #[test]
    fn the_tool_that_fits_the_task_is_picked() {
        let b = example_tools();
        let offered = Offered::all(&b);
        let pick = |task: &str| best(&offered, task, &[]).map(|t| t.name);
        assert_eq!(pick("What is 12 * 34?"), Some("calculator"));
        assert_eq!(pick("Summarize the docs"), Some("read_file"));
        assert_eq!(pick("What files are in this folder?"), Some("list_dir"));
        assert_eq!(
            pick("How many words are in 'to be or not'?"),
            Some("text_stats")
        );
        assert_eq!(pick("Reverse the text: hello world"), Some("reverse_text"));
        assert_eq!(pick("Good morning!"), None);
        assert_eq!(pick("Say hello"), None);
        // Excluding what was used finds the next fit.
        let task = "Count the words of README.md";
        assert_eq!(
            best(&offered, task, &[]).map(|t| t.name),
            Some("text_stats")
        );
        assert_eq!(
            best(&offered, task, &["text_stats"]).map(|t| t.name),
            Some("read_file")
        );
        assert!(best(&offered, "Summarize the docs", &["read_file"]).is_none());
    }

    #[test]
    fn words_split_identifiers_and_stem() {
        assert_eq!(concepts("readFile list_dir"), ["read", "file", "dir"]);
        assert_eq!(concepts("Counting the directories"), ["count", "dir"]);
        assert_eq!(stem("queries"), "query");
    }
}
