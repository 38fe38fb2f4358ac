//! Record and replay: a run recorded against the emulator (through the real SDK, signed)
//! replays from its cassette alone — same answer, same tool calls, streamed and not — a
//! changed prompt is drift named at its exchange and field, a recorded throttle replays as
//! the same category, and nothing secret lands in a cassette.

use std::path::Path;
use std::sync::Arc;

use bedrock_emulator::{Emulator, Fault, ReplayOptions, Reply};
use gamecode_backend::{ErrorCategory, LLMBackend, RetryConfig};
use gamecode_bedrock::{BedrockBackend, Recorder};
use gamecode_cassette::Cassette;
use gamecode_e2e::*;
use gamecode_host::{Plugin, PluginHost, Policy, RunError};

/// A host on `emu`, recording into `cassette` if given.
fn host_on(emu: &Emulator, record: Option<&Path>, retry: RetryConfig) -> PluginHost {
    let mut backend = BedrockBackend::new_with_config(&emu.sdk_config())
        .expect("the emulator's config")
        .with_retry_config(retry);
    if let Some(path) = record {
        backend = backend.with_recorder(
            Recorder::create(path, &gamecode_cassette::now_rfc3339()).expect("a cassette file"),
        );
    }
    let backend: Arc<dyn LLMBackend> = Arc::new(backend);
    PluginHost::builder()
        .backend(backend)
        .cache(Some(shared_cache()))
        .build()
        .expect("host")
}

/// An emulator answering only from `cassette` (a drifted request is refused).
async fn replayer(cassette: &Path, fallback: bool) -> Emulator {
    let emu = emulator().await;
    emu.load_cassette(
        Cassette::from_file(cassette).expect("a cassette"),
        ReplayOptions {
            speed: 0.0,
            fallback,
        },
    );
    emu
}

/// An emulator whose model answers "6 * 7" with a calculator call.
async fn calculating_emulator() -> Emulator {
    let emu = emulator().await;
    emu.add_rule(
        "6 * 7",
        Reply::ToolUse {
            name: "calculator".into(),
            input: serde_json::json!({"expression": "6*7"}),
        },
    );
    emu
}

