//! Host tools: capabilities the embedder grants to plugins, one Rust object per tool.
//!
//! A plugin has no filesystem, network or environment of its own; everything it can reach
//! outside its sandbox is a [`HostTool`] the embedder registered (and the plugin's policy
//! allows). The plugin sees the tools through the WIT `tools` interface and may pass them on
//! to the model.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub mod fs;

/// A tool's description, as the plugin (and through it the model) sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Must match `[a-zA-Z0-9_-]{1,64}` (Bedrock's rule) and be unique within a host.
    pub name: String,
    /// What the tool does; the model reads this to decide when to call it.
    pub description: String,
    /// A JSON Schema object for the input.
    pub input_schema: Value,
}

/// Why a host tool call failed. Mirrors the WIT `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ToolError {
    #[error("no such tool: {0}")]
    NotFound(String),
    #[error("tool not allowed: {0}")]
    NotAllowed(String),
    #[error("invalid tool input: {0}")]
    InvalidInput(String),
    #[error("tool failed: {0}")]
    Failed(String),
}

/// A capability offered to plugins. Implementations must be safe to call from many runs at
/// once, and must treat `input` as hostile: it comes from a sandboxed plugin, often straight
/// from a model.
#[async_trait]
pub trait HostTool: Send + Sync {
    /// The tool's name, description and input schema.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool on a JSON input (already parsed; not yet checked against the schema).
    async fn call(&self, input: Value) -> Result<String, ToolError>;

    /// The output as content — text, JSON, images, documents — for plugins that take it
    /// (0.2.0 `call-tool-content`). By default, the text of [`call`](Self::call).
    async fn call_content(
        &self,
        input: Value,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        self.call(input)
            .await
            .map(|text| vec![gamecode_backend::ToolResultContent::Text(text)])
    }

    /// `Some(source)` for a tool a plugin sees only when its policy names it (or
    /// `mcp:<source>`): a policy allowing every host tool does not allow it. MCP servers'
    /// tools are such; the host's own are not.
    fn opt_in(&self) -> Option<&str> {
        None
    }
}

/// A tool's output as text (`call-tool`): text and JSON as they are, an image or document as a
/// line describing it; parts joined by newlines.
pub fn content_text(content: &[gamecode_backend::ToolResultContent]) -> String {
    use gamecode_backend::ToolResultContent as C;
    content
        .iter()
        .map(|c| match c {
            C::Text(t) => t.clone(),
            C::Json(v) => v.to_string(),
            C::Image(i) => format!("[image: {}, {} bytes]", i.format.as_str(), i.bytes.len()),
            C::Document(d) => format!(
                "[document \"{}\": {}, {} bytes]",
                d.name,
                d.format.as_str(),
                d.bytes.len()
            ),
            _ => "[content of a kind this host cannot show]".to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bytes of one part of a tool's output.
pub fn content_bytes(content: &gamecode_backend::ToolResultContent) -> usize {
    use gamecode_backend::ToolResultContent as C;
    match content {
        C::Text(t) => t.len(),
        C::Json(v) => v.to_string().len(),
        C::Image(i) => i.bytes.len(),
        C::Document(d) => d.bytes.len(),
        _ => 0,
    }
}

/// Whether `name` is a valid tool name: `[a-zA-Z0-9_-]{1,64}`.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The tools a host offers, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, (ToolSpec, Arc<dyn HostTool>)>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolRegistry {
    /// Adds a tool; its spec is read once, here.
    pub fn register(&mut self, tool: Arc<dyn HostTool>) -> Result<(), String> {
        let spec = tool.spec();
        if !is_valid_tool_name(&spec.name) {
            return Err(format!(
                "invalid host tool name `{}`: must match [a-zA-Z0-9_-]{{1,64}}",
                spec.name
            ));
        }
        if !spec.input_schema.is_object() {
            return Err(format!(
                "host tool `{}`: the input schema must be a JSON object",
                spec.name
            ));
        }
        if self.tools.contains_key(&spec.name) {
            return Err(format!("host tool `{}` is registered twice", spec.name));
        }
        self.tools.insert(spec.name.clone(), (spec, tool));
        Ok(())
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn HostTool>> {
        self.tools.get(name).map(|(_, t)| t)
    }

    /// Every tool's spec, sorted by name.
    pub fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().map(|(s, _)| s)
    }

    /// Every tool with its spec.
    pub fn entries(&self) -> impl Iterator<Item = (&ToolSpec, &Arc<dyn HostTool>)> {
        self.tools.values().map(|(s, t)| (s, t))
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}
