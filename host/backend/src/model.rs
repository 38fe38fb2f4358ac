//! What a model can take: a backend's answer to "may I send this model an image, a document,
//! a thinking request, a cache point?", so that a feature a model lacks is refused early and
//! clearly, and a host can make policy of it.

use serde::{Deserialize, Serialize};

use crate::types::ReasoningEffort;

/// How a model thinks, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningSupport {
    None,
    /// A token budget (`thinking.type = enabled`).
    Budget,
    /// A budget, or adaptive thinking with an effort level.
    Adaptive,
    /// Adaptive thinking with an effort level only: a budget is refused (Claude Opus 4.7 and
    /// later).
    AdaptiveOnly,
}

impl ReasoningSupport {
    /// Whether the model thinks at all.
    pub fn thinks(self) -> bool {
        self != Self::None
    }

    /// Whether it takes adaptive thinking with an effort level.
    pub fn adaptive(self) -> bool {
        matches!(self, Self::Adaptive | Self::AdaptiveOnly)
    }

    /// Whether it takes a token budget.
    pub fn budget(self) -> bool {
        matches!(self, Self::Budget | Self::Adaptive)
    }

    /// A word for people: `none`, `budget`, `budget or adaptive`, `adaptive only`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Budget => "budget",
            Self::Adaptive => "budget or adaptive",
            Self::AdaptiveOnly => "adaptive only",
        }
    }
}

/// Which sampling parameters (temperature, top_p, top_k) a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Sampling {
    /// Any of them, together.
    #[default]
    Any,
    /// Temperature or top_p, not both (Claude 4.5 and later).
    TemperatureOrTopP,
    /// None of them: the model samples as it was tuned to (Claude Opus 4.7 and later).
    Fixed,
}

/// Where a model is in its provider's lifecycle, on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleStage {
    /// Current.
    #[default]
    Active,
    /// Still callable, with an end-of-life date; accounts that have not called it lately may
    /// already be refused.
    Legacy,
    /// No longer served: calls fail.
    EndOfLife,
}

/// A model's capabilities and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The model id without any inference-profile prefix.
    pub id: String,
    /// A person's name for it ("Claude Sonnet 4.5").
    pub name: String,
    pub images: bool,
    pub documents: bool,
    pub reasoning: ReasoningSupport,
    /// Prompt caching, and the smallest prefix (tokens) it caches.
    pub caching: Option<u32>,
    /// Whether a cache point may live an hour.
    pub cache_one_hour: bool,
    pub context_window: u32,
    pub max_output_tokens: u32,
    /// Whether it is reached only through an inference profile (`us.`, `global.`, …).
    pub profile_only: bool,
    /// The current model to use instead, when this one has reached its end of life.
    pub successor: Option<String>,
    /// The effort levels adaptive thinking takes (empty without adaptive thinking).
    #[serde(default)]
    pub efforts: Vec<ReasoningEffort>,
    /// Which sampling parameters it takes.
    #[serde(default)]
    pub sampling: Sampling,
    /// Whether a request may end with an assistant message for the model to continue.
    #[serde(default = "yes")]
    pub prefill: bool,
    /// Whether thinking may be on with a forced tool choice (`any` or a named tool).
    #[serde(default)]
    pub thinking_with_forced_tool: bool,
    /// Where it is in its lifecycle today.
    #[serde(default)]
    pub lifecycle: LifecycleStage,
    /// When it became (or becomes) legacy, `YYYY-MM-DD`.
    #[serde(default)]
    pub legacy_date: Option<String>,
    /// When it stopped (or stops) being served, `YYYY-MM-DD`.
    #[serde(default)]
    pub end_of_life_date: Option<String>,
}

impl ModelInfo {
    /// A model known only by id and name: no media, no thinking, no caching, and limits of
    /// zero until set. Backends outside this crate fill in the rest field by field.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            images: false,
            documents: false,
            reasoning: ReasoningSupport::None,
            caching: None,
            cache_one_hour: false,
            context_window: 0,
            max_output_tokens: 0,
            profile_only: false,
            successor: None,
            efforts: Vec::new(),
            sampling: Sampling::default(),
            prefill: true,
            thinking_with_forced_tool: false,
            lifecycle: LifecycleStage::default(),
            legacy_date: None,
            end_of_life_date: None,
        }
    }
}

fn yes() -> bool {
    true
}
