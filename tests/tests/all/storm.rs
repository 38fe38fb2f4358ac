//! A throttling storm: 1,000 concurrent plugin runs against a Bedrock that throttles every
//! request for three seconds, then recovers. The backend's adaptive rate limiting (on by
//! default) must cut the request rate to a trickle within seconds and let it climb back once
//! throttling stops; every run must be answered before its deadline — waiting for the
//! limiter's capacity costs no attempt — and none may hang.

use std::time::{Duration, Instant};

use bedrock_emulator::Fault;
use gamecode_backend::ErrorCategory;
use gamecode_e2e::*;
use gamecode_host::{Policy, RunError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_runs_in_a_throttling_storm_shed_load_and_recover() {
    // Its 1,000 runs must all start within the first second: no busy test beside it.
    let _quiet = quiet_machine();
    init_tracing();
    let emu = emulator().await;
    let throttle = Duration::from_secs(3);
    let deadline = Duration::from_secs(40);
    let host = host(&emu, Policy::default());
    let plugin = load(&host, &test_guest("guest_abuser"))
        .with_policy(
            Policy::default()
                .with_deadline(deadline)
                .with_max_chat_calls(1000)
                .with_retry(storm_retry()),
        )
        .unwrap();
    emu.inject_for(Fault::throttling(), throttle);
    let start = Instant::now();
    let runs: Vec<_> = (0..1000)
        .map(|_| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                let result = plugin.run("persist:1").await;
                (result, start.elapsed())
            })
        })
        .collect();
    let (mut answered, mut rate_limited, mut last_end) = (0, 0, Duration::ZERO);
    for run in runs {
        let (result, ended) = tokio::time::timeout(deadline + Duration::from_secs(10), run)
            .await
            .expect("no run hangs")
            .expect("task");
        last_end = last_end.max(ended);
        match result {
            Ok(_) => answered += 1,
            Err(RunError::Backend(e)) if e.category() == ErrorCategory::RateLimited => {
                rate_limited += 1
            }
            Err(other) => panic!("a run failed otherwise: {other}"),
        }
    }
    assert!(last_end < deadline, "{last_end:?}");

    let requests = emu.requests();
    let per_second = |from: f64, to: f64| {
        requests
            .iter()
            .filter(|r| {
                let t = r.at.saturating_duration_since(start).as_secs_f64();
                t >= from && t < to
            })
            .count() as f64
            / (to - from)
    };
    let first_success = requests
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.at.saturating_duration_since(start))
        .min()
        .expect("some run was answered after the throttling stopped");
    let throttled = per_second(1.5, 3.0);
    let into_window = requests
        .iter()
        .filter(|r| r.at.saturating_duration_since(start) < throttle)
        .count();
    eprintln!(
        "1000 runs: {answered} answered, {rate_limited} rate-limited, all done at {last_end:?}; \
         {into_window} requests sent into the 3 s throttled window ({:.0} in its first 0.5 s, \
         {throttled:.1}/s in 1.5-3 s), first success {:?} after the throttling stopped, {} \
         requests in all",
        per_second(0.0, 0.5) * 0.5,
        first_success.saturating_sub(throttle),
        requests.len()
    );
    assert_eq!(answered, 1000, "{rate_limited} runs failed as rate-limited");
    assert!(throttled <= 5.0, "{throttled} requests/s while throttled");
    assert!(first_success >= throttle);
    // A token waits at most 2.5 s at the lowest rate, then the retry's backoff (≤ 1 s).
    assert!(
        first_success < throttle + Duration::from_secs(5),
        "recovery took {:?}",
        first_success - throttle
    );
}
