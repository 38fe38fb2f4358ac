//! Figure 7, `storm`: a throttling storm: 1,000 concurrent runs against an endpoint that
//! throttles every request for 10 s, then recovers; adaptive rate limiting vs the retry
//! budget alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_emulator::Emulator;
use gamecode_benches::setup;

use crate::{Opts, Row, verdict};

struct StormResult {
    sent_while_throttled: usize,
    /// Requests per second sent in the throttled window after its first second.
    steady_rate: f64,
    answered: usize,
    rate_limited: usize,
    first_success_after_recovery: Option<Duration>,
    all_done: Duration,
}

async fn storm_side(runs: usize, throttle: Duration, adaptive: bool) -> StormResult {
    use bedrock_emulator::Fault;
    use gamecode_backend::ErrorCategory;
    use gamecode_host::{Policy, RunError};
    let emu = Emulator::start().await.expect("the emulator starts");
    let backend = setup::bedrock_on(&emu).with_adaptive_rate_limit(adaptive);
    let host = setup::host(Arc::new(backend), None);
    let plugin = host
        .load_file(gamecode_e2e::test_guest("guest_abuser"))
        .expect("loads")
        .with_policy(
            Policy::default()
                .with_deadline(throttle + Duration::from_secs(60))
                .with_max_chat_calls(10_000)
                .with_retry(gamecode_e2e::storm_retry()),
        )
        .expect("policy");
    emu.inject_for(Fault::throttling(), throttle);
    let start = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let plugin = plugin.clone();
            tokio::spawn(async move { plugin.run("persist:1").await })
        })
        .collect();
    let (mut answered, mut rate_limited) = (0, 0);
    for t in tasks {
        match t.await.expect("run task") {
            Ok(_) => answered += 1,
            Err(RunError::Backend(e)) if e.category() == ErrorCategory::RateLimited => {
                rate_limited += 1
            }
            Err(e) => panic!("storm run failed otherwise: {e}"),
        }
    }
    let all_done = start.elapsed();
    let requests = emu.requests();
    let at = |r: &bedrock_emulator::RecordedRequest| r.at.saturating_duration_since(start);
    let sent_while_throttled = requests.iter().filter(|r| at(r) < throttle).count();
    let steady = requests
        .iter()
        .filter(|r| at(r) >= Duration::from_secs(1) && at(r) < throttle)
        .count();
    let window = throttle
        .saturating_sub(Duration::from_secs(1))
        .as_secs_f64();
    StormResult {
        sent_while_throttled,
        steady_rate: if window > 0.0 {
            steady as f64 / window
        } else {
            0.0
        },
        answered,
        rate_limited,
        first_success_after_recovery: requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| at(r).saturating_sub(throttle))
            .min(),
        all_done,
    }
}

pub async fn storm(o: &Opts) -> Vec<Row> {
    let runs = o.size(1000, 20);
    let throttle = Duration::from_millis(o.size(10_000, 1_500) as u64);
    println!(
        "\n== 7. storm: {runs} concurrent runs, every request throttled for {:.1}s, then healthy ==",
        throttle.as_secs_f64()
    );
    let adaptive = storm_side(runs, throttle, true).await;
    let budget = storm_side(runs, throttle, false).await;
    let describe = |name: &str, r: &StormResult| {
        let line = format!(
            "{name}: {} requests while throttled ({:.1}/s after the first second), {} answered, \
             {} rate-limited, first success {} after recovery, all done in {:.1}s",
            r.sent_while_throttled,
            r.steady_rate,
            r.answered,
            r.rate_limited,
            r.first_success_after_recovery
                .map_or("never".to_string(), |d| format!("{:.2}s", d.as_secs_f64())),
            r.all_done.as_secs_f64()
        );
        println!("  {line}");
        line
    };
    let a = describe("adaptive", &adaptive);
    let b = describe("budget alone", &budget);
    let first = |r: &StormResult| {
        r.first_success_after_recovery
            .map_or("never".to_string(), |d| format!("{:.2}s", d.as_secs_f64()))
    };
    // Counts over the same throttled window on both sides: a rate averaged over a window one
    // side had left early would flatter it.
    let met = adaptive.answered == runs
        && adaptive.first_success_after_recovery.is_some()
        && adaptive.sent_while_throttled <= budget.sent_while_throttled;
    vec![Row {
        figure: "7",
        what: format!(
            "requests sent into a {:.0} s 100 %-throttling window, {runs} runs (adaptive limiting)",
            throttle.as_secs_f64()
        ),
        target: "bounded; every run answered; recovers".into(),
        measured: format!(
            "{} sent into the window ({:.1}/s after its first second); {}/{runs} answered; first \
             success {} after recovery; all done in {:.1}s",
            adaptive.sent_while_throttled,
            adaptive.steady_rate,
            adaptive.answered,
            first(&adaptive),
            adaptive.all_done.as_secs_f64()
        ),
        comparison: format!(
            "budget alone: {} sent into the window; {}/{runs} answered, {} rate-limited; first \
             success {} after recovery ({a}; {b})",
            budget.sent_while_throttled,
            budget.answered,
            budget.rate_limited,
            first(&budget)
        ),
        verdict: verdict(met),
    }]
}
