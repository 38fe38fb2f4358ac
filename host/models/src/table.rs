//! The table: every Claude model on Bedrock with a verified id, plus the newest ones only
//! other projects vouch for (marked `verified: false`). Sources per row; the project's
//! design notes (`shared/design.md`, "Bedrock's models in December 2026") hold the quotes.

use gamecode_backend::ReasoningEffort::{High, Low, Max, Medium, XHigh};
use gamecode_backend::{ReasoningEffort, ReasoningSupport, Sampling};

/// One Claude model on Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The model id, without a profile prefix.
    pub id: &'static str,
    /// A person's name for it.
    pub name: &'static str,
    /// When it reached Bedrock, `YYYY-MM-DD`, where known.
    pub launched: Option<&'static str>,
    /// When it became legacy, `YYYY-MM-DD`.
    pub legacy: Option<&'static str>,
    /// When Bedrock stopped serving it, `YYYY-MM-DD`.
    pub end_of_life: Option<&'static str>,
    /// Retired long enough that Bedrock no longer knows the id ("The provided model
    /// identifier is invalid.") rather than naming its end of life.
    pub retired: bool,
    /// The current model to move to.
    pub successor: Option<&'static str>,
    /// Callable by its bare id (on-demand throughput); otherwise only through a profile.
    pub on_demand: bool,
    /// The geographies of its system inference profiles (`us`, `eu`, `global`, …).
    pub profiles: &'static [&'static str],
    pub images: bool,
    pub reasoning: ReasoningSupport,
    /// The levels `output_config.effort` takes.
    pub efforts: &'static [ReasoningEffort],
    /// Thinking may be on with a forced tool choice.
    pub thinking_with_forced_tool: bool,
    pub sampling: Sampling,
    /// A trailing assistant message is continued (not refused).
    pub prefill: bool,
    /// The smallest cached prefix, in tokens, if it caches.
    pub cache_min: Option<u32>,
    pub cache_one_hour: bool,
    pub context_window: u32,
    pub max_output: u32,
    /// Whether the id comes from AWS's or Anthropic's own pages (not only from peers' code).
    pub verified: bool,
    /// Where the facts come from.
    pub source: &'static str,
}

const SONNET_4_6: &str = "anthropic.claude-sonnet-4-6";
const HAIKU_4_5: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const OPUS_4_7: &str = "anthropic.claude-opus-4-7";

/// What the Claude 3 generation had in common.
const CLAUDE_3: Model = Model {
    id: "",
    name: "",
    launched: None,
    legacy: None,
    end_of_life: None,
    retired: false,
    successor: Some(SONNET_4_6),
    on_demand: true,
    profiles: &["us", "eu", "apac"],
    images: true,
    reasoning: ReasoningSupport::None,
    efforts: &[],
    thinking_with_forced_tool: false,
    sampling: Sampling::Any,
    prefill: true,
    cache_min: None,
    cache_one_hour: false,
    context_window: 200_000,
    max_output: 4_096,
    verified: true,
    source: "",
};

/// What the Claude 4 generation has in common: profiles only, budget thinking, caching.
const CLAUDE_4: Model = Model {
    on_demand: false,
    profiles: &["us", "eu", "apac", "global"],
    reasoning: ReasoningSupport::Budget,
    cache_min: Some(1_024),
    max_output: 64_000,
    successor: None,
    ..CLAUDE_3
};

/// Claude 4.5 and later: temperature or top_p, one-hour cache points.
const CLAUDE_4_5: Model = Model {
    sampling: Sampling::TemperatureOrTopP,
    cache_one_hour: true,
    ..CLAUDE_4
};

/// Opus 4.7 and later: adaptive thinking only, no sampling parameters, no prefill.
const ADAPTIVE_ONLY: Model = Model {
    reasoning: ReasoningSupport::AdaptiveOnly,
    efforts: &[Low, Medium, High, XHigh, Max],
    sampling: Sampling::Fixed,
    prefill: false,
    profiles: &["us", "eu", "jp", "au", "global"],
    cache_min: Some(4_096),
    context_window: 1_000_000,
    max_output: 128_000,
    ..CLAUDE_4_5
};

