//! Recording a backend's Bedrock traffic as a cassette (`gamecode run --record`), from inside
//! the SDK: an interceptor sees each HTTP attempt's request body as serialized (Converse
//! JSON, before it is signed: no headers, so no credentials, signatures or tokens) and its
//! answer — the response body, each ConverseStream event as it arrives, or the error — and
//! writes one cassette line per attempt. It works the same against Bedrock and the emulator.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use bytes::Bytes;
use gamecode_cassette::{Event, Exchange, Header, Operation, RecordedError, json_line, scrub};
use serde_json::Value;

/// Where a recording goes. Cheap to clone; clones write to the same cassette.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Sink>>,
}

struct Sink {
    out: Box<dyn Write + Send>,
    started: Instant,
    next: u32,
    /// The first write error: recording stops, the calls go on.
    failed: Option<String>,
}

/// Two recorders are equal when they write to the same cassette.
impl PartialEq for Recorder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// A recorder writing to `out`, starting with the cassette's header (`recorded_at` in
    /// RFC 3339).
    pub fn new(mut out: Box<dyn Write + Send>, recorded_at: &str) -> std::io::Result<Self> {
        writeln!(out, "{}", json_line(&Header::new(recorded_at)))?;
        out.flush()?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Sink {
                out,
                started: Instant::now(),
                next: 1,
                failed: None,
            })),
        })
    }

    /// A recorder writing a new cassette file (replacing one that is there).
    pub fn create(path: impl AsRef<std::path::Path>, recorded_at: &str) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Self::new(Box::new(std::io::BufWriter::new(file)), recorded_at)
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Sink> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why recording stopped, if it did (a write failed; the calls themselves went on).
    pub fn error(&self) -> Option<String> {
        self.sink().failed.clone()
    }

    fn begin(&self) -> (u32, u64) {
        let mut sink = self.sink();
        let n = sink.next;
        sink.next += 1;
        (n, millis(sink.started.elapsed()))
    }

    fn write(&self, exchange: &Exchange) {
        let mut sink = self.sink();
        if sink.failed.is_some() {
            return;
        }
        // Error messages are scrubbed here, on every path: Bedrock's AccessDenied and
        // validation messages name assumed-role ARNs and account ids.
        let scrubbed;
        let exchange = match &exchange.error {
            Some(error) => {
                let mut error = error.clone();
                gamecode_cassette::scrub_message(&mut error.message);
                scrubbed = Exchange {
                    error: Some(error),
                    ..exchange.clone()
                };
                &scrubbed
            }
            None => exchange,
        };
        let line = json_line(exchange);
        let written = writeln!(sink.out, "{line}").and_then(|()| sink.out.flush());
        if let Err(e) = written {
            tracing::warn!("recording stopped: cannot write the cassette: {e}");
            sink.failed = Some(e.to_string());
        }
    }

    /// The interceptor to add to an SDK client.
    pub(crate) fn interceptor(&self) -> RecordingInterceptor {
        RecordingInterceptor {
            recorder: self.clone(),
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An attempt under way, kept in the attempt's config bag between the hooks.
#[derive(Debug, Clone)]
struct Pending {
    exchange: Exchange,
    sent: Instant,
    /// Its answer is a stream, recorded by the body wrapper.
    streamed: bool,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
pub(crate) struct RecordingInterceptor {
    recorder: Recorder,
}

/// `(operation, model id)` of a Converse request URI, `…/model/{id}/converse[-stream]`.
fn route(uri: &str) -> Option<(Operation, String)> {
    let path = uri.split('?').next().unwrap_or("");
    let rest = &path[path.find("/model/")? + "/model/".len()..];
    let (id, op) = rest.rsplit_once('/')?;
    let operation = match op {
        "converse" => Operation::Converse,
        "converse-stream" => Operation::ConverseStream,
        _ => return None,
    };
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    Some((operation, id))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

impl Intercept for RecordingInterceptor {
    fn name(&self) -> &'static str {
        "gamecode cassette recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let Some((operation, mut model)) = route(request.uri()) else {
            return Ok(());
        };
        gamecode_cassette::scrub_text(&mut model);
        let mut body = request.body().bytes().map(json_of).unwrap_or(Value::Null);
        scrub(&mut body);
        let (exchange, at_ms) = self.recorder.begin();
        cfg.interceptor_state().store_put(Pending {
            exchange: Exchange {
                exchange,
                operation,
                model,
                at_ms,
                elapsed_ms: 0,
                status: 0,
                request: body,
                response: None,
                events: None,
                error: None,
            },
            sent: Instant::now(),
            streamed: false,
        });
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(pending) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        let response = context.response_mut();
        let status = response.status().as_u16();
        if pending.exchange.operation != Operation::ConverseStream || status != 200 {
            return Ok(());
        }
        // The stream is recorded as the SDK reads it, event by event.
        let mut exchange = pending.exchange.clone();
        exchange.status = status;
        let tee = Tee {
            inner: std::mem::replace(response.body_mut(), SdkBody::taken()),
            capture: Some(Capture {
                recorder: self.recorder.clone(),
                exchange,
                sent: pending.sent,
                buffer: Vec::new(),
                events: Vec::new(),
                error: None,
            }),
        };
        *response.body_mut() = SdkBody::from_body_1_x(tee);
        cfg.interceptor_state().store_put(Pending {
            streamed: true,
            ..pending
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(pending) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        cfg.interceptor_state().unset::<Pending>();
        if pending.streamed {
            return Ok(());
        }
        let mut x = pending.exchange;
        x.elapsed_ms = millis(pending.sent.elapsed());
        match context.response() {
            Some(response) => {
                x.status = response.status().as_u16();
                let body = response.body().bytes().map(json_of).unwrap_or(Value::Null);
                if (200..300).contains(&x.status) {
                    let mut body = body;
                    scrub(&mut body);
                    x.response = Some(body);
                } else {
                    let code = response
                        .headers()
                        .get("x-amzn-errortype")
                        .map(|t| t.split(':').next().unwrap_or(t).to_string())
                        .or_else(|| body["__type"].as_str().map(str::to_string));
                    let message = body["message"]
                        .as_str()
                        .or_else(|| body["Message"].as_str())
                        .unwrap_or("")
                        .to_string();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(crate::classify::parse_retry_after);
                    let category = crate::classify::classify_service_error(
                        code.as_deref(),
                        Some(x.status),
                        message.clone(),
                        retry_after,
                    )
                    .category()
                    .to_string();
                    x.error = Some(RecordedError {
                        code: code.unwrap_or_else(|| format!("HTTP {}", x.status)),
                        category,
                        message,
                    });
                }
            }
            // No answer: the connection failed or the attempt timed out.
            None => {
                let message = match context.output_or_error() {
                    Some(Err(e)) => format!("{e}"),
                    _ => "no response".to_string(),
                };
                x.error = Some(RecordedError {
                    code: "no response".into(),
                    category: "network".into(),
                    message,
                });
            }
        }
        self.recorder.write(&x);
        Ok(())
    }
}

/// A ConverseStream body passed through to the SDK, its frames decoded as they arrive.
struct Tee {
    inner: SdkBody,
    capture: Option<Capture>,
}

struct Capture {
    recorder: Recorder,
    exchange: Exchange,
    sent: Instant,
    /// Bytes received and not yet a whole frame.
    buffer: Vec<u8>,
    events: Vec<Event>,
    error: Option<RecordedError>,
}

impl Capture {
    /// Decodes the whole frames received so far, stamped with the arrival of their last byte.
    fn take_frames(&mut self) {
        let at_ms = millis(self.sent.elapsed());
        loop {
            if self.buffer.len() < 4 {
                return;
            }
            let len = u32::from_be_bytes([
                self.buffer[0],
                self.buffer[1],
                self.buffer[2],
                self.buffer[3],
            ]) as usize;
            if len < 16 || self.buffer.len() < len {
                return;
            }
            let frame: Vec<u8> = self.buffer.drain(..len).collect();
            let Ok(message) = aws_smithy_eventstream::frame::read_message_from(&frame[..]) else {
                self.error = Some(RecordedError {
                    code: "malformed frame".into(),
                    category: "provider".into(),
                    message: "an event-stream frame could not be decoded".into(),
                });
                return;
            };
            let header = |name: &str| {
                message
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == name)
                    .and_then(|h| h.value().as_string().ok())
                    .map(|s| s.as_str().to_string())
            };
            let mut body = json_of(message.payload());
            scrub(&mut body);
            if header(":message-type").as_deref() == Some("exception") {
                let code = header(":exception-type").unwrap_or_default();
                let message = body["message"].as_str().unwrap_or("").to_string();
                let mut upper = code.clone();
                if let Some(first) = upper.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                let category = crate::classify::classify_service_error(
                    Some(&upper),
                    None,
                    message.clone(),
                    None,
                )
                .category()
                .to_string();
                self.events.push(Event {
                    at_ms,
                    event_type: code.clone(),
                    body,
                });
                self.error = Some(RecordedError {
                    code: upper,
                    category,
                    message,
                });
            } else {
                self.events.push(Event {
                    at_ms,
                    event_type: header(":event-type").unwrap_or_default(),
                    body,
                });
            }
        }
    }

    fn finish(mut self, failure: Option<String>) {
        if let (Some(message), None) = (failure, &self.error) {
            self.error = Some(RecordedError {
                code: "stream ended".into(),
                category: "network".into(),
                message,
            });
        }
        self.exchange.elapsed_ms = millis(self.sent.elapsed());
        self.exchange.events = Some(self.events);
        self.exchange.error = self.error;
        self.recorder.write(&self.exchange);
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(capture)) = (frame.data_ref(), self.capture.as_mut()) {
                    capture.buffer.extend_from_slice(data);
                    capture.take_frames();
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let message = e.to_string();
                if let Some(capture) = self.capture.take() {
                    capture.finish(Some(message));
                }
            }
            Poll::Ready(None) => {
                if let Some(capture) = self.capture.take() {
                    capture.finish(None);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

impl Drop for Tee {
    /// A stream dropped before its end (the plugin cancelled it): what arrived is recorded.
    fn drop(&mut self) {
        if let Some(capture) = self.capture.take() {
            capture.finish(Some("the stream was dropped before its end".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_operation_and_model() {
        assert_eq!(
            route("/model/us.anthropic.claude-sonnet-4-6/converse-stream"),
            Some((
                Operation::ConverseStream,
                "us.anthropic.claude-sonnet-4-6".into()
            ))
        );
        assert_eq!(
            route("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse?x=1"),
            Some((Operation::Converse, "m".into()))
        );
        assert_eq!(route("/model/m/count-tokens"), None);
    }
}
