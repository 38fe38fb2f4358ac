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
//! max_request_items = 100_000     # messages, blocks, tools and JSON values of one request
//! max_open_streams = 4     # chat-stream replies open at once
//! allowed_models = ["us.anthropic.claude-sonnet-4-6"]  # absent: any model
//!
//! [tools]
//! allowed = ["read_file", "list_dir"]   # absent: every tool the host offers
//!
//! [features]               # what 0.2.0 plugins may ask for (see `crate::features`)
//! max_attachments = 25     # images + documents in one request (or given with the task)
//! max_attachment_bytes = 4_718_592   # each one (Bedrock: images 3.75 MB, documents 4.5 MB)
//! reasoning = true         # extended thinking allowed
//! max_reasoning_budget = 16_384      # its largest token budget; absent: no cap
//! allowed_service_tiers = ["default", "flex"]   # absent: any tier
//!
//! [guardrails.pii]         # a guardrail plugins may name (`chat-options.guardrail = "pii"`)
//! id = "gr-abc123"         # the Bedrock guardrail id or ARN
//! version = "1"
//! trace = false            # return its assessment to the plugin
//!
//! [config]                 # non-secret values the plugin reads through `config.get`
//! greeting = "hello"
//!
//! [retry]                  # absent: the backend's own policy
//! max_retries = 3          # attempts = 1 + max_retries
//! initial_delay_ms = 500
//! backoff = "exponential"  # fixed | linear | exponential
//! multiplier = 2           # exponential only
//! increment_ms = 500       # linear only
//! max_delay_ms = 20_000
//! jitter = 0.5             # 0..=1: each delay is uniform in [delay * (1 - jitter), delay]
//! budget = 500             # the shared retry budget's capacity (backend-wide: the CLI's)
//! adaptive = true          # adaptive client-side rate limiting (backend-wide: the CLI's)
//! ```
//!
//! The folder: this file holds the policy and its builder; [`file`](self) reads the TOML form,
//! `admission` checks what a plugin asks for, `size` measures it, `meter` keeps what a run has
//! used, and `violation` names what was refused.

mod admission;
mod file;
mod meter;
mod size;
mod violation;

use std::time::Duration;

use gamecode_backend::RetryConfig;

pub(crate) use admission::{ChatAsk, too_many_items};
pub(crate) use file::approve_list;
pub(crate) use meter::{Grant, Meter};
pub(crate) use size::{ATTACHMENT_TOKENS, Size, estimate_tokens};
pub use violation::{PolicyError, PolicyViolation, ViolationKind};

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
    /// Largest chat request the plugin may send, in structure: messages, content blocks, tool
    /// results' parts, tools, stop sequences and every JSON value inside its JSON texts,
    /// together. Bounds what the host builds from a request whatever its byte size (a million
    /// empty messages are 2 bytes of strings). A host tool's JSON input is bounded by this and
    /// by `max_request_bytes` too.
    pub max_request_items: usize,
    /// Streamed replies (`chat-stream`) a run may hold open at once. Each holds a connection
    /// (a file descriptor) until the plugin drains or drops it.
    pub max_open_streams: u32,
    /// The retry policy of this plugin's model calls; `None` uses the backend's own.
    pub retry: Option<RetryConfig>,
    /// The capacity of the retry budget shared by every run of a backend. Backend-wide: the
    /// `gamecode` CLI applies it to the backend it builds; an embedder configures its own
    /// backend (`BedrockBackend::with_retry_budget`).
    pub retry_budget: Option<u32>,
    /// Whether the backend limits its request rate adaptively once the provider throttles.
    /// Backend-wide like `retry_budget` (`BedrockBackend::with_adaptive_rate_limit`).
    pub adaptive_rate_limit: Option<bool>,
    /// Images and documents one request may carry (and a task may be given), together.
    pub max_attachments: u32,
    /// The largest image or document a plugin may send or be given, in bytes.
    pub max_attachment_bytes: usize,
    /// Whether a plugin may ask for extended thinking.
    pub allow_reasoning: bool,
    /// The largest thinking budget a plugin may ask for; `None`: no cap beyond the model's.
    pub max_reasoning_budget: Option<u32>,
    /// Service tiers a plugin may ask for; `None` allows any.
    pub allowed_service_tiers: Option<Vec<gamecode_backend::ServiceTier>>,
    /// Guardrails a plugin may apply, by the name it uses; the plugin never sees the ids.
    pub guardrails: std::collections::BTreeMap<String, gamecode_backend::GuardrailConfig>,
    /// The plugin's configuration (WIT `config`): non-secret key/values.
    pub config: std::collections::BTreeMap<String, String>,
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
            max_request_items: 100_000,
            max_open_streams: 4,
            retry: None,
            retry_budget: None,
            adaptive_rate_limit: None,
            max_attachments: 25,
            max_attachment_bytes: 4_718_592,
            allow_reasoning: true,
            max_reasoning_budget: None,
            allowed_service_tiers: None,
            guardrails: Default::default(),
            config: Default::default(),
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

    pub fn with_max_request_items(mut self, items: usize) -> Self {
        self.max_request_items = items;
        self
    }

    pub fn with_max_open_streams(mut self, streams: u32) -> Self {
        self.max_open_streams = streams;
        self
    }

    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets a configuration value the plugin reads through the WIT `config` interface.
    /// Never a secret: plugins see it.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Allows a guardrail under the name plugins use for it.
    pub fn with_guardrail(
        mut self,
        name: impl Into<String>,
        guardrail: gamecode_backend::GuardrailConfig,
    ) -> Self {
        self.guardrails.insert(name.into(), guardrail);
        self
    }

    /// This policy, if [`validate`](Self::validate) accepts it.
    pub fn validated(self) -> Result<Self, PolicyError> {
        self.validate()?;
        Ok(self)
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
        if let Some(r) = &self.retry {
            file::validate_retry(r)
                .map_err(|(key, m)| PolicyError::Invalid(format!("retry.{key} {m}")))?;
        }
        Ok(())
    }

    /// Whether the plugin may call (and see) the host tool `name`.
    pub fn tool_allowed(&self, name: &str) -> bool {
        self.allowed_tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == name))
    }

    /// Whether the plugin may call (and see) a host tool; `opt_in` is the source (MCP server)
    /// of a tool that must be named explicitly: by its name, or all of its server's tools by
    /// `mcp:<server>`. An absent `allowed_tools` does not allow such tools.
    pub fn host_tool_allowed(&self, name: &str, opt_in: Option<&str>) -> bool {
        match opt_in {
            None => self.tool_allowed(name),
            Some(server) => self.allowed_tools.as_ref().is_some_and(|allowed| {
                allowed
                    .iter()
                    .any(|t| t == name || t.strip_prefix("mcp:") == Some(server))
            }),
        }
    }

    /// Whether the plugin may use `model`.
    pub fn model_allowed(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|m| m == model))
    }
}

#[cfg(test)]
mod tests;
