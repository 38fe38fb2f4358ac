//! The containment holes an independent review found (issue 9), each with an adversarial
//! guest of our own (`guest_abuser`): special files, unbounded guest JSON, the token budget
//! through streams, the path oracle, terminal spoofing, held streams and echoed strings.
//!
//! The guest-JSON bounds, whose host-memory figures are process-wide, run in a process of
//! their own (`json_bounds.rs`).

use std::time::{Duration, Instant};

use gamecode_e2e::*;
use gamecode_host::{AgentError, Plugin, Policy, RunError, RunEvent, ViolationKind};

/// While two plugins hammer the host with expensive requests, the deadline holds within
/// its documented margin and twenty well-behaved runs beside them are not stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expensive_calls_neither_overrun_the_deadline_nor_stall_neighbours() {
    // It compares two waves' times, and a deadline's margin: no busy test beside it.
    let _quiet = quiet_machine();
    init_tracing();
    let emu = emulator().await;
    emu.set_latency(Duration::from_millis(20));
    let host = host(&emu, Policy::default());
    let good = load(&host, &guest_example());
    let wave = |good: Plugin| async move {
        let started = Instant::now();
        let runs: Vec<_> = (0..20)
            .map(|_| {
                let good = good.clone();
                tokio::spawn(async move { good.run("What is 6 * 7?").await })
            })
            .collect();
        for run in runs {
            let outcome = run.await.expect("task").expect("the good run succeeds");
            assert!(outcome.answer.contains("42"), "{}", outcome.answer);
        }
        started.elapsed()
    };
    let alone = wave(good.clone()).await;

    let deadline = Duration::from_secs(1);
    let hammer = abuser(
        &host,
        Policy::default()
            .with_max_request_bytes(1024)
            .with_max_chat_calls(u32::MAX)
            .with_deadline(deadline),
    );
    let abusers: Vec<_> = (0..2)
        .map(|_| {
            let hammer = hammer.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let err = hammer.run("hammer:4").await.unwrap_err();
                (err, started.elapsed())
            })
        })
        .collect();
    let beside = wave(good).await;
    for a in abusers {
        let (err, took) = a.await.expect("task");
        assert_eq!(err, RunError::DeadlineExceeded { deadline });
        assert!(
            took < deadline + Duration::from_millis(250),
            "the deadline was overrun: {took:?}"
        );
    }
    eprintln!("20 good runs: {alone:?} alone, {beside:?} beside two hammering plugins");
    assert!(
        beside < alone * 4 + Duration::from_millis(500),
        "neighbours stalled: {alone:?} alone, {beside:?} beside the abusers"
    );
}

/// Usage is the host's to account, whatever the guest pulls or drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_budget_holds_for_streams_the_guest_drops() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    // Each call's input is ~620 tokens: ten of them do not fit.
    let budget = 5_000;
    let policy = Policy::default().with_token_budget(budget);

    // Each reply read to message-stop (so the usage event is never pulled) and dropped.
    let report = abuser(&host, policy.clone())
        .run("stream-to-stop:10")
        .report()
        .await;
    let answer = report.result.expect("the guest reports what happened");
    assert!(
        answer.starts_with("token-budget-exhausted") && !answer.contains("after 10 calls"),
        "{answer}"
    );
    let s = report.stats;
    eprintln!(
        "stream-to-stop: {answer}; charged {} tokens, reported {}",
        s.tokens_charged, s.usage.total_tokens
    );
    assert!(s.tokens_charged <= budget, "{s:?}");
    assert!(s.tokens_charged > budget / 2, "{s:?}");

    // Dropped as soon as it opens: Bedrock bills the input; so does the host.
    let report = abuser(&host, policy.with_token_budget(2_000))
        .run("stream-drop:10")
        .report()
        .await;
    let answer = report.result.expect("answer");
    assert!(answer.starts_with("token-budget-exhausted"), "{answer}");
    assert!(report.stats.chat_calls < 10, "{:?}", report.stats);
    assert!(report.stats.tokens_charged <= 2_000, "{:?}", report.stats);

    // Through `chat`, the same budget: the call that would overshoot by its own input is
    // refused before it is sent.
    let chatty = load(&host, &test_guest("guest_chatty"))
        .with_policy(Policy::default().with_token_budget(budget))
        .unwrap();
    let report = chatty.run("tokens").report().await;
    let answer = report.result.expect("answer");
    assert!(answer.starts_with("token-budget-exhausted"), "{answer}");
    assert!(report.stats.tokens_charged <= budget, "{:?}", report.stats);
}

