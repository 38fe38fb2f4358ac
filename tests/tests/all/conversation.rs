//! The 0.2.0 `conversation` held by the host, through the real SDK against the emulator:
//! automatic prompt caching, the history, its state rules, the policy on 0.2.0 options and
//! attachments, and plugin configuration.

use gamecode_backend::{GuardrailConfig, ServiceTier};
use gamecode_e2e::*;
use gamecode_host::{Attachment, Policy, Task, ViolationKind};

fn converse(host: &gamecode_host::PluginHost, policy: Policy) -> gamecode_host::Plugin {
    load(host, &test_guest("guest_converse"))
        .with_policy(policy)
        .expect("the policy is valid")
}

/// `(input, read, write)` of each `turn i: in=… read=… write=…` line.
fn usage_lines(answer: &str) -> Vec<(u32, u32, u32)> {
    answer
        .lines()
        .filter(|l| l.starts_with("turn "))
        .map(|l| {
            let field = |name: &str| -> u32 {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} in {l}"))
            };
            (field("in="), field("read="), field("write="))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_places_cache_points_on_the_growing_prefix() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let plugin = converse(&host, Policy::default());

    let report = plugin.run("turns:6").report().await;
    let cached = report.result.expect("six turns");
    let turns = usage_lines(&cached);
    assert_eq!(turns.len(), 6, "{cached}");
    assert!(
        cached.ends_with("length 12"),
        "the host appended every reply: {cached}"
    );
    // Turn 1 writes the system prompt and the first turn; every later turn reads what the
    // turn before wrote, and writes only its own new part.
    assert!(turns[0].1 == 0 && turns[0].2 > 2_000, "{turns:?}");
    for (i, window) in turns.windows(2).enumerate() {
        let (before, now) = (window[0], window[1]);
        assert!(now.1 >= before.1 + before.2, "turn {}: {turns:?}", i + 2);
        assert!(
            now.0 < 100,
            "turn {}: little uncached input: {turns:?}",
            i + 2
        );
    }
    // The run's stats count reads and writes apart.
    let usage = report.stats.usage;
    assert_eq!(
        usage.cache_read_input_tokens,
        turns.iter().map(|t| t.1).sum::<u32>()
    );
    assert_eq!(
        usage.cache_write_input_tokens,
        turns.iter().map(|t| t.2).sum::<u32>()
    );
    // What went over the wire: at most 4 cache points, none the plugin placed.
    for r in emu.requests() {
        let points = r.body.to_string().matches("cachePoint").count();
        assert!((1..=4).contains(&points), "{points} cache points");
    }

    // With auto-cache off, the same conversation bills everything at full price.
    let plain = answer(&plugin, "no-cache:6").await;
    let uncached = usage_lines(&plain);
    assert!(uncached.iter().all(|t| t.1 == 0 && t.2 == 0), "{plain}");
    let full: u32 = uncached.iter().map(|t| t.0).sum();
    let billed: u32 = turns.iter().map(|t| t.0).sum();
    assert!(billed * 10 < full, "cached {billed} vs uncached {full}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_state_and_streams() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let plugin = converse(&host, Policy::default());

    // Two pushes make one user turn; the reply is appended; no host cache point shows.
    let history = answer(&plugin, "history").await;
    assert_eq!(
        history, "Role::User: text text\nRole::Assistant: text",
        "{history}"
    );

    let state = answer(&plugin, "state").await;
    let lines: Vec<&str> = state.lines().collect();
    assert!(
        lines[0].starts_with("send first: conversation-state: nothing to send"),
        "{state}"
    );
    assert!(
        lines[1].starts_with("push while streaming: conversation-state: a reply"),
        "{state}"
    );
    assert!(
        lines[2].starts_with("send while streaming: conversation-state"),
        "{state}"
    );
    // The dropped turn left the user's turn in place, and it can be sent again.
    assert_eq!(lines[3], "after drop: length 1", "{state}");
    assert_eq!(lines[4], "send again: ok", "{state}");
    assert_eq!(lines[5], "after the turn: length 2", "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_is_kept_for_the_next_turn_and_bounded_by_the_policy() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());

    // The reply starts with signed reasoning, kept in the conversation as it came.
    let ok = answer(&converse(&host, Policy::default()), "reasoning:1024").await;
    assert_eq!(ok.lines().last(), Some("2"), "reasoning + text: {ok}");

    let capped = Policy {
        max_reasoning_budget: Some(2_048),
        ..Policy::default()
    };
    let report = converse(&host, capped).run("reasoning:4096").report().await;
    let refused = report.result.expect("the guest reports the refusal");
    assert!(
        refused.starts_with("option-not-allowed: a thinking budget of 4096 tokens is over"),
        "{refused}"
    );
    assert_eq!(report.violations[0].kind, ViolationKind::OptionNotAllowed);

    let off = Policy {
        allow_reasoning: false,
        ..Policy::default()
    };
    let refused = answer(&converse(&host, off), "reasoning:1024").await;
    assert!(refused.starts_with("option-not-allowed"), "{refused}");
    // Nothing refused by the policy reached the emulator.
    assert_eq!(emu.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_and_guardrails_follow_the_policy() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let policy = Policy {
        allowed_service_tiers: Some(vec![ServiceTier::Default, ServiceTier::Flex]),
        ..Policy::default()
    }
    .with_guardrail(
        "pii",
        GuardrailConfig {
            identifier: "gr-123".into(),
            version: "2".into(),
            trace: true,
            stream_async: false,
        },
    );
    let plugin = converse(&host, policy);

    let flex = answer(&plugin, "tier:flex").await;
    assert!(flex.contains("tier Some(ServiceTier::Flex)"), "{flex}");
    let priority = answer(&plugin, "tier:priority").await;
    assert!(
        priority.starts_with(
            "option-not-allowed: this plugin may not use the `priority` service tier (allowed: \
             default, flex)"
        ),
        "{priority}"
    );

    // The plugin names the guardrail; the host sends its id and version, never shown back.
    let guarded = answer(&plugin, "guardrail:pii").await;
    assert!(guarded.contains("trace true"), "{guarded}");
    let sent = emu.requests();
    let last = &sent.last().expect("requests").body;
    assert_eq!(last["guardrailConfig"]["guardrailIdentifier"], "gr-123");
    assert_eq!(last["guardrailConfig"]["guardrailVersion"], "2");
    let unknown = answer(&plugin, "guardrail:secret-one").await;
    assert!(
        unknown.starts_with("option-not-allowed: the host's policy defines no guardrail named `secret-one` (it defines: pii)"),
        "{unknown}"
    );
    assert_eq!(emu.request_count(), 2, "refusals never reach Bedrock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_config_and_size_limits() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let policy = Policy::default()
        .with_config("greeting", "hello")
        .with_max_request_bytes(64 * 1024);
    let plugin = converse(&host, policy.clone());

    let config = answer(&plugin, "config:greeting").await;
    assert_eq!(
        config, "greeting=Some(\"hello\")\nall: greeting=hello",
        "{config}"
    );
    let missing = answer(&plugin, "config:nope").await;
    assert!(missing.starts_with("nope=None"), "{missing}");

    // The conversation is measured as it grows: refused at the policy's size, at once.
    let grown = answer(&plugin, "grow:16").await;
    assert!(
        grown.starts_with("refused after 3 pushes: request-too-large: the conversation would be"),
        "{grown}"
    );

    // Conversations live in the host: all of a run's together hold at most its memory limit.
    let hoarder = converse(&host, policy.clone().with_memory_limit_bytes(8 << 20));
    let hoarded = answer(&hoarder, "hoard:60").await;
    assert!(
        hoarded.starts_with(
            "refused after 136: request-too-large: the conversations of this run would hold"
        ),
        "{hoarded}"
    );

    // Attachments reach the model as images and documents (the emulator describes them).
    let png = png(640, 480);
    let task = Task {
        text: "attach".into(),
        attachments: vec![
            Attachment::from_bytes("photo", png.clone()).expect("a png"),
            Attachment::from_bytes("notes", b"Release notes: all good.".to_vec()).expect("text"),
        ],
    };
    let described = plugin.run(&task).await.expect("runs").answer;
    assert!(described.contains("PNG image, 640×480"), "{described}");
    assert!(described.contains("\"notes\""), "{described}");

    // The policy's attachment limits hold for the task and for what the plugin pushes.
    let few = Policy {
        max_attachments: 1,
        ..policy
    };
    let report = converse(&host, few).run(&task).report().await;
    let e = report.result.expect_err("two attachments, one allowed");
    assert!(
        e.to_string()
            .contains("the request holds 2 images and documents; this plugin may send at most 1"),
        "{e}"
    );
    let small = Policy {
        max_attachment_bytes: 20,
        ..Policy::default()
    };
    let image_only = Task {
        text: "attach".into(),
        attachments: vec![Attachment::from_bytes("photo", png).expect("a png")],
    };
    let report = converse(&host, small).run(&image_only).report().await;
    assert!(report.result.is_err(), "{report:?}");
    assert_eq!(report.violations[0].kind, ViolationKind::RequestTooLarge);
}

#[tokio::test]
async fn describe_model_tells_the_plugin_what_the_default_model_takes() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let model = answer(&converse(&host, Policy::default()), "model").await;
    assert_eq!(
        model,
        "anthropic.claude-sonnet-4-6 images=true documents=true reasoning=true \
         cache-min=Some(2048)"
    );
}
