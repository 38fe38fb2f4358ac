//! Model ids the backend knows. Any other model id, inference profile id or ARN is passed
//! through unchanged: Bedrock is the judge of what exists in an account.

use gamecode_backend::BackendError;

/// The default model: Claude Sonnet 4.6 (ACTIVE, no end-of-life date) through the US
/// cross-region inference profile. A backend in a non-US region defaults to the global
/// profile instead ([`default_model_for_region`](crate::catalogue::default_model_for_region)).
pub const DEFAULT_MODEL: &str = bedrock_models::DEFAULT_MODEL;

/// The seed's model list, kept for compatibility; each is history now (`gamecode models`
/// lists what an account can call today):
/// - `us.anthropic.claude-3-7-sonnet-20250219-v1:0`, Claude 3.7 Sonnet: end of life
///   2026-04-28;
/// - `anthropic.claude-3-5-sonnet-20240620-v1:0`, Claude 3.5 Sonnet: retired October 2025;
/// - `anthropic.claude-3-5-haiku-20241022-v1:0`, Claude 3.5 Haiku: end of life 2026-06-19;
/// - `anthropic.claude-3-sonnet-20240229-v1:0`, Claude 3 Sonnet: retired;
/// - `anthropic.claude-3-haiku-20240307-v1:0`, Claude 3 Haiku: end of life 2026-09-10 in
///   most regions.
///
/// The backend refuses each before any call, naming its successor.
pub const SUPPORTED_MODELS: &[&str] = &[
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
];

/// The models callable today, as the profiles to call them through from `region`: the
/// catalogue's ACTIVE and LEGACY models, the default first.
pub fn current_models(region: Option<&str>) -> Vec<String> {
    let today = bedrock_models::today();
    let default = bedrock_models::default_model_for_region(region).to_string();
    let mut models = vec![default.clone()];
    for m in bedrock_models::MODELS {
        if m.stage(&today) == gamecode_backend::LifecycleStage::EndOfLife {
            continue;
        }
        let id = if m.on_demand {
            m.id.to_string()
        } else {
            bedrock_models::profile_for(m, region)
        };
        if id != default {
            models.push(id);
        }
    }
    models
}

/// Rejects model ids that cannot be a Bedrock model id, inference-profile id or ARN, before
/// any call: a foundation-model or profile id is `provider.model…` in lower case
/// (`anthropic.claude-3-5-haiku-20241022-v1:0`, `us.anthropic.…`), an ARN is
/// `arn:<partition>:bedrock:…`.
pub fn check_model_id(model: &str) -> Result<(), BackendError> {
    if model.is_empty() || model.len() > 2048 {
        return Err(BackendError::validation(format!(
            "model id must be 1 to 2048 characters, got {}",
            model.len()
        )));
    }
    if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BackendError::validation(format!(
            "model id {model:?} contains whitespace or control characters"
        )));
    }
    let arn = model.starts_with("arn:") && model.split(':').nth(2) == Some("bedrock");
    let id = model.split_once('.').is_some_and(|(provider, rest)| {
        !provider.is_empty()
            && !rest.is_empty()
            && provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    });
    if arn || id {
        Ok(())
    } else {
        Err(BackendError::validation(format!(
            "{model:?} is not a Bedrock model id: use a model id such as \
             `anthropic.claude-3-5-haiku-20241022-v1:0`, an inference profile such as \
             `{DEFAULT_MODEL}`, or an ARN"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_profiles_and_arns_pass_garbage_does_not() {
        for ok in SUPPORTED_MODELS.iter().copied().chain(current_models(None).iter().map(String::as_str)).chain([
            "amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ]) {
            assert!(check_model_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "claude 3",
            "a\nb",
            "claude-3-sonnet",
            "Anthropic.Claude",
            "gpt4",
        ] {
            assert!(check_model_id(bad).is_err(), "{bad:?}");
        }
    }
}
