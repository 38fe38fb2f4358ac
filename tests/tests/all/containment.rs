//! Adversarial guests, each while a well-behaved plugin runs concurrently on the same host
//! and finishes normally; after each, the host still serves (`guest_hello` runs).

use std::future::Future;
use std::time::{Duration, Instant};

use bedrock_emulator::{Emulator, Fault};
use gamecode_backend::ErrorCategory;
use gamecode_e2e::*;
use gamecode_host::{Plugin, PluginHost, Policy, RunError, RunOutcome, RunReport, ViolationKind};

/// Every model answer takes this long, so the well-behaved run overlaps the adversary's.
const MODEL_LATENCY: Duration = Duration::from_millis(150);

struct Fixture {
    emu: Emulator,
    host: PluginHost,
    good: Plugin,
    hello: Plugin,
}

async fn fixture(host: impl FnOnce(&Emulator) -> PluginHost) -> Fixture {
    init_tracing();
    let emu = emulator().await;
    emu.set_latency(MODEL_LATENCY);
    let host = host(&emu);
    let good = load(&host, &guest_example());
    let hello = load(&host, &test_guest("guest_hello"));
    Fixture {
        emu,
        host,
        good,
        hello,
    }
}

impl Fixture {
    fn adversary(&self, name: &str, policy: Policy) -> Plugin {
        load(&self.host, &test_guest(name))
            .with_policy(policy)
            .expect("the policy is valid")
    }

    /// Runs `adversary` while the example agent answers a question, and checks that the
    /// agent's run was unaffected and that the host serves a new run afterwards.
    async fn alongside<T>(&self, adversary: impl Future<Output = T>) -> T {
        let good = self.good.clone();
        let good_run = tokio::spawn(async move { good.run("What is 6 * 7?").await });
        let result = adversary.await;
        let outcome: RunOutcome = good_run
            .await
            .expect("the good run's task")
            .expect("the well-behaved plugin finishes normally");
        assert!(outcome.answer.contains("42"), "{}", outcome.answer);
        let hello = self
            .hello
            .run("again")
            .await
            .expect("the host still serves");
        assert_eq!(hello.answer, "hello, again");
        result
    }
}

fn default_fixture(emu: &Emulator) -> PluginHost {
    host(emu, Policy::default())
}

