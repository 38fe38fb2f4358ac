//! End to end: host + guest-example + BedrockBackend (real SDK) + emulator. The tool loop
//! completes and the answer uses the tool's result.

use bedrock_emulator::{Operation, Reply};
use gamecode_e2e::*;
use gamecode_host::tools::fs::FsRoot;
use gamecode_host::{PluginHost, Policy, RunEvent};
use serde_json::{Value, json};

/// Every toolResult block the model was sent, as JSON.
fn tool_results(emu: &bedrock_emulator::Emulator) -> Vec<Value> {
    emu.requests()
        .iter()
        .filter(|r| matches!(r.operation, Operation::Converse | Operation::ConverseStream))
        .flat_map(|r| message_blocks(&r.body))
        .filter_map(|b| b.get("toolResult").cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calculator_tool_loop_answers_with_the_tool_result() {
    init_tracing();
    let emu = emulator().await;
    emu.push_reply(Reply::ToolUse {
        name: "calculator".into(),
        input: json!({"expression": "6*7"}),
    });
    let (observer, events) = recording_observer(|e| Some(e.clone()));
    let host = observed_host(&emu, observer);
    let plugin = load(&host, &guest_example());

    let outcome = plugin
        .run("What is 6 * 7?")
        .await
        .expect("the run succeeds");
    assert!(outcome.answer.contains("42"), "answer: {}", outcome.answer);
    assert!(outcome.stats.chat_calls >= 2, "{:?}", outcome.stats);
    assert!(outcome.stats.usage.total_tokens > 0, "{:?}", outcome.stats);
    assert!(outcome.violations.is_empty());

    // The model was sent the calculator's result.
    let results = tool_results(&emu);
    assert!(
        results.iter().any(|r| r.to_string().contains("42")),
        "tool results sent: {results:?}"
    );
    // The observer saw the chat calls.
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::ChatStarted { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::ChatFinished { error: None, .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_fs_tool_reads_a_granted_file() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "the launch code is pineapple").unwrap();
    let emu = emulator().await;
    emu.push_reply(Reply::ToolUse {
        name: "read_file".into(),
        input: json!({"path": "notes.txt"}),
    });
    let (observer, tool_calls) = tool_call_observer();
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .tools(FsRoot::new(dir.path()).unwrap().tools())
        .observer(observer)
        .build()
        .unwrap();
    let plugin = load(&host, &guest_example());
    let outcome = plugin
        .run("What does notes.txt say?")
        .await
        .expect("the run succeeds");
    assert!(
        outcome.answer.contains("pineapple"),
        "answer: {}",
        outcome.answer
    );
    assert_eq!(outcome.stats.tool_calls, 1);
    assert_eq!(
        *tool_calls.lock().unwrap(),
        [("read_file".to_string(), true)]
    );
    // The model was offered the host tools.
    let offered: Vec<String> = emu.requests()[0].body["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str().map(String::from))
        .collect();
    assert!(offered.contains(&"read_file".to_string()), "{offered:?}");
    assert!(offered.contains(&"list_dir".to_string()), "{offered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_tools_outside_the_policy_are_hidden_and_refused() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "secret").unwrap();
    let emu = emulator().await;
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .tools(FsRoot::new(dir.path()).unwrap().tools())
        .policy(Policy::default().with_allowed_tools(["list_dir"]))
        .build()
        .unwrap();
    let chatty = load(&host, &test_guest("guest_chatty"));
    let report = chatty.run("tool:read_file").report().await;
    let answer = report.result.expect("chatty answers");
    assert!(answer.starts_with("not-allowed:"), "{answer}");
    assert_eq!(report.violations.len(), 1);
    assert_eq!(
        report.violations[0].kind,
        gamecode_host::ViolationKind::ToolNotAllowed
    );
    let answer = chatty.run("tool:list_dir").await.unwrap().answer;
    assert!(
        answer.starts_with("ok: ") && answer.contains("notes.txt"),
        "{answer}"
    );
    let answer = chatty.run("tool:nope").await.unwrap().answer;
    assert!(answer.starts_with("not-found:"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_reaches_the_guest() {
    init_tracing();
    let emu = emulator().await;
    emu.push_reply(Reply::Text("streamed hello".into()));
    let host = host(&emu, Policy::default());
    let chatty = load(&host, &test_guest("guest_chatty"));
    let outcome = chatty.run("stream").await.expect("the run succeeds");
    assert_eq!(outcome.answer, "streamed hello");
    assert_eq!(outcome.stats.chat_calls, 1);
    assert!(outcome.stats.usage.total_tokens > 0);
    assert_eq!(emu.requests()[0].operation, Operation::ConverseStream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_is_captured_and_the_host_serves_many_runs() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let hello = load(&host, &test_guest("guest_hello"));
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let hello = hello.clone();
            tokio::spawn(async move { hello.run(format!("run {i}")).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let outcome = run.await.unwrap().expect("hello answers");
        assert_eq!(outcome.answer, format!("hello, run {i}"));
        assert_eq!(outcome.stdout, "hello from stdout\n");
        assert_eq!(outcome.stderr, "hello from stderr\n");
        assert!(outcome.stats.peak_memory_bytes > 0);
    }
}
