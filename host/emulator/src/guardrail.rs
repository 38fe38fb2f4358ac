//! Guardrails: a request naming a guardrail is checked against the emulator's configured
//! trigger words (its stand-in for a guardrail's word policy). A match in the user's last
//! message blocks the call as Bedrock does — stop reason `guardrail_intervened`, the
//! guardrail's blocked message instead of an answer — and, with trace on, the response
//! carries the assessment.

use serde_json::{Value, json};

use crate::script::last_user_text;
use crate::shape::Invalid;

/// The blocked-input message of a guardrail that was not given one of its own.
pub(crate) const BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

fn config(body: &Value) -> Option<&Value> {
    body.get("guardrailConfig").filter(|g| !g.is_null())
}

/// Checks the guardrail configuration's shape as Bedrock does.
pub(crate) fn check(body: &Value) -> Result<(), Invalid> {
    let Some(g) = config(body) else {
        return Ok(());
    };
    let id = g
        .get("guardrailIdentifier")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = g
        .get("guardrailVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if id.is_empty() {
        return Err(Invalid(
            "The guardrail identifier must not be empty.".into(),
        ));
    }
    if version != "DRAFT" && (version.is_empty() || !version.chars().all(|c| c.is_ascii_digit())) {
        return Err(Invalid(format!(
            "1 validation error detected: Value '{version}' at 'guardrailConfig.guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (([1-9][0-9]{{0,7}})|(DRAFT))"
        )));
    }
    Ok(())
}

/// What a guardrail decided about a request, when one was named.
pub(crate) struct Verdict {
    /// The trigger word found in the input, if any (the call is then blocked).
    pub(crate) blocked_by: Option<String>,
    /// The response's `trace` field, when the request asked for one.
    pub(crate) trace: Option<Value>,
}

/// Applies the guardrail (if the request names one) with `words` as its word policy.
pub(crate) fn assess(words: &[String], body: &Value) -> Option<Verdict> {
    let g = config(body)?;
    let id = g
        .get("guardrailIdentifier")
        .and_then(Value::as_str)
        .unwrap_or("");
    let input = last_user_text(body).to_lowercase();
    let blocked_by = words
        .iter()
        .find(|w| !w.is_empty() && input.contains(&w.to_lowercase()))
        .cloned();
    let traced = g
        .get("trace")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "enabled_full");
    let trace = traced.then(|| {
        let words: Vec<Value> = blocked_by
            .iter()
            .map(|w| json!({"match": w, "action": "BLOCKED", "detected": true}))
            .collect();
        let assessment = if words.is_empty() {
            json!({})
        } else {
            json!({"wordPolicy": {"customWords": words, "managedWordLists": []}})
        };
        let mut guardrail = json!({ "inputAssessment": { id: assessment } });
        if blocked_by.is_some() {
            guardrail["modelOutput"] = json!([BLOCKED_MESSAGE]);
            guardrail["actionReason"] = json!("Guardrail blocked.");
        }
        json!({ "guardrail": guardrail })
    });
    Some(Verdict { blocked_by, trace })
}
