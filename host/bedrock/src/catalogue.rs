//! The Claude models on Bedrock this backend has facts about: what each takes and its limits,
//! from Anthropic's and AWS's model pages. Ids are listed only where they could be verified;
//! any other id, inference profile or ARN still works — it just gets no early checks.
//!
//! Inference profiles carry a geography prefix (`us.`, `eu.`, `apac.`, `us-gov.`, `global.`,
//! `jp.`, `au.`, `ca.`, …) in front of the model id, and ARNs end in a profile or model id:
//! both are looked up by the model id inside.

use gamecode_backend::{
    BackendError, CacheTtl, ContentBlock, ModelInfo, ReasoningConfig, ReasoningSupport,
    ToolResultContent,
};

use crate::normalize::{Normalized, SystemBlock};

struct Entry {
    id: &'static str,
    name: &'static str,
    images: bool,
    reasoning: ReasoningSupport,
    /// Smallest cached prefix, if the model caches.
    cache_min: Option<u32>,
    cache_one_hour: bool,
    max_output: u32,
    profile_only: bool,
    successor: Option<&'static str>,
}

const SONNET_4_5: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_4_5: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

use ReasoningSupport::{Adaptive, Budget, None as NoReasoning};

const CATALOGUE: &[Entry] = &[
    Entry {
        id: "anthropic.claude-3-haiku-20240307-v1:0",
        name: "Claude 3 Haiku",
        images: true,
        reasoning: NoReasoning,
        cache_min: None,
        cache_one_hour: false,
        max_output: 4096,
        profile_only: false,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-3-sonnet-20240229-v1:0",
        name: "Claude 3 Sonnet",
        images: true,
        reasoning: NoReasoning,
        cache_min: None,
        cache_one_hour: false,
        max_output: 4096,
        profile_only: false,
        successor: Some(SONNET_4_5),
    },
    Entry {
        id: "anthropic.claude-3-5-sonnet-20240620-v1:0",
        name: "Claude 3.5 Sonnet",
        images: true,
        reasoning: NoReasoning,
        cache_min: None,
        cache_one_hour: false,
        max_output: 8192,
        profile_only: false,
        successor: Some(SONNET_4_5),
    },
    Entry {
        id: "anthropic.claude-3-5-sonnet-20241022-v2:0",
        name: "Claude 3.5 Sonnet v2",
        images: true,
        reasoning: NoReasoning,
        cache_min: None,
        cache_one_hour: false,
        max_output: 8192,
        profile_only: false,
        successor: Some(SONNET_4_5),
    },
    Entry {
        id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        name: "Claude 3.5 Haiku",
        images: false,
        reasoning: NoReasoning,
        cache_min: Some(2048),
        cache_one_hour: false,
        max_output: 8192,
        profile_only: false,
        successor: Some(HAIKU_4_5),
    },
    Entry {
        id: "anthropic.claude-3-7-sonnet-20250219-v1:0",
        name: "Claude 3.7 Sonnet",
        images: true,
        reasoning: Budget,
        cache_min: Some(1024),
        cache_one_hour: false,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-sonnet-4-20250514-v1:0",
        name: "Claude Sonnet 4",
        images: true,
        reasoning: Budget,
        cache_min: Some(1024),
        cache_one_hour: false,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-opus-4-20250514-v1:0",
        name: "Claude Opus 4",
        images: true,
        reasoning: Budget,
        cache_min: Some(1024),
        cache_one_hour: false,
        max_output: 32_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-opus-4-1-20250805-v1:0",
        name: "Claude Opus 4.1",
        images: true,
        reasoning: Budget,
        cache_min: Some(1024),
        cache_one_hour: false,
        max_output: 32_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: SONNET_4_5,
        name: "Claude Sonnet 4.5",
        images: true,
        reasoning: Budget,
        cache_min: Some(1024),
        cache_one_hour: true,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: HAIKU_4_5,
        name: "Claude Haiku 4.5",
        images: true,
        reasoning: Budget,
        cache_min: Some(4096),
        cache_one_hour: true,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-opus-4-5-20251101-v1:0",
        name: "Claude Opus 4.5",
        images: true,
        reasoning: Adaptive,
        cache_min: Some(4096),
        cache_one_hour: true,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
    Entry {
        id: "anthropic.claude-sonnet-4-6",
        name: "Claude Sonnet 4.6",
        images: true,
        reasoning: Adaptive,
        cache_min: Some(2048),
        cache_one_hour: true,
        max_output: 64_000,
        profile_only: true,
        successor: None,
    },
];

/// The model id inside an id, inference-profile id or ARN (`us.anthropic.x` → `anthropic.x`).
pub fn base_model_id(model: &str) -> &str {
    let tail = model.rsplit('/').next().unwrap_or(model);
    match tail.find("anthropic.") {
        Some(at) => &tail[at..],
        None => tail,
    }
}

/// The facts about `model` (an id, inference profile or ARN), if it is in the catalogue.
pub fn model_info(model: &str) -> Option<ModelInfo> {
    let base = base_model_id(model);
    CATALOGUE.iter().find(|e| e.id == base).map(|e| ModelInfo {
        id: e.id.to_string(),
        name: e.name.to_string(),
        images: e.images,
        // Every Claude model on Bedrock reads PDFs and text documents.
        documents: true,
        reasoning: e.reasoning,
        caching: e.cache_min,
        cache_one_hour: e.cache_one_hour,
        context_window: 200_000,
        max_output_tokens: e.max_output,
        profile_only: e.profile_only,
        successor: e.successor.map(str::to_string),
    })
}

/// Refuses, before any call, what `info`'s model cannot take.
pub fn check_request(info: &ModelInfo, n: &Normalized) -> Result<(), BackendError> {
    let refuse = |what: &str| {
        Err(BackendError::validation(format!(
            "{} ({}) {what}",
            info.name, info.id
        )))
    };
    let blocks = || n.messages.iter().flat_map(|m| m.content.iter());
    let images = blocks().any(|b| match b {
        ContentBlock::Image(_) => true,
        ContentBlock::ToolResult(r) => r
            .content
            .iter()
            .any(|c| matches!(c, ToolResultContent::Image(_))),
        _ => false,
    });
    if images && !info.images {
        return refuse("does not take images");
    }
    match (n.options.reasoning, info.reasoning) {
        (Some(_), ReasoningSupport::None) => {
            return refuse("does not do extended thinking (Claude 3.7 Sonnet and later do)");
        }
        (Some(ReasoningConfig::Effort(_)), ReasoningSupport::Budget) => {
            return refuse("takes a thinking budget, not an effort level");
        }
        _ => {}
    }
    let points: Vec<CacheTtl> = blocks()
        .filter_map(|b| match b {
            ContentBlock::CachePoint(p) => Some(p.ttl),
            _ => None,
        })
        .chain(n.system.iter().filter_map(|b| match b {
            SystemBlock::CachePoint(p) => Some(p.ttl),
            SystemBlock::Text(_) => None,
        }))
        .chain(n.cache_tools.map(|p| p.ttl))
        .collect();
    if !points.is_empty() && info.caching.is_none() {
        return refuse("does not cache prompts: remove the cache points");
    }
    if points.contains(&CacheTtl::OneHour) && !info.cache_one_hour {
        return refuse("keeps cache points for 5 minutes only, not 1 hour");
    }
    if let Some(max) = n.inference.as_ref().and_then(|c| c.max_tokens)
        && max > info.max_output_tokens
    {
        return refuse(&format!(
            "writes at most {} tokens; max_tokens is {max}",
            info.max_output_tokens
        ));
    }
    Ok(())
}

/// A validation error about a model at its end of life, with its successor named.
pub fn name_successor(model: &str, error: BackendError) -> BackendError {
    let message = error.message().to_ascii_lowercase();
    let end_of_life = message.contains("end of its life") || message.contains("end of life");
    match (error.category(), model_info(model)) {
        (gamecode_backend::ErrorCategory::Validation, Some(info)) if end_of_life => {
            let instead = info
                .successor
                .map(|s| format!("; use {s} (through an inference profile, e.g. us.{s}) instead"))
                .unwrap_or_default();
            BackendError::validation(format!(
                "{} ({}) has reached its end of life on Bedrock{instead}. Bedrock said: {}",
                info.name,
                info.id,
                error.message()
            ))
        }
        _ => error,
    }
}

/// Every catalogued model id.
pub fn catalogued() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|e| e.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_arns_find_their_model_whatever_the_geography() {
        for id in [
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "apac.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            let info = model_info(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(info.name, "Claude Sonnet 4.5");
            assert!(info.cache_one_hour);
        }
        assert!(model_info("amazon.nova-pro-v1:0").is_none());
        let haiku = model_info("anthropic.claude-3-5-haiku-20241022-v1:0").unwrap();
        assert!(!haiku.images && haiku.caching == Some(2048));
        assert_eq!(
            model_info("anthropic.claude-3-sonnet-20240229-v1:0")
                .unwrap()
                .successor
                .as_deref(),
            Some(SONNET_4_5)
        );
        // The seed's five are all catalogued.
        for seed in crate::SUPPORTED_MODELS {
            assert!(model_info(seed).is_some(), "{seed}");
        }
    }
}