pub const MODELS: &[Model] = &[
    Model {
        id: "anthropic.claude-3-haiku-20240307-v1:0",
        name: "Claude 3 Haiku",
        launched: Some("2024-03-13"),
        end_of_life: Some("2026-09-10"),
        successor: Some(HAIKU_4_5),
        source: "EOL 2026-09-10 in most regions, 404 \"This model version has reached the end of its life.\": AWS model card (anthropic-claude-3-haiku)",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-3-sonnet-20240229-v1:0",
        name: "Claude 3 Sonnet",
        retired: true,
        source: "removed: strands samples PR 299",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-3-5-sonnet-20240620-v1:0",
        name: "Claude 3.5 Sonnet",
        retired: true,
        max_output: 8_192,
        source: "retired Oct 2025, \"The provided model identifier is invalid.\": AWS samples PRs, Anthropic's deprecations page",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-3-5-sonnet-20241022-v2:0",
        name: "Claude 3.5 Sonnet v2",
        retired: true,
        max_output: 8_192,
        source: "retired Oct 2025, \"The provided model identifier is invalid.\": AWS samples PRs, Anthropic's deprecations page",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        name: "Claude 3.5 Haiku",
        end_of_life: Some("2026-06-19"),
        images: false,
        max_output: 8_192,
        cache_min: Some(2_048),
        successor: Some(HAIKU_4_5),
        source: "EOL 2026-06-19: AWS model card (anthropic-claude-3-5-haiku)",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-3-7-sonnet-20250219-v1:0",
        name: "Claude 3.7 Sonnet",
        launched: Some("2025-02-24"),
        end_of_life: Some("2026-04-28"),
        on_demand: false,
        reasoning: ReasoningSupport::Budget,
        cache_min: Some(1_024),
        max_output: 64_000,
        source: "EOL 2026-04-28, 404 \"This model version has reached the end of its life.\": LiteLLM PR 26721",
        ..CLAUDE_3
    },
    Model {
        id: "anthropic.claude-sonnet-4-20250514-v1:0",
        name: "Claude Sonnet 4",
        launched: Some("2025-05-22"),
        legacy: Some("2026-04-14"),
        end_of_life: Some("2026-10-14"),
        successor: Some(SONNET_4_6),
        source: "LEGACY 2026-04-14, EOL 2026-10-14: strands samples PR 299, browser-use PR 5448 (a control-plane read)",
        ..CLAUDE_4
    },
    Model {
        id: "anthropic.claude-opus-4-20250514-v1:0",
        name: "Claude Opus 4",
        launched: Some("2025-05-22"),
        end_of_life: Some("2026-05-31"),
        max_output: 32_000,
        successor: Some(OPUS_4_7),
        source: "EOL 2026-05-31: awslabs startups ai-model-lifecycle.md (peers)",
        ..CLAUDE_4
    },
    Model {
        id: "anthropic.claude-opus-4-1-20250805-v1:0",
        name: "Claude Opus 4.1",
        launched: Some("2025-08-05"),
        legacy: Some("2026-07-08"),
        end_of_life: Some("2027-01-08"),
        profiles: &["us"],
        sampling: Sampling::TemperatureOrTopP,
        max_output: 32_000,
        successor: Some(OPUS_4_7),
        source: "LEGACY 2026-07-08, EOL 2027-01-08 (AWS lifecycle page, as cited by models.dev 3708 and llmgateway 3229); us. profile only: TokenRouter's table checked against AWS model pages",
        ..CLAUDE_4
    },
    Model {
        id: "anthropic.claude-sonnet-4-5-20250929-v1:0",
        name: "Claude Sonnet 4.5",
        launched: Some("2025-09-29"),
        profiles: &["us", "eu", "jp", "au", "global"],
        source: "ACTIVE (a control-plane read, 2026-09-26); profiles: Anthropic's Bedrock table, TokenRouter",
        ..CLAUDE_4_5
    },
    Model {
        id: HAIKU_4_5,
        name: "Claude Haiku 4.5",
        launched: Some("2025-10-15"),
        profiles: &["us", "eu", "jp", "au", "global"],
        cache_min: Some(4_096),
        source: "ACTIVE (a control-plane read, 2026-09-26); 4,096-token cache minimum: AWS model card",
        ..CLAUDE_4_5
    },
    Model {
        id: "anthropic.claude-opus-4-5-20251101-v1:0",
        name: "Claude Opus 4.5",
        launched: Some("2025-11-24"),
        profiles: &["us", "eu", "global"],
        efforts: &[Low, Medium, High],
        cache_min: Some(4_096),
        source: "profiles global/us/eu: Anthropic's Bedrock table; budget thinking only, effort low/medium/high: AWS adaptive-thinking page, Anthropic's effort page",
        ..CLAUDE_4_5
    },
    Model {
        id: SONNET_4_6,
        name: "Claude Sonnet 4.6",
        launched: Some("2026-02-17"),
        profiles: &["us", "eu", "jp", "au", "global"],
        reasoning: ReasoningSupport::Adaptive,
        efforts: &[Low, Medium, High, Max],
        prefill: false,
        cache_min: Some(2_048),
        context_window: 1_000_000,
        max_output: 128_000,
        source: "ACTIVE, no EOL; us. and global. profiles ACTIVE: Anthropic's Bedrock table, browser-use PR 5448; adaptive + effort, budget deprecated but accepted: AWS adaptive-thinking page; no prefill: Anthropic's migration guide",
        ..CLAUDE_4_5
    },
    Model {
        id: "anthropic.claude-opus-4-6-v1",
        name: "Claude Opus 4.6",
        launched: Some("2026-02-05"),
        profiles: &["us", "eu", "jp", "apac", "au", "global"],
        reasoning: ReasoningSupport::Adaptive,
        efforts: &[Low, Medium, High, Max],
        prefill: false,
        cache_min: Some(4_096),
        context_window: 1_000_000,
        max_output: 128_000,
        source: "profiles global/us/eu/jp/apac: Anthropic's Bedrock table; 1M/128K: AWS model card; adaptive + effort: AWS adaptive-thinking page; no prefill: Anthropic's migration guide, opencode 29760",
        ..CLAUDE_4_5
    },
    Model {
        id: OPUS_4_7,
        name: "Claude Opus 4.7",
        launched: Some("2026-04-16"),
        source: "1M context, 128K output, adaptive thinking only: AWS model card; efforts low…max: Anthropic's effort page; sampling removed: langchain4j 5138, pi PR 3288, redpanda ai-sdk-go PR 111",
        ..ADAPTIVE_ONLY
    },
    Model {
        id: "anthropic.claude-opus-4-8",
        name: "Claude Opus 4.8",
        thinking_with_forced_tool: true,
        verified: false,
        source: "peers: coder PR 26691, langchain-aws PR 1141 (adaptive only; thinking allowed with a forced tool choice)",
        ..ADAPTIVE_ONLY
    },
    Model {
        id: "anthropic.claude-opus-5",
        name: "Claude Opus 5",
        launched: Some("2026-07-24"),
        profiles: &["us", "eu", "au", "global"],
        cache_min: Some(512),
        source: "id: AWS adaptive-thinking page; budget removed, efforts low…max: Anthropic's thinking-effort reference",
        ..ADAPTIVE_ONLY
    },
    Model {
        id: "anthropic.claude-sonnet-5",
        name: "Claude Sonnet 5",
        profiles: &["us", "eu", "au", "global"],
        cache_min: Some(1_024),
        verified: false,
        source: "peers: langchainjs, remote-swe-agents PR 436, coder; budget and sampling removed, no prefill: Anthropic's migration guide",
        ..ADAPTIVE_ONLY
    },
    Model {
        id: "anthropic.claude-fable-5",
        name: "Claude Fable 5",
        profiles: &["us", "global"],
        cache_min: Some(2_048),
        source: "id and adaptive-only thinking: AWS adaptive-thinking page; no prefill: Anthropic's models reference",
        ..ADAPTIVE_ONLY
    },
];
