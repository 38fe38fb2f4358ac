//! Claude on Amazon Bedrock: which model ids exist, where each is in its lifecycle, what it
//! takes, and the request rules Bedrock enforces for it — one table read by the gamecode
//! backend (to refuse early, with the rule named) and by the emulator (to refuse exactly as
//! Bedrock does).
//!
//! Facts carry their source (see [`Model::source`]); ids that only other projects' code
//! vouches for are marked unverified. An account's live list (`ListFoundationModels`) is the
//! authority on what it can call; this table is the fallback and the source of what Bedrock
//! does not list: reasoning kind, effort levels, cache minimum, sampling and prefill rules.

mod date;
mod rules;
mod table;

pub use date::today;
pub use rules::{Ask, Refusal, Rule, Thinking, check, check_body, check_id};
pub use table::{MODELS, Model};

use gamecode_backend::{LifecycleStage, ModelInfo};

/// The model used when none is named: Claude Sonnet 4.6, ACTIVE with no end-of-life date,
/// through the US cross-region inference profile.
pub const DEFAULT_MODEL: &str = "us.anthropic.claude-sonnet-4-6";

/// The default for a region: the US profile in US regions, the global profile elsewhere
/// (Sonnet 4.6 has `us.` and `global.` profiles).
pub fn default_model_for_region(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if !r.starts_with("us-") => "global.anthropic.claude-sonnet-4-6",
        _ => DEFAULT_MODEL,
    }
}

/// The model id inside an id, inference-profile id or ARN (`us.anthropic.x` → `anthropic.x`).
pub fn base_model_id(model: &str) -> &str {
    let tail = model.rsplit('/').next().unwrap_or(model);
    match tail.find("anthropic.") {
        Some(at) => &tail[at..],
        None => tail,
    }
}

/// Whether `model` names the model itself (on-demand throughput), not an inference profile
/// or an ARN.
pub fn is_bare_id(model: &str) -> bool {
    !model.starts_with("arn:") && base_model_id(model) == model
}

/// The catalogued model `model` (an id, inference profile or ARN) reaches.
pub fn find(model: &str) -> Option<&'static Model> {
    let base = base_model_id(model);
    MODELS.iter().find(|m| m.id == base)
}

/// The inference-profile geography for a region (`us-east-1` → `us`).
pub fn geography_for_region(region: &str) -> &'static str {
    match region.split('-').next().unwrap_or("") {
        "us" if region.starts_with("us-gov-") => "us-gov",
        "us" => "us",
        "eu" => "eu",
        "ap" if region == "ap-northeast-1" || region == "ap-northeast-3" => "jp",
        "ap" if region == "ap-southeast-2" || region == "ap-southeast-4" => "au",
        "ap" => "apac",
        "ca" => "ca",
        _ => "global",
    }
}

/// The profile to call `model` through from `region`: the region's geography if the model
/// has a profile there, else `global.`, else the first it has.
pub fn profile_for(model: &Model, region: Option<&str>) -> String {
    let want = region.map(geography_for_region).unwrap_or("us");
    let geo = [want, "global"]
        .into_iter()
        .find(|g| model.profiles.contains(g))
        .or_else(|| model.profiles.first().copied())
        .unwrap_or("us");
    format!("{geo}.{}", model.id)
}

/// What the backend knows of `model` on `today` (`YYYY-MM-DD`).
pub fn model_info(model: &str, today: &str) -> Option<ModelInfo> {
    find(model).map(|m| m.info(today))
}

impl Model {
    /// Its lifecycle stage on `today` (`YYYY-MM-DD`; dates compare as text).
    pub fn stage(&self, today: &str) -> LifecycleStage {
        let reached = |d: Option<&str>| d.is_some_and(|d| d <= today);
        if self.retired || reached(self.end_of_life) {
            LifecycleStage::EndOfLife
        } else if reached(self.legacy) {
            LifecycleStage::Legacy
        } else {
            LifecycleStage::Active
        }
    }

    /// The backend's view of it.
    pub fn info(&self, today: &str) -> ModelInfo {
        let mut info = ModelInfo::new(self.id, self.name);
        info.images = self.images;
        info.documents = true;
        info.reasoning = self.reasoning;
        info.caching = self.cache_min;
        info.cache_one_hour = self.cache_one_hour;
        info.context_window = self.context_window;
        info.max_output_tokens = self.max_output;
        info.profile_only = !self.on_demand;
        info.successor = self.successor.map(str::to_string);
        info.efforts = self.efforts.to_vec();
        info.sampling = self.sampling;
        info.prefill = self.prefill;
        info.thinking_with_forced_tool = self.thinking_with_forced_tool;
        info.lifecycle = self.stage(today);
        info.legacy_date = self.legacy.map(str::to_string);
        info.end_of_life_date = self.end_of_life.map(str::to_string);
        info
    }

