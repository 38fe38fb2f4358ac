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
    /// Its input, JSON text as the plugin gave it.
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
        write!(
            f,
            "{} {}",
            crate::text::echo(&self.tool),
            crate::text::escape_controls(&self.input)
        )
    }
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
