use std::fmt;
use std::time::Duration;

/// The retry-relevant category of a [`BackendError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The provider is throttling us; retried with backoff.
    RateLimited,
    /// The request itself is wrong; never retried.
    Validation,
    /// Credentials are missing, wrong or lack permission; never retried.
    Authentication,
    /// The request did not complete on the wire (connect, timeout, reset, truncated body); retried.
    Network,
    /// The provider failed on its side (5xx, model errors, malformed replies); retried.
    Provider,
    /// The backend does not offer this operation; never retried.
    Unsupported,
}

impl ErrorCategory {
    /// Whether errors of this category are worth another attempt.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Network | Self::Provider)
    }

    /// A short stable name, e.g. for logs and exit reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate-limited",
            Self::Validation => "validation",
            Self::Authentication => "authentication",
            Self::Network => "network",
            Self::Provider => "provider",
            Self::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from an [`LLMBackend`](crate::LLMBackend), categorized for retry decisions.
///
/// `code` carries the provider's own error name (for Bedrock e.g. `ThrottlingException`)
/// when there is one, so callers can be more specific than the category.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum BackendError {
    #[error("rate limited{}: {message}", fmt_code(code))]
    RateLimited {
        message: String,
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("validation error{}: {message}", fmt_code(code))]
    Validation {
        message: String,
        code: Option<String>,
    },
    #[error("authentication error{}: {message}", fmt_code(code))]
    Authentication {
        message: String,
        code: Option<String>,
    },
    #[error("network error: {message}")]
    Network { message: String },
    #[error("provider error{}{}: {message}", fmt_code(code), fmt_status(status))]
    Provider {
        message: String,
        code: Option<String>,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    #[error("not supported: {message}")]
    Unsupported { message: String },
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn fmt_status(status: &Option<u16>) -> String {
    status.map(|s| format!(" [HTTP {s}]")).unwrap_or_default()
}

impl BackendError {
    /// An error of `category` saying `message` (with no retry hint or source).
    pub fn of(category: ErrorCategory, message: impl Into<String>) -> Self {
        match category {
            ErrorCategory::RateLimited => Self::rate_limited(message),
            ErrorCategory::Validation => Self::validation(message),
            ErrorCategory::Authentication => Self::authentication(message),
            ErrorCategory::Network => Self::network(message),
            ErrorCategory::Provider => Self::provider(message),
            ErrorCategory::Unsupported => Self::unsupported(message),
        }
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::RateLimited {
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            code: None,
        }
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::Authentication {
            message: message.into(),
            code: None,
        }
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self::Network {
            message: message.into(),
        }
    }

    pub fn provider(message: impl Into<String>) -> Self {
        Self::Provider {
            message: message.into(),
            code: None,
            status: None,
            retry_after: None,
        }
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported {
            message: message.into(),
        }
    }

    /// The retry category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::RateLimited { .. } => ErrorCategory::RateLimited,
            Self::Validation { .. } => ErrorCategory::Validation,
            Self::Authentication { .. } => ErrorCategory::Authentication,
            Self::Network { .. } => ErrorCategory::Network,
            Self::Provider { .. } => ErrorCategory::Provider,
            Self::Unsupported { .. } => ErrorCategory::Unsupported,
        }
    }

    /// Whether another attempt of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        self.category().is_retryable()
    }

    /// A server-provided hint of how long to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Provider { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The provider's own error name, if it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::RateLimited { code, .. }
            | Self::Validation { code, .. }
            | Self::Authentication { code, .. }
            | Self::Provider { code, .. } => code.as_deref(),
            Self::Network { .. } | Self::Unsupported { .. } => None,
        }
    }

    /// The human-readable message without the category prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::RateLimited { message, .. }
            | Self::Validation { message, .. }
            | Self::Authentication { message, .. }
            | Self::Network { message }
            | Self::Provider { message, .. }
            | Self::Unsupported { message } => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_categories_follow_the_seed() {
        assert!(BackendError::rate_limited("x").is_retryable());
        assert!(BackendError::network("x").is_retryable());
        assert!(BackendError::provider("x").is_retryable());
        assert!(!BackendError::validation("x").is_retryable());
        assert!(!BackendError::authentication("x").is_retryable());
        assert!(!BackendError::unsupported("x").is_retryable());
    }

    #[test]
    fn display_names_code_and_status() {
        let e = BackendError::Provider {
            message: "boom".into(),
            code: Some("InternalServerException".into()),
            status: Some(500),
            retry_after: None,
        };
        assert_eq!(
            e.to_string(),
            "provider error (InternalServerException) [HTTP 500]: boom"
        );
        assert_eq!(e.code(), Some("InternalServerException"));
    }
}
