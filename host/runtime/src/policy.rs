//! Per-plugin policy: the limits one plugin run lives under, and the checks that enforce the
//! chat and tool parts of it.
//!
//! A [`Policy`] comes from the builder methods or from a small TOML manifest
//! ([`Policy::from_toml_str`], [`Policy::from_file`]). The manifest is parsed strictly: an
//! unknown key or a value of the wrong type is an error naming the line, because a typo in a
//! security limit (`max_cals = 3`) must never silently fall back to the default.
//!
//! ```toml
//! [limits]
//! memory_mib = 64          # linear memory cap, all memories of the plugin together
//! deadline_secs = 30       # wall-clock deadline; the run is killed when it passes
//! fuel = 5_000_000_000     # optional instruction budget (needs a host built with fuel)
//! output_kib = 256         # captured stdout and stderr, each
//!
//! [chat]
//! max_calls = 16           # chat + chat-stream calls per run
//! token_budget = 100_000   # total tokens (input + output) per run
//! max_request_bytes = 1_048_576   # all the strings of one request together
//! allowed_models = ["us.anthropic.claude-3-7-sonnet-20250219-v1:0"]  # absent: any model
//!
//! [tools]
//! allowed = ["read_file", "list_dir"]   # absent: every tool the host offers
//! ```

use std::fmt;
use std::path::Path;
use std::time::Duration;

use gamecode_backend::ChatRequest;
use serde::Deserialize;

/// When the request names no `max_tokens`, the host only sets one if the remaining token
/// budget is below this (a common default output cap); a larger value could exceed what the
/// model accepts and turn a harmless request into a validation error.
const CLAMP_UNSET_MAX_TOKENS_BELOW: u64 = 4096;

/// The limits of one plugin run. See the module docs for the TOML form.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Cap on the plugin's linear memory, all its memories together, in bytes.
    pub memory_limit_bytes: u64,
    /// Wall-clock time a run may take, host calls (model latency) included.
    pub deadline: Duration,
    /// Optional instruction budget; `None` runs without fuel metering.
    pub fuel: Option<u64>,
    /// Chat calls (`chat` and `chat-stream`) one run may make.
    pub max_chat_calls: u32,
    /// Tokens (input + output, as the backend reports them) one run may use.
    pub token_budget: u64,
    /// Models the plugin may use (the request's model, or the default); `None` allows any.
    pub allowed_models: Option<Vec<String>>,
    /// Host tools the plugin may see and call; `None` allows every tool the host offers.
    pub allowed_tools: Option<Vec<String>>,
    /// Largest chat request the plugin may send, in bytes: the total of every string in it
    /// (message text, tool-call inputs and results, tool names, descriptions and schemas,
    /// model, stop sequences) as the plugin passed them, without any envelope.
    pub max_request_bytes: usize,
    /// How much of the plugin's stdout, and separately stderr, is kept; the rest is dropped.
    pub max_output_bytes: usize,
}

impl Default for Policy {
    /// Generous for a real agent, small enough that a runaway plugin is cheap.
    fn default() -> Self {
        Self {
            memory_limit_bytes: 256 << 20,
            deadline: Duration::from_secs(300),
            fuel: None,
            max_chat_calls: 32,
            token_budget: 500_000,
            allowed_models: None,
            allowed_tools: None,
            max_request_bytes: 4 << 20,
            max_output_bytes: 1 << 20,
        }
    }
}

impl Policy {
    /// The default policy, to be adjusted with the `with_*` methods.
    pub fn builder() -> Self {
        Self::default()
    }

    pub fn with_memory_limit_bytes(mut self, bytes: u64) -> Self {
        self.memory_limit_bytes = bytes;
        self
    }

    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn with_fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    pub fn with_max_chat_calls(mut self, calls: u32) -> Self {
        self.max_chat_calls = calls;
        self
    }

