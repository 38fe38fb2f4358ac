//! Every WIT version in one host: the 0.1.0 example, kept as a binary built before 0.2.0
//! existed, runs unchanged beside the 0.2.1 examples in Rust, Python and JavaScript, all at
//! once; each sees its own version of the API. (0.2.0 plugins, the test guests, link to the
//! same 0.2.1 host.)

use std::sync::Arc;

use gamecode_e2e::*;
use gamecode_host::{Attachment, Plugin, PluginHost, Task, WitVersion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_1_0_fixture_and_the_0_2_0_examples_run_together() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    let emu = emulator().await;
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .cache(Some(shared_cache()))
        .build()
        .expect("host");

    let mut plugins: Vec<(String, Plugin)> =
        vec![("0.1.0 fixture".into(), load(&host, &fixture_v0_1_0()))];
    for language in GuestLanguage::ALL {
        plugins.push((format!("{language:?}"), load(&host, &example_in(language))));
    }
    assert_eq!(plugins[0].1.wit_version(), WitVersion::V0_1_0);
    for (name, plugin) in &plugins[1..] {
        assert_eq!(plugin.wit_version(), WitVersion::V0_2_0, "{name}");
    }

    // Every plugin, three runs each, all at once.
    let mut runs = tokio::task::JoinSet::new();
    for (name, plugin) in &plugins {
        for _ in 0..3 {
            let (name, plugin) = (name.clone(), plugin.clone());
            runs.spawn(async move { (name, plugin.run("What is 6 * 7?").await) });
        }
    }
    let mut answered = 0;
    while let Some(joined) = runs.join_next().await {
        let (name, outcome) = joined.expect("the run's task");
        let outcome = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(outcome.answer.contains("42"), "{name}: {}", outcome.answer);
        assert_eq!(
            outcome.stats.chat_calls, 2,
            "{name}: one tool turn, one answer"
        );
        answered += 1;
    }
    assert_eq!(answered, 12);

    // The 0.2.0 plugins thought (their model can); the 0.1.0 one never asked to. Each
    // request carries the version's options or none.
    let requests = emu.requests();
    let thinking = requests
        .iter()
        .filter(|r| r.body["additionalModelRequestFields"]["thinking"]["type"] == "enabled")
        .count();
    assert_eq!(thinking, 9 * 2, "two turns of each 0.2.0 run");
    assert_eq!(requests.len(), 12 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_reach_0_2_0_plugins_and_are_refused_for_0_1_0() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    let emu = emulator().await;
    let host = Arc::new(
        PluginHost::builder()
            .backend(bedrock(&emu))
            .cache(Some(shared_cache()))
            .build()
            .expect("host"),
    );
    let pdf = b"%PDF-1.4\n1 0 obj<</Type/Page>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let task = Task {
        text: "What is in this document?".into(),
        attachments: vec![Attachment::from_bytes("spec v2", pdf).expect("a pdf")],
    };
    for language in GuestLanguage::ALL {
        let plugin = load(&host, &example_in(language));
        let answer = plugin
            .run(&task)
            .await
            .unwrap_or_else(|e| panic!("{language:?}: {e}"))
            .answer;
        assert!(
            answer.contains("The document \"spec v2\" is a PDF document"),
            "{language:?}: {answer}"
        );
    }
    // A 0.1.0 plugin gets the words only (the CLI refuses --attach for it up front).
    let old = load(&host, &fixture_v0_1_0());
    let answer = old.run(&task).await.expect("runs").answer;
    assert!(!answer.contains("PDF"), "{answer}");
}
