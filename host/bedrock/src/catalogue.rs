//! The backend's use of the Claude catalogue (`bedrock-models`, shared with the emulator):
//! a request is admitted before any call — lifecycle, profile, thinking fitted to the model,
//! Bedrock's rules — and any id the catalogue does not know passes through untouched.
//!
//! Inference profiles carry a geography prefix (`us.`, `eu.`, `apac.`, `us-gov.`, `global.`,
//! `jp.`, `au.`, `ca.`, …) in front of the model id, and ARNs end in a profile or model id:
//! both are looked up by the model id inside.

use bedrock_models::{Ask, Refusal, Thinking};
use gamecode_backend::{
    BackendError, CacheTtl, MessageRole, ModelInfo, ReasoningConfig, ReasoningEffort,
    ReasoningSupport, ToolChoice,
};

use crate::normalize::{MIN_THINKING_BUDGET, Normalized, SystemBlock, TurnFacts};

pub use bedrock_models::{
    DEFAULT_MODEL, MODELS, Model, base_model_id, check_id, default_model_for_region, find,
    is_bare_id, profile_for, today,
};

/// The thinking budget an effort level becomes on a model that takes budgets only: the
/// documented translation, capped below `max_tokens`.
pub const EFFORT_BUDGETS: [(ReasoningEffort, u32); 5] = [
    (ReasoningEffort::Low, 2_048),
    (ReasoningEffort::Medium, 8_192),
    (ReasoningEffort::High, 16_384),
    (ReasoningEffort::XHigh, 32_768),
    (ReasoningEffort::Max, 65_536),
];

/// The facts about `model` (an id, inference profile or ARN), if it is in the catalogue.
pub fn model_info(model: &str) -> Option<ModelInfo> {
    bedrock_models::model_info(model, &today())
}

/// The effort a budget becomes on an adaptive-only model: the smallest of the model's levels
/// whose budget ([`EFFORT_BUDGETS`]) covers it, or its highest.
pub fn effort_for_budget(tokens: u32, efforts: &[ReasoningEffort]) -> Option<ReasoningEffort> {
    EFFORT_BUDGETS
        .iter()
        .filter(|(e, _)| efforts.contains(e))
        .find(|(_, budget)| *budget >= tokens)
        .map(|(e, _)| *e)
        .or_else(|| efforts.iter().copied().max_by_key(|e| *e as u8))
}

/// Fits the request's thinking to what the model takes (the one translation the backend
/// makes): a budget asked of an adaptive-only model becomes adaptive thinking at
/// [`effort_for_budget`]; an effort asked of a budget-only model becomes its
/// [`EFFORT_BUDGETS`] budget, below `max_tokens` (set to the model's maximum when absent).
pub fn fit_reasoning(model: &Model, n: &mut Normalized) -> Result<(), BackendError> {
    let fitted = match (n.options.reasoning, model.reasoning) {
        (Some(ReasoningConfig::Budget { tokens }), ReasoningSupport::AdaptiveOnly) => {
            effort_for_budget(tokens, model.efforts).map(ReasoningConfig::Effort)
        }
        (Some(ReasoningConfig::Effort(effort)), ReasoningSupport::Budget) => {
            let want = EFFORT_BUDGETS
                .iter()
                .find(|(e, _)| *e == effort)
                .map_or(MIN_THINKING_BUDGET, |(_, b)| *b);
            let inference = n.inference.get_or_insert_with(Default::default);
            let max = *inference.max_tokens.get_or_insert(model.max_output);
            let tokens = want.min(max.saturating_sub(1));
            if tokens < MIN_THINKING_BUDGET {
                return Err(BackendError::validation(format!(
                    "{} ({}) thinks with a budget: effort {:?} becomes a budget below \
                     max_tokens ({max}), which must then be above {MIN_THINKING_BUDGET}",
                    model.name,
                    model.id,
                    effort.as_str()
                )));
            }
            Some(ReasoningConfig::Budget { tokens })
        }
        (other, _) => other,
    };
    n.options.reasoning = fitted;
    n.reasoning = fitted;
    Ok(())
}

/// Admits a request to `model_id` before any call: the model's lifecycle, the profile it
/// must be called through, its thinking fitted ([`fit_reasoning`]), then every rule of
/// Bedrock's for it (`bedrock_models::check`), refused with the rule named. Unknown ids,
/// profiles and ARNs pass untouched.
pub fn admit(model_id: &str, n: &mut Normalized, region: Option<&str>) -> Result<(), BackendError> {
    let facts = TurnFacts::of(&n.messages);
    admit_with(model_id, n, &facts, region)
}