// Current-thread runtime: the example agent can only make progress if the spinning plugin
// yields at its epoch ticks.
#[tokio::test(flavor = "current_thread")]
async fn infinite_loop_is_killed_at_the_deadline_without_starving_others() {
    let f = fixture(default_fixture).await;
    let deadline = Duration::from_millis(1500);
    let looper = f.adversary("guest_looper", Policy::default().with_deadline(deadline));
    let started = Instant::now();
    let err = f
        .alongside(async { looper.run("spin").await.unwrap_err() })
        .await;
    let took = started.elapsed();
    assert_eq!(err, RunError::DeadlineExceeded { deadline });
    assert!(took >= deadline, "stopped early: {took:?}");
    assert!(
        took < deadline + Duration::from_secs(2),
        "stopped late: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_also_cancels_a_plugin_waiting_on_a_slow_model() {
    let f = fixture(default_fixture).await;
    let deadline = Duration::from_millis(700);
    let slow = f
        .good
        .clone()
        .with_policy(Policy::default().with_deadline(deadline))
        .unwrap();
    f.emu.set_latency(Duration::from_secs(5));
    let started = Instant::now();
    let err = slow.run("What is 6 * 7?").await.unwrap_err();
    let took = started.elapsed();
    f.emu.set_latency(MODEL_LATENCY);
    // Cut off inside the model call: the model is blamed (exit 4 in the CLI), with the
    // attempts made, not the plugin.
    assert!(
        matches!(
            &err,
            RunError::ModelDeadline { deadline: d, attempts: 1, last_error: None } if *d == deadline
        ),
        "{err:?}"
    );
    assert!(!err.is_plugin_failure());
    assert!(
        err.to_string()
            .contains("reached while waiting for the model, after 1 attempt: no answer yet"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    let hello = f.hello.run("after").await.unwrap();
    assert_eq!(hello.answer, "hello, after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_is_stopped_at_the_cap() {
    let f = fixture(default_fixture).await;
    let cap = 32 << 20;
    let bomb = f.adversary(
        "guest_memory_bomb",
        Policy::default().with_memory_limit_bytes(cap),
    );
    let report: RunReport = f.alongside(bomb.run("boom").report()).await;
    assert_eq!(
        report.result,
        Err(RunError::MemoryLimitExceeded { limit_bytes: cap })
    );
    assert!(report.stats.peak_memory_bytes <= cap, "{:?}", report.stats);
    assert!(
        report.stats.peak_memory_bytes > cap / 2,
        "{:?}",
        report.stats
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_exhaustion_is_reported() {
    let f = fixture(|emu| {
        PluginHost::builder()
            .backend(bedrock(emu))
            .fuel(true)
            .build()
            .unwrap()
    })
    .await;
    let looper = f.adversary(
        "guest_looper",
        Policy::default().with_fuel(Some(50_000_000)),
    );
    let err = f
        .alongside(async { looper.run("spin").await.unwrap_err() })
        .await;
    assert_eq!(err, RunError::FuelExhausted { fuel: 50_000_000 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_reported_with_its_message() {
    let f = fixture(default_fixture).await;
    let panicker = f.adversary("guest_panicker", Policy::default());
    let report = f.alongside(panicker.run("go").report()).await;
    match &report.result {
        Err(RunError::Trap { message, panic, .. }) => {
            assert_eq!(panic.as_deref(), Some("guest panicked on purpose"));
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(report.stderr.contains("guest panicked on purpose"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_chat_calls_is_a_typed_error_the_guest_sees() {
    let f = fixture(default_fixture).await;
    let chatty = f.adversary("guest_chatty", Policy::default().with_max_chat_calls(3));
    let report = f.alongside(chatty.run("calls").report()).await;
    let answer = report.result.expect("chatty reports what happened");
    assert!(
        answer.starts_with("chat-limit-reached after 3 calls"),
        "{answer}"
    );
    assert_eq!(report.stats.chat_calls, 3);
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].kind, ViolationKind::ChatLimit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_budget_is_a_typed_error_the_guest_sees() {
    let f = fixture(default_fixture).await;
    let budget = 2_000;
    let chatty = f.adversary("guest_chatty", Policy::default().with_token_budget(budget));
    let report = f.alongside(chatty.run("tokens").report()).await;
    let answer = report.result.expect("chatty reports what happened");
    assert!(
        answer.starts_with("token-budget-exhausted after"),
        "{answer}"
    );
    assert_eq!(report.violations[0].kind, ViolationKind::TokenBudget);
    // The input is charged at admission and max_tokens clamped to what remains: the budget
    // holds (a call that would overshoot by its own input is refused before it is sent).
    let used = u64::from(report.stats.usage.total_tokens);
    assert!(used > 0 && used <= budget, "{:?}", report.stats);
    assert!(report.stats.tokens_charged <= budget, "{:?}", report.stats);
    // Every request of chatty's the emulator saw asked for at most the remaining budget (the
    // example agent beside it asks for room to think).
    let example = |r: &bedrock_emulator::RecordedRequest| {
        r.body["system"]
            .to_string()
            .contains("gamecode example agent")
    };
    for r in f.emu.requests().iter().filter(|r| !example(r)) {
        if let Some(max) = r.body["inferenceConfig"]["maxTokens"].as_u64() {
            assert!(max <= budget, "maxTokens {max}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_is_a_typed_error_the_guest_sees() {
    let f = fixture(default_fixture).await;
    let chatty = f.adversary(
        "guest_chatty",
        Policy::default().with_max_request_bytes(1 << 20),
    );
    let before = f.emu.request_count();
    let report = f.alongside(chatty.run("bytes").report()).await;
    let answer = report.result.expect("chatty reports what happened");
    assert!(answer.starts_with("request-too-large:"), "{answer}");
    assert_eq!(report.violations[0].kind, ViolationKind::RequestTooLarge);
    assert_eq!(report.stats.chat_calls, 0);
    // Nothing of it reached the model (only the good plugin's requests did).
    assert!(
        f.emu
            .requests()
            .iter()
            .skip(before)
            .all(|r| r.body.to_string().len() < 1 << 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_model_is_a_typed_error_the_guest_sees() {
    let f = fixture(default_fixture).await;
    let allowed = gamecode_bedrock::DEFAULT_MODEL;
    let chatty = f.adversary(
        "guest_chatty",
        Policy::default().with_allowed_models([allowed]),
    );
    let report = f
        .alongside(
            chatty
                .run("model:us.anthropic.claude-haiku-4-5-20251001-v1:0")
                .report(),
        )
        .await;
    let answer = report.result.expect("chatty reports what happened");
    assert!(answer.starts_with("model-not-allowed:"), "{answer}");
    assert_eq!(report.violations[0].kind, ViolationKind::ModelNotAllowed);
    // The allowed (default) model works, and `models` lists only what is allowed.
    let answer = chatty.run("models").await.unwrap().answer;
    assert_eq!(answer, format!("{allowed}; {allowed}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_gives_up_on_a_policy_error_is_a_policy_failure() {
    let f = fixture(default_fixture).await;
    // The example agent needs two model turns for a calculator question.
    let limited = f
        .good
        .clone()
        .with_policy(Policy::default().with_max_chat_calls(1))
        .unwrap();
    let err = f
        .alongside(async { limited.run("What is 6 * 7?").await.unwrap_err() })
        .await;
    match err {
        RunError::Policy(v) => assert_eq!(v.kind, ViolationKind::ChatLimit),
        other => panic!("expected a policy failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures_surface_as_backend_errors() {
    let f = fixture(default_fixture).await;
    f.emu.inject(Fault::access_denied(), 1);
    let err = f.good.run("What is 6 * 7?").await.unwrap_err();
    match &err {
        RunError::Backend(e) => assert_eq!(e.category(), ErrorCategory::Authentication),
        other => panic!("expected a backend failure, got {other:?}"),
    }
    assert!(!err.is_plugin_failure());
    let hello = f.hello.run("after").await.unwrap();
    assert_eq!(hello.answer, "hello, after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooling_allocator_runs_plugins_and_queues_beyond_its_slots() {
    let f = fixture(|emu| {
        PluginHost::builder()
            .backend(bedrock(emu))
            .pooling(2)
            .build()
            .unwrap()
    })
    .await;
    let bomb = f.adversary(
        "guest_memory_bomb",
        Policy::default().with_memory_limit_bytes(16 << 20),
    );
    let err = f
        .alongside(async { bomb.run("x").await.unwrap_err() })
        .await;
    assert_eq!(
        err,
        RunError::MemoryLimitExceeded {
            limit_bytes: 16 << 20
        }
    );
    // Six runs through two slots.
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let hello = f.hello.clone();
            tokio::spawn(async move { hello.run(i.to_string()).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        assert_eq!(run.await.unwrap().unwrap().answer, format!("hello, {i}"));
    }
}

/// A pooled slot is reset between runs (by rewriting the pages a run touched, where the
/// kernel can list them): the next run of the same plugin in the same slot finds nothing the
/// last one wrote, in its data segment or its zeroed memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_slot_keeps_nothing_of_the_last_run() {
    let emu = emulator().await;
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .pooling(1)
        .build()
        .unwrap();
    let escape = load(&host, &test_guest("guest_escape"));
    // Nothing listens there; the guest's socket attempt is denied anyway.
    for run in 0..3 {
        let outcome = escape.run("127.0.0.1:9").await.expect("the guest reports");
        let report: serde_json::Value = serde_json::from_str(&outcome.answer).unwrap();
        assert_eq!(report["earlier_run"], "none", "run {run}: {report:#}");
    }
}
