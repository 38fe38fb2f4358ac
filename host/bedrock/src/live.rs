//! The account's live model list, from Bedrock's control plane (`ListFoundationModels`,
//! `ListInferenceProfiles`), merged with the built-in catalogue for what Bedrock does not
//! list (reasoning kind, effort levels, cache minimum, context, output). The live list is
//! the authority on what exists and its lifecycle; the catalogue fills in the rest.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_smithy_types::date_time::Format;
use gamecode_backend::{BackendError, LifecycleStage};
use serde::{Deserialize, Serialize};

use crate::classify::classify_sdk_error;

/// How long a region's list is reused before it is read again.
pub const CACHE_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// One foundation model as the account sees it, with the catalogue's facts where known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveModel {
    /// The model id (`anthropic.claude-sonnet-4-6`).
    pub id: String,
    pub name: String,
    pub provider: String,
    /// `ACTIVE`, `LEGACY`, or `END_OF_LIFE` (catalogued models Bedrock no longer lists).
    pub lifecycle: String,
    /// `YYYY-MM-DD`.
    pub legacy_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_of_life_date: Option<String>,
    /// Callable by its bare id.
    pub on_demand: bool,
    /// The system inference profiles of this region that reach it (`us.anthropic.…`).
    pub profiles: Vec<String>,
    /// How to call it: the id to pass as `--model`.
    pub call_as: Option<String>,
    pub images: bool,
    /// From the catalogue; `None` when the model is not catalogued.
    pub documents: Option<bool>,
    /// `none`, `budget`, `budget or adaptive`, `adaptive only` (catalogue).
    pub reasoning: Option<String>,
    /// Effort levels (catalogue).
    pub efforts: Vec<String>,
    /// Smallest cached prefix in tokens (catalogue).
    pub cache_min: Option<u32>,
    pub context_window: Option<u32>,
    pub max_output_tokens: Option<u32>,
    /// The catalogue's successor, for a legacy or ended model.
    pub successor: Option<String>,
}

impl LiveModel {
    /// A model as listed, before what the listing or the catalogue adds.
    fn listed(id: &str, name: &str, provider: &str, lifecycle: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            provider: provider.to_string(),
            lifecycle: lifecycle.to_string(),
            legacy_date: None,
            end_of_life_date: None,
            on_demand: false,
            profiles: Vec::new(),
            call_as: None,
            images: false,
            documents: None,
            reasoning: None,
            efforts: Vec::new(),
            cache_min: None,
            context_window: None,
            max_output_tokens: None,
            successor: None,
        }
    }
}

/// A region's models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCatalogue {
    pub region: String,
    /// When it was read (seconds since the epoch).
    pub fetched_at: u64,
    /// `live` (the account's list) or `built-in` (the catalogue alone).
    pub source: String,
    pub models: Vec<LiveModel>,
}

fn date(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
        .map(|s| s.chars().take(10).collect())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the region's models and profiles from the control plane (at `endpoint_url` when
/// given, as for the emulator).
pub async fn fetch(
    config: &SdkConfig,
    endpoint_url: Option<&str>,
) -> Result<LiveCatalogue, BackendError> {
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| BackendError::validation("no AWS region configured: use --region"))?;
    let mut builder = aws_sdk_bedrock::config::Builder::from(config);
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    let client = aws_sdk_bedrock::Client::from_conf(builder.build());
    let listed = client
        .list_foundation_models()
        .send()
        .await
        .map_err(|e| classify_sdk_error(&e))?;
    let mut profiles: Vec<(String, Vec<String>)> = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_inference_profiles()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify_sdk_error(&e))?;
        for p in page.inference_profile_summaries() {
            let arns = p
                .models()
                .iter()
                .filter_map(|m| m.model_arn())
                .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string())
                .collect();
            profiles.push((p.inference_profile_id().to_string(), arns));
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    let today = bedrock_models::today();
    let mut models: Vec<LiveModel> = listed
        .model_summaries()
        .iter()
        .map(|s| {
            let id = s.model_id().to_string();
            let lifecycle = s.model_lifecycle();
            let on_demand = s
                .inference_types_supported()
                .iter()
                .any(|t| t.as_str() == "ON_DEMAND");
            let reached: Vec<String> = profiles
                .iter()
                .filter(|(_, models)| models.contains(&id))
                .map(|(p, _)| p.clone())
                .collect();
            let mut m = LiveModel::listed(
                &id,
                s.model_name().unwrap_or(&id),
                s.provider_name().unwrap_or(""),
                &lifecycle
                    .map(|l| l.status().as_str().to_string())
                    .unwrap_or_else(|| "ACTIVE".into()),
            );
            m.legacy_date = date(lifecycle.and_then(|l| l.legacy_time()));
            m.end_of_life_date = date(lifecycle.and_then(|l| l.end_of_life_time()));
            m.on_demand = on_demand;
            m.images = s.input_modalities().iter().any(|m| m.as_str() == "IMAGE");
            m.profiles = reached;
            m.call_as = call_as(&m, &region);
            fill_from_catalogue(&mut m, &today);
            m
        })
        .collect();
    // Catalogued models the account no longer lists have ended.
    for c in bedrock_models::MODELS {
        if !models.iter().any(|m| m.id == c.id) && c.stage(&today) == LifecycleStage::EndOfLife {
            models.push(built_in(c, &region, &today));
        }
    }
    Ok(LiveCatalogue {
        region,
        fetched_at: now_secs(),
        source: "live".into(),
        models,
    })
}

