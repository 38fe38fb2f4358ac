//! Scripted answers from a file, for people steering the emulator from the command line
//! (`gamecode emulator --rules FILE`, `gamecode run --emulator --emulator-rules FILE`).
//!
//! ```toml
//! # Used in order, one per request, before any rule.
//! [[reply]]
//! text = "Hello! How can I help?"
//!
//! # Whenever the user's last message contains `when` (first match wins).
//! [[rule]]
//! when = "weather"
//! text = "It is sunny in Tokyo, 21 °C."
//!
//! [[rule]]
//! when = "deploy"
//! tool = "run_command"                 # the model calls this tool
//! input = { command = "make deploy" }
//! ```
//!
//! Requests that match nothing get the default responder. Keys are checked strictly: a typo
//! is an error with its line.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::script::{Reply, Script};

/// Replies in order and persistent rules, as loaded from a rules file.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub(crate) replies: Vec<Reply>,
    pub(crate) rules: Vec<(String, Reply)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    reply: Vec<Entry>,
    #[serde(default)]
    rule: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    when: Option<String>,
    text: Option<String>,
    tool: Option<String>,
    input: Option<toml::Value>,
}

impl Entry {
    fn reply(self, what: &str) -> anyhow::Result<(Option<String>, Reply)> {
        let reply = match (self.text, self.tool) {
            (Some(text), None) if self.input.is_none() => Reply::Text(text),
            (None, Some(name)) => Reply::ToolUse {
                name,
                input: match self.input {
                    Some(toml::Value::Table(t)) => serde_json::to_value(t)?,
                    Some(_) => anyhow::bail!("{what}: `input` must be a table"),
                    None => Value::Object(Default::default()),
                },
            },
            (Some(_), Some(_)) => anyhow::bail!("{what}: give `text` or `tool`, not both"),
            _ => anyhow::bail!("{what}: give `text`, or `tool` (with an optional `input`)"),
        };
        Ok((self.when, reply))
    }
}

impl Rules {
    pub fn from_toml_str(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text)?;
        let mut out = Rules::default();
        for (i, entry) in file.reply.into_iter().enumerate() {
            let what = format!("reply {}", i + 1);
            let (when, reply) = entry.reply(&what)?;
            if when.is_some() {
                anyhow::bail!("{what}: `when` belongs to a [[rule]]");
            }
            out.replies.push(reply);
        }
        for (i, entry) in file.rule.into_iter().enumerate() {
            let what = format!("rule {}", i + 1);
            let (when, reply) = entry.reply(&what)?;
            match when {
                Some(needle) if !needle.is_empty() => out.rules.push((needle, reply)),
                _ => anyhow::bail!("{what}: a [[rule]] needs a non-empty `when`"),
            }
        }
        Ok(out)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read rules file {}: {e}", path.display()))?;
        Self::from_toml_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid rules file {}: {e}", path.display()))
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty() && self.rules.is_empty()
    }

    /// Adds these replies (after those queued) and rules (after those set) to `script`.
    pub(crate) fn load_into(&self, script: &mut Script) {
        for reply in &self.replies {
            script.push(reply.clone());
        }
        for (needle, reply) in &self.rules {
            script.add_rule(needle.clone(), reply.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_rules_load_and_typos_are_errors() {
        let r = Rules::from_toml_str(
            r#"
            [[reply]]
            text = "first"
            [[rule]]
            when = "deploy"
            tool = "run_command"
            input = { command = "make deploy", dry = true }
            [[rule]]
            when = "weather"
            text = "sunny"
            "#,
        )
        .unwrap();
        assert!(matches!(&r.replies[..], [Reply::Text(t)] if t == "first"));
        assert!(matches!(
            &r.rules[0],
            (w, Reply::ToolUse { name, input }) if w == "deploy" && name == "run_command"
                && input == &serde_json::json!({"command": "make deploy", "dry": true})
        ));
        let e = Rules::from_toml_str("[[rule]]\nwhen = \"x\"\ntxet = \"y\"").unwrap_err();
        assert!(
            e.to_string().contains("txet") && e.to_string().contains("line 3"),
            "{e}"
        );
        assert!(Rules::from_toml_str("[[rule]]\ntext = \"y\"").is_err());
        assert!(Rules::from_toml_str("[[reply]]\ntext = \"y\"\ntool = \"t\"").is_err());
        assert!(Rules::from_toml_str("[[reply]]\ntool = \"t\"\ninput = 3").is_err());
    }
}