    pub fn with_token_budget(mut self, tokens: u64) -> Self {
        self.token_budget = tokens;
        self
    }

    pub fn with_allowed_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_allowed_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_tools = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    pub fn with_max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Parses a TOML manifest; keys it does not set keep their [`Default`] values.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        let policy = file.apply(Self::default())?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads and parses a TOML manifest.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            PolicyError::Parse(m) => PolicyError::Parse(format!("{}: {m}", path.display())),
            PolicyError::Invalid(m) => PolicyError::Invalid(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Rejects values no run could sensibly use.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.memory_limit_bytes < 64 * 1024 {
            return Err(PolicyError::Invalid(
                "memory limit must be at least 64 KiB (one wasm page)".into(),
            ));
        }
        if self.memory_limit_bytes > 4 << 30 {
            return Err(PolicyError::Invalid(
                "memory limit cannot exceed 4 GiB (32-bit wasm)".into(),
            ));
        }
        if self.deadline.is_zero() {
            return Err(PolicyError::Invalid("deadline must be positive".into()));
        }
        if self.fuel == Some(0) {
            return Err(PolicyError::Invalid(
                "fuel must be positive (omit it to run without fuel)".into(),
            ));
        }
        Ok(())
    }

    /// Whether the plugin may call (and see) the host tool `name`.
    pub fn tool_allowed(&self, name: &str) -> bool {
        self.allowed_tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == name))
    }

    /// Whether the plugin may use `model`.
    pub fn model_allowed(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|m| m == model))
    }

    /// Admits one chat request under this policy, given what the run has used so far.
    ///
    /// Checks, in order: chat-call count, model, request size, token budget. On success the
    /// request's `max_tokens` is clamped to the remaining budget (so one answer cannot run far
    /// past it) and the call is counted in `meter`.
    pub(crate) fn admit_chat(
        &self,
        meter: &mut Meter,
        request: &mut ChatRequest,
        request_bytes: usize,
        default_model: &str,
    ) -> Result<(), PolicyViolation> {
        if meter.chat_calls >= self.max_chat_calls {
            return Err(PolicyViolation::new(
                ViolationKind::ChatLimit,
                format!(
                    "this plugin may make at most {} chat calls per run",
                    self.max_chat_calls
                ),
            ));
        }
        let model = request.model.as_deref().unwrap_or(default_model);
        if !self.model_allowed(model) {
            return Err(PolicyViolation::new(
                ViolationKind::ModelNotAllowed,
                format!("this plugin may not use model `{model}`"),
            ));
        }
        if request_bytes > self.max_request_bytes {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the request is {request_bytes} bytes; this plugin may send at most {}",
                    self.max_request_bytes
                ),
            ));
        }
        if meter.tokens_used >= self.token_budget {
            return Err(PolicyViolation::new(
                ViolationKind::TokenBudget,
                format!(
                    "this plugin has used {} of its {} tokens for this run",
                    meter.tokens_used, self.token_budget
                ),
            ));
        }
        let remaining = self.token_budget - meter.tokens_used;
        let remaining_u32 = u32::try_from(remaining).unwrap_or(u32::MAX);
        let config = request
            .inference_config
            .get_or_insert_with(Default::default);
        config.max_tokens = match config.max_tokens {
            Some(asked) => Some(asked.min(remaining_u32)),
            None if remaining < CLAMP_UNSET_MAX_TOKENS_BELOW => Some(remaining_u32),
            None => None,
        };
        if request.inference_config.as_ref() == Some(&Default::default()) {
            request.inference_config = None;
        }
        meter.chat_calls += 1;
        Ok(())
    }

    /// Admits one host tool call.
    pub(crate) fn admit_tool(&self, name: &str) -> Result<(), PolicyViolation> {
        if self.tool_allowed(name) {
            Ok(())
        } else {
            Err(PolicyViolation::new(
                ViolationKind::ToolNotAllowed,
                format!("this plugin may not use the host tool `{name}`"),
            ))
        }
    }
}