/// A plugin may hold only a few streams open at once (each is a connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_are_capped_per_run() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let plugin = abuser(&host, Policy::default().with_max_chat_calls(10_000));
    let got = answer(&plugin, "hold-streams:1000").await;
    assert!(
        got.starts_with(
            "chat-limit-reached: this plugin may hold at most 4 streamed replies open at once; \
             drain or drop one first"
        ) && got.ends_with("after 4 open"),
        "{got}"
    );
    // Dropping them frees the slots: the default agent still streams.
    let good = load(&host, &guest_example());
    assert!(
        good.run("What is 6 * 7?")
            .await
            .unwrap()
            .answer
            .contains("42")
    );
}

/// A FIFO (or socket) is refused at once: its open would wait for a writer forever on a
/// blocking thread no deadline can cancel, and 512 of them would starve every file tool.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_files_are_refused_without_blocking_the_host() {
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let host = fs_host(&emu, dir.path());
    let plugin = abuser(
        &host,
        Policy::default().with_deadline(Duration::from_secs(2)),
    );
    let started = Instant::now();
    let runs: Vec<_> = (0..600)
        .map(|i| {
            let plugin = plugin.clone();
            let task = if i % 2 == 0 { "read:fifo" } else { "list:fifo" };
            tokio::spawn(async move { plugin.run(task).await })
        })
        .collect();
    for run in runs {
        let got = run.await.expect("task").expect("the run answers").answer;
        assert!(got.starts_with("failed:") && got.contains("FIFO"), "{got}");
    }
    eprintln!("600 FIFO reads refused in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20));
    // The file tools still serve everyone.
    assert_eq!(answer(&plugin, "read:notes.txt").await, "ok: hello");
}

/// Outside the granted directory, what exists and what does not look the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_tools_are_no_oracle_for_the_host_filesystem() {
    init_tracing();
    let emu = emulator().await;
    let granted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("exists.txt"), "secret").unwrap();
    let host = fs_host(&emu, granted.path());
    let plugin = abuser(&host, Policy::default());
    let exists = outside.path().join("exists.txt");
    let missing = outside.path().join("missing.txt");
    for op in ["read", "list"] {
        let a = answer(&plugin, &format!("{op}:{}", exists.display())).await;
        let b = answer(&plugin, &format!("{op}:{}", missing.display())).await;
        assert_eq!(
            a.replace("exists.txt", "X"),
            b.replace("missing.txt", "X"),
            "{op}"
        );
        assert!(a.contains("access denied"), "{a}");
    }
}

/// A plugin's output reaches observers (the CLI's terminal, logs) with control characters
/// escaped; what the plugin printed is returned to the embedder as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_output_cannot_spoof_the_terminal() {
    init_tracing();
    let emu = emulator().await;
    let (observer, lines) = recording_observer(|e| match e {
        RunEvent::Output { line, .. } => Some(line.clone()),
        _ => None,
    });
    let host = observed_host(&emu, observer);
    let outcome = abuser(&host, Policy::default()).run("spoof").await.unwrap();
    assert!(outcome.stderr.contains('\x1b'), "the raw output is kept");
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines.iter() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "{line:?}"
        );
    }
    assert!(lines[0].contains("\\x1b[2K\\r\\x1b]0;pwned\\x07error: fake"));
}

/// Guest strings echoed in errors are bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_guest_strings_are_bounded() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let plugin = abuser(&host, Policy::default());
    let got = answer(&plugin, "long-tool-name:1024").await;
    assert!(
        got.starts_with("not-found:") && got.len() < 400,
        "{got:.400}"
    );
    assert!(got.contains("1048576 bytes in all"), "{got:.400}");
    match plugin.run("long-error:8").await.unwrap_err() {
        RunError::Agent(AgentError::Failed(m)) => {
            assert!(m.len() < 4200, "{}", m.len());
            assert!(
                m.ends_with("(8388608 bytes in all, cut)"),
                "{:.100}",
                &m[4000..]
            );
        }
        other => panic!("{other:?}"),
    }
    // A refused model id is echoed bounded too.
    let chatty = load(&host, &test_guest("guest_chatty"))
        .with_policy(Policy::default().with_allowed_models(["m"]))
        .unwrap();
    let report = chatty
        .run(format!("model:{}", "x".repeat(100_000)))
        .report()
        .await;
    let v = &report.violations[0];
    assert_eq!(v.kind, ViolationKind::ModelNotAllowed);
    assert!(v.message.len() < 400, "{}", v.message.len());
}
