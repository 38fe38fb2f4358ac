//! ConverseStream encoding: an answer as `application/vnd.amazon.eventstream` frames.
//!
//! Streaming clients break on details — the event order, text blocks without a
//! contentBlockStart, empty deltas, tool input arriving as JSON fragments, the random `"p"`
//! padding field, exceptions arriving as frames after a 200 — so the emulator reproduces the
//! sequence real Bedrock sends: messageStart → (contentBlockDelta… → contentBlockStop) per
//! text block, contentBlockStart → contentBlockDelta… → contentBlockStop per toolUse block →
//! messageStop → metadata.

use crate::responder::Answer;
use crate::wire::usage;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Value, json};

/// The content type of a ConverseStream response.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Characters per text delta.
const TEXT_CHUNK: usize = 24;
/// Characters per toolUse input fragment.
const JSON_CHUNK: usize = 16;

fn encode(headers: Vec<Header>, payload: Vec<u8>) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    match write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        // Only oversized payloads fail to encode; send a stream error instead of panicking.
        Err(_) => exception_frame(
            "internalServerException",
            "The event was too large to encode.",
        ),
    }
}

/// One event frame; `p` pads the payload like real Bedrock does.
fn event_frame(event_type: &'static str, mut payload: Value, index: usize) -> Bytes {
    let pad_len = 1 + (index * 7 + 3) % PADDING.len();
    if let Some(obj) = payload.as_object_mut() {
        obj.insert(
            "p".to_string(),
            Value::String(PADDING[..pad_len].to_string()),
        );
    }
    encode(
        vec![
            Header::new(":event-type", HeaderValue::String(event_type.into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        payload.to_string().into_bytes(),
    )
}

/// A recorded event frame, its body as it was received (padding included).
pub(crate) fn recorded_frame(event_type: &str, body: &Value) -> Bytes {
    encode(
        vec![
            Header::new(
                ":event-type",
                HeaderValue::String(event_type.to_string().into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        body.to_string().into_bytes(),
    )
}

/// An exception frame (`:message-type: exception`); the type's first letter is lower-cased
/// as on the wire (`throttlingException`).
pub(crate) fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    let mut chars = exception_type.chars();
    let wire_type: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "modelStreamErrorException".to_string(),
    };
    let wire_type = wire_type.split(':').next().unwrap_or_default().to_string();
    let message = Message::new_from_parts(
        vec![
            Header::new(":exception-type", HeaderValue::String(wire_type.into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("exception".into())),
        ],
        json!({ "message": message }).to_string().into_bytes(),
    );
    let mut out = Vec::new();
    // A small fixed message always encodes; an empty frame is the fallback, never a panic.
    let _ = write_message_to(&message, &mut out);
    Bytes::from(out)
}

/// A frame whose message CRC is wrong, for malformed-body faults.
pub(crate) fn corrupt_frame() -> Bytes {
    let mut frame = event_frame("messageStart", json!({ "role": "assistant" }), 0).to_vec();
    if let Some(last) = frame.last_mut() {
        *last ^= 0xff;
    }
    Bytes::from(frame)
}

fn chunks(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// All event frames of an answer, in Bedrock's order.
pub(crate) fn answer_frames(answer: &Answer, latency_ms: u64) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut n = 0;
    let mut push = |frames: &mut Vec<Bytes>, event_type: &'static str, payload: Value| {
        frames.push(event_frame(event_type, payload, n));
        n += 1;
    };
    push(&mut frames, "messageStart", json!({ "role": "assistant" }));
    let mut index = 0usize;
    for block in &answer.content {
        if let Some(text) = block.get("text").and_then(Value::as_str) {
            // Real streams open text blocks with an empty delta.
            let mut pieces = vec![String::new()];
            pieces.extend(chunks(text, TEXT_CHUNK));
            for piece in pieces {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "text": piece } }),
                );
            }
        } else if let Some(tu) = block.get("toolUse") {
            let id = tu.get("toolUseId").cloned().unwrap_or(Value::Null);
            let name = tu.get("name").cloned().unwrap_or(Value::Null);
            push(
                &mut frames,
                "contentBlockStart",
                json!({ "contentBlockIndex": index,
                        "start": { "toolUse": { "toolUseId": id, "name": name } } }),
            );
            let input = tu
                .get("input")
                .cloned()
                .unwrap_or_else(|| json!({}))
                .to_string();
            for piece in chunks(&input, JSON_CHUNK) {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": piece } } }),
                );
            }
        } else if let Some(reasoning) = block
            .get("reasoningContent")
            .and_then(|r| r.get("reasoningText"))
        {
            let text = reasoning.get("text").and_then(Value::as_str).unwrap_or("");
            for piece in chunks(text, TEXT_CHUNK) {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "reasoningContent": { "text": piece } } }),
                );
            }
            if let Some(sig) = reasoning.get("signature").and_then(Value::as_str) {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "reasoningContent": { "signature": sig } } }),
                );
            }
        } else if let Some(cited) = block.get("citationsContent") {
            // The text as text deltas, then one citation delta per citation, in one block.
            let text: String = cited
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|g| g.get("text").and_then(Value::as_str))
                .collect();
            for piece in chunks(&text, TEXT_CHUNK) {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "text": piece } }),
                );
            }
            for citation in cited
                .get("citations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push(
                    &mut frames,
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "citation": citation } }),
                );
            }
        } else {
            // Other block kinds have no streaming form here.
            continue;
        }
        push(
            &mut frames,
            "contentBlockStop",
            json!({ "contentBlockIndex": index }),
        );
        index += 1;
    }
    push(
        &mut frames,
        "messageStop",
        json!({ "stopReason": answer.stop_reason }),
    );
    push(
        &mut frames,
        "metadata",
        json!({ "usage": usage(answer), "metrics": { "latencyMs": latency_ms } }),
    );
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn decode(frames: &[Bytes]) -> Vec<(String, Value)> {
        frames
            .iter()
            .map(|f| {
                let m = read_message_from(&mut f.clone()).unwrap();
                let kind = m
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == ":event-type")
                    .and_then(|h| h.value().as_string().ok())
                    .map(|s| s.as_str().to_string())
                    .unwrap();
                (kind, serde_json::from_slice(m.payload()).unwrap())
            })
            .collect()
    }

    #[test]
    fn frames_follow_bedrock_order() {
        let answer = Answer {
            content: vec![
                json!({"text": "I'll use the get_weather tool now, hold on."}),
                json!({"toolUse": {"toolUseId": "tooluse_x", "name": "get_weather", "input": {"city": "Tokyo", "unit": "celsius"}}}),
            ],
            stop_reason: "tool_use".into(),
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            extra: json!({}),
        };
        let events = decode(&answer_frames(&answer, 5));
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds[0], "messageStart");
        assert_eq!(kinds[1], "contentBlockDelta");
        assert_eq!(events[1].1["delta"]["text"], json!(""));
        let text: String = events
            .iter()
            .filter_map(|(_, v)| v["delta"]["text"].as_str().map(str::to_string))
            .collect();
        assert_eq!(text, "I'll use the get_weather tool now, hold on.");
        let start = kinds
            .iter()
            .position(|k| *k == "contentBlockStart")
            .unwrap();
        assert_eq!(kinds[start - 1], "contentBlockStop");
        assert_eq!(
            events[start].1["start"]["toolUse"]["name"],
            json!("get_weather")
        );
        assert_eq!(events[start].1["contentBlockIndex"], json!(1));
        let input: String = events
            .iter()
            .filter_map(|(_, v)| v["delta"]["toolUse"]["input"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&input).unwrap(),
            json!({"city": "Tokyo", "unit": "celsius"})
        );
        assert_eq!(kinds[kinds.len() - 3], "contentBlockStop");
        assert_eq!(kinds[kinds.len() - 2], "messageStop");
        assert_eq!(events[kinds.len() - 2].1["stopReason"], json!("tool_use"));
        assert_eq!(kinds[kinds.len() - 1], "metadata");
        assert_eq!(events[kinds.len() - 1].1["usage"]["totalTokens"], json!(30));
        assert!(events.iter().all(|(_, v)| v["p"].is_string()));
    }

    #[test]
    fn exception_and_corrupt_frames() {
        let f = exception_frame("ModelStreamErrorException", "boom");
        let m = read_message_from(&mut f.clone()).unwrap();
        let t = m
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":exception-type")
            .unwrap();
        assert_eq!(
            t.value().as_string().unwrap().as_str(),
            "modelStreamErrorException"
        );
        assert!(read_message_from(&mut corrupt_frame()).is_err());
    }
}
