//! Serving a cassette (`gamecode run --replay`): each request is matched, in order, against
//! the recorded exchange — strictly on what matters (messages, tools, options, model), with
//! fresh tool-use ids mapped — and answered with the recorded response, events (at the
//! recorded pacing, scaled, or at once) or error. A request that does not match is drift:
//! refused with a report naming the exchange and the first differing field, or, with the
//! fallback on, answered by the default responder and noted.

use std::time::Duration;

use bytes::Bytes;
use gamecode_cassette::{Cassette, Drift, Exchange, Operation};
use serde_json::Value;

use crate::wire::{self, Body, Step};

/// How a cassette is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOptions {
    /// Pacing: 1.0 plays the recorded timing, 2.0 twice as fast, 0.0 at once.
    pub speed: f64,
    /// Answer a drifted request with the default responder instead of refusing it.
    pub fallback: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            speed: 0.0,
            fallback: false,
        }
    }
}

/// A cassette being replayed.
#[derive(Debug)]
pub(crate) struct Replay {
    cassette: Cassette,
    options: ReplayOptions,
    next: usize,
    pub(crate) drifts: Vec<Drift>,
}

/// What to do with a request.
pub(crate) enum Verdict {
    /// Answer with the recorded exchange.
    Play(Box<Exchange>, ReplayOptions),
    /// It drifted; refuse it with this report.
    Refuse(Drift),
    /// It drifted; the default responder answers.
    FallBack,
}

impl Replay {
    pub(crate) fn new(cassette: Cassette, options: ReplayOptions) -> Self {
        Self {
            cassette,
            options,
            next: 0,
            drifts: Vec::new(),
        }
    }

    /// Matches the next request against the next recorded exchange.
    pub(crate) fn take(&mut self, operation: Operation, model: &str, request: &Value) -> Verdict {
        let drift = match self.cassette.exchanges.get(self.next) {
            None => Drift {
                exchange: u32::try_from(self.next + 1).unwrap_or(u32::MAX),
                path: "exchanges".into(),
                recorded: format!("{} exchanges", self.cassette.exchanges.len()),
                now: format!("a request for exchange {}", self.next + 1),
            },
            Some(recorded) => match Drift::check(recorded, operation, model, request) {
                None => {
                    self.next += 1;
                    return Verdict::Play(Box::new(recorded.clone()), self.options);
                }
                Some(drift) => drift,
            },
        };
        tracing::warn!("replay: {drift}");
        self.drifts.push(drift.clone());
        // The cassette moves on either way, so a later turn is compared with its own.
        self.next += 1;
        if self.options.fallback {
            Verdict::FallBack
        } else {
            Verdict::Refuse(drift)
        }
    }

    /// Exchanges not yet replayed.
    pub(crate) fn remaining(&self) -> usize {
        self.cassette.exchanges.len().saturating_sub(self.next)
    }
}

fn scaled(ms: u64, speed: f64) -> Option<Duration> {
    (speed > 0.0 && ms > 0).then(|| Duration::from_secs_f64(ms as f64 / 1000.0 / speed))
}

/// The recorded answer, as the wire carried it.
pub(crate) fn respond(
    x: &Exchange,
    options: ReplayOptions,
    rid: &str,
) -> Option<http::Response<Body>> {
    // No answer was recorded (the connection failed): close the connection again.
    if x.status == 0 {
        return None;
    }
    if let (Some(e), None) = (&x.error, &x.events) {
        return Some(wire::error_response(
            x.status, &e.code, &e.message, rid, None,
        ));
    }
    if let Some(events) = &x.events {
        let mut steps = Vec::new();
        let mut last = 0;
        for event in events {
            if let Some(gap) = scaled(event.at_ms.saturating_sub(last), options.speed) {
                steps.push(Step::Sleep(gap));
            }
            last = event.at_ms;
            steps.push(Step::Data(frame(x, event)));
        }
        // A stream that broke off without an exception frame breaks off again.
        if let Some(e) = &x.error
            && !events
                .iter()
                .any(|ev| ev.event_type.eq_ignore_ascii_case(&e.code))
        {
            steps.push(Step::Fail);
        }
        return Some(wire::response(
            200,
            crate::stream::CONTENT_TYPE,
            rid,
            wire::scripted(steps),
        ));
    }
    let body = x.response.clone().unwrap_or(Value::Null);
    Some(wire::json_response(&body, rid))
}

fn frame(x: &Exchange, event: &gamecode_cassette::Event) -> Bytes {
    let exception = x
        .error
        .as_ref()
        .is_some_and(|e| e.code.eq_ignore_ascii_case(&event.event_type));
    if exception {
        let message = event.body["message"].as_str().unwrap_or("");
        crate::stream::exception_frame(&event.event_type, message)
    } else {
        crate::stream::recorded_frame(&event.event_type, &event.body)
    }
}

/// The latency to play before a recorded `Converse` answer.
pub(crate) fn latency(x: &Exchange, options: ReplayOptions) -> Option<Duration> {
    match x.operation {
        Operation::Converse => scaled(x.elapsed_ms, options.speed),
        Operation::ConverseStream => None,
    }
}