/// [`admit`] with the facts of the turns given: `n` may hold only the turns after those a
/// conversation keeps.
pub(crate) fn admit_with(
    model_id: &str,
    n: &mut Normalized,
    facts: &TurnFacts,
    region: Option<&str>,
) -> Result<(), BackendError> {
    let Some(model) = find(model_id) else {
        // Bedrock's general rule, for models the catalogue does not know.
        if n.options.reasoning.is_some()
            && matches!(n.tool_choice, Some(ToolChoice::Any | ToolChoice::Tool(_)))
        {
            return Err(BackendError::validation(
                "a forced tool choice (any, or a named tool) cannot be used with extended \
                 thinking",
            ));
        }
        return Ok(());
    };
    let refuse = |r: Refusal| BackendError::validation(r.advice);
    // Lifecycle and profile come first, before the reasoning is touched.
    bedrock_models::check_id(model, model_id, region, &today()).map_err(refuse)?;
    fit_reasoning(model, n)?;
    check_media_and_caching(
        model.name,
        model.id,
        model.images,
        model.cache_min,
        model.cache_one_hour,
        n,
        facts,
    )?;
    bedrock_models::check_body(model, &ask(model_id, n, facts)).map_err(refuse)
}

/// What `n` asks of its model, in the shared rules' terms.
fn ask<'a>(model_id: &'a str, n: &'a Normalized, facts: &TurnFacts) -> Ask<'a> {
    let fields = n.options.additional_model_request_fields.as_ref();
    let field = |name: &str| fields.and_then(|f| f.get(name));
    let inference = n.inference.as_ref();
    Ask {
        model_id,
        thinking: match n.options.reasoning {
            Some(ReasoningConfig::Budget { tokens }) => Some(Thinking::Budget(u64::from(tokens))),
            Some(ReasoningConfig::Effort(_)) => Some(Thinking::Adaptive),
            None => match field("thinking")
                .and_then(|t| t.get("type"))
                .and_then(|t| t.as_str())
            {
                Some("enabled") => Some(Thinking::Budget(
                    field("thinking")
                        .and_then(|t| t.get("budget_tokens"))
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0),
                )),
                Some("adaptive") => Some(Thinking::Adaptive),
                _ => None,
            },
        },
        effort: match n.options.reasoning {
            Some(ReasoningConfig::Effort(e)) => Some(e.as_str()),
            _ => field("output_config")
                .and_then(|c| c.get("effort"))
                .and_then(serde_json::Value::as_str),
        },
        temperature: inference.is_some_and(|c| c.temperature.is_some())
            || field("temperature").is_some(),
        top_p: inference.is_some_and(|c| c.top_p.is_some()) || field("top_p").is_some(),
        top_k: field("top_k").is_some(),
        forced_tool: matches!(n.tool_choice, Some(ToolChoice::Any | ToolChoice::Tool(_))),
        ends_with_assistant: facts.last_role == Some(MessageRole::Assistant),
        max_tokens: inference.and_then(|c| c.max_tokens).map(u64::from),
    }
}

/// Refuses, before any call, what `info`'s model cannot take.
pub fn check_request(info: &ModelInfo, n: &Normalized) -> Result<(), BackendError> {
    check_media_and_caching(
        &info.name,
        &info.id,
        info.images,
        info.caching,
        info.cache_one_hour,
        n,
        &TurnFacts::of(&n.messages),
    )
}

/// [`check_request`] from the catalogue's own facts (no `ModelInfo` built per request).
fn check_media_and_caching(
    name: &str,
    id: &str,
    takes_images: bool,
    caching: Option<u32>,
    cache_one_hour: bool,
    n: &Normalized,
    facts: &TurnFacts,
) -> Result<(), BackendError> {
    let refuse = |what: &str| Err(BackendError::validation(format!("{name} ({id}) {what}")));
    if facts.images && !takes_images {
        return refuse("does not take images");
    }
    let points: Vec<CacheTtl> = facts
        .cache_points
        .iter()
        .copied()
        .chain(n.system.iter().filter_map(|b| match b {
            SystemBlock::CachePoint(p) => Some(p.ttl),
            SystemBlock::Text(_) => None,
        }))
        .chain(n.cache_tools.map(|p| p.ttl))
        .collect();
    if !points.is_empty() && caching.is_none() {
        return refuse("does not cache prompts: remove the cache points");
    }
    if points.contains(&CacheTtl::OneHour) && !cache_one_hour {
        return refuse("keeps cache points for 5 minutes only, not 1 hour");
    }
    Ok(())
}

