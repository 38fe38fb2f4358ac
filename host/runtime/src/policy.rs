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

use std::fmt;
use std::path::Path;
use std::time::Duration;

use gamecode_backend::{BackoffStrategy, ChatRequest, RetryConfig};
use serde::Deserialize;
use toml::Spanned;

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

    /// Parses a TOML manifest; keys it does not set keep their [`Default`] values.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        let policy = file.apply(Self::default(), text)?;
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
            validate_retry(r)
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

    /// Admits one chat call under this policy, given what the run has used so far. Nothing
    /// of the request has been built yet: `ask` is what the guest's request measures.
    ///
    /// Checks, in order: chat-call count, open streams, model, request size (bytes, then
    /// structure), token budget. The token budget holds whatever the guest later pulls or
    /// drops: the call's input (estimated from its size) is charged now, and its output is
    /// reserved — `max_tokens` is clamped to what is left, so one answer cannot run past the
    /// budget and neither can concurrent calls together. The call is settled against the
    /// backend's reported usage when it ends ([`Meter::settle`]).
    pub(crate) fn admit_chat(
        &self,
        meter: &mut Meter,
        ask: &ChatAsk<'_>,
        default_model: &str,
    ) -> Result<Grant, PolicyViolation> {
        if meter.chat_calls >= self.max_chat_calls {
            return Err(PolicyViolation::new(
                ViolationKind::ChatLimit,
                format!(
                    "this plugin may make at most {} chat {} per run",
                    self.max_chat_calls,
                    plural(u64::from(self.max_chat_calls), "call", "calls")
                ),
            ));
        }
        if ask.streaming && meter.open_streams >= self.max_open_streams {
            return Err(PolicyViolation::new(
                ViolationKind::ChatLimit,
                format!(
                    "this plugin may hold at most {} streamed {} open at once; drain or drop one \
                     first",
                    self.max_open_streams,
                    plural(u64::from(self.max_open_streams), "reply", "replies")
                ),
            ));
        }
        let model = ask.model.unwrap_or(default_model);
        if !self.model_allowed(model) {
            return Err(PolicyViolation::new(
                ViolationKind::ModelNotAllowed,
                format!(
                    "this plugin may not use model `{}`",
                    crate::text::echo(model)
                ),
            ));
        }
        if ask.bytes > self.max_request_bytes {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the request is {} bytes; this plugin may send at most {}",
                    ask.bytes, self.max_request_bytes
                ),
            ));
        }
        if ask.items > self.max_request_items {
            return Err(too_many_items(ask.items, self.max_request_items, false));
        }
        let input = estimate_tokens(ask.bytes)
            .saturating_add(u64::from(ask.attachments) * crate::conversation::ATTACHMENT_TOKENS);
        let committed = meter.tokens_used.saturating_add(meter.tokens_reserved);
        if committed.saturating_add(input) >= self.token_budget {
            let message = if committed >= self.token_budget {
                format!(
                    "this plugin has used {} of its {} tokens for this run",
                    committed.min(self.token_budget.max(meter.tokens_used)),
                    self.token_budget
                )
            } else {
                format!(
                    "this request's input (about {input} tokens) does not fit in the {} tokens                      left of this run's {}",
                    self.token_budget - committed,
                    self.token_budget
                )
            };
            return Err(PolicyViolation::new(ViolationKind::TokenBudget, message));
        }
        let left = self.token_budget - committed - input;
        let left_u32 = u32::try_from(left).unwrap_or(u32::MAX);
        let max_tokens = match ask.max_tokens {
            Some(asked) => Some(asked.min(left_u32)),
            None if left < CLAMP_UNSET_MAX_TOKENS_BELOW => Some(left_u32),
            None => None,
        };
        // An unset max_tokens leaves the model's default; reserve a typical answer for it.
        let reserved = max_tokens.map_or(CLAMP_UNSET_MAX_TOKENS_BELOW, u64::from);
        meter.chat_calls += 1;
        meter.tokens_used += input;
        meter.tokens_reserved += reserved;
        Ok(Grant {
            max_tokens,
            clamp: max_tokens != ask.max_tokens,
            charged: input,
            reserved,
        })
    }

    /// Checks the size of what a conversation would hold (bytes of strings, items).
    pub(crate) fn admit_size(&self, bytes: usize, items: usize) -> Result<(), PolicyViolation> {
        if bytes > self.max_request_bytes {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the conversation would be {bytes} bytes; this plugin may send at most {}",
                    self.max_request_bytes
                ),
            ));
        }
        if items > self.max_request_items {
            return Err(too_many_items(items, self.max_request_items, false));
        }
        Ok(())
    }

    /// Checks the size of a host tool's JSON input before it is parsed.
    pub(crate) fn admit_tool_input(&self, bytes: usize) -> Result<(), PolicyViolation> {
        if bytes > self.max_request_bytes {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the tool input is {bytes} bytes; this plugin may send at most {}",
                    self.max_request_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Admits one host tool call.
    pub(crate) fn admit_tool(
        &self,
        name: &str,
        opt_in: Option<&str>,
    ) -> Result<(), PolicyViolation> {
        if self.host_tool_allowed(name, opt_in) {
            Ok(())
        } else {
            Err(PolicyViolation::new(
                ViolationKind::ToolNotAllowed,
                format!(
                    "this plugin may not use the host tool `{}`",
                    crate::text::echo(name)
                ),
            ))
        }
    }
}

/// Tokens estimated from a request's size in bytes: about four bytes per token, as
/// tokenizers of English text and JSON average (and as the emulator counts).
pub(crate) fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4).max(1)
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The refusal of a request with more structure than the policy allows.
pub(crate) fn too_many_items(items: usize, max: usize, at_least: bool) -> PolicyViolation {
    let at_least = if at_least { "at least " } else { "" };
    PolicyViolation::new(
        ViolationKind::RequestTooLarge,
        format!(
            "the request has {at_least}{items} items (messages, content blocks, tools and JSON \
             values); this plugin may send at most {max}"
        ),
    )
}

