//! Model ids the backend knows. Any other model id, inference profile id or ARN is passed
//! through unchanged: Bedrock is the judge of what exists in an account.

use gamecode_backend::BackendError;

/// The default model: Claude 3.7 Sonnet through the US cross-region inference profile.
pub const DEFAULT_MODEL: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";

/// The Claude models this backend is documented and tested with.
pub const SUPPORTED_MODELS: &[&str] = &[
    DEFAULT_MODEL,
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
];

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
        for ok in SUPPORTED_MODELS.iter().copied().chain([
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