/// Bedrock's end-of-life refusal of a model the catalogue knows, with its successor named.
pub fn name_successor(model: &str, region: Option<&str>, error: BackendError) -> BackendError {
    let message = error.message().to_ascii_lowercase();
    let end_of_life = message.contains("end of its life") || message.contains("end of life");
    match (error.category(), find(model)) {
        (gamecode_backend::ErrorCategory::Validation, Some(m)) if end_of_life => {
            BackendError::validation(format!(
                "{}. Bedrock said: {}",
                m.end_of_life_message(region),
                error.message()
            ))
        }
        _ => error,
    }
}

/// Every catalogued model id.
pub fn catalogued() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|m| m.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_backend::{ChatOptions, ChatRequest, InferenceConfig, Message};

    fn normalized(reasoning: ReasoningConfig, max_tokens: Option<u32>) -> Normalized {
        crate::normalize(&ChatRequest {
            messages: vec![Message::text(MessageRole::User, "hi")],
            inference_config: max_tokens.map(|m| InferenceConfig {
                max_tokens: Some(m),
                ..Default::default()
            }),
            options: ChatOptions {
                reasoning: Some(reasoning),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_budget_becomes_adaptive_on_adaptive_only_models_and_back() {
        let mut n = normalized(ReasoningConfig::Budget { tokens: 4_096 }, Some(8_000));
        admit("us.anthropic.claude-opus-4-7", &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Effort(ReasoningEffort::Medium))
        );
        let mut n = normalized(ReasoningConfig::Budget { tokens: 100_000 }, Some(128_000));
        admit("us.anthropic.claude-opus-4-7", &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Effort(ReasoningEffort::Max))
        );
        // Budget-only: an effort becomes its budget, below max_tokens.
        let sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let mut n = normalized(ReasoningConfig::Effort(ReasoningEffort::High), Some(10_000));
        admit(sonnet, &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Budget { tokens: 9_999 })
        );
        let mut n = normalized(ReasoningConfig::Effort(ReasoningEffort::Low), None);
        admit(sonnet, &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Budget { tokens: 2_048 })
        );
        assert_eq!(n.inference.and_then(|c| c.max_tokens), Some(64_000));
        // Both kinds: left as asked.
        let mut n = normalized(ReasoningConfig::Budget { tokens: 2_048 }, Some(4_000));
        admit("global.anthropic.claude-sonnet-4-6", &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Budget { tokens: 2_048 })
        );
    }

    #[test]
    fn lifecycle_profiles_and_rules_are_refused_with_the_fix_named() {
        let mut n = normalized(ReasoningConfig::Budget { tokens: 2_048 }, Some(4_000));
        let eol = admit(
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            &mut n,
            Some("us-east-1"),
        )
        .unwrap_err();
        assert_eq!(
            eol.message(),
            "Claude 3.7 Sonnet (anthropic.claude-3-7-sonnet-20250219-v1:0) reached end of life \
             on Bedrock on 2026-04-28; use us.anthropic.claude-sonnet-4-6"
        );
        let bare = admit("anthropic.claude-sonnet-4-6", &mut n, Some("us-east-1")).unwrap_err();
        assert!(
            bare.message()
                .ends_with("only through an inference profile: use us.anthropic.claude-sonnet-4-6"),
            "{}",
            bare.message()
        );
        let mut n = normalized(ReasoningConfig::Effort(ReasoningEffort::XHigh), Some(4_000));
        let effort = admit("us.anthropic.claude-sonnet-4-6", &mut n, None).unwrap_err();
        assert!(
            effort.message().contains("low, medium, high, max"),
            "{}",
            effort.message()
        );
        // Unknown ids pass untouched.
        let mut n = normalized(ReasoningConfig::Effort(ReasoningEffort::XHigh), Some(4_000));
        admit("amazon.nova-pro-v1:0", &mut n, None).unwrap();
        assert_eq!(
            n.options.reasoning,
            Some(ReasoningConfig::Effort(ReasoningEffort::XHigh))
        );
    }

    #[test]
    fn the_seeds_models_are_all_catalogued() {
        for seed in crate::SUPPORTED_MODELS {
            assert!(model_info(seed).is_some(), "{seed}");
        }
        assert_eq!(
            model_info("anthropic.claude-3-sonnet-20240229-v1:0")
                .unwrap()
                .successor
                .as_deref(),
            Some("anthropic.claude-sonnet-4-6")
        );
    }
}
