//! The policy for what 0.2.0 plugins may ask for beyond text and tools: attachments,
//! extended thinking, service tiers and guardrails (named by the plugin, mapped by the host).

use gamecode_backend as b;

use crate::conversation::Size;
use crate::policy::{Policy, PolicyViolation, ViolationKind};

fn refuse(kind: ViolationKind, message: String) -> PolicyViolation {
    PolicyViolation::new(kind, message)
}

/// Checks a request's images and documents (or a task's attachments) against the policy.
pub(crate) fn admit_attachments(policy: &Policy, size: &Size) -> Result<(), PolicyViolation> {
    if size.attachments > policy.max_attachments {
        return Err(refuse(
            ViolationKind::RequestTooLarge,
            format!(
                "the request holds {} images and documents; this plugin may send at most {}",
                size.attachments, policy.max_attachments
            ),
        ));
    }
    if size.largest_attachment > policy.max_attachment_bytes {
        return Err(refuse(
            ViolationKind::RequestTooLarge,
            format!(
                "an image or document is {} bytes; this plugin may send at most {} per file",
                size.largest_attachment, policy.max_attachment_bytes
            ),
        ));
    }
    Ok(())
}

/// The guardrail the policy defines under `name`.
pub(crate) fn guardrail(
    policy: &Policy,
    name: &str,
) -> Result<b::GuardrailConfig, PolicyViolation> {
    policy.guardrails.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = policy.guardrails.keys().map(String::as_str).collect();
        refuse(
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
pub(crate) fn admit_options(
    policy: &Policy,
    options: &b::ChatOptions,
) -> Result<(), PolicyViolation> {
    if let Some(reasoning) = &options.reasoning {
        if !policy.allow_reasoning {
            return Err(refuse(
                ViolationKind::OptionNotAllowed,
                "this plugin may not use extended thinking (the policy's `features.reasoning`)"
                    .into(),
            ));
        }
        if let (b::ReasoningConfig::Budget { tokens }, Some(max)) =
            (reasoning, policy.max_reasoning_budget)
            && *tokens > max
        {
            return Err(refuse(
                ViolationKind::OptionNotAllowed,
                format!("a thinking budget of {tokens} tokens is over this plugin's {max}"),
            ));
        }
    }
    if let (Some(tier), Some(allowed)) = (options.service_tier, &policy.allowed_service_tiers)
        && !allowed.contains(&tier)
    {
        let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
        return Err(refuse(
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
        assert!(admit_options(&policy, &options).is_ok());
        policy.max_reasoning_budget = Some(2_048);
        let e = admit_options(&policy, &options).unwrap_err();
        assert_eq!(e.kind, ViolationKind::OptionNotAllowed);
        assert!(e.message.contains("4096"), "{e}");
        options.reasoning = Some(b::ReasoningConfig::Budget { tokens: 2_048 });
        policy.allowed_service_tiers = Some(vec![b::ServiceTier::Default, b::ServiceTier::Flex]);
        let e = admit_options(&policy, &options).unwrap_err();
        assert!(e.message.contains("default, flex"), "{e}");
        options.service_tier = Some(b::ServiceTier::Flex);
        assert!(admit_options(&policy, &options).is_ok());
        policy.allow_reasoning = false;
        assert!(admit_options(&policy, &options).is_err());
    }

    #[test]
    fn guardrails_are_named_by_the_policy() {
        let mut policy = Policy::default();
        let e = guardrail(&policy, "pii").unwrap_err();
        assert!(e.message.contains("defines none"), "{e}");
        let g = b::GuardrailConfig {
            identifier: "gr-1".into(),
            version: "1".into(),
            trace: false,
            stream_async: false,
        };
        policy.guardrails.insert("pii".into(), g.clone());
        assert_eq!(guardrail(&policy, "pii").unwrap(), g);
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
        assert!(admit_attachments(&policy, &size).is_ok());
        size.attachments = 3;
        assert!(admit_attachments(&policy, &size).is_err());
        size.attachments = 1;
        size.largest_attachment = 101;
        let e = admit_attachments(&policy, &size).unwrap_err();
        assert_eq!(e.kind, ViolationKind::RequestTooLarge);
    }
}
