//! What Bedrock refuses for the Claude models it knows — ended lifecycles, bare ids of
//! profile-only models, profiles of another geography, and each model's own request rules —
//! from the catalogue the gamecode backend reads too (`bedrock-models`), so the two never
//! disagree about a model.

use bedrock_models::{Ask, Model, Refusal, Rule, Thinking, find, geography_for_region, today};
use serde_json::Value;

use crate::shape::INVALID_MODEL;

/// The catalogued model `model_id` names, if any.
pub(crate) fn model(model_id: &str) -> Option<&'static Model> {
    find(model_id)
}

/// Refusals that depend on the id alone, checked before the body: end of life, on-demand
/// calls of profile-only models, and profiles this region does not serve.
pub(crate) fn check_id(model_id: &str, region: &str) -> Result<(), Refusal> {
    let Some(model) = find(model_id) else {
        return Ok(());
    };
    bedrock_models::check_id(model, model_id, Some(region), &today())?;
    if let Some(geo) = profile_geography(model_id)
        && (!model.profiles.contains(&geo)
            || (geo != "global" && geo != geography_for_region(region)))
    {
        return Err(Refusal {
            rule: Rule::ProfileOnly,
            status: 400,
            error_type: "ValidationException",
            message: INVALID_MODEL.to_string(),
            advice: format!("no {geo}. profile of {} in {region}", model.name),
        });
    }
    Ok(())
}

/// The model's own rules for the request body (thinking, effort, sampling, prefill, forced
/// tool choice, output length).
pub(crate) fn check_body(model_id: &str, body: &Value) -> Result<(), Refusal> {
    let Some(model) = find(model_id) else {
        return Ok(());
    };
    bedrock_models::check_body(model, &ask(model_id, body))
}

/// `us` for `us.anthropic.…` (and for an inference-profile ARN ending in one).
fn profile_geography(model_id: &str) -> Option<&str> {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let at = tail.find("anthropic.")?;
    tail[..at].strip_suffix('.')
}

/// What a Converse request asks of its model.
fn ask<'a>(model_id: &'a str, body: &'a Value) -> Ask<'a> {
    let fields = body.get("additionalModelRequestFields");
    let field = |name: &str| fields.and_then(|f| f.get(name));
    let inference = body.get("inferenceConfig");
    let thinking = field("thinking");
    let choice = body.get("toolConfig").and_then(|c| c.get("toolChoice"));
    let last_role = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    Ask {
        model_id,
        thinking: match thinking.and_then(|t| t.get("type")).and_then(Value::as_str) {
            Some("enabled") => Some(Thinking::Budget(
                thinking
                    .and_then(|t| t.get("budget_tokens"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            )),
            Some("adaptive") => Some(Thinking::Adaptive),
            _ => None,
        },
        effort: body
            .get("outputConfig")
            .and_then(|c| c.get("effort"))
            .or_else(|| field("output_config").and_then(|c| c.get("effort")))
            .and_then(Value::as_str),
        temperature: inference.and_then(|c| c.get("temperature")).is_some()
            || field("temperature").is_some(),
        top_p: inference.and_then(|c| c.get("topP")).is_some() || field("top_p").is_some(),
        top_k: field("top_k").is_some(),
        forced_tool: choice.is_some_and(|c| c.get("any").is_some() || c.get("tool").is_some()),
        ends_with_assistant: last_role == Some("assistant"),
        max_tokens: inference
            .and_then(|c| c.get("maxTokens"))
            .and_then(Value::as_u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(extra: Value) -> Value {
        let mut b = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        b
    }

    #[test]
    fn ids_are_refused_as_bedrock_refuses_them() {
        let eol =
            check_id("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "us-east-1").unwrap_err();
        assert_eq!(
            (eol.status, eol.error_type),
            (404, "ResourceNotFoundException")
        );
        let bare = check_id("anthropic.claude-sonnet-4-6", "us-east-1").unwrap_err();
        assert!(bare.message.starts_with(
            "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported."
        ));
        check_id("us.anthropic.claude-sonnet-4-6", "us-east-1").unwrap();
        check_id("global.anthropic.claude-sonnet-4-6", "eu-west-1").unwrap();
        let elsewhere = check_id("eu.anthropic.claude-sonnet-4-6", "us-east-1").unwrap_err();
        assert_eq!(elsewhere.message, INVALID_MODEL);
        check_id("amazon.nova-pro-v1:0", "us-east-1").unwrap();
    }

    #[test]
    fn bodies_are_read_for_the_models_rules() {
        let opus = "us.anthropic.claude-opus-4-7";
        let budget = body(json!({"inferenceConfig": {"maxTokens": 4000},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}}));
        let r = check_body(opus, &budget).unwrap_err();
        assert!(
            r.message
                .contains("\"thinking.type.enabled\" is not supported for this model.")
        );
        let adaptive = body(json!({"additionalModelRequestFields": {
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}}));
        check_body(opus, &adaptive).unwrap();
        let sonnet = "us.anthropic.claude-sonnet-4-6";
        let r = check_body(sonnet, &adaptive).unwrap_err();
        assert!(
            r.message.contains("does not support effort level 'xhigh'"),
            "{}",
            r.message
        );
        let sampled = body(json!({"inferenceConfig": {"temperature": 0.5}}));
        let r = check_body(opus, &sampled).unwrap_err();
        assert!(
            r.message
                .contains("`temperature` is deprecated for this model.")
        );
        let prefill = json!({"messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "{"}]}]});
        assert_eq!(
            check_body(sonnet, &prefill).unwrap_err().rule,
            Rule::Prefill
        );
    }
}
