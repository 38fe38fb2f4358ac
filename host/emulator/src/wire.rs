//! HTTP response encoding: Converse output JSON, rest-json errors, and response bodies that
//! can be delayed, cut short or failed on purpose.
//!
//! Kept apart from the request pipeline so the exact wire shapes the SDK parses (header names,
//! the `{"message": …}` error body, the Converse output document) live in one place.

use crate::responder::Answer;
use bytes::Bytes;
use futures::stream;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;

/// An intentional body failure (truncation faults); hyper then aborts the connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BodyError(pub(crate) &'static str);

/// The response body type of every answer.
pub(crate) type Body = BoxBody<Bytes, BodyError>;

/// One step of a scripted response body.
pub(crate) enum Step {
    /// Send these bytes.
    Data(Bytes),
    /// Go quiet for a while (stalls; letting partial data flush before a failure).
    Sleep(Duration),
    /// Fail the body: the connection is closed mid-response.
    Fail,
}

/// A body that is sent all at once.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Called with each data step's index (0, 1, ...) just before it is handed to the connection.
pub(crate) type OnData = Box<dyn FnMut(usize) + Send + Sync>;

/// A body that plays `steps` in order.
pub(crate) fn scripted(steps: Vec<Step>) -> Body {
    scripted_with(steps, None)
}

/// Like [`scripted`], calling `on_data` as each data step is sent.
pub(crate) fn scripted_with(steps: Vec<Step>, on_data: Option<OnData>) -> Body {
    let steps: VecDeque<Step> = steps.into();
    let s = stream::unfold(
        (steps, on_data, 0usize),
        |(mut steps, mut on_data, mut sent)| async move {
            loop {
                match steps.pop_front()? {
                    Step::Data(b) => {
                        if let Some(hook) = on_data.as_mut() {
                            hook(sent);
                        }
                        sent += 1;
                        return Some((Ok(Frame::data(b)), (steps, on_data, sent)));
                    }
                    Step::Sleep(d) => tokio::time::sleep(d).await,
                    Step::Fail => {
                        return Some((
                            Err(BodyError("response deliberately truncated")),
                            (steps, on_data, sent),
                        ));
                    }
                }
            }
        },
    );
    BodyExt::boxed(StreamBody::new(s))
}

/// The common response headers (`x-amzn-requestid`, a content type).
pub(crate) fn response(
    status: u16,
    content_type: &str,
    request_id: &str,
    body: Body,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    r
}

/// A rest-json modelled error: status, `x-amzn-errortype`, body `{"message": …}`, and an
/// optional `Retry-After` (whole seconds, rounded up).
pub(crate) fn error_response(
    status: u16,
    error_type: &str,
    message: &str,
    request_id: &str,
    retry_after: Option<Duration>,
) -> Response<Body> {
    let body = json!({ "message": message }).to_string();
    let mut r = response(status, "application/json", request_id, full(body));
    if let Ok(v) = HeaderValue::from_str(error_type) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    if let Some(d) = retry_after {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// An unmodelled status page (no `x-amzn-errortype`), e.g. a proxy's 502.
pub(crate) fn status_page(status: u16, body: &str, request_id: &str) -> Response<Body> {
    let content_type = if body.trim_start().starts_with('<') {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    response(status, content_type, request_id, full(body.to_string()))
}

/// The Converse output document for an answer.
pub(crate) fn converse_output(answer: &Answer, latency_ms: u64) -> Value {
    let mut out = json!({
        "output": { "message": { "role": "assistant", "content": answer.content } },
        "stopReason": answer.stop_reason,
        "usage": usage(answer),
        "metrics": { "latencyMs": latency_ms }
    });
    // Echoes of the request's service tier and performance configuration, and the
    // model-specific fields it asked for.
    if let (Some(out), Some(extra)) = (out.as_object_mut(), answer.extra.as_object()) {
        out.extend(extra.clone());
    }
    out
}

/// The `usage` object of an answer.
pub(crate) fn usage(answer: &Answer) -> Value {
    let mut usage = json!({
        "inputTokens": answer.input_tokens,
        "outputTokens": answer.output_tokens,
        "totalTokens": answer.input_tokens
            + answer.output_tokens
            + answer.cache_read_tokens
            + answer.cache_write_tokens
    });
    // Bedrock includes the cache fields only for calls that used the cache.
    if answer.cache_read_tokens + answer.cache_write_tokens > 0 {
        usage["cacheReadInputTokens"] = json!(answer.cache_read_tokens);
        usage["cacheWriteInputTokens"] = json!(answer.cache_write_tokens);
    }
    usage
}

/// A 200 with a JSON body.
pub(crate) fn json_response(body: &Value, request_id: &str) -> Response<Body> {
    response(200, "application/json", request_id, full(body.to_string()))
}

/// A 200 Converse answer.
pub(crate) fn converse_response(
    answer: &Answer,
    latency_ms: u64,
    request_id: &str,
) -> Response<Body> {
    let body = converse_output(answer, latency_ms).to_string();
    response(200, "application/json", request_id, full(body))
}

/// A 200 whose `Content-Length` promises all of `bytes` but whose body stops halfway and
/// then fails, so the client sees a truncated body and a closed connection.
pub(crate) fn truncated_response(
    content_type: &str,
    bytes: Bytes,
    request_id: &str,
) -> Response<Body> {
    let cut = bytes.len() / 2;
    let steps = vec![
        Step::Data(bytes.slice(..cut)),
        Step::Sleep(Duration::from_millis(50)),
        Step::Fail,
    ];
    let mut r = response(200, content_type, request_id, scripted(steps));
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    r
}

/// The body sent for [`Fault::MalformedBody`](crate::Fault::MalformedBody) on Converse.
pub(crate) const MALFORMED_JSON: &str =
    r#"{"output":{"message":{"role":"assistant","content":[{"text":"this body is not valid JSON"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_carry_type_message_and_retry_after() {
        let r = error_response(
            429,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "slow down",
            "rid",
            Some(Duration::from_millis(1500)),
        );
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-amzn-requestid"], "rid");
        assert!(
            r.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .starts_with("ThrottlingException")
        );
    }

    #[test]
    fn malformed_json_is_really_malformed() {
        assert!(serde_json::from_str::<Value>(MALFORMED_JSON).is_err());
    }

    #[test]
    fn status_pages_guess_their_content_type() {
        let r = status_page(502, "<html>Bad Gateway</html>", "rid");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert!(r.headers().get("x-amzn-errortype").is_none());
        let r = status_page(502, "Bad Gateway", "rid");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    }
}