/// The id to call a model by: its bare id on demand, else this region's profile (its own
/// geography first, then `global.`).
fn call_as(m: &LiveModel, region: &str) -> Option<String> {
    if m.on_demand {
        return Some(m.id.clone());
    }
    let here = format!("{}.", bedrock_models::geography_for_region(region));
    m.profiles
        .iter()
        .find(|p| p.starts_with(&here))
        .or_else(|| m.profiles.iter().find(|p| p.starts_with("global.")))
        .or_else(|| m.profiles.first())
        .cloned()
}

fn fill_from_catalogue(m: &mut LiveModel, today: &str) {
    if let Some(c) = bedrock_models::find(&m.id) {
        let info = c.info(today);
        m.documents = Some(info.documents);
        m.reasoning = Some(info.reasoning.describe().to_string());
        m.efforts = info
            .efforts
            .iter()
            .map(|e| e.as_str().to_string())
            .collect();
        m.cache_min = info.caching;
        m.context_window = Some(info.context_window);
        m.max_output_tokens = Some(info.max_output_tokens);
        m.successor = info.successor;
        if m.legacy_date.is_none() {
            m.legacy_date = info.legacy_date;
        }
        if m.end_of_life_date.is_none() {
            m.end_of_life_date = info.end_of_life_date;
        }
    }
}

fn built_in(c: &bedrock_models::Model, region: &str, today: &str) -> LiveModel {
    let stage = c.stage(today);
    let lifecycle = match stage {
        LifecycleStage::Active => "ACTIVE",
        LifecycleStage::Legacy => "LEGACY",
        LifecycleStage::EndOfLife => "END_OF_LIFE",
    };
    let mut m = LiveModel::listed(c.id, c.name, "Anthropic", lifecycle);
    m.on_demand = c.on_demand;
    m.profiles = c.profiles.iter().map(|g| format!("{g}.{}", c.id)).collect();
    m.images = c.images;
    if stage != LifecycleStage::EndOfLife {
        m.call_as = Some(if c.on_demand {
            c.id.to_string()
        } else {
            bedrock_models::profile_for(c, Some(region))
        });
    }
    fill_from_catalogue(&mut m, today);
    m
}

/// The built-in catalogue alone, as a region would list it (the fallback when the control
/// plane cannot be read).
pub fn built_in_catalogue(region: &str) -> LiveCatalogue {
    let today = bedrock_models::today();
    LiveCatalogue {
        region: region.to_string(),
        fetched_at: now_secs(),
        source: "built-in".into(),
        models: bedrock_models::MODELS
            .iter()
            .map(|c| built_in(c, region, &today))
            .collect(),
    }
}

/// Where a region's list is cached (`DIR/models-REGION.json`).
pub fn cache_path(dir: &Path, region: &str) -> PathBuf {
    let safe: String = region
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    dir.join(format!("models-{safe}.json"))
}

/// The cached list of a region, if it is younger than [`CACHE_FOR`].
pub fn read_cache(dir: &Path, region: &str) -> Option<LiveCatalogue> {
    let text = std::fs::read_to_string(cache_path(dir, region)).ok()?;
    let cached: LiveCatalogue = serde_json::from_str(&text).ok()?;
    (now_secs().saturating_sub(cached.fetched_at) < CACHE_FOR.as_secs()).then_some(cached)
}

/// Keeps a region's list for [`CACHE_FOR`] (written whole, then renamed into place).
pub fn write_cache(dir: &Path, catalogue: &LiveCatalogue) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = cache_path(dir, &catalogue.region);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(catalogue).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}
