//! Injectable faults: the failure modes a Bedrock client must survive.
//!
//! Each variant reproduces one thing that happens in production — a modelled service error,
//! a proxy's unmodelled status page, a slow answer, a reset connection, a truncated body,
//! garbage bytes, or (for ConverseStream) an error or stall in the middle of a stream — so the
//! backend's error classification and retry policy can be tested against the real SDK.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The `x-amzn-errortype` suffix real Bedrock appends to its modelled errors.
pub(crate) const BEDROCK_ERROR_SUFFIX: &str =
    ":http://internal.amazon.com/coral/com.amazon.bedrock/";

/// A failure to inject into upcoming requests with [`Emulator::inject`](crate::Emulator::inject).
#[derive(Clone, Debug)]
pub enum Fault {
    /// A modelled rest-json error: this status, this `x-amzn-errortype` header (a `:…` suffix
    /// is allowed, as real services send), body `{"message": message}`, and an optional
    /// `Retry-After` header in whole seconds (rounded up).
    Error {
        status: u16,
        error_type: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// An unmodelled HTTP status with an arbitrary body and no `x-amzn-errortype`
    /// (e.g. a 502 HTML page from a proxy).
    Status { status: u16, body: String },
    /// Answer normally, but only after this delay (to exercise client timeouts).
    Delay(Duration),
    /// Close the TCP connection without writing any response.
    DropConnection,
    /// 200 whose `Content-Length` promises the full body, but only part is sent before the
    /// connection is closed. For ConverseStream: the stream is cut in the middle of a frame.
    TruncatedBody,
    /// 200 `application/json` whose body is not valid JSON. For ConverseStream: a frame with
    /// a corrupt checksum.
    MalformedBody,
    /// Extension (ConverseStream): send `after_events` events of the normal answer, then an
    /// exception frame of this type (e.g. `modelStreamErrorException`; a leading capital is
    /// accepted) and end the stream. On Converse it answers as the equivalent HTTP error.
    StreamError {
        exception_type: String,
        message: String,
        after_events: usize,
    },
    /// Extension (ConverseStream): send `after_events` events, go silent for `stall`, then
    /// finish normally (to exercise idle timeouts). On Converse it acts as [`Fault::Delay`].
    StreamStall {
        after_events: usize,
        stall: Duration,
    },
}

impl Fault {
    fn modelled(status: u16, error_type: &str, message: &str) -> Self {
        Fault::Error {
            status,
            error_type: format!("{error_type}{BEDROCK_ERROR_SUFFIX}"),
            message: message.to_string(),
            retry_after: None,
        }
    }

