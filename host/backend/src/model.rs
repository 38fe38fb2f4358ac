//! What a model can take: a backend's answer to "may I send this model an image, a document,
//! a thinking request, a cache point?", so that a feature a model lacks is refused early and
//! clearly, and a host can make policy of it.

use serde::{Deserialize, Serialize};

/// How a model thinks, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningSupport {
    None,
    /// A token budget (`thinking.type = enabled`).
    Budget,
    /// A budget, or adaptive thinking with an effort level.
    Adaptive,
}

/// A model's capabilities and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
