//! Streaming replies.

use std::pin::Pin;

use futures::Stream;

use crate::{BackendError, MessageRole, StopReason, ToolCall, Usage};

/// One event of a streamed reply, in the order the provider produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The assistant turn begins.
    MessageStart { role: MessageRole },
    /// More text for the content block at `index`.
    TextDelta { index: u32, text: String },
    /// A tool call begins at content block `index`.
    ToolUseStart { index: u32, id: String, name: String },
    /// A fragment of the tool call's JSON input; fragments concatenate to the whole input.
    ToolUseInputDelta { index: u32, fragment: String },
    /// The tool call at `index` is complete, its input assembled and parsed.
    ToolUseStop { index: u32, call: ToolCall },
    /// The content block at `index` (text) is complete.
    ContentBlockStop { index: u32 },
    /// The assistant turn ended.
    MessageStop { stop_reason: StopReason },
    /// Token usage, sent after the message stops.
    Metadata { usage: Usage },
}

/// A streamed reply. Dropping it cancels the upstream request.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, BackendError>> + Send>>;
