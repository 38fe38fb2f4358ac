//! Bedrock's control plane (service `bedrock`, rest-json) for the models the emulator serves:
//! `ListFoundationModels`, `GetFoundationModel`, `ListInferenceProfiles` and
//! `GetInferenceProfile`, from the shared catalogue (`bedrock-models`), on the same port and
//! under the same SigV4 service name as the runtime. Shapes follow botocore's
//! `bedrock/2023-04-20/service-2.json`; a model past its end of life is not listed, as on
//! Bedrock.

use bedrock_models::{MODELS, Model, find, geography_for_region, today};
use gamecode_backend::LifecycleStage;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

/// The account the emulator's inference-profile ARNs belong to.
pub const ACCOUNT_ID: &str = "123456789012";

/// A control-plane operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    ListFoundationModels,
    GetFoundationModel(String),
    ListInferenceProfiles,
    GetInferenceProfile(String),
}

/// Routes `GET /foundation-models[/{id}]` and `GET /inference-profiles[/{id}]`.
pub(crate) fn route(method: &http::Method, path: &str) -> Option<Control> {
    if method != http::Method::GET {
        return None;
    }
    let decode = |raw: &str| {
        percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    match path {
        "/foundation-models" => Some(Control::ListFoundationModels),
        "/inference-profiles" => Some(Control::ListInferenceProfiles),
        _ => {
            if let Some(raw) = path.strip_prefix("/foundation-models/") {
                decode(raw).map(Control::GetFoundationModel)
            } else if let Some(raw) = path.strip_prefix("/inference-profiles/") {
                decode(raw).map(Control::GetInferenceProfile)
            } else {
                None
            }
        }
    }
}

/// An answer: a status, and a body or Bedrock's error (type, message).
pub(crate) enum Answer {
    Ok(Value),
    Error(u16, &'static str, String),
}

/// Answers `op` for `region`, with the request's query string.
pub(crate) fn answer(op: &Control, query: Option<&str>, region: &str) -> Answer {
    let params: Vec<(String, String)> = query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let d = |s: &str| {
                        percent_decode_str(&s.replace('+', " "))
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (d(k), d(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let today = today();
    let listed = || {
        MODELS
            .iter()
            .filter(|m| m.stage(&today) != LifecycleStage::EndOfLife)
    };
    match op {
        Control::ListFoundationModels => {
            if let Some(bad) =
                param("byInferenceType").filter(|t| !["ON_DEMAND", "PROVISIONED"].contains(t))
            {
                return enum_error(bad, "byInferenceType", "[ON_DEMAND, PROVISIONED]");
            }
            if let Some(bad) =
                param("byOutputModality").filter(|t| !["TEXT", "IMAGE", "EMBEDDING"].contains(t))
            {
                return enum_error(bad, "byOutputModality", "[TEXT, IMAGE, EMBEDDING]");
            }
            let provider = param("byProvider").map(str::to_ascii_lowercase);
            let summaries: Vec<Value> = listed()
                .filter(|_| provider.as_deref().is_none_or(|p| p == "anthropic"))
                .filter(|_| param("byCustomizationType").is_none())
                .filter(|_| param("byOutputModality").is_none_or(|m| m == "TEXT"))
                .filter(|m| match param("byInferenceType") {
                    Some("ON_DEMAND") => m.on_demand,
                    Some(_) => false,
                    None => true,
                })
                .map(|m| summary(m, region))
                .collect();
            Answer::Ok(json!({ "modelSummaries": summaries }))
        }
        Control::GetFoundationModel(id) => {
            let id = id.rsplit('/').next().unwrap_or(id);
            match listed().find(|m| m.id == id) {
                Some(m) => Answer::Ok(json!({ "modelDetails": summary(m, region) })),
                None => Answer::Error(
                    404,
                    "ResourceNotFoundException",
                    "Could not resolve the foundation model from the provided model identifier."
                        .to_string(),
                ),
            }
        }
        Control::ListInferenceProfiles => {
            if param("type").is_some_and(|t| !["SYSTEM_DEFINED", "APPLICATION"].contains(&t)) {
                return enum_error(
                    param("type").unwrap_or(""),
                    "typeEquals",
                    "[SYSTEM_DEFINED, APPLICATION]",
                );
            }
            let max = match param("maxResults").map(str::parse::<usize>) {
                None => 1000,
                Some(Ok(n)) if (1..=1000).contains(&n) => n,
                Some(_) => {
                    return Answer::Error(
                        400,
                        "ValidationException",
                        format!(
                            "1 validation error detected: Value '{}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
                            param("maxResults").unwrap_or("")
                        ),
                    );
                }
            };
            let start = match param("nextToken") {
                None => 0,
                Some(t) => match t.strip_prefix("emu-").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => {
                        return Answer::Error(
                            400,
                            "ValidationException",
                            "The pagination token is invalid.".to_string(),
                        );
                    }
                },
            };
            let all: Vec<Value> = if param("type") == Some("APPLICATION") {
                Vec::new()
            } else {
                listed().flat_map(|m| profiles(m, region)).collect()
            };
            let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
            let mut body = json!({ "inferenceProfileSummaries": page });
            if start + max < all.len() {
                body["nextToken"] = json!(format!("emu-{}", start + max));
            }
            Answer::Ok(body)
        }
        Control::GetInferenceProfile(id) => {
            let id = id.rsplit('/').next().unwrap_or(id);
            let found = find(id)
                .filter(|m| m.stage(&today) != LifecycleStage::EndOfLife)
                .into_iter()
                .flat_map(|m| profiles(m, region))
                .find(|p| p["inferenceProfileId"] == id);
            match found {
                Some(p) => Answer::Ok(p),
                None => Answer::Error(
                    404,
                    "ResourceNotFoundException",
                    format!("Inference profile {id} does not exist."),
                ),
            }
        }
    }
}

fn enum_error(value: &str, member: &str, set: &str) -> Answer {
    Answer::Error(
        400,
        "ValidationException",
        format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: {set}"
        ),
    )
}

fn timestamp(date: &str) -> String {
    format!("{date}T00:00:00Z")
}

/// A `FoundationModelSummary` (the same shape as `FoundationModelDetails`).
fn summary(m: &Model, region: &str) -> Value {
    let today = today();
    let mut lifecycle = json!({
        "status": if m.stage(&today) == LifecycleStage::Legacy { "LEGACY" } else { "ACTIVE" },
    });
    for (key, date) in [
        ("startOfLifeTime", m.launched),
        ("legacyTime", m.legacy),
        ("endOfLifeTime", m.end_of_life),
    ] {
        if let Some(date) = date {
            lifecycle[key] = json!(timestamp(date));
        }
    }
    let inputs: &[&str] = if m.images {
        &["TEXT", "IMAGE"]
    } else {
        &["TEXT"]
    };
    json!({
        "modelArn": format!("arn:aws:bedrock:{region}::foundation-model/{}", m.id),
        "modelId": m.id,
        "modelName": m.name,
        "providerName": "Anthropic",
        "inputModalities": inputs,
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": [],
        // What the live service answers for profile-only models (not in botocore's enum).
        "inferenceTypesSupported": [if m.on_demand { "ON_DEMAND" } else { "INFERENCE_PROFILE" }],
        "modelLifecycle": lifecycle,
    })
}

/// The regions a geography's profile routes to.
fn destinations(geo: &str, region: &str) -> Vec<String> {
    let regions: &[&str] = match geo {
        "us" => &["us-east-1", "us-east-2", "us-west-2"],
        "eu" => &["eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"],
        "jp" => &["ap-northeast-1", "ap-northeast-3"],
        "au" => &["ap-southeast-2", "ap-southeast-4"],
        "apac" => &[
            "ap-northeast-2",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
        ],
        _ => &[],
    };
    if regions.is_empty() {
        vec![region.to_string()]
    } else {
        regions.iter().map(|r| r.to_string()).collect()
    }
}

/// The system-defined profiles of `m` that `region` serves: its geography's and the global
/// one.
fn profiles(m: &'static Model, region: &str) -> impl Iterator<Item = Value> {
    let here = geography_for_region(region);
    let region = region.to_string();
    m.profiles
        .iter()
        .filter(move |g| **g == here || **g == "global")
        .map(move |g| {
            let id = format!("{g}.{}", m.id);
            let label = match *g {
                "global" => "Global".to_string(),
                other => other.to_ascii_uppercase(),
            };
            let since = timestamp(m.launched.unwrap_or("2025-01-01"));
            let models: Vec<Value> = destinations(g, &region)
                .iter()
                .map(|r| json!({ "modelArn": format!("arn:aws:bedrock:{r}::foundation-model/{}", m.id) }))
                .collect();
            json!({
                "inferenceProfileName": format!("{label} Anthropic {}", m.name),
                "description": format!("Routes requests to Anthropic {} in {}.", m.name,
                    if *g == "global" { "commercial AWS Regions".to_string() } else { label.clone() }),
                "createdAt": since,
                "updatedAt": since,
                "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{id}"),
                "models": models,
                "inferenceProfileId": id,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn ok(a: Answer) -> Value {
        match a {
            Answer::Ok(v) => v,
            Answer::Error(s, t, m) => panic!("{s} {t}: {m}"),
        }
    }

    #[test]
    fn lists_current_models_and_the_regions_profiles() {
        let list = ok(answer(&Control::ListFoundationModels, None, "us-east-1"));
        let ids: Vec<&str> = list["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["modelId"].as_str())
            .collect();
        assert!(ids.contains(&"anthropic.claude-sonnet-4-6"));
        assert!(
            !ids.contains(&"anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "EOL is not listed"
        );
        let profiles = ok(answer(
            &Control::ListInferenceProfiles,
            Some("maxResults=2"),
            "us-east-1",
        ));
        assert_eq!(
            profiles["inferenceProfileSummaries"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(profiles["nextToken"], "emu-2");
        let all = ok(answer(&Control::ListInferenceProfiles, None, "us-east-1"));
        let ids: Vec<&str> = all["inferenceProfileSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["inferenceProfileId"].as_str())
            .collect();
        assert!(ids.contains(&"us.anthropic.claude-sonnet-4-6"));
        assert!(ids.contains(&"global.anthropic.claude-sonnet-4-6"));
        assert!(!ids.iter().any(|i| i.starts_with("eu.")));
        assert_eq!(
            route(
                &Method::GET,
                "/foundation-models/anthropic.claude-3-haiku-20240307-v1%3A0"
            ),
            Some(Control::GetFoundationModel(
                "anthropic.claude-3-haiku-20240307-v1:0".into()
            ))
        );
        assert!(matches!(
            answer(
                &Control::GetFoundationModel("anthropic.claude-3-haiku-20240307-v1:0".into()),
                None,
                "us-east-1"
            ),
            Answer::Error(404, ..)
        ));
        assert!(matches!(
            answer(
                &Control::ListFoundationModels,
                Some("byInferenceType=SOMETIMES"),
                "us-east-1"
            ),
            Answer::Error(400, ..)
        ));
    }
}