fn tool_calls(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .iter()
        .flat_map(|r| message_blocks(&r.body))
        .filter_map(|b| b.get("toolUse").map(|t| t["name"].to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_run_replays_from_its_cassette_alone() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("run.jsonl");

    // Recorded against the emulator with a scripted model the replayer does not have.
    let live = calculating_emulator().await;
    let host = host_on(&live, Some(&cassette), fast_retry(2));
    let plugin = load(&host, &guest_example());
    let recorded = plugin.run("What is 6 * 7?").await.expect("the live run");
    let recorded_calls = tool_calls(&live);

    let c = Cassette::from_file(&cassette).expect("the cassette reads back");
    assert_eq!(c.exchanges.len(), 2, "two streamed turns");
    assert!(
        c.exchanges
            .iter()
            .all(|x| x.events.is_some() && x.status == 200)
    );

    // Replayed: the same answer and the same tool calls, with no model behind it.
    let emu = replayer(&cassette, false).await;
    let host = host_on(&emu, None, fast_retry(2));
    let plugin = load(&host, &guest_example());
    let replayed = plugin.run("What is 6 * 7?").await.expect("the replay");
    assert_eq!(replayed.answer, recorded.answer);
    assert_eq!(tool_calls(&emu), recorded_calls);
    assert!(emu.drift().is_empty(), "{:?}", emu.drift());
    assert_eq!(emu.replay_remaining(), Some(0));
    // Signatures were verified as usual: the replayer answered signed requests only.
    assert!(emu.requests().iter().all(|r| r.status == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_and_streamed_turns_replay_with_their_usage() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("turns.jsonl");
    let live = emulator().await;
    let converse = |host: &PluginHost| -> Plugin { load(host, &test_guest("guest_converse")) };
    // Odd turns `send` (Converse), even turns `send-stream` (ConverseStream).
    let recorded = answer(
        &converse(&host_on(&live, Some(&cassette), fast_retry(2))),
        "turns:4",
    )
    .await;
    let c = Cassette::from_file(&cassette).expect("cassette");
    let ops: Vec<String> = c
        .exchanges
        .iter()
        .map(|x| x.operation.to_string())
        .collect();
    assert_eq!(
        ops,
        ["Converse", "ConverseStream", "Converse", "ConverseStream"]
    );

    let emu = replayer(&cassette, false).await;
    let replayed = answer(&converse(&host_on(&emu, None, fast_retry(2))), "turns:4").await;
    // The usage lines (cache reads and writes included) are the recorded ones.
    assert_eq!(replayed, recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_prompt_is_drift_at_its_exchange_and_field() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("run.jsonl");
    let live = emulator().await;
    let host = host_on(&live, Some(&cassette), fast_retry(2));
    load(&host, &guest_example())
        .run("What is 6 * 7?")
        .await
        .expect("recorded");

    // Refused, and reported: exchange 1, the user's text.
    let emu = replayer(&cassette, false).await;
    let host = host_on(&emu, None, fast_retry(2));
    let e = load(&host, &guest_example())
        .run("What is 6 * 8?")
        .await
        .expect_err("drift fails the run");
    assert!(matches!(&e, RunError::Backend(b) if b.category() == ErrorCategory::Validation));
    let drift = emu.drift();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].exchange, 1);
    assert_eq!(drift[0].path, "messages[0].content[0].text");
    assert_eq!(
        drift[0].to_string(),
        "drift at exchange 1: messages[0].content[0].text was \"What is 6 * 7?\", now \"What is \
         6 * 8?\""
    );

    // With the fallback, the emulator's responder answers the drifted turns, and says so.
    let emu = replayer(&cassette, true).await;
    let host = host_on(&emu, None, fast_retry(2));
    let outcome = load(&host, &guest_example())
        .run("What is 6 * 8?")
        .await
        .expect("the fallback answers");
    assert!(outcome.answer.contains("48"), "{}", outcome.answer);
    assert_eq!(
        emu.drift().len(),
        2,
        "both turns drifted: {:?}",
        emu.drift()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_throttle_replays_as_the_same_category() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("throttled.jsonl");
    let no_retries = RetryConfig {
        max_retries: 0,
        ..fast_retry(2)
    };
    let live = emulator().await;
    live.inject(Fault::throttling(), 1);
    let host = host_on(&live, Some(&cassette), no_retries.clone());
    let live_run = load(&host, &guest_example()).run("What is 6 * 7?").await;
    let live_err = live_run.expect_err("throttled, no retries");
    assert!(
        matches!(&live_err, RunError::Backend(b) if b.category() == ErrorCategory::RateLimited),
        "{live_err}"
    );
    let c = Cassette::from_file(&cassette).expect("cassette");
    let error = c.exchanges[0].error.as_ref().expect("a recorded error");
    assert_eq!(
        (
            error.code.as_str(),
            error.category.as_str(),
            c.exchanges[0].status
        ),
        ("ThrottlingException", "rate-limited", 429)
    );

    let emu = replayer(&cassette, false).await;
    let host = host_on(&emu, None, no_retries);
    let replayed = load(&host, &guest_example())
        .run("What is 6 * 7?")
        .await
        .expect_err("the throttle replays");
    assert!(
        matches!(&replayed, RunError::Backend(b) if b.category() == ErrorCategory::RateLimited),
        "{replayed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_recorded() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("run.jsonl");
    let live = emulator().await;
    // A guardrail named by ARN, account id included.
    let policy = Policy::default().with_guardrail(
        "pii",
        gamecode_backend::GuardrailConfig {
            identifier: "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123".into(),
            version: "1".into(),
            trace: true,
            stream_async: false,
        },
    );
    let host = host_on(&live, Some(&cassette), fast_retry(2));
    let plugin = load(&host, &test_guest("guest_converse"))
        .with_policy(policy)
        .expect("policy");
    answer(&plugin, "guardrail:pii").await;
    answer(&plugin, "turns:2").await;
    let text = std::fs::read_to_string(&cassette).expect("cassette");
    assert!(
        text.contains("guardrail/abc123"),
        "the guardrail was recorded"
    );
    for secret in [
        bedrock_emulator::DEFAULT_ACCESS_KEY_ID,
        bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        "123456789012",
        "Signature=",
        "AWS4-HMAC-SHA256",
        "x-amz-security-token",
        "X-Amz-Date",
        "authorization",
        "Authorization",
    ] {
        assert!(!text.contains(secret), "{secret} in the cassette");
    }
    assert!(text.contains("arn:aws:bedrock:us-east-1:000000000000:guardrail/abc123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_python_reads_a_cassette() {
    init_tracing();
    let block = readme_block("read-cassette");
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("run.jsonl");
    let live = emulator().await;
    let host = host_on(&live, Some(&cassette), fast_retry(2));
    load(&host, &guest_example())
        .run("What is 6 * 7?")
        .await
        .expect("recorded");
    let script = dir.path().join("read.py");
    std::fs::write(&script, block).expect("script");
    let out = std::process::Command::new("python3")
        .current_dir(dir.path())
        .arg(&script)
        .output()
        .expect("python3 runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "1 ConverseStream us.anthropic.claude-sonnet-4-6 17 events",
            "2 ConverseStream us.anthropic.claude-sonnet-4-6 12 events"
        ]
    );
}

/// The error path: an AccessDenied naming an assumed-role ARN and an account id, recorded by
/// a backend signing with a session token and by one sending a Bedrock API key. None of
/// them reaches the cassette; the error itself does, scrubbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_session_tokens_and_api_keys_stay_out_of_cassettes() {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE-session-token-0123456789";
    const KEY: &str = "ABSKexample-bedrock-api-key-0123456789";
    const ROLE_ARN: &str = "arn:aws:sts::123456789012:assumed-role/BedrockRole/alice@example.com";
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = dir.path().join("denied.jsonl");
    let emu = Emulator::start_with(bedrock_emulator::EmulatorConfig {
        api_key: Some(KEY.into()),
        ..Default::default()
    })
    .await
    .expect("emulator");
    emu.inject(
        Fault::Error {
            status: 403,
            error_type: "AccessDeniedException".into(),
            message: format!(
                "User: {ROLE_ARN} is not authorized to perform: bedrock:InvokeModel on resource: \
                 arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-6 with an \
                 explicit deny (account 123456789012)"
            ),
            retry_after: None,
        },
        2,
    );
    let recorder = Recorder::create(&cassette, "2026-12-06T00:00:00Z").expect("recorder");
    let with_token = emu
        .sdk_config()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            bedrock_emulator::DEFAULT_ACCESS_KEY_ID,
            bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
            Some(TOKEN.into()),
            None,
            "test",
        )))
        .build();
    let signed = BedrockBackend::new_with_config(&with_token)
        .expect("backend")
        .with_recorder(recorder.clone());
    let keyed = BedrockBackend::new_with_config(&emu.sdk_config())
        .expect("backend")
        .with_api_key(KEY)
        .with_recorder(recorder);
    let request = || gamecode_backend::ChatRequest {
        messages: vec![gamecode_backend::Message::user("hi")],
        ..Default::default()
    };
    for backend in [&signed, &keyed] {
        let err = backend
            .chat_with_retry(request(), RetryConfig::disabled())
            .await
            .expect_err("denied");
        assert_eq!(err.category(), ErrorCategory::Authentication, "{err}");
    }
    // Both secrets were on the wire, so their absence from the file means something.
    let sent = emu.requests();
    assert_eq!(sent.len(), 2);
    let header = |i: usize, name: &str| {
        sent[i]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header(0, "x-amz-security-token"), TOKEN);
    assert_eq!(header(1, "authorization"), format!("Bearer {KEY}"));
    let text = std::fs::read_to_string(&cassette).expect("cassette");
    assert_eq!(text.matches("AccessDeniedException").count(), 2, "{text}");
    for secret in [TOKEN, KEY, ROLE_ARN, "123456789012", "alice@example.com"] {
        assert!(!text.contains(secret), "{secret} in the cassette:\n{text}");
    }
    assert!(
        text.contains("arn:aws:sts::000000000000:assumed-role/BedrockRole/session"),
        "{text}"
    );
}

/// What a conversation sends does not depend on what the backend keeps between its turns: a
/// 12-turn conversation (whole and streamed turns, the host's cache points moving along) and
/// the example's tool loop record the cassettes that were recorded before Bedrock kept
/// converted turns (`tests/fixtures/cassettes`, timings blanked: they are the clock's), and
/// those replay without drift. `GAMECODE_BLESS=1` records the fixtures anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_record_the_cassettes_recorded_before_turns_were_kept() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = workspace_root().join("tests/fixtures/cassettes");
    let runs = [
        ("turns", test_guest("guest_converse"), "turns:12"),
        ("tool_loop", guest_example(), "What is 6 * 7?"),
    ];
    for (name, guest, task) in runs {
        let path = dir.path().join(format!("{name}.jsonl"));
        let live = calculating_emulator().await;
        let host = host_on(&live, Some(&path), fast_retry(0));
        load(&host, &guest).run(task).await.expect(name);
        let recorded = timeless(&std::fs::read_to_string(&path).expect("the cassette"));
        let fixture = fixtures.join(format!("{name}.jsonl"));
        if std::env::var_os("GAMECODE_BLESS").is_some() {
            std::fs::create_dir_all(&fixtures).expect("fixtures dir");
            std::fs::write(&fixture, &recorded).expect("fixture written");
        }
        let before = std::fs::read_to_string(&fixture).expect("the fixture");
        assert!(
            recorded == before,
            "{name}: the cassette differs from the one recorded before:\n{recorded}"
        );

        // The cassette recorded before replays with no drift.
        let emu = replayer(&fixture, false).await;
        let host = host_on(&emu, None, fast_retry(0));
        load(&host, &guest).run(task).await.expect(name);
        assert!(emu.drift().is_empty(), "{name}: {:?}", emu.drift());
        assert_eq!(emu.replay_remaining(), Some(0), "{name}");
    }
}

/// A cassette's text with what the clock wrote blanked: `recorded_at`, and every `at_ms`
/// and `elapsed_ms` (the rest, request bodies above all, byte for byte).
fn timeless(cassette: &str) -> String {
    let mut out = cassette.to_string();
    for key in ["\"at_ms\":", "\"elapsed_ms\":"] {
        out = blank_numbers_after(&out, key);
    }
    match out.find("\"recorded_at\":\"") {
        Some(at) => {
            let start = at + "\"recorded_at\":\"".len();
            let end = out[start..].find('"').map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "");
            out
        }
        None => out,
    }
}

fn blank_numbers_after(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = &rest[at + key.len()..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push('0');
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}
