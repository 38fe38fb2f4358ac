//! What the policy refused, and why a policy could not be used.

use std::fmt;

/// Which policy limit a plugin ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViolationKind {
    /// More chat calls than `max_chat_calls`.
    ChatLimit,
    /// The token budget was used up.
    TokenBudget,
    /// A model outside `allowed_models`.
    ModelNotAllowed,
    /// A request larger than `max_request_bytes`.
    RequestTooLarge,
    /// A host tool outside `allowed_tools`.
    ToolNotAllowed,
    /// A request option the policy does not allow (reasoning, a service tier, a guardrail).
    OptionNotAllowed,
}

impl ViolationKind {
    /// The name of the matching WIT error case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatLimit => "chat-limit-reached",
            Self::TokenBudget => "token-budget-exhausted",
            Self::ModelNotAllowed => "model-not-allowed",
            Self::RequestTooLarge => "request-too-large",
            Self::ToolNotAllowed => "not-allowed",
            Self::OptionNotAllowed => "option-not-allowed",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the policy refused. The guest got the matching typed error and may have
/// continued; the embedder sees every violation in the run's report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy violation ({kind}): {message}")]
pub struct PolicyViolation {
    pub kind: ViolationKind,
    pub message: String,
}

impl PolicyViolation {
    pub fn new(kind: ViolationKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A policy manifest that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid policy file: {0}")]
    Parse(String),
    #[error("invalid policy: {0}")]
    Invalid(String),
}
