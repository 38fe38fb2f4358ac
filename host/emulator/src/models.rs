//! Which model identifiers the emulator accepts.
//!
//! Real Bedrock accepts foundation-model ids, cross-region inference-profile ids and several
//! kinds of ARNs; it rejects anything else with "The provided model identifier is invalid."
//! The emulator accepts every id that *looks* like one of those, so users can pass ids the
//! seed list does not know while typos like spaces or empty ids still fail as in production.

/// The seed's model list, kept for compatibility: history now, each past its end of life
/// (see `bedrock_models::MODELS` for what the emulator serves today).
pub const SEED_MODELS: &[&str] = &[
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
];

const ARN_RESOURCE_TYPES: &[&str] = &[
    "foundation-model",
    "inference-profile",
    "application-inference-profile",
    "provisioned-model",
    "custom-model-deployment",
    "imported-model",
    "prompt",
    "default-prompt-router",
    "prompt-router",
];

const MAX_MODEL_ID_LEN: usize = 2048;

fn is_lower_alnum_or(b: u8, extra: &[u8]) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b)
}

/// `provider.model` shaped ids, e.g. `anthropic.claude-3-5-sonnet-20241022-v2:0`,
/// `us.anthropic.claude-…` or `amazon.nova-pro-v1:0`: `[a-z0-9-]+\.[a-z0-9.:-]+`.
fn is_foundation_model_like(id: &str) -> bool {
    let Some((provider, rest)) = id.split_once('.') else {
        return false;
    };
    !provider.is_empty()
        && !rest.is_empty()
        && provider.bytes().all(|b| is_lower_alnum_or(b, b"-"))
        && rest.bytes().all(|b| is_lower_alnum_or(b, b".:-"))
        && rest.bytes().any(|b| b.is_ascii_alphanumeric())
}

/// `arn:<partition>:bedrock:<region>:<account?>:<type>/<resource>`.
fn is_bedrock_arn(id: &str) -> bool {
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let Some((kind, name)) = resource.split_once('/') else {
        return false;
    };
    *arn == "arn"
        && matches!(
            *partition,
            "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
        )
        && *service == "bedrock"
        && !region.is_empty()
        && region.bytes().all(|b| is_lower_alnum_or(b, b"-"))
        && account.bytes().all(|b| b.is_ascii_digit())
        && (account.len() == 12 || (account.is_empty() && kind == "foundation-model"))
        && ARN_RESOURCE_TYPES.contains(&kind)
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

/// Whether Bedrock would accept this model identifier (seed models, anything shaped like a
/// foundation-model or inference-profile id, or a Bedrock model ARN).
pub fn is_valid_model_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_MODEL_ID_LEN {
        return false;
    }
    SEED_MODELS.contains(&id) || is_foundation_model_like(id) || is_bedrock_arn(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_looking_ids() {
        for id in SEED_MODELS.iter().copied().chain([
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "apac.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "amazon.nova-pro-v1:0",
            "meta.llama3-70b-instruct-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123",
        ]) {
            assert!(is_valid_model_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for id in [
            "",
            "claude",
            "gpt-4",
            "anthropic.",
            ".claude",
            "anthropic.claude 3",
            "Anthropic.Claude",
            "anthropic.claude\n",
            "arn:aws:s3:us-east-1:123456789012:foundation-model/x",
            "arn:aws:bedrock:us-east-1:123456789012:bucket/x",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/",
            "arn:aws:bedrock:us-east-1::inference-profile/x",
            "arn:aws:bedrock::123456789012:inference-profile/x",
        ] {
            assert!(!is_valid_model_id(id), "{id:?}");
        }
        assert!(!is_valid_model_id(&"a.b".repeat(1000)));
    }
}
