//! A Bedrock that stalls, answers slowly, or throttles everyone: time-to-first-byte bounds,
//! the stream idle timeout, slow-but-healthy answers that must never be cut, and adaptive
//! client-side rate limiting. All through the real SDK against the emulator.

use std::time::{Duration, Instant};

use crate::support::*;
use bedrock_emulator::{Fault, Reply};
use futures::StreamExt;
use gamecode_backend::{ErrorCategory, StreamEvent};

/// A service that accepts the request and never answers: each attempt is abandoned at the
/// time-to-first-byte bound as a network error, and retried exactly as configured.
#[tokio::test]
async fn a_stream_that_never_answers_is_abandoned_at_the_first_byte_bound_and_retried() {
    init_tracing();
    let emu = emulator().await;
    emu.inject(Fault::hang(), 100);
    let backend = backend(&emu).with_stream_first_byte_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = match backend.chat_stream_with_retry(hello(), fast_retry(2)).await {
        Err(e) => e,
        Ok(_) => panic!("a stream from a service that never answers"),
    };
    let took = started.elapsed();
    assert_eq!(err.category(), ErrorCategory::Network, "{err}");
    assert!(err.message().contains("time to first byte"), "{err}");
    assert_eq!(emu.request_count(), 3, "1 + max_retries attempts");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test]
async fn a_converse_that_never_answers_is_abandoned_at_its_own_bound_and_retried() {
    init_tracing();
    let emu = emulator().await;
    emu.inject(Fault::hang(), 100);
    let backend = backend(&emu).with_converse_first_byte_timeout(Duration::from_millis(300));
    let err = backend
        .chat_with_retry(hello(), fast_retry(1))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Network, "{err}");
    assert!(err.message().contains("Converse request"), "{err}");
    assert_eq!(emu.request_count(), 2);
}

/// Headers came, then nothing: before any event was handed on, the attempt is retried.
#[tokio::test]
async fn a_stream_silent_before_its_first_event_is_retried() {
    init_tracing();
    let emu = emulator().await;
    emu.inject(
        Fault::StreamStall {
            after_events: 0,
            stall: Duration::from_secs(30),
        },
        1,
    );
    let backend = backend(&emu).with_stream_idle_timeout(Duration::from_millis(300));
    let mut stream = backend
        .chat_stream(hello())
        .await
        .expect("the retry answers");
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text: t, .. } = event.expect("no error") {
            text.push_str(&t);
        }
    }
    assert!(!text.is_empty());
    assert_eq!(emu.request_count(), 2);
}

/// Slow but healthy, with the default bounds: headers after 2 s, then an event every 5 s.
/// Nothing may be cut, nothing retried.
#[tokio::test]
async fn slow_but_healthy_streams_are_never_cut_with_the_default_bounds() {
    init_tracing();
    let emu = emulator().await;
    emu.inject(Fault::Delay(Duration::from_secs(2)), 1);
    emu.set_stream_pacing(Duration::from_secs(5));
    emu.push_reply(Reply::Text("slow and steady".into()));
    let backend = backend(&emu);
    let started = Instant::now();
    let mut stream = backend.chat_stream(hello()).await.expect("opens");
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text: t, .. } = event.expect("never cut") {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "slow and steady");
    assert_eq!(emu.request_count(), 1);
    assert!(started.elapsed() >= Duration::from_secs(12));
}

/// A non-streamed answer legitimately takes long (it comes whole): well past the stream's
/// first-byte bound, it is not cut.
#[tokio::test]
async fn a_long_converse_answer_outlasts_the_stream_bound() {
    init_tracing();
    let emu = emulator().await;
    emu.inject(Fault::Delay(Duration::from_secs(12)), 1);
    let answer = backend(&emu).chat(hello()).await.expect("not cut");
    assert!(answer.usage.is_some());
    assert_eq!(emu.request_count(), 1);
}

/// Requests per second the emulator received in `[from, to)` after `start`.
fn rate(emu: &bedrock_emulator::Emulator, start: Instant, from: f64, to: f64) -> f64 {
    let n = emu
        .requests()
        .iter()
        .filter(|r| {
            let t = r.at.saturating_duration_since(start).as_secs_f64();
            t >= from && t < to
        })
        .count();
    n as f64 / (to - from)
}

/// Forty callers that keep asking, against a Bedrock that throttles everything for 4 s: with
/// the adaptive limiter (the default) the request rate falls to a trickle within seconds and
/// climbs back once throttling stops; with the retry budget alone it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_rate_limiting_sheds_load_while_throttled_and_recovers() {
    init_tracing();
    let mut figures = Vec::new();
    for adaptive in [true, false] {
        let emu = emulator().await;
        let throttle = Duration::from_secs(4);
        emu.inject_for(Fault::throttling(), throttle);
        let backend = backend(&emu).with_adaptive_rate_limit(adaptive);
        let start = Instant::now();
        let callers: Vec<_> = (0..40)
            .map(|_| {
                let b = backend.clone();
                tokio::spawn(async move {
                    // Each caller keeps asking until it is answered, or gives up at 10 s.
                    while start.elapsed() < Duration::from_secs(10) {
                        match b.chat_with_retry(hello(), fast_retry(2)).await {
                            Ok(_) => return Some(start.elapsed()),
                            Err(e) => assert_eq!(e.category(), ErrorCategory::RateLimited),
                        }
                    }
                    None
                })
            })
            .collect();
        let mut done = Vec::new();
        for c in callers {
            done.push(c.await.expect("caller"));
        }
        let throttled_rate = rate(&emu, start, 2.0, 4.0);
        let first_success = done.iter().flatten().min().copied();
        figures.push((
            adaptive,
            throttled_rate,
            first_success,
            done.iter().flatten().count(),
        ));
        eprintln!(
            "adaptive={adaptive}: {throttled_rate:.1} requests/s in the 3rd-4th throttled \
             seconds; first success at {first_success:?}; {} of 40 answered",
            done.iter().flatten().count()
        );
    }
    let (_, with_limiter, first, answered) = figures[0];
    let (_, budget_alone, _, _) = figures[1];
    assert!(
        with_limiter <= 5.0,
        "{with_limiter} requests/s while throttled"
    );
    assert!(
        budget_alone > 4.0 * with_limiter.max(1.0),
        "budget alone {budget_alone}/s vs adaptive {with_limiter}/s"
    );
    let first = first.expect("recovered after the throttling stopped");
    assert!(first >= Duration::from_secs(4), "{first:?}");
    assert!(answered > 0);
}
