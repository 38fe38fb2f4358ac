//! Prompt caching as Bedrock does it: a cache point marks a prefix of the prompt (tools, then
//! system, then messages, in that order); a later call to the same model with the same prefix
//! within its TTL reads it from the cache (refreshing the TTL), otherwise it is written. A
//! prefix shorter than the model's minimum is not cached at all. Usage reports the reads and
//! writes apart from the (uncached) input tokens.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::responder::tokens;

/// The smallest prefix, in tokens, a model caches: 4,096 for Claude Haiku 4.5 and Opus 4.5,
/// 2,048 for Claude 3.5 Haiku and Sonnet 4.6, 1,024 for the others.
pub(crate) fn minimum_tokens(model_id: &str) -> u64 {
    match bedrock_models::find(model_id) {
        // The catalogue's minimum; a model without prompt caching never caches.
        Some(m) => m.cache_min.map_or(u64::MAX, u64::from),
        // Unknown models: Bedrock's smallest minimum.
        None => 1024,
    }
}

/// One cache point: the hash of the prompt before it, its size and TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    prefix: u64,
    tokens: u64,
    ttl: Duration,
}

fn ttl_of(point: &Value) -> Duration {
    match point.get("ttl").and_then(Value::as_str) {
        Some("1h") => Duration::from_secs(3600),
        _ => Duration::from_secs(300),
    }
}

/// The request's cache points in prompt order, each with the prefix before it.
fn checkpoints(body: &Value) -> Vec<Checkpoint> {
    // The same measure as the request's input tokens (`responder::prompt_units`), so that
    // input + cache read + cache write is the uncached count exactly.
    let mut hasher = DefaultHasher::new();
    let mut chars = 0usize;
    let mut out = Vec::new();
    for unit in crate::responder::prompt_units(body) {
        match unit.cache_point {
            Some(point) => out.push(Checkpoint {
                prefix: hasher.finish(),
                tokens: tokens(chars),
                ttl: ttl_of(point),
            }),
            None => {
                unit.value.to_string().hash(&mut hasher);
                chars += unit.chars;
            }
        }
    }
    out
}

/// What is cached, per model and prefix, until when.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    entries: HashMap<(String, u64), Instant>,
}

/// Input tokens read from and written to the cache by one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CacheUsage {
    pub(crate) read: u64,
    pub(crate) write: u64,
}

impl PromptCache {
    /// Accounts for one call of `model_id` with `body` at `now`.
    pub(crate) fn account(&mut self, model_id: &str, body: &Value, now: Instant) -> CacheUsage {
        self.entries.retain(|_, expires| *expires > now);
        let minimum = minimum_tokens(model_id);
        // The longest cached prefix is read; everything after it, up to the last cache
        // point, is written (however many new points divide it).
        let mut usage = CacheUsage::default();
        for cp in checkpoints(body)
            .into_iter()
            .filter(|cp| cp.tokens >= minimum)
        {
            let key = (model_id.to_string(), cp.prefix);
            if self.entries.contains_key(&key) {
                usage.read = cp.tokens;
                usage.write = 0;
            } else {
                usage.write = cp.tokens.saturating_sub(usage.read);
            }
            self.entries.insert(key, now + cp.ttl);
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(system: &str, question: &str) -> Value {
        json!({
            "system": [{"text": system}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": question}]}]
        })
    }

    #[test]
    fn writes_then_reads_within_the_ttl_and_ignores_short_prefixes() {
        let mut cache = PromptCache::default();
        let long = "You are a careful assistant. ".repeat(200);
        let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let t0 = Instant::now();
        let first = cache.account(model, &body(&long, "q1"), t0);
        assert!(first.write >= 1024 && first.read == 0, "{first:?}");
        let second = cache.account(model, &body(&long, "q2"), t0 + Duration::from_secs(60));
        assert_eq!((second.read, second.write), (first.write, 0));
        // Another model has its own cache; past the TTL it is written again.
        let other = cache.account(
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
            &body(&long, "q"),
            t0,
        );
        assert_eq!(other.read, 0);
        let later = cache.account(model, &body(&long, "q3"), t0 + Duration::from_secs(400));
        assert_eq!((later.read, later.write), (0, first.write));
        // Two new points in one request: everything up to the last one is written.
        let mut two = body(&long, "q4");
        two["messages"][0]["content"]
            .as_array_mut()
            .expect("content")
            .push(json!({"cachePoint": {"type": "default"}}));
        let fresh = PromptCache::default().account(model, &two, t0);
        let whole = checkpoints(&two).last().expect("points").tokens;
        assert_eq!((fresh.read, fresh.write), (0, whole));
        // Below the model's minimum nothing is cached.
        let short = cache.account(model, &body("be brief", "q"), t0);
        assert_eq!(short, CacheUsage::default());
        assert_eq!(minimum_tokens("us.anthropic.claude-sonnet-4-6"), 2048);
        assert_eq!(
            minimum_tokens("global.anthropic.claude-haiku-4-5-20251001-v1:0"),
            4096
        );
    }
}
