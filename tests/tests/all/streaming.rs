//! Streaming through the host: the plugin's budgets and deadline hold while it pulls a
//! `reply-stream`, and text deltas reach observers as the plugin receives them.

use std::time::{Duration, Instant};

use bedrock_emulator::{Fault, Reply};
use gamecode_e2e::*;
use gamecode_host::{Policy, RunError, RunEvent, ViolationKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_calls_count_against_the_token_budget() {
    init_tracing();
    let emu = emulator().await;
    let budget = 2_000;
    let host = host(&emu, Policy::default().with_token_budget(budget));
    let chatty = load(&host, &test_guest("guest_chatty"));
    let report = chatty.run("stream-tokens").report().await;
    let answer = report.result.expect("chatty reports what happened");
    assert!(
        answer.starts_with("token-budget-exhausted after "),
        "{answer}"
    );
    let calls: u32 = answer
        .trim_start_matches("token-budget-exhausted after ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a call count");
    assert!(calls >= 1, "{answer}");
    assert!(
        u64::from(report.stats.usage.total_tokens) >= budget,
        "{:?}",
        report.stats
    );
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].kind, ViolationKind::TokenBudget);
    // max-tokens was clamped to what remained, so the streams that ran stayed near the budget.
    let sent: Vec<u64> = emu
        .requests()
        .iter()
        .filter_map(|r| r.body["inferenceConfig"]["maxTokens"].as_u64())
        .collect();
    assert!(sent.iter().all(|&m| m <= budget), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_kills_a_plugin_waiting_on_a_stalled_stream() {
    init_tracing();
    let emu = emulator().await;
    emu.push_reply(Reply::Text(
        "a long answer that stalls half way ".repeat(20),
    ));
    emu.inject(
        Fault::StreamStall {
            after_events: 3,
            stall: Duration::from_secs(30),
        },
        1,
    );
    let deadline = Duration::from_millis(800);
    let host = host(&emu, Policy::default());
    let chatty = load(&host, &test_guest("guest_chatty"))
        .with_policy(Policy::default().with_deadline(deadline))
        .unwrap();
    let hello = load(&host, &test_guest("guest_hello"));
    let started = Instant::now();
    let (stalled, other) = tokio::join!(chatty.run("stream"), hello.run("meanwhile"));
    // Waiting on the model's next event when the deadline came: the model is blamed.
    assert!(
        matches!(
            stalled.unwrap_err(),
            RunError::ModelDeadline { deadline: d, attempts: 1, .. } if d == deadline
        ),
        "the stalled stream's run"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(other.unwrap().answer, "hello, meanwhile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_see_text_deltas_as_the_plugin_pulls_them() {
    init_tracing();
    let emu = emulator().await;
    let text = "streamed, piece by piece, to whoever watches the run";
    emu.push_reply(Reply::Text(text.into()));
    let (observer, deltas) = recording_observer(|e| match e {
        RunEvent::TextDelta { text } => Some(text.clone()),
        _ => None,
    });
    let host = observed_host(&emu, observer);
    let chatty = load(&host, &test_guest("guest_chatty"));
    let outcome = chatty.run("stream").await.unwrap();
    assert_eq!(outcome.answer, text);
    let deltas = deltas.lock().unwrap();
    assert!(deltas.len() > 1, "{deltas:?}");
    assert_eq!(deltas.concat(), text);
}
