use super::*;
use gamecode_backend::{BackoffStrategy, ChatRequest, Message};

#[test]
fn features_guardrails_and_config_parse() {
    let p = Policy::from_toml_str(
        r#"
[features]
max_attachments = 3
max_attachment_bytes = 1000
reasoning = false
max_reasoning_budget = 2048
allowed_service_tiers = ["default", "flex"]

[guardrails.pii]
id = "gr-1"
version = "2"
trace = true

[config]
greeting = "hello"
retries = 3
"#,
    )
    .unwrap();
    assert_eq!((p.max_attachments, p.max_attachment_bytes), (3, 1000));
    assert!(!p.allow_reasoning);
    assert_eq!(p.max_reasoning_budget, Some(2048));
    assert_eq!(
        p.allowed_service_tiers,
        Some(vec![
            gamecode_backend::ServiceTier::Default,
            gamecode_backend::ServiceTier::Flex
        ])
    );
    let g = &p.guardrails["pii"];
    assert_eq!(
        (g.identifier.as_str(), g.version.as_str(), g.trace),
        ("gr-1", "2", true)
    );
    assert_eq!(p.config["greeting"], "hello");
    assert_eq!(p.config["retries"], "3");
    for bad in [
        "[features]\nallowed_service_tiers = [\"gold\"]",
        "[config]\n\"gamecode.verbose\" = \"2\"",
        "[config]\nlist = [1]",
        "[guardrails.x]\nid = \"g\"",
        "[features]\nreasonning = true",
    ] {
        assert!(Policy::from_toml_str(bad).is_err(), "{bad}");
    }
}

#[test]
fn full_manifest_parses() {
    let p = Policy::from_toml_str(
        r#"
        [limits]
        memory_mib = 64
        deadline_secs = 1.5
        fuel = 1000
        output_kib = 4
        [chat]
        max_calls = 3
        token_budget = 100
        max_request_bytes = 2048
        allowed_models = ["m1"]
        [tools]
        allowed = ["read_file"]
        "#,
    )
    .unwrap();
    assert_eq!(p.memory_limit_bytes, 64 << 20);
    assert_eq!(p.deadline, Duration::from_millis(1500));
    assert_eq!(p.fuel, Some(1000));
    assert_eq!(p.max_output_bytes, 4096);
    assert_eq!(p.max_chat_calls, 3);
    assert_eq!(p.token_budget, 100);
    assert_eq!(p.max_request_bytes, 2048);
    assert!(p.model_allowed("m1") && !p.model_allowed("m2"));
    assert!(p.tool_allowed("read_file") && !p.tool_allowed("list_dir"));
}

#[test]
fn empty_manifest_is_the_default_and_integer_seconds_work() {
    assert_eq!(Policy::from_toml_str("").unwrap(), Policy::default());
    let p = Policy::from_toml_str("[limits]\ndeadline_secs = 2").unwrap();
    assert_eq!(p.deadline, Duration::from_secs(2));
}

#[test]
fn typos_and_wrong_types_are_errors() {
    let e = Policy::from_toml_str("[chat]\nmax_cals = 3").unwrap_err();
    assert!(
        matches!(&e, PolicyError::Parse(m) if m.contains("max_cals")),
        "{e}"
    );
    let e = Policy::from_toml_str("[limits]\nmemory_mib = \"64\"").unwrap_err();
    assert!(matches!(e, PolicyError::Parse(_)), "{e}");
    let e = Policy::from_toml_str("[limit]\nmemory_mib = 64").unwrap_err();
    assert!(matches!(e, PolicyError::Parse(_)), "{e}");
    let e = Policy::from_toml_str("[limits]\ndeadline_secs = -1").unwrap_err();
    assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
    let e = Policy::from_toml_str("[limits]\nmemory_mib = 0").unwrap_err();
    assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
    let e = Policy::from_toml_str("not toml at all [").unwrap_err();
    assert!(matches!(e, PolicyError::Parse(_)), "{e}");
}

