//! The request log: what reached the emulator and what it answered.
//!
//! Tests assert on the wire-level request (where the system prompt went, which headers were
//! signed, how many attempts a retry policy made), so every request is recorded — including
//! rejected ones — in arrival order.

use std::time::{Instant, SystemTime};

/// Which Bedrock Runtime operation a request addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `POST /model/{modelId}/converse`
    Converse,
    /// `POST /model/{modelId}/converse-stream`
    ConverseStream,
    /// `POST /model/{modelId}/count-tokens`
    CountTokens,
    /// Anything else (answered with 404 `UnknownOperationException`).
    Other,
}

/// One request as the emulator saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// When the request (head and body) had arrived.
    pub at: Instant,
    /// The addressed operation.
    pub operation: Operation,
    /// Percent-decoded model id from the path (empty for unknown routes).
    pub model_id: String,
    /// The decoded JSON body (`Value::Null` if it was not JSON).
    pub body: serde_json::Value,
    /// All request headers, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The status answered (0 if the connection was dropped or no answer was sent yet).
    pub status: u16,
}

impl RecordedRequest {
    /// The value of the first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One ConverseStream event frame as it was sent, recorded only while
/// [`Emulator::record_sent_frames`](crate::Emulator::record_sent_frames) is on.
///
/// For latency measurements (the `gamecode-benches` streaming figure): `at`/`wall` are taken
/// when the frame is handed to the connection, which writes it to the socket in the same poll.
#[derive(Clone, Debug)]
pub struct SentFrame {
    /// The answer's `x-amzn-requestid`.
    pub request_id: String,
    /// The frame's position in its answer (0 = `messageStart`; exception frames count too).
    pub index: usize,
    /// When it was handed to the connection (monotonic clock).
    pub at: Instant,
    /// The same moment on the wall clock, for comparison with timestamps taken elsewhere
    /// (e.g. inside a wasm guest, which sees only the wall clock).
    pub wall: SystemTime,
}

/// Recorded requests, each tagged with a sequence number so that its status can be filled in
/// later even if the log was cleared in between.
#[derive(Default)]
pub(crate) struct RequestLog {
    entries: Vec<(u64, RecordedRequest)>,
    next_seq: u64,
}

impl RequestLog {
    pub(crate) fn push(&mut self, request: RecordedRequest) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push((seq, request));
        seq
    }

    pub(crate) fn set_status(&mut self, seq: u64, status: u16) {
        if let Some((_, r)) = self.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            r.status = status;
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries.iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