/// What one run has used so far, as far as the policy is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Meter {
    pub chat_calls: u32,
    pub tokens_used: u64,
}

/// Which policy limit a plugin ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
pub enum PolicyError {
    #[error("cannot read policy file {path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid policy file: {0}")]
    Parse(String),
    #[error("invalid policy: {0}")]
    Invalid(String),
}

/// The manifest as written. Every table denies unknown keys so typos are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    chat: ChatSection,
    #[serde(default)]
    tools: ToolsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    memory_mib: Option<u64>,
    deadline_secs: Option<f64>,
    fuel: Option<u64>,
    output_kib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatSection {
    max_calls: Option<u32>,
    token_budget: Option<u64>,
    max_request_bytes: Option<u64>,
    allowed_models: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsSection {
    allowed: Option<Vec<String>>,
}

impl PolicyFile {
    fn apply(self, mut p: Policy) -> Result<Policy, PolicyError> {
        let l = self.limits;
        if let Some(mib) = l.memory_mib {
            p.memory_limit_bytes = mib
                .checked_mul(1 << 20)
                .ok_or_else(|| PolicyError::Invalid("limits.memory_mib is too large".into()))?;
        }
        if let Some(secs) = l.deadline_secs {
            if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 86_400.0 {
                return Err(PolicyError::Invalid(format!(
                    "limits.deadline_secs must be a positive number of seconds up to a week, \
                     not {secs}"
                )));
            }
            p.deadline = Duration::from_secs_f64(secs);
        }
        if l.fuel.is_some() {
            p.fuel = l.fuel;
        }
        if let Some(kib) = l.output_kib {
            p.max_output_bytes = usize::try_from(kib.saturating_mul(1024))
                .map_err(|_| PolicyError::Invalid("limits.output_kib is too large".into()))?;
        }
        let c = self.chat;
        if let Some(n) = c.max_calls {
            p.max_chat_calls = n;
        }
        if let Some(n) = c.token_budget {
            p.token_budget = n;
        }
        if let Some(n) = c.max_request_bytes {
            p.max_request_bytes = usize::try_from(n)
                .map_err(|_| PolicyError::Invalid("chat.max_request_bytes is too large".into()))?;
        }
        if c.allowed_models.is_some() {
            p.allowed_models = c.allowed_models;
        }
        if self.tools.allowed.is_some() {
            p.allowed_tools = self.tools.allowed;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_backend::{InferenceConfig, Message};

    #[test]
    fn full_manifest_parses() {
        let p = Policy::from_toml_str(
            r#"
            [limits]
            memory_mib = 64
            deadline_secs = 1.5
            fuel = 1000
            output_kib = 4
            [chat]
            max_calls = 3
            token_budget = 100
            max_request_bytes = 2048
            allowed_models = ["m1"]
            [tools]
            allowed = ["read_file"]
            "#,
        )
        .unwrap();
        assert_eq!(p.memory_limit_bytes, 64 << 20);
        assert_eq!(p.deadline, Duration::from_millis(1500));
        assert_eq!(p.fuel, Some(1000));
        assert_eq!(p.max_output_bytes, 4096);
        assert_eq!(p.max_chat_calls, 3);
        assert_eq!(p.token_budget, 100);
        assert_eq!(p.max_request_bytes, 2048);
        assert!(p.model_allowed("m1") && !p.model_allowed("m2"));
        assert!(p.tool_allowed("read_file") && !p.tool_allowed("list_dir"));
    }

    #[test]
    fn empty_manifest_is_the_default_and_integer_seconds_work() {
        assert_eq!(Policy::from_toml_str("").unwrap(), Policy::default());
        let p = Policy::from_toml_str("[limits]\ndeadline_secs = 2").unwrap();
        assert_eq!(p.deadline, Duration::from_secs(2));
    }

    #[test]
    fn typos_and_wrong_types_are_errors() {
        let e = Policy::from_toml_str("[chat]\nmax_cals = 3").unwrap_err();
        assert!(
            matches!(&e, PolicyError::Parse(m) if m.contains("max_cals")),
            "{e}"
        );
        let e = Policy::from_toml_str("[limits]\nmemory_mib = \"64\"").unwrap_err();
        assert!(matches!(e, PolicyError::Parse(_)), "{e}");
        let e = Policy::from_toml_str("[limit]\nmemory_mib = 64").unwrap_err();
        assert!(matches!(e, PolicyError::Parse(_)), "{e}");
        let e = Policy::from_toml_str("[limits]\ndeadline_secs = -1").unwrap_err();
        assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
        let e = Policy::from_toml_str("[limits]\nmemory_mib = 0").unwrap_err();
        assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
        let e = Policy::from_toml_str("not toml at all [").unwrap_err();
        assert!(matches!(e, PolicyError::Parse(_)), "{e}");
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        }
    }

    #[test]
    fn chat_admission_checks_in_order_and_counts() {
        let p = Policy::default()
            .with_max_chat_calls(1)
            .with_allowed_models(["ok"]);
        let mut m = Meter::default();
        let mut r = request();
        let e = p.admit_chat(&mut m, &mut r, 0, "bad").unwrap_err();
        assert_eq!(e.kind, ViolationKind::ModelNotAllowed);
        assert_eq!(m.chat_calls, 0);
        p.admit_chat(&mut m, &mut r, 0, "ok").unwrap();
        assert_eq!(m.chat_calls, 1);
        let e = p.admit_chat(&mut m, &mut r, 0, "ok").unwrap_err();
        assert_eq!(e.kind, ViolationKind::ChatLimit);
    }

    #[test]
    fn request_size_and_token_budget() {
        let p = Policy::default().with_max_request_bytes(10);
        p.admit_chat(&mut Meter::default(), &mut request(), 10, "m")
            .unwrap();
        let e = p
            .admit_chat(&mut Meter::default(), &mut request(), 11, "m")
            .unwrap_err();
        assert_eq!(e.kind, ViolationKind::RequestTooLarge);
        assert!(e.message.contains("11 bytes"), "{}", e.message);

        let p = Policy::default().with_token_budget(100);
        let mut m = Meter {
            chat_calls: 0,
            tokens_used: 100,
        };
        let e = p.admit_chat(&mut m, &mut request(), 0, "m").unwrap_err();
        assert_eq!(e.kind, ViolationKind::TokenBudget);
    }

    #[test]
    fn max_tokens_is_clamped_to_the_remaining_budget() {
        let p = Policy::default().with_token_budget(100);
        let mut m = Meter {
            chat_calls: 0,
            tokens_used: 40,
        };
        let mut r = request();
        p.admit_chat(&mut m, &mut r, 0, "m").unwrap();
        assert_eq!(r.inference_config.unwrap().max_tokens, Some(60));

        let mut r = request();
        r.inference_config = Some(InferenceConfig {
            max_tokens: Some(10),
            ..Default::default()
        });
        p.admit_chat(&mut m, &mut r, 0, "m").unwrap();
        assert_eq!(r.inference_config.unwrap().max_tokens, Some(10));

        // A large remaining budget leaves an unset max_tokens alone.
        let p = Policy::default();
        let mut r = request();
        p.admit_chat(&mut Meter::default(), &mut r, 0, "m").unwrap();
        assert_eq!(r.inference_config, None);
    }

    #[test]
    fn tools_default_to_all_offered() {
        assert!(Policy::default().admit_tool("anything").is_ok());
        let p = Policy::default().with_allowed_tools(Vec::<String>::new());
        assert_eq!(
            p.admit_tool("read_file").unwrap_err().kind,
            ViolationKind::ToolNotAllowed
        );
    }
}
