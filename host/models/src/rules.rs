//! Bedrock's rules for a Claude request, as data the backend and the emulator share: what a
//! request asks ([`Ask`], read from either side's representation) against what the model
//! takes ([`Model`]), giving Bedrock's own refusal ([`Refusal`]) for the first rule broken.

use gamecode_backend::{LifecycleStage, ReasoningSupport, Sampling};

use crate::{Model, is_bare_id, profile_for};

/// Model-side refusals reach the caller wrapped in this (as the real service wraps them).
const MODEL_SAYS: &str = "The model returned the following errors: ";

/// What a request asks of its model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ask<'a> {
    /// The id as called: a model id, inference profile or ARN.
    pub model_id: &'a str,
    /// Extended thinking, as the request's `thinking` field has it.
    pub thinking: Option<Thinking>,
    /// `output_config.effort` / `outputConfig.effort`.
    pub effort: Option<&'a str>,
    pub temperature: bool,
    pub top_p: bool,
    /// `top_k` in the additional model request fields.
    pub top_k: bool,
    /// `toolChoice` is `any` or a named tool.
    pub forced_tool: bool,
    /// The last message is the assistant's (a prefill for the model to continue).
    pub ends_with_assistant: bool,
    pub max_tokens: Option<u64>,
}

/// The `thinking` field of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// `{"type": "enabled", "budget_tokens": N}`.
    Budget(u64),
    /// `{"type": "adaptive"}`.
    Adaptive,
}

/// Which rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The model reached its end of life.
    EndOfLife,
    /// The model is reached only through an inference profile.
    ProfileOnly,
    /// The model takes adaptive thinking only (no budget).
    AdaptiveOnly,
    /// The model takes a budget only (no adaptive thinking).
    BudgetOnly,
    /// The model does not think.
    NoThinking,
    /// An effort level the model does not take.
    Effort,
    /// Sampling parameters on a model that has none.
    SamplingRemoved,
    /// `temperature` and `top_p` together.
    TemperatureAndTopP,
    /// A trailing assistant message on a model that refuses prefill.
    Prefill,
    /// Thinking with a forced tool choice on a model that does not allow it.
    ThinkingWithForcedTool,
    /// `maxTokens` above what the model writes.
    MaxOutput,
}

/// Bedrock's refusal of a request, and the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    /// The HTTP status Bedrock answers with.
    pub status: u16,
    /// Bedrock's error type (`ValidationException`, `ResourceNotFoundException`).
    pub error_type: &'static str,
    /// Bedrock's message, word for word where known.
    pub message: String,
    /// What to do instead, for people (names the model and, where there is one, the fix).
    pub advice: String,
}

fn validation(rule: Rule, message: String, advice: String) -> Refusal {
    Refusal {
        rule,
        status: 400,
        error_type: "ValidationException",
        message,
        advice,
    }
}

fn model_says(rule: Rule, what: &str, advice: String) -> Refusal {
    validation(rule, format!("{MODEL_SAYS}{what}"), advice)
}

/// The first of Bedrock's rules `ask` breaks for `model` on `today`, in the order Bedrock
/// checks them: the model id, then the model's own validation of the body.
pub fn check(model: &Model, ask: &Ask, region: Option<&str>, today: &str) -> Result<(), Refusal> {
    check_id(model, ask.model_id, region, today)?;
    check_body(model, ask)
}

/// The refusals that depend on the id alone: an ended model, a profile-only model called by
/// its bare id. Bedrock checks these before it reads the body.
pub fn check_id(
    model: &Model,
    model_id: &str,
    region: Option<&str>,
    today: &str,
) -> Result<(), Refusal> {
    let who = format!("{} ({})", model.name, model.id);
    if model.stage(today) == LifecycleStage::EndOfLife {
        // A model retired long ago is no longer known at all.
        let (status, error_type, message) = if model.retired {
            (
                400,
                "ValidationException",
                "The provided model identifier is invalid.",
            )
        } else {
            (
                404,
                "ResourceNotFoundException",
                "This model version has reached the end of its life. Please refer to the AWS \
                 documentation for more details.",
            )
        };
        return Err(Refusal {
            rule: Rule::EndOfLife,
            status,
            error_type,
            message: message.to_string(),
            advice: model.end_of_life_message(region),
        });
    }
    if !model.on_demand && is_bare_id(model_id) {
        return Err(validation(
            Rule::ProfileOnly,
            format!(
                "Invocation of model ID {} with on-demand throughput isn't supported. Retry \
                 your request with the ID or ARN of an inference profile that contains this \
                 model.",
                model_id
            ),
            format!(
                "{who} is reached only through an inference profile: use {}",
                profile_for(model, region)
            ),
        ));
    }
    Ok(())
}