    /// 429 `ThrottlingException`.
    pub fn throttling() -> Self {
        Self::modelled(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }

    /// 429 `ModelNotReadyException`.
    pub fn model_not_ready() -> Self {
        Self::modelled(
            429,
            "ModelNotReadyException",
            "Model is not ready to serve inference requests. Wait and try your request again.",
        )
    }

    /// 503 `ServiceUnavailableException`.
    pub fn service_unavailable() -> Self {
        Self::modelled(
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request. Try your request again.",
        )
    }

    /// 500 `InternalServerException`.
    pub fn internal_server() -> Self {
        Self::modelled(
            500,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        )
    }

    /// 408 `ModelTimeoutException`.
    pub fn model_timeout() -> Self {
        Self::modelled(
            408,
            "ModelTimeoutException",
            "Model has timed out in processing the request. Try your request again.",
        )
    }

    /// 424 `ModelErrorException`.
    pub fn model_error() -> Self {
        Self::modelled(
            424,
            "ModelErrorException",
            "The model encountered an error while processing the request.",
        )
    }

    /// 400 `ValidationException` with this message.
    pub fn validation(message: &str) -> Self {
        Self::modelled(400, "ValidationException", message)
    }

    /// 403 `AccessDeniedException`.
    pub fn access_denied() -> Self {
        Self::modelled(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        )
    }

    /// 404 `ResourceNotFoundException`.
    pub fn resource_not_found() -> Self {
        Self::modelled(
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        )
    }

    /// Extension: a `modelStreamErrorException` inside a ConverseStream after two events
    /// (424 `ModelStreamErrorException` on Converse).
    pub fn model_stream_error() -> Self {
        Fault::StreamError {
            exception_type: "modelStreamErrorException".to_string(),
            message: "The model stream encountered an error. Try your request again.".to_string(),
            after_events: 2,
        }
    }

    /// Accept the request and never answer: no status, no headers, not a byte (until the
    /// client gives up and closes the connection). A stalled service or proxy.
    pub fn hang() -> Self {
        Fault::Delay(Duration::from_secs(24 * 3600))
    }

    /// Add a `Retry-After` hint; only affects [`Fault::Error`].
    pub fn with_retry_after(self, d: Duration) -> Self {
        match self {
            Fault::Error {
                status,
                error_type,
                message,
                ..
            } => Fault::Error {
                status,
                error_type,
                message,
                retry_after: Some(d),
            },
            other => other,
        }
    }
}

/// Status and `x-amzn-errortype` for an in-stream exception type, used when a
/// [`Fault::StreamError`] hits a non-streaming Converse request.
pub(crate) fn stream_exception_as_http(exception_type: &str) -> (u16, String) {
    let mut chars = exception_type.chars();
    let upper: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "ModelStreamErrorException".to_string(),
    };
    let status = match upper.as_str() {
        "ThrottlingException" => 429,
        "InternalServerException" => 500,
        "ServiceUnavailableException" => 503,
        "ValidationException" => 400,
        "ModelTimeoutException" => 408,
        _ => 424,
    };
    (status, format!("{upper}{BEDROCK_ERROR_SUFFIX}"))
}

/// Faults waiting to be applied, in injection order, each with a remaining count; and a
/// fault that applies to every request until a moment passes.
#[derive(Default)]
pub(crate) struct FaultQueue {
    queue: VecDeque<(Fault, u32)>,
    until: Option<(Fault, Instant)>,
}

impl FaultQueue {
    /// Every request gets `fault` until `until` (before the counted faults).
    pub(crate) fn set_until(&mut self, fault: Fault, until: Instant) {
        self.until = Some((fault, until));
    }

    pub(crate) fn push(&mut self, fault: Fault, times: u32) {
        if times > 0 {
            self.queue.push_back((fault, times));
        }
    }

    /// Take the fault for the next request, if any.
    pub(crate) fn next(&mut self) -> Option<Fault> {
        match &self.until {
            Some((fault, until)) if Instant::now() < *until => return Some(fault.clone()),
            Some(_) => self.until = None,
            None => {}
        }
        let (fault, remaining) = self.queue.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            self.queue.pop_front();
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_applies_faults_in_order_with_counts() {
        let mut q = FaultQueue::default();
        q.push(Fault::throttling(), 2);
        q.push(Fault::DropConnection, 0);
        q.push(Fault::MalformedBody, 1);
        assert!(matches!(q.next(), Some(Fault::Error { status: 429, .. })));
        assert!(matches!(q.next(), Some(Fault::Error { status: 429, .. })));
        assert!(matches!(q.next(), Some(Fault::MalformedBody)));
        assert!(q.next().is_none());
    }

    #[test]
    fn a_timed_fault_applies_to_every_request_until_it_expires() {
        let mut q = FaultQueue::default();
        q.push(Fault::MalformedBody, 1);
        q.set_until(
            Fault::throttling(),
            Instant::now() + Duration::from_millis(50),
        );
        for _ in 0..5 {
            assert!(matches!(q.next(), Some(Fault::Error { status: 429, .. })));
        }
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(q.next(), Some(Fault::MalformedBody)));
        assert!(q.next().is_none());
    }

    #[test]
    fn retry_after_only_changes_errors() {
        let f = Fault::throttling().with_retry_after(Duration::from_secs(3));
        assert!(matches!(
            f,
            Fault::Error {
                retry_after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            Fault::DropConnection.with_retry_after(Duration::from_secs(1)),
            Fault::DropConnection
        ));
    }

    #[test]
    fn stream_exception_types_map_to_http() {
        assert_eq!(stream_exception_as_http("throttlingException").0, 429);
        assert_eq!(stream_exception_as_http("modelStreamErrorException").0, 424);
        assert!(
            stream_exception_as_http("modelStreamErrorException")
                .1
                .starts_with("ModelStreamErrorException:")
        );
        assert_eq!(stream_exception_as_http("").0, 424);
    }
}
