//! The example agent plugin in Rust, Python and JavaScript: each runs in the host against the
//! emulator through the real SDK, and all three behave the same way observably — the tools
//! they offer, the calls they make, the tool results they send, the answer, and what
//! `inspect` says of them.

use bedrock_emulator::{Emulator, Operation, Reply};
use gamecode_e2e::*;
use gamecode_host::tools::fs::FsRoot;
use gamecode_host::{PluginHost, Policy};
use serde_json::{Value, json};

/// What a run looked like from outside the plugin.
#[derive(Debug, PartialEq)]
struct Observed {
    answer: String,
    offered_tools: Vec<String>,
    operations: Vec<Operation>,
    tool_results: Vec<Value>,
    host_tool_calls: Vec<(String, bool)>,
}

fn offered_tools(emu: &Emulator) -> Vec<String> {
    emu.requests()[0].body["toolConfig"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str().map(String::from))
        .collect()
}

/// The toolResult blocks of the last request (the one that produced the answer).
fn last_tool_results(emu: &Emulator) -> Vec<Value> {
    let requests = emu.requests();
    let Some(last) = requests.last() else {
        return Vec::new();
    };
    message_blocks(&last.body)
        .into_iter()
        .filter_map(|b| b.get("toolResult").cloned())
        .map(|mut r| {
            // Tool-use ids are the emulator's; they differ per run by design.
            r.as_object_mut().map(|o| o.remove("toolUseId"));
            r
        })
        .collect()
}

async fn run_scripted(
    language: GuestLanguage,
    task: &str,
    replies: Vec<Reply>,
) -> (Observed, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "the launch code is pineapple").unwrap();
    let emu = emulator().await;
    for reply in replies {
        emu.push_reply(reply);
    }
    let (observer, calls) = tool_call_observer();
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .tools(FsRoot::new(dir.path()).unwrap().tools())
        .observer(observer)
        .cache(Some(shared_cache()))
        .build()
        .unwrap();
    // The raw replies scripted here hold no reasoning: the example must not ask to think.
    let plugin = load(&host, &example_in(language))
        .with_policy(Policy::default().with_config("reasoning-budget", "0"))
        .expect("a valid policy");
    let outcome = plugin
        .run(task)
        .await
        .unwrap_or_else(|e| panic!("{language:?}: the run fails: {e}"));
    let observed = Observed {
        answer: outcome.answer,
        offered_tools: offered_tools(&emu),
        operations: emu.requests().iter().map(|r| r.operation).collect(),
        tool_results: last_tool_results(&emu),
        host_tool_calls: calls.lock().unwrap().clone(),
    };
    (observed, outcome.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_languages_run_the_same_tool_loop() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    let mut seen = Vec::new();
    for language in GuestLanguage::ALL {
        let (observed, stderr) = run_scripted(
            language,
            "What is 6 * 7, and what does notes.txt say?",
            vec![
                Reply::Raw {
                    content: vec![
                        json!({"toolUse": {"toolUseId": "t1", "name": "calculator", "input": {"expression": "6*7"}}}),
                        json!({"toolUse": {"toolUseId": "t2", "name": "read_file", "input": {"path": "notes.txt"}}}),
                        json!({"toolUse": {"toolUseId": "t3", "name": "calculator", "input": {"expression": "1/0"}}}),
                    ],
                    stop_reason: "tool_use".into(),
                },
            ],
        )
        .await;
        assert!(
            observed.answer.contains("42"),
            "{language:?}: {}",
            observed.answer
        );
        assert!(
            observed.answer.contains("pineapple"),
            "{language:?}: {}",
            observed.answer
        );
        assert_eq!(
            observed.offered_tools[..2],
            ["calculator", "text_stats"],
            "{language:?}"
        );
        assert!(
            observed.offered_tools.contains(&"read_file".to_string()),
            "{language:?}"
        );
        assert_eq!(
            observed.operations,
            [Operation::ConverseStream, Operation::ConverseStream],
            "{language:?}: every turn streams"
        );
        assert_eq!(
            observed.host_tool_calls,
            [("read_file".to_string(), true)],
            "{language:?}"
        );
        let errors: Vec<bool> = observed
            .tool_results
            .iter()
            .map(|r| r["status"] == "error")
            .collect();
        assert_eq!(
            errors,
            [false, false, true],
            "{language:?}: 1/0 is a flagged tool error"
        );
        assert!(
            stderr.contains("calculator"),
            "{language:?}: progress lines: {stderr}"
        );
        seen.push((language, observed));
    }
    let (_, rust) = &seen[0];
    for (language, observed) in &seen[1..] {
        assert_eq!(observed, rust, "{language:?} behaves like Rust");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_answer_the_emulators_own_tool_choice() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    // No script: the emulator's default responder picks the first tool (calculator) and
    // fills its input from the question, as a model would.
    let mut answers = Vec::new();
    for language in GuestLanguage::ALL {
        let (observed, _) = run_scripted(language, "What is 6 * 7?", vec![]).await;
        assert!(
            observed.answer.contains("42"),
            "{language:?}: {}",
            observed.answer
        );
        answers.push(observed.answer);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_accepts_all_three() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    let emu = emulator().await;
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .cache(Some(shared_cache()))
        .build()
        .unwrap();
    for language in GuestLanguage::ALL {
        let inspection = host
            .inspect_file(example_in(language))
            .unwrap_or_else(|e| panic!("{language:?}: {e}"));
        assert!(
            inspection.runnable.is_ok(),
            "{language:?}: {:?}",
            inspection.runnable
        );
        let report = inspection.render();
        assert!(
            report.contains("gamecode:plugin/agent@0.2.1"),
            "{language:?}: {report}"
        );
        assert!(
            report.contains("gamecode:plugin/chat@0.2.1"),
            "{language:?}: {report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_remember_the_sessions_conversation() {
    let _busy = busy_machine();
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        gamecode_host::state::SqliteStore::open(dir.path().join("state.sqlite")).unwrap(),
    );
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .state(store)
        .cache(Some(shared_cache()))
        .build()
        .unwrap();
    for language in GuestLanguage::ALL {
        let plugin = load(&host, &example_in(language));
        let session = format!("{language:?}");
        let first = plugin.run("My name is Ada.").session(&session).await;
        assert!(first.is_ok(), "{language:?}: {first:?}");
        let recall = plugin
            .run("What did I say before?")
            .session(&session)
            .await
            .unwrap_or_else(|e| panic!("{language:?}: {e}"))
            .answer;
        assert_eq!(
            recall, "Earlier in this conversation you said: \"My name is Ada.\".",
            "{language:?}"
        );
    }
}