/// The model's own rules for the request body: thinking, effort, sampling, prefill, a
/// forced tool choice, output length.
pub fn check_body(model: &Model, ask: &Ask) -> Result<(), Refusal> {
    let who = format!("{} ({})", model.name, model.id);
    match (ask.thinking, model.reasoning) {
        (Some(_), ReasoningSupport::None) => {
            return Err(model_says(
                Rule::NoThinking,
                "thinking: Extra inputs are not permitted",
                format!("{who} does not think (extended thinking came with Claude 3.7 Sonnet)"),
            ));
        }
        (Some(Thinking::Budget(_)), ReasoningSupport::AdaptiveOnly) => {
            return Err(model_says(
                Rule::AdaptiveOnly,
                "\"thinking.type.enabled\" is not supported for this model. Use \
                 \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking \
                 behavior.",
                format!(
                    "{who} takes adaptive thinking only: ask for an effort level ({}), not a \
                     budget",
                    model.efforts_list()
                ),
            ));
        }
        (Some(Thinking::Adaptive), ReasoningSupport::Budget) => {
            return Err(model_says(
                Rule::BudgetOnly,
                "adaptive thinking is not supported on this model",
                format!("{who} takes a thinking budget, not adaptive thinking"),
            ));
        }
        _ => {}
    }
    if let Some(effort) = ask.effort
        && !model.efforts.iter().any(|e| e.as_str() == effort)
    {
        let (what, advice) = if model.efforts.is_empty() {
            (
                "This model does not support the effort parameter.".to_string(),
                format!("{who} takes no effort level"),
            )
        } else {
            let mut levels: Vec<&str> = model.efforts.iter().map(|e| e.as_str()).collect();
            levels.sort_unstable();
            (
                format!(
                    "This model does not support effort level '{effort}'. Supported levels: {}.",
                    levels.join(", ")
                ),
                format!(
                    "{who} takes the effort levels {}, not {effort:?}",
                    model.efforts_list()
                ),
            )
        };
        return Err(model_says(Rule::Effort, &what, advice));
    }
    let sampled: Vec<&str> = [
        (ask.temperature, "temperature"),
        (ask.top_p, "top_p"),
        (ask.top_k, "top_k"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    match model.sampling {
        Sampling::Fixed if !sampled.is_empty() => {
            return Err(model_says(
                Rule::SamplingRemoved,
                &format!("`{}` is deprecated for this model.", sampled[0]),
                format!(
                    "{who} takes no sampling parameters (temperature, top_p, top_k): remove {}",
                    sampled.join(", ")
                ),
            ));
        }
        Sampling::TemperatureOrTopP if ask.temperature && ask.top_p => {
            return Err(model_says(
                Rule::TemperatureAndTopP,
                "`temperature` and `top_p` cannot both be specified for this model. Please use \
                 only one.",
                format!("{who} takes temperature or top_p, not both"),
            ));
        }
        _ => {}
    }
    if ask.ends_with_assistant && !model.prefill {
        return Err(model_says(
            Rule::Prefill,
            "This model does not support assistant message prefill. The conversation must end \
             with a user message.",
            format!("{who} does not continue an assistant message: end with a user message"),
        ));
    }
    if ask.thinking.is_some() && ask.forced_tool && !model.thinking_with_forced_tool {
        return Err(model_says(
            Rule::ThinkingWithForcedTool,
            "Thinking may not be enabled when tool_choice forces tool use.",
            format!("{who} does not think with a forced tool choice: use `auto`"),
        ));
    }
    if let Some(max) = ask.max_tokens
        && max > u64::from(model.max_output)
    {
        return Err(validation(
            Rule::MaxOutput,
            format!(
                "The maximum tokens you requested exceeds the model limit of {}. Try again \
                 with a maximum tokens value that is lower than {}.",
                model.max_output, model.max_output
            ),
            format!(
                "{who} writes at most {} tokens; max_tokens is {max}",
                model.max_output
            ),
        ));
    }
    Ok(())
}

impl Model {
    /// `low, medium, high` — the efforts it takes, for messages.
    pub fn efforts_list(&self) -> String {
        self.efforts
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find;

    const TODAY: &str = "2026-12-06";

    fn ask(model_id: &str) -> Ask<'_> {
        Ask {
            model_id,
            ..Ask::default()
        }
    }

    fn rule(model_id: &str, edit: impl FnOnce(&mut Ask)) -> Option<Rule> {
        let m = find(model_id).unwrap();
        let mut a = ask(model_id);
        edit(&mut a);
        check(m, &a, Some("us-east-1"), TODAY).err().map(|r| r.rule)
    }

    #[test]
    fn each_rule_refuses_where_bedrock_does_and_nowhere_else() {
        let eol = check(
            find("anthropic.claude-3-7-sonnet-20250219-v1:0").unwrap(),
            &ask("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            None,
            TODAY,
        )
        .unwrap_err();
        assert_eq!((eol.status, eol.rule), (404, Rule::EndOfLife));
        assert!(
            eol.message
                .starts_with("This model version has reached the end of its life.")
        );
        assert_eq!(
            rule("anthropic.claude-sonnet-4-6", |_| {}),
            Some(Rule::ProfileOnly)
        );
        assert_eq!(rule("us.anthropic.claude-sonnet-4-6", |_| {}), None);
        let opus = "us.anthropic.claude-opus-4-7";
        assert_eq!(
            rule(opus, |a| a.thinking = Some(Thinking::Budget(2048))),
            Some(Rule::AdaptiveOnly)
        );
        assert_eq!(
            rule(opus, |a| {
                a.thinking = Some(Thinking::Adaptive);
                a.effort = Some("xhigh");
            }),
            None
        );
        assert_eq!(
            rule(opus, |a| a.temperature = true),
            Some(Rule::SamplingRemoved)
        );
        assert_eq!(rule(opus, |a| a.top_k = true), Some(Rule::SamplingRemoved));
        let sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(rule(sonnet, |a| a.temperature = true), None);
        assert_eq!(
            rule(sonnet, |a| {
                a.temperature = true;
                a.top_p = true;
            }),
            Some(Rule::TemperatureAndTopP)
        );
        assert_eq!(
            rule(sonnet, |a| a.thinking = Some(Thinking::Adaptive)),
            Some(Rule::BudgetOnly)
        );
        assert_eq!(
            rule(sonnet, |a| a.effort = Some("high")),
            Some(Rule::Effort)
        );
        assert_eq!(
            rule(sonnet, |a| {
                a.thinking = Some(Thinking::Budget(2048));
                a.forced_tool = true;
            }),
            Some(Rule::ThinkingWithForcedTool)
        );
        assert_eq!(
            rule("us.anthropic.claude-opus-4-8", |a| {
                a.thinking = Some(Thinking::Adaptive);
                a.forced_tool = true;
            }),
            None
        );
        assert_eq!(rule(sonnet, |a| a.ends_with_assistant = true), None);
        assert_eq!(
            rule("us.anthropic.claude-opus-4-6-v1", |a| a
                .ends_with_assistant =
                true),
            Some(Rule::Prefill)
        );
        assert_eq!(
            rule(sonnet, |a| a.max_tokens = Some(64_001)),
            Some(Rule::MaxOutput)
        );
        assert_eq!(rule(opus, |a| a.max_tokens = Some(128_000)), None);
    }
}
