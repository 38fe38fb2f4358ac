//! The vocabulary every request checker shares: the union kinds of Converse's content blocks,
//! how a block's single union member is read, and the `Invalid` a refused request becomes.
//!
//! It sits below the checkers (`validate`, `media`, `thinking`, `guardrail`, `catalogue`) so
//! that they all read it while `validate` alone calls the others.

use serde_json::Value;

/// The message of the 400 for a model identifier Bedrock does not accept.
pub(crate) const INVALID_MODEL: &str = "The provided model identifier is invalid.";

/// The members a message's content block may hold.
pub(crate) const CONTENT_BLOCK_KINDS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
];
/// The members a system block may hold.
pub(crate) const SYSTEM_BLOCK_KINDS: &[&str] = &["text", "guardContent", "cachePoint"];
/// The members a tool result's content block may hold.
pub(crate) const TOOL_RESULT_BLOCK_KINDS: &[&str] =
    &["text", "json", "image", "document", "video", "searchResult"];

/// A rejected request: the message of the 400 ValidationException.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) String);

/// The single union member of a content block, if it has exactly one known member.
pub(crate) fn union_member<'a>(block: &'a Value, kinds: &[&str]) -> Option<(&'a str, &'a Value)> {
    let obj = block.as_object()?;
    let mut found = None;
    for (k, v) in obj {
        if !kinds.contains(&k.as_str()) {
            return None;
        }
        if found.is_some() {
            return None;
        }
        found = Some((k.as_str(), v));
    }
    found
}
