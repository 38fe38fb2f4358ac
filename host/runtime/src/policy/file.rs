//! The policy's TOML form. Parsed strictly: an unknown key or a value of the wrong type is an
//! error naming the line, because a typo in a security limit must never fall back silently.

use std::path::Path;
use std::time::Duration;

use gamecode_backend::{BackoffStrategy, RetryConfig};
use serde::Deserialize;
use toml::Spanned;

use super::{Policy, PolicyError};

impl Policy {
    /// Parses a TOML manifest; keys it does not set keep their [`Default`] values.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        let policy = file.apply(Self::default(), text)?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads and parses a TOML manifest. Its `[tools] approve` (tools that wait for a
    /// person) is the host's, not the plugin policy's: read it with
    /// [`Approvals::from_policy_toml`](crate::Approvals::from_policy_toml) and give it to
    /// [`PluginHostBuilder::approvals`](crate::PluginHostBuilder::approvals), or those tools
    /// run unasked.
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
    /// Tools whose every call waits for a person (read by `Approvals::from_policy_toml`;
    /// the host, not the policy, holds them).
    approve: Option<Vec<String>>,
}

/// `[tools] approve` of a policy file, if it has one.
pub(crate) fn approve_list(text: &str) -> Result<Option<Vec<String>>, PolicyError> {
    let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
    Ok(file.tools.approve)
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
pub(super) fn validate_retry(r: &RetryConfig) -> Result<(), (&'static str, String)> {
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