fn ask(bytes: usize, max_tokens: Option<u32>) -> ChatAsk<'static> {
    ChatAsk {
        model: None,
        bytes,
        items: 1,
        max_tokens,
        streaming: false,
        attachments: 0,
    }
}

#[test]
fn chat_admission_checks_in_order_and_counts() {
    let p = Policy::default()
        .with_max_chat_calls(1)
        .with_allowed_models(["ok"]);
    let mut m = Meter::default();
    let e = p.admit_chat(&mut m, &ask(8, None), "bad").unwrap_err();
    assert_eq!(e.kind, ViolationKind::ModelNotAllowed);
    assert_eq!(m.chat_calls, 0);
    p.admit_chat(&mut m, &ask(8, None), "ok").unwrap();
    assert_eq!(m.chat_calls, 1);
    let e = p.admit_chat(&mut m, &ask(8, None), "ok").unwrap_err();
    assert_eq!(e.kind, ViolationKind::ChatLimit);
    assert!(e.message.contains("1 chat call per run"), "{}", e.message);
}

#[test]
fn request_size_structure_and_open_streams() {
    let p = Policy::default()
        .with_max_request_bytes(10)
        .with_max_request_items(5)
        .with_max_open_streams(1);
    p.admit_chat(&mut Meter::default(), &ask(10, None), "m")
        .unwrap();
    let e = p
        .admit_chat(&mut Meter::default(), &ask(11, None), "m")
        .unwrap_err();
    assert_eq!(e.kind, ViolationKind::RequestTooLarge);
    assert!(e.message.contains("11 bytes"), "{}", e.message);
    // A million empty messages are 0 bytes of strings, and refused for their structure.
    let mut many = ask(0, None);
    many.items = 1_000_000;
    let e = p.admit_chat(&mut Meter::default(), &many, "m").unwrap_err();
    assert_eq!(e.kind, ViolationKind::RequestTooLarge);
    assert!(e.message.contains("1000000 items"), "{}", e.message);
    let mut m = Meter {
        open_streams: 1,
        ..Meter::default()
    };
    let mut stream = ask(1, None);
    stream.streaming = true;
    let e = p.admit_chat(&mut m, &stream, "m").unwrap_err();
    assert!(e.message.contains("open at once"), "{}", e.message);
    assert!(p.admit_chat(&mut m, &ask(1, None), "m").is_ok());
}

#[test]
fn token_budget_counts_input_and_reserves_output() {
    let p = Policy::default().with_token_budget(100);
    let mut m = Meter {
        tokens_used: 100,
        ..Meter::default()
    };
    let e = p.admit_chat(&mut m, &ask(4, None), "m").unwrap_err();
    assert_eq!(e.kind, ViolationKind::TokenBudget);

    // 40 bytes = 10 input tokens, charged at once; the output is clamped to the rest
    // and reserved.
    let mut m = Meter {
        tokens_used: 40,
        ..Meter::default()
    };
    let mut g = p.admit_chat(&mut m, &ask(40, None), "m").unwrap();
    assert_eq!(g.max_tokens, Some(50));
    assert_eq!((m.tokens_used, m.tokens_reserved), (50, 50));
    // Nothing is left for a concurrent call.
    let e = p.admit_chat(&mut m, &ask(4, Some(10)), "m").unwrap_err();
    assert_eq!(e.kind, ViolationKind::TokenBudget);
    // Settled at the reported usage: the reservation is released.
    m.settle(&mut g, Some(30));
    assert_eq!((m.tokens_used, m.tokens_reserved), (70, 0));

    // A request whose own input would overshoot the budget is refused before it is sent.
    let e = p.admit_chat(&mut m, &ask(200, None), "m").unwrap_err();
    assert_eq!(e.kind, ViolationKind::TokenBudget);
    assert!(e.message.contains("does not fit"), "{}", e.message);

    // An asked max_tokens below what is left stays; a large budget leaves it unset.
    let mut m = Meter::default();
    let g = p.admit_chat(&mut m, &ask(4, Some(10)), "m").unwrap();
    assert_eq!((g.max_tokens, g.clamp), (Some(10), false));
    let g = Policy::default()
        .admit_chat(&mut Meter::default(), &ask(4, None), "m")
        .unwrap();
    assert_eq!((g.max_tokens, g.clamp), (None, false));
    let mut r = ChatRequest {
        messages: vec![Message::user("hi")],
        ..Default::default()
    };
    g.apply(&mut r);
    assert_eq!(r.inference_config, None);
    let mut m = Meter::default();
    let g = p.admit_chat(&mut m, &ask(4, Some(1000)), "m").unwrap();
    g.apply(&mut r);
    assert_eq!(r.inference_config.unwrap().max_tokens, Some(99));
}