/// What a guest's chat request measures, before anything is built from it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChatAsk<'a> {
    /// The model it names, if any.
    pub model: Option<&'a str>,
    /// The bytes of all its strings.
    pub bytes: usize,
    /// Its structure, without the JSON values inside its JSON texts (counted as they are
    /// parsed, against what is left).
    pub items: usize,
    /// The `max_tokens` it asks for.
    pub max_tokens: Option<u32>,
    pub streaming: bool,
    /// Images and documents in it (each estimated at a fixed token cost).
    pub attachments: u32,
}

/// An admitted chat call: what was charged and reserved for it, settled when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The `max_tokens` the request is sent with.
    pub max_tokens: Option<u32>,
    /// Whether that differs from what the guest asked.
    pub clamp: bool,
    /// Tokens charged so far (the input estimate, then output as it streams).
    pub charged: u64,
    /// Output tokens reserved until the call ends.
    pub reserved: u64,
}

impl Grant {
    /// Applies the granted `max_tokens` to the request built after admission.
    pub(crate) fn apply(&self, request: &mut ChatRequest) {
        if !self.clamp {
            return;
        }
        let config = request
            .inference_config
            .get_or_insert_with(Default::default);
        config.max_tokens = self.max_tokens;
        if request.inference_config.as_ref() == Some(&Default::default()) {
            request.inference_config = None;
        }
    }
}

/// What one run has used so far, as far as the policy is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Meter {
    pub chat_calls: u32,
    /// Tokens charged: reported usage of settled calls, estimates for the rest.
    pub tokens_used: u64,
    /// Output tokens reserved for calls in flight.
    pub tokens_reserved: u64,
    /// Streamed replies open now.
    pub open_streams: u32,
}

