//! Admission: whether a plugin may make the call it asks for (size, model, budget, options,
//! attachments, tools), checked before anything is built from the request.

use gamecode_backend as b;

use super::{
    ATTACHMENT_TOKENS, CLAMP_UNSET_MAX_TOKENS_BELOW, Grant, Meter, Policy, PolicyViolation, Size,
    ViolationKind, estimate_tokens,
};

impl Policy {
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
            .saturating_add(u64::from(ask.attachments) * ATTACHMENT_TOKENS);
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

    /// Checks a request's images and documents (or a task's attachments) against the self.
    pub(crate) fn admit_attachments(&self, size: &Size) -> Result<(), PolicyViolation> {
        if size.attachments > self.max_attachments {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "the request holds {} images and documents; this plugin may send at most {}",
                    size.attachments, self.max_attachments
                ),
            ));
        }
        if size.largest_attachment > self.max_attachment_bytes {
            return Err(PolicyViolation::new(
                ViolationKind::RequestTooLarge,
                format!(
                    "an image or document is {} bytes; this plugin may send at most {} per file",
                    size.largest_attachment, self.max_attachment_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The guardrail the policy defines under `name`.
    pub(crate) fn guardrail(&self, name: &str) -> Result<b::GuardrailConfig, PolicyViolation> {
        self.guardrails.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.guardrails.keys().map(String::as_str).collect();
            PolicyViolation::new(
                ViolationKind::OptionNotAllowed,
                format!(
                    "the host's policy defines no guardrail named `{}` ({})",
                    crate::text::echo(name),
                    if known.is_empty() {
                        "it defines none".to_string()
                    } else {
                        format!("it defines: {}", known.join(", "))
                    }
                ),
            )
        })
    }

    /// Checks the options of a request: reasoning and its budget, the service tier.
    pub(crate) fn admit_options(&self, options: &b::ChatOptions) -> Result<(), PolicyViolation> {
        if let Some(reasoning) = &options.reasoning {
            if !self.allow_reasoning {
                return Err(PolicyViolation::new(
                    ViolationKind::OptionNotAllowed,
                    "this plugin may not use extended thinking (the policy's `features.reasoning`)",
                ));
            }
            if let (b::ReasoningConfig::Budget { tokens }, Some(max)) =
                (reasoning, self.max_reasoning_budget)
                && *tokens > max
            {
                return Err(PolicyViolation::new(
                    ViolationKind::OptionNotAllowed,
                    format!("a thinking budget of {tokens} tokens is over this plugin's {max}"),
                ));
            }
        }
        if let (Some(tier), Some(allowed)) = (options.service_tier, &self.allowed_service_tiers)
            && !allowed.contains(&tier)
        {
            let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
            return Err(PolicyViolation::new(
                ViolationKind::OptionNotAllowed,
                format!(
                    "this plugin may not use the `{}` service tier (allowed: {})",
                    tier.as_str(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        Ok(())
    }
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

impl<'a> ChatAsk<'a> {
    /// What a request of `size` asks, naming `model` and `max_tokens`.
    pub(crate) fn of(
        model: Option<&'a str>,
        size: &Size,
        max_tokens: Option<u32>,
        streaming: bool,
    ) -> Self {
        Self {
            model,
            bytes: size.bytes,
            items: size.items,
            max_tokens,
            streaming,
            attachments: size.attachments,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_policy() {
        let mut policy = Policy::default();
        let mut options = b::ChatOptions {
            reasoning: Some(b::ReasoningConfig::Budget { tokens: 4_096 }),
            service_tier: Some(b::ServiceTier::Priority),
            ..Default::default()
        };
        assert!(policy.admit_options(&options).is_ok());
        policy.max_reasoning_budget = Some(2_048);
        let e = policy.admit_options(&options).unwrap_err();
        assert_eq!(e.kind, ViolationKind::OptionNotAllowed);
        assert!(e.message.contains("4096"), "{e}");
        options.reasoning = Some(b::ReasoningConfig::Budget { tokens: 2_048 });
        policy.allowed_service_tiers = Some(vec![b::ServiceTier::Default, b::ServiceTier::Flex]);
        let e = policy.admit_options(&options).unwrap_err();
        assert!(e.message.contains("default, flex"), "{e}");
        options.service_tier = Some(b::ServiceTier::Flex);
        assert!(policy.admit_options(&options).is_ok());
        policy.allow_reasoning = false;
        assert!(policy.admit_options(&options).is_err());
    }

    #[test]
    fn guardrails_are_named_by_the_policy() {
        let mut policy = Policy::default();
        let e = policy.guardrail("pii").unwrap_err();
        assert!(e.message.contains("defines none"), "{e}");
        let g = b::GuardrailConfig {
            identifier: "gr-1".into(),
            version: "1".into(),
            trace: false,
            stream_async: false,
        };
        policy.guardrails.insert("pii".into(), g.clone());
        assert_eq!(policy.guardrail("pii").unwrap(), g);
    }

    #[test]
    fn attachments_are_counted_and_sized() {
        let policy = Policy {
            max_attachments: 2,
            max_attachment_bytes: 100,
            ..Policy::default()
        };
        let mut size = Size {
            attachments: 2,
            largest_attachment: 100,
            ..Size::default()
        };
        assert!(policy.admit_attachments(&size).is_ok());
        size.attachments = 3;
        assert!(policy.admit_attachments(&size).is_err());
        size.attachments = 1;
        size.largest_attachment = 101;
        let e = policy.admit_attachments(&size).unwrap_err();
        assert_eq!(e.kind, ViolationKind::RequestTooLarge);
    }
}