#[test]
fn a_withdrawn_call_costs_nothing() {
    let p = Policy::default().with_token_budget(100);
    let mut m = Meter::default();
    let mut g = p.admit_chat(&mut m, &ask(40, None), "m").unwrap();
    m.withdraw(&mut g);
    assert_eq!(m, Meter::default());
}

#[test]
fn retry_section_parses_and_bad_values_name_key_and_line() {
    let p = Policy::from_toml_str(
        "[retry]\nmax_retries = 1\ninitial_delay_ms = 100\nbackoff = \"linear\"\n\
         increment_ms = 50\nmax_delay_ms = 1000\njitter = 0.25\nbudget = 40\nadaptive = false\n",
    )
    .unwrap();
    let r = p.retry.unwrap();
    assert_eq!(r.max_retries, 1);
    assert_eq!(r.initial_delay, Duration::from_millis(100));
    assert_eq!(
        r.backoff_strategy,
        BackoffStrategy::Linear {
            increment: Duration::from_millis(50)
        }
    );
    assert_eq!(r.max_delay, Duration::from_secs(1));
    assert_eq!(r.jitter, 0.25);
    assert_eq!(p.retry_budget, Some(40));
    assert_eq!(p.adaptive_rate_limit, Some(false));
    // Only what is set changes: exponential ×2 by default.
    let p = Policy::from_toml_str("[retry]\nmax_retries = 0").unwrap();
    assert_eq!(p.retry, Some(RetryConfig::disabled()));
    assert_eq!(Policy::from_toml_str("").unwrap().retry, None);

    for (text, key, line) in [
        ("[retry]\nmax_retries = 1\njitter = 2.0", "retry.jitter", 3),
        ("[retry]\nbackoff = \"cubic\"", "retry.backoff", 2),
        (
            "\n[retry]\nbackoff = \"fixed\"\nmultiplier = 3",
            "retry.multiplier",
            4,
        ),
        ("[retry]\nincrement_ms = 3", "retry.increment_ms", 2),
        ("[retry]\nmax_retries = 1000", "retry.max_retries", 2),
        (
            "[retry]\ninitial_delay_ms = 5000\nmax_delay_ms = 10",
            "retry.max_delay_ms",
            3,
        ),
        ("[retry]\nbudget = 0", "retry.budget", 2),
    ] {
        let e = Policy::from_toml_str(text).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
        assert!(e.contains(&format!("line {line}")), "{text}: {e}");
    }
    let e = Policy::from_toml_str("[retry]\nmax_retries = -1").unwrap_err();
    assert!(matches!(e, PolicyError::Parse(_)), "{e}");
    let e = Policy::from_toml_str("[retry]\nmax_retrys = 1").unwrap_err();
    assert!(e.to_string().contains("max_retrys"), "{e}");
}

#[test]
fn tools_default_to_all_offered() {
    assert!(Policy::default().admit_tool("anything", None).is_ok());
    let p = Policy::default().with_allowed_tools(Vec::<String>::new());
    assert_eq!(
        p.admit_tool("read_file", None).unwrap_err().kind,
        ViolationKind::ToolNotAllowed
    );
}