    /// "Claude 3.7 Sonnet reached end of life on Bedrock on 2026-04-28; use
    /// us.anthropic.claude-sonnet-4-6" — for a model past its end of life.
    pub fn end_of_life_message(&self, region: Option<&str>) -> String {
        let when = match self.end_of_life {
            Some(date) => format!(" on {date}"),
            None => String::new(),
        };
        let instead = match self.successor.and_then(find) {
            Some(next) => format!("; use {}", profile_for(next, region)),
            None => String::new(),
        };
        format!(
            "{} ({}) reached end of life on Bedrock{when}{instead}",
            self.name, self.id
        )
    }

    /// "… is a legacy model: Bedrock stops serving it on …" — for a model in its legacy
    /// stage.
    pub fn legacy_message(&self, region: Option<&str>) -> String {
        let when = match self.end_of_life {
            Some(date) => format!("Bedrock stops serving it on {date}"),
            None => "Bedrock will stop serving it".to_string(),
        };
        let instead = match self.successor.and_then(find) {
            Some(next) => format!("; move to {}", profile_for(next, region)),
            None => String::new(),
        };
        format!(
            "{} ({}) is a legacy model: {when}, and accounts that have not called it for 30 \
             days are refused already{instead}",
            self.name, self.id
        )
    }
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
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert_eq!(find(id).map(|m| m.name), Some("Claude Sonnet 4.5"), "{id}");
        }
        assert!(find("amazon.nova-pro-v1:0").is_none());
        assert!(is_bare_id("anthropic.claude-sonnet-4-6"));
        assert!(!is_bare_id("us.anthropic.claude-sonnet-4-6"));
        assert!(!is_bare_id(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        ));
    }

    #[test]
    fn the_default_is_active_and_called_through_a_profile() {
        let today = today();
        for region in [
            None,
            Some("us-west-2"),
            Some("eu-west-1"),
            Some("ap-south-1"),
        ] {
            let id = default_model_for_region(region);
            let m = find(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(m.stage(&today), LifecycleStage::Active, "{id}");
            assert!(!is_bare_id(id) && m.profiles.iter().any(|g| id.starts_with(g)));
        }
    }

    #[test]
    fn lifecycle_follows_the_dates() {
        let sonnet_4 = find("anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert_eq!(sonnet_4.stage("2026-01-01"), LifecycleStage::Active);
        assert_eq!(sonnet_4.stage("2026-04-14"), LifecycleStage::Legacy);
        assert_eq!(sonnet_4.stage("2026-10-14"), LifecycleStage::EndOfLife);
        let sonnet_37 = find("us.anthropic.claude-3-7-sonnet-20250219-v1:0").unwrap();
        assert_eq!(
            sonnet_37.end_of_life_message(Some("us-east-1")),
            "Claude 3.7 Sonnet (anthropic.claude-3-7-sonnet-20250219-v1:0) reached end of life \
             on Bedrock on 2026-04-28; use us.anthropic.claude-sonnet-4-6"
        );
        assert!(
            sonnet_37
                .end_of_life_message(Some("sa-east-1"))
                .ends_with("use global.anthropic.claude-sonnet-4-6")
        );
    }

    #[test]
    fn every_successor_and_profile_is_sound() {
        let today = today();
        for m in MODELS {
            if let Some(next) = m.successor {
                let n = find(next).unwrap_or_else(|| panic!("{}: successor {next}", m.id));
                assert_eq!(n.stage(&today), LifecycleStage::Active, "{}", m.id);
            }
            if m.stage(&today) != LifecycleStage::EndOfLife {
                assert!(m.on_demand || !m.profiles.is_empty(), "{}", m.id);
            }
            assert!(!m.reasoning.adaptive() || !m.efforts.is_empty(), "{}", m.id);
            assert!(!m.source.is_empty(), "{}", m.id);
        }
    }

    #[test]
    fn geographies() {
        assert_eq!(geography_for_region("us-east-1"), "us");
        assert_eq!(geography_for_region("us-gov-west-1"), "us-gov");
        assert_eq!(geography_for_region("eu-central-1"), "eu");
        assert_eq!(geography_for_region("ap-northeast-1"), "jp");
        assert_eq!(geography_for_region("ap-southeast-2"), "au");
        assert_eq!(geography_for_region("ap-south-1"), "apac");
        assert_eq!(geography_for_region("sa-east-1"), "global");
    }
}