impl Meter {
    /// Charges `tokens` more to a call in flight (output seen so far, estimated).
    pub(crate) fn charge(&mut self, grant: &mut Grant, tokens: u64) {
        grant.charged += tokens;
        self.tokens_used += tokens;
    }

    /// Ends a call: releases its reservation and replaces its estimated charge with the
    /// reported total, when the backend reported one.
    pub(crate) fn settle(&mut self, grant: &mut Grant, reported_total: Option<u64>) {
        self.tokens_reserved = self.tokens_reserved.saturating_sub(grant.reserved);
        grant.reserved = 0;
        if let Some(total) = reported_total {
            self.tokens_used = self.tokens_used.saturating_sub(grant.charged) + total;
            grant.charged = total;
        }
    }

    /// Withdraws a call that was never sent (its request could not be built, or the backend
    /// refused it before any model saw it): nothing is charged and it does not count.
    pub(crate) fn withdraw(&mut self, grant: &mut Grant) {
        self.settle(grant, Some(0));
        self.chat_calls = self.chat_calls.saturating_sub(1);
    }
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
    #[serde(default)]
    retry: RetrySection,
    #[serde(default)]
    features: FeaturesSection,
    #[serde(default)]
    guardrails: std::collections::BTreeMap<String, GuardrailSection>,
    #[serde(default)]
    config: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeaturesSection {
    max_attachments: Option<u32>,
    max_attachment_bytes: Option<u64>,
    reasoning: Option<bool>,
    max_reasoning_budget: Option<u32>,
    allowed_service_tiers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardrailSection {
    id: String,
    version: String,
    #[serde(default)]
    trace: bool,
    #[serde(default)]
    stream_async: bool,
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
    max_request_items: Option<u64>,
    max_open_streams: Option<u32>,
    allowed_models: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsSection {
    allowed: Option<Vec<String>>,
}

/// `[retry]`; spans kept so that a bad value is reported with its line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySection {
    max_retries: Option<Spanned<u32>>,
    initial_delay_ms: Option<Spanned<u64>>,
    backoff: Option<Spanned<String>>,
    multiplier: Option<Spanned<u32>>,
    increment_ms: Option<Spanned<u64>>,
    max_delay_ms: Option<Spanned<u64>>,
    jitter: Option<Spanned<f64>>,
    budget: Option<Spanned<u32>>,
    adaptive: Option<bool>,
}

/// The most attempts a policy may configure; more is a retry storm, not a policy.
const MAX_RETRIES: u32 = 20;
/// The longest delay a policy may configure between attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Checks a retry policy; the error names the key.
fn validate_retry(r: &RetryConfig) -> Result<(), (&'static str, String)> {
    if r.max_retries > MAX_RETRIES {
        return Err((
            "max_retries",
            format!("must be at most {MAX_RETRIES}, not {}", r.max_retries),
        ));
    }
    if r.initial_delay > MAX_RETRY_DELAY {
        return Err((
            "initial_delay_ms",
            "must be at most 600000 (10 minutes)".into(),
        ));
    }
    if r.max_delay > MAX_RETRY_DELAY {
        return Err(("max_delay_ms", "must be at most 600000 (10 minutes)".into()));
    }
    if r.max_delay < r.initial_delay {
        return Err((
            "max_delay_ms",
            format!(
                "({} ms) must not be below initial_delay_ms ({} ms)",
                r.max_delay.as_millis(),
                r.initial_delay.as_millis()
            ),
        ));
    }
    if !(0.0..=1.0).contains(&r.jitter) {
        return Err((
            "jitter",
            format!("must be between 0 and 1, not {}", r.jitter),
        ));
    }
    if let BackoffStrategy::Exponential { multiplier } = r.backoff_strategy
        && !(1..=10).contains(&multiplier)
    {
        return Err((
            "multiplier",
            format!("must be between 1 and 10, not {multiplier}"),
        ));
    }
    Ok(())
}

/// `invalid policy file: line N: …` for a value at byte `span` of `text`.
fn invalid_at(text: &str, span: std::ops::Range<usize>, message: String) -> PolicyError {
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    PolicyError::Parse(format!("line {line}: {message}"))
}

impl RetrySection {
    fn apply(self, text: &str) -> Result<Option<RetryConfig>, PolicyError> {
        let any = self.max_retries.is_some()
            || self.initial_delay_ms.is_some()
            || self.backoff.is_some()
            || self.multiplier.is_some()
            || self.increment_ms.is_some()
            || self.max_delay_ms.is_some()
            || self.jitter.is_some();
        if !any {
            return Ok(None);
        }
        let mut r = RetryConfig::default();
        if let Some(n) = &self.max_retries {
            r.max_retries = *n.get_ref();
        }
        if let Some(ms) = &self.initial_delay_ms {
            r.initial_delay = Duration::from_millis(*ms.get_ref());
        }
        if let Some(ms) = &self.max_delay_ms {
            r.max_delay = Duration::from_millis(*ms.get_ref());
        }
        if let Some(j) = &self.jitter {
            r.jitter = *j.get_ref();
        }
        let backoff = self.backoff.as_ref().map(|b| b.get_ref().as_str());
        r.backoff_strategy = match backoff {
            None | Some("exponential") => BackoffStrategy::Exponential {
                multiplier: self.multiplier.as_ref().map_or(2, |m| *m.get_ref()),
            },
            Some("linear") => BackoffStrategy::Linear {
                increment: Duration::from_millis(
                    self.increment_ms
                        .as_ref()
                        .map_or(r.initial_delay.as_millis() as u64, |i| *i.get_ref()),
                ),
            },
            Some("fixed") => BackoffStrategy::Fixed,
            Some(other) => {
                let span = self.backoff.as_ref().map_or(0..0, |b| b.span());
                return Err(invalid_at(
                    text,
                    span,
                    format!(
                        "retry.backoff must be \"fixed\", \"linear\" or \"exponential\", \
                         not {other:?}"
                    ),
                ));
            }
        };
        let exponential = matches!(r.backoff_strategy, BackoffStrategy::Exponential { .. });
        let linear = matches!(r.backoff_strategy, BackoffStrategy::Linear { .. });
        if let (Some(m), false) = (&self.multiplier, exponential) {
            return Err(invalid_at(
                text,
                m.span(),
                "retry.multiplier applies only to backoff = \"exponential\"".into(),
            ));
        }
        if let (Some(i), false) = (&self.increment_ms, linear) {
            return Err(invalid_at(
                text,
                i.span(),
                "retry.increment_ms applies only to backoff = \"linear\"".into(),
            ));
        }
        if let Err((key, message)) = validate_retry(&r) {
            let span = match key {
                "max_retries" => self.max_retries.as_ref().map(Spanned::span),
                "initial_delay_ms" => self.initial_delay_ms.as_ref().map(Spanned::span),
                "max_delay_ms" => self.max_delay_ms.as_ref().map(Spanned::span),
                "jitter" => self.jitter.as_ref().map(Spanned::span),
                "multiplier" => self.multiplier.as_ref().map(Spanned::span),
                _ => None,
            };
            // A default that conflicts with a value set: blame the value set.
            let span = span
                .or_else(|| self.initial_delay_ms.as_ref().map(Spanned::span))
                .unwrap_or(0..0);
            return Err(invalid_at(text, span, format!("retry.{key} {message}")));
        }
        Ok(Some(r))
    }
}

impl PolicyFile {
    fn apply(self, mut p: Policy, text: &str) -> Result<Policy, PolicyError> {
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
        if let Some(n) = c.max_request_items {
            p.max_request_items = usize::try_from(n)
                .map_err(|_| PolicyError::Invalid("chat.max_request_items is too large".into()))?;
        }
        if let Some(n) = c.max_open_streams {
            p.max_open_streams = n;
        }
        if c.allowed_models.is_some() {
            p.allowed_models = c.allowed_models;
        }
        if self.tools.allowed.is_some() {
            p.allowed_tools = self.tools.allowed;
        }
        if let Some(budget) = &self.retry.budget {
            if *budget.get_ref() == 0 {
                return Err(invalid_at(
                    text,
                    budget.span(),
                    "retry.budget must be positive (a budget of 0 allows no retry at all; set \
                     max_retries = 0 for that)"
                        .into(),
                ));
            }
            p.retry_budget = Some(*budget.get_ref());
        }
        p.adaptive_rate_limit = self.retry.adaptive;
        p.retry = self.retry.apply(text)?;
        let f = self.features;
        if let Some(n) = f.max_attachments {
            p.max_attachments = n;
        }
        if let Some(n) = f.max_attachment_bytes {
            p.max_attachment_bytes = usize::try_from(n).map_err(|_| {
                PolicyError::Invalid("features.max_attachment_bytes is too large".into())
            })?;
        }
        if let Some(on) = f.reasoning {
            p.allow_reasoning = on;
        }
        if f.max_reasoning_budget.is_some() {
            p.max_reasoning_budget = f.max_reasoning_budget;
        }
        if let Some(tiers) = f.allowed_service_tiers {
            let tiers = tiers
                .iter()
                .map(|t| {
                    gamecode_backend::ServiceTier::from_wire(t).ok_or_else(|| {
                        PolicyError::Invalid(format!(
                            "features.allowed_service_tiers: unknown tier `{t}` (priority, \
                             default, flex or reserved)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            p.allowed_service_tiers = Some(tiers);
        }
        for (name, g) in self.guardrails {
            p.guardrails.insert(
                name,
                gamecode_backend::GuardrailConfig {
                    identifier: g.id,
                    version: g.version,
                    trace: g.trace,
                    stream_async: g.stream_async,
                },
            );
        }
        for (key, value) in self.config {
            if key.starts_with("gamecode.") {
                return Err(PolicyError::Invalid(format!(
                    "config.{key}: keys starting `gamecode.` are the host's"
                )));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(PolicyError::Invalid(format!(
                        "config.{key} must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            p.config.insert(key, value);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_backend::Message;

    #[test]
    fn features_guardrails_and_config_parse() {
        let p = Policy::from_toml_str(
            r#"
[features]
max_attachments = 3
max_attachment_bytes = 1000
reasoning = false
max_reasoning_budget = 2048
allowed_service_tiers = ["default", "flex"]

[guardrails.pii]
id = "gr-1"
version = "2"
trace = true

[config]
greeting = "hello"
retries = 3
"#,
        )
        .unwrap();
        assert_eq!((p.max_attachments, p.max_attachment_bytes), (3, 1000));
        assert!(!p.allow_reasoning);
        assert_eq!(p.max_reasoning_budget, Some(2048));
        assert_eq!(
            p.allowed_service_tiers,
            Some(vec![
                gamecode_backend::ServiceTier::Default,
                gamecode_backend::ServiceTier::Flex
            ])
        );
        let g = &p.guardrails["pii"];
        assert_eq!(
            (g.identifier.as_str(), g.version.as_str(), g.trace),
            ("gr-1", "2", true)
        );
        assert_eq!(p.config["greeting"], "hello");
        assert_eq!(p.config["retries"], "3");
        for bad in [
            "[features]\nallowed_service_tiers = [\"gold\"]",
            "[config]\n\"gamecode.verbose\" = \"2\"",
            "[config]\nlist = [1]",
            "[guardrails.x]\nid = \"g\"",
            "[features]\nreasonning = true",
        ] {
            assert!(Policy::from_toml_str(bad).is_err(), "{bad}");
        }
    }

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

    fn ask(bytes: usize, max_tokens: Option<u32>) -> ChatAsk<'static> {
        ChatAsk {
            model: None,
            bytes,
            items: 1,
            max_tokens,
            streaming: false,
            attachments: 0,
        }
    }

    #[test]
    fn chat_admission_checks_in_order_and_counts() {
        let p = Policy::default()
            .with_max_chat_calls(1)
            .with_allowed_models(["ok"]);
        let mut m = Meter::default();
        let e = p.admit_chat(&mut m, &ask(8, None), "bad").unwrap_err();
        assert_eq!(e.kind, ViolationKind::ModelNotAllowed);
        assert_eq!(m.chat_calls, 0);
        p.admit_chat(&mut m, &ask(8, None), "ok").unwrap();
        assert_eq!(m.chat_calls, 1);
        let e = p.admit_chat(&mut m, &ask(8, None), "ok").unwrap_err();
        assert_eq!(e.kind, ViolationKind::ChatLimit);
        assert!(e.message.contains("1 chat call per run"), "{}", e.message);
    }

    #[test]
    fn request_size_structure_and_open_streams() {
        let p = Policy::default()
            .with_max_request_bytes(10)
            .with_max_request_items(5)
            .with_max_open_streams(1);
        p.admit_chat(&mut Meter::default(), &ask(10, None), "m")
            .unwrap();
        let e = p
            .admit_chat(&mut Meter::default(), &ask(11, None), "m")
            .unwrap_err();
        assert_eq!(e.kind, ViolationKind::RequestTooLarge);
        assert!(e.message.contains("11 bytes"), "{}", e.message);
        // A million empty messages are 0 bytes of strings, and refused for their structure.
        let mut many = ask(0, None);
        many.items = 1_000_000;
        let e = p.admit_chat(&mut Meter::default(), &many, "m").unwrap_err();
        assert_eq!(e.kind, ViolationKind::RequestTooLarge);
        assert!(e.message.contains("1000000 items"), "{}", e.message);
        let mut m = Meter {
            open_streams: 1,
            ..Meter::default()
        };
        let mut stream = ask(1, None);
        stream.streaming = true;
        let e = p.admit_chat(&mut m, &stream, "m").unwrap_err();
        assert!(e.message.contains("open at once"), "{}", e.message);
        assert!(p.admit_chat(&mut m, &ask(1, None), "m").is_ok());
    }

    #[test]
    fn token_budget_counts_input_and_reserves_output() {
        let p = Policy::default().with_token_budget(100);
        let mut m = Meter {
            tokens_used: 100,
            ..Meter::default()
        };
        let e = p.admit_chat(&mut m, &ask(4, None), "m").unwrap_err();
        assert_eq!(e.kind, ViolationKind::TokenBudget);

        // 40 bytes = 10 input tokens, charged at once; the output is clamped to the rest
        // and reserved.
        let mut m = Meter {
            tokens_used: 40,
            ..Meter::default()
        };
        let mut g = p.admit_chat(&mut m, &ask(40, None), "m").unwrap();
        assert_eq!(g.max_tokens, Some(50));
        assert_eq!((m.tokens_used, m.tokens_reserved), (50, 50));
        // Nothing is left for a concurrent call.
        let e = p.admit_chat(&mut m, &ask(4, Some(10)), "m").unwrap_err();
        assert_eq!(e.kind, ViolationKind::TokenBudget);
        // Settled at the reported usage: the reservation is released.
        m.settle(&mut g, Some(30));
        assert_eq!((m.tokens_used, m.tokens_reserved), (70, 0));

        // A request whose own input would overshoot the budget is refused before it is sent.
        let e = p.admit_chat(&mut m, &ask(200, None), "m").unwrap_err();
        assert_eq!(e.kind, ViolationKind::TokenBudget);
        assert!(e.message.contains("does not fit"), "{}", e.message);

        // An asked max_tokens below what is left stays; a large budget leaves it unset.
        let mut m = Meter::default();
        let g = p.admit_chat(&mut m, &ask(4, Some(10)), "m").unwrap();
        assert_eq!((g.max_tokens, g.clamp), (Some(10), false));
        let g = Policy::default()
            .admit_chat(&mut Meter::default(), &ask(4, None), "m")
            .unwrap();
        assert_eq!((g.max_tokens, g.clamp), (None, false));
        let mut r = ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        g.apply(&mut r);
        assert_eq!(r.inference_config, None);
        let mut m = Meter::default();
        let g = p.admit_chat(&mut m, &ask(4, Some(1000)), "m").unwrap();
        g.apply(&mut r);
        assert_eq!(r.inference_config.unwrap().max_tokens, Some(99));
    }

    #[test]
    fn a_withdrawn_call_costs_nothing() {
        let p = Policy::default().with_token_budget(100);
        let mut m = Meter::default();
        let mut g = p.admit_chat(&mut m, &ask(40, None), "m").unwrap();
        m.withdraw(&mut g);
        assert_eq!(m, Meter::default());
    }

    #[test]
    fn retry_section_parses_and_bad_values_name_key_and_line() {
        let p = Policy::from_toml_str(
            "[retry]\nmax_retries = 1\ninitial_delay_ms = 100\nbackoff = \"linear\"\n\
             increment_ms = 50\nmax_delay_ms = 1000\njitter = 0.25\nbudget = 40\nadaptive = false\n",
        )
        .unwrap();
        let r = p.retry.unwrap();
        assert_eq!(r.max_retries, 1);
        assert_eq!(r.initial_delay, Duration::from_millis(100));
        assert_eq!(
            r.backoff_strategy,
            BackoffStrategy::Linear {
                increment: Duration::from_millis(50)
            }
        );
        assert_eq!(r.max_delay, Duration::from_secs(1));
        assert_eq!(r.jitter, 0.25);
        assert_eq!(p.retry_budget, Some(40));
        assert_eq!(p.adaptive_rate_limit, Some(false));
        // Only what is set changes: exponential ×2 by default.
        let p = Policy::from_toml_str("[retry]\nmax_retries = 0").unwrap();
        assert_eq!(p.retry, Some(RetryConfig::disabled()));
        assert_eq!(Policy::from_toml_str("").unwrap().retry, None);

        for (text, key, line) in [
            ("[retry]\nmax_retries = 1\njitter = 2.0", "retry.jitter", 3),
            ("[retry]\nbackoff = \"cubic\"", "retry.backoff", 2),
            (
                "\n[retry]\nbackoff = \"fixed\"\nmultiplier = 3",
                "retry.multiplier",
                4,
            ),
            ("[retry]\nincrement_ms = 3", "retry.increment_ms", 2),
            ("[retry]\nmax_retries = 1000", "retry.max_retries", 2),
            (
                "[retry]\ninitial_delay_ms = 5000\nmax_delay_ms = 10",
                "retry.max_delay_ms",
                3,
            ),
            ("[retry]\nbudget = 0", "retry.budget", 2),
        ] {
            let e = Policy::from_toml_str(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(&format!("line {line}")), "{text}: {e}");
        }
        let e = Policy::from_toml_str("[retry]\nmax_retries = -1").unwrap_err();
        assert!(matches!(e, PolicyError::Parse(_)), "{e}");
        let e = Policy::from_toml_str("[retry]\nmax_retrys = 1").unwrap_err();
        assert!(e.to_string().contains("max_retrys"), "{e}");
    }

    #[test]
    fn tools_default_to_all_offered() {
        assert!(Policy::default().admit_tool("anything", None).is_ok());
        let p = Policy::default().with_allowed_tools(Vec::<String>::new());
        assert_eq!(
            p.admit_tool("read_file", None).unwrap_err().kind,
            ViolationKind::ToolNotAllowed
        );
    }
}
