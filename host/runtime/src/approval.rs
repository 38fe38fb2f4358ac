//! Tool calls that wait for a person: which host tools need approval, what a waiting run
//! asks, and the person's decision.

use serde::{Deserialize, Serialize};

/// Which host tools need a person's approval before each call: by name, or every tool of an
/// MCP server as `mcp:<server>` (as `[tools] allowed` names them). A durable run that calls
/// one stops, journaled, until [`Plugin::decide`](crate::Plugin::decide) continues it; a run
/// that is not durable cannot wait, and the call is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    tools: Vec<String>,
}

impl Approvals {
    /// These tools need approval.
    pub fn tools<I, S>(tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tools: tools.into_iter().map(Into::into).collect(),
        }
    }

    /// `[tools] approve` of a policy file (TOML), if it has one.
    pub fn from_policy_toml(text: &str) -> Result<Self, crate::PolicyError> {
        Ok(Self::tools(
            crate::policy::approve_list(text)?.unwrap_or_default(),
        ))
    }

    /// The tools named.
    pub fn names(&self) -> &[String] {
        &self.tools
    }

    /// Whether a call of the host tool `name` (of MCP server `server`, if it is one's) needs
    /// approval.
    pub fn needed(&self, name: &str, server: Option<&str>) -> bool {
        self.tools
            .iter()
            .any(|t| t == name || server.is_some_and(|s| t.strip_prefix("mcp:") == Some(s)))
    }

    /// These and `more`.
    pub fn and(mut self, more: Approvals) -> Self {
        self.tools.extend(more.tools);
        self
    }
}

/// A person's decision on a tool call a run waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// The call goes ahead.
    Approve,
    /// The call is refused: the plugin gets a `not-allowed` tool error with this reason.
    Deny(String),
}

/// The tool call a run waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCall {
    /// The host tool.
    pub tool: String,
    /// Its input: the plugin's JSON, as the tool reads it (parsed and written again, so a
    /// key the plugin gave twice shows once, as the tool sees it).
    pub input: String,
}

impl PendingCall {
    /// As the state store keeps it (`RunRecord::waiting`).
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A run's `waiting` text, read back.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

impl std::fmt::Display for PendingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&shown(&self.tool, &self.input))
    }
}

/// The most of a call's input a person is shown in one go.
const SHOWN_INPUT: usize = 2_000;

/// A tool call as a person is shown it: the tool's name and its input on one line, control
/// characters escaped, a long input cut (saying how long it is).
pub(crate) fn shown(tool: &str, input: &str) -> String {
    let input = crate::text::escape_controls(input).replace('\n', "\\n");
    let cut = match input.char_indices().nth(SHOWN_INPUT) {
        Some((at, _)) => format!("{}… ({} bytes in all)", &input[..at], input.len()),
        None => input,
    };
    format!("{} {cut}", crate::text::echo(tool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_named_or_taken_by_server() {
        let a = Approvals::tools(["read_file", "mcp:shell"]);
        assert!(a.needed("read_file", None));
        assert!(!a.needed("list_dir", None));
        // Every tool of the `shell` MCP server, and no other server's.
        assert!(a.needed("shell__run", Some("shell")));
        assert!(!a.needed("git__log", Some("git")));
        // A host tool of the same name as an MCP tool is not the server's.
        assert!(!a.needed("shell__run", None));
    }

    #[test]
    fn a_policy_file_lists_them_under_tools() {
        let a = Approvals::from_policy_toml(
            "[tools]\nallowed = [\"read_file\"]\napprove = [\"read_file\"]\n",
        )
        .expect("parses");
        assert_eq!(a.names(), ["read_file"]);
        assert!(
            Approvals::from_policy_toml("")
                .expect("parses")
                .names()
                .is_empty()
        );
        // The policy itself reads the same file.
        crate::Policy::from_toml_str("[tools]\napprove = [\"read_file\"]\n").expect("a policy");
        assert!(Approvals::from_policy_toml("[tools]\napprove = \"read_file\"\n").is_err());
    }
}
