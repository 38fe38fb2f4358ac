//! ConverseStream through the real SDK: event mapping, agreement with Converse, in-stream
//! faults, retries only before the first event, idle timeouts, cancellation, large replies.

use std::time::{Duration, Instant};

use crate::support::*;
use bedrock_emulator::{Fault, Reply};
use futures::StreamExt;
use gamecode_backend::{
    BackendError, ChatRequest, ErrorCategory, Message, StopReason, StreamEvent, Tool,
    collect_stream,
};
use serde_json::json;

fn calc_tool() -> Tool {
    Tool {
        name: "calculator".into(),
        description: "Evaluates arithmetic".into(),
        input_schema: json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
    }
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        tools: Some(vec![calc_tool()]),
        ..Default::default()
    }
}

fn mixed_reply() -> Reply {
    Reply::Raw {
        content: vec![
            json!({"text": "Let me compute that for you, step by step."}),
            json!({"toolUse": {"toolUseId": "tu_42", "name": "calculator",
                   "input": {"expression": "6 * 7", "options": {"precision": 10, "neg": -1, "ratio": 0.5}}}}),
        ],
        stop_reason: "tool_use".into(),
    }
}

async fn events_of(
    backend: &gamecode_bedrock::BedrockBackend,
    req: ChatRequest,
) -> Vec<Result<StreamEvent, BackendError>> {
    backend
        .chat_stream(req)
        .await
        .expect("stream opens")
        .collect()
        .await
}

#[tokio::test]
async fn events_map_in_order_with_tool_input_assembled() {
    let emu = emulator().await;
    emu.push_reply(mixed_reply());
    let events: Vec<StreamEvent> = events_of(&backend(&emu), request("go"))
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(matches!(
        events.first(),
        Some(StreamEvent::MessageStart { .. })
    ));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { index: 0, text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Let me compute that for you, step by step.");
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, StreamEvent::TextDelta { text, .. } if text.is_empty())),
        "empty deltas are not passed on"
    );
    let fragments = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolUseInputDelta { index: 1, .. }))
        .count();
    assert!(fragments > 1, "the tool input arrives split across deltas");
    let call = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ToolUseStop { index: 1, call } => Some(call.clone()),
            _ => None,
        })
        .expect("tool use stop");
    assert_eq!(call.id, "tu_42");
    assert_eq!(
        call.input,
        json!({"expression": "6 * 7", "options": {"precision": 10, "neg": -1, "ratio": 0.5}})
    );
    let order: Vec<&str> = events
        .iter()
        .map(|e| match e {
            StreamEvent::MessageStart { .. } => "start",
            StreamEvent::TextDelta { .. } => "text",
            StreamEvent::ContentBlockStop { .. } => "stop-block",
            StreamEvent::ToolUseStart { .. } => "tool-start",
            StreamEvent::ToolUseInputDelta { .. } => "tool-delta",
            StreamEvent::ToolUseStop { .. } => "tool-stop",
            StreamEvent::MessageStop { .. } => "stop",
            StreamEvent::Metadata { .. } => "metadata",
            StreamEvent::ReasoningDelta { .. }
            | StreamEvent::ReasoningSignature { .. }
            | StreamEvent::RedactedReasoning { .. } => "reasoning",
            StreamEvent::Citation { .. } => "citation",
        })
        .fold(Vec::new(), |mut acc, kind| {
            if acc.last() != Some(&kind) {
                acc.push(kind);
            }
            acc
        });
    assert_eq!(
        order,
        [
            "start",
            "text",
            "stop-block",
            "tool-start",
            "tool-delta",
            "tool-stop",
            "stop",
            "metadata"
        ]
    );
    assert!(matches!(
        events[events.len() - 2],
        StreamEvent::MessageStop {
            stop_reason: StopReason::ToolUse
        }
    ));
}

#[tokio::test]
async fn chat_and_chat_stream_agree_on_the_same_reply() {
    let emu = emulator().await;
    let backend = backend(&emu);
    for reply in [mixed_reply(), Reply::Text("Plain answer.".into())] {
        emu.push_reply(reply.clone());
        emu.push_reply(reply);
        let whole = backend.chat(request("same")).await.unwrap();
        let stream = backend.chat_stream(request("same")).await.unwrap();
        let streamed = collect_stream(stream, whole.model.clone(), None)
            .await
            .unwrap();
        assert_eq!(streamed.message, whole.message);
        assert_eq!(streamed.stop_reason, whole.stop_reason);
        assert_eq!(streamed.usage, whole.usage);
    }
}

#[tokio::test]
async fn a_reply_over_one_megabyte_streams_whole() {
    let emu = emulator().await;
    let big: String = (0..150_000)
        .map(|i| format!("w{i:06} "))
        .collect::<String>()
        + "end";
    assert!(big.len() > 1_000_000);
    emu.push_reply(Reply::Text(big.clone()));
    let stream = backend(&emu)
        .chat_stream(ChatRequest {
            messages: vec![Message::user("long please")],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = collect_stream(stream, "m".into(), None).await.unwrap();
    assert_eq!(r.text(), big);
    assert_eq!(r.stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn an_exception_mid_stream_ends_the_stream_classified_and_unretried() {
    let emu = emulator().await;
    emu.inject(
        Fault::StreamError {
            exception_type: "modelStreamErrorException".into(),
            message: "the model fell over".into(),
            after_events: 3,
        },
        1,
    );
    let events = events_of(&backend(&emu), request("go")).await;
    let (last, before) = events.split_last().unwrap();
    assert!(before.iter().all(Result::is_ok));
    assert!(!before.is_empty(), "events before the error were delivered");
    let err = last.as_ref().unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Provider, "{err}");
    assert_eq!(err.code(), Some("ModelStreamErrorException"));
    assert!(err.message().contains("the model fell over"));
    assert_eq!(
        emu.request_count(),
        1,
        "no retry once events were handed on"
    );

    emu.inject(
        Fault::StreamError {
            exception_type: "throttlingException".into(),
            message: "slow down".into(),
            after_events: 3,
        },
        1,
    );
    let events = events_of(&backend(&emu), request("go")).await;
    let err = events.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.category(), ErrorCategory::RateLimited, "{err}");
}

#[tokio::test]
async fn failures_before_the_first_event_are_retried() {
    let emu = emulator().await;
    emu.inject(Fault::throttling(), 1);
    emu.inject(
        Fault::StreamError {
            exception_type: "internalServerException".into(),
            message: "boom".into(),
            after_events: 0,
        },
        1,
    );
    emu.inject(Fault::DropConnection, 1);
    let (backend, seen) = recording(backend(&emu));
    let events = events_of(&backend, request("go")).await;
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    assert_eq!(emu.request_count(), 4);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn truncated_and_corrupt_streams_are_errors_not_hangs() {
    for (fault, want) in [
        (Fault::TruncatedBody, ErrorCategory::Network),
        (Fault::MalformedBody, ErrorCategory::Provider),
    ] {
        let emu = emulator().await;
        emu.inject(fault.clone(), 100);
        let backend = backend(&emu).with_retry_config(fast_retry(0));
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            match backend.chat_stream(request("go")).await {
                Err(e) => Err(e),
                Ok(stream) => collect_stream(stream, "m".into(), None).await.map(|_| ()),
            }
        })
        .await
        .expect("no hang");
        let err = outcome.unwrap_err();
        assert_eq!(err.category(), want, "{fault:?}: {err}");
    }
}

#[tokio::test]
async fn a_stalled_stream_fails_at_the_idle_timeout() {
    let emu = emulator().await;
    emu.inject(
        Fault::StreamStall {
            after_events: 2,
            stall: Duration::from_secs(30),
        },
        1,
    );
    let backend = backend(&emu).with_stream_idle_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let events = events_of(&backend, request("go")).await;
    let err = events.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Network);
    assert!(err.message().contains("stalled"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_releases_its_connection() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    emu.push_reply(Reply::Text("x".repeat(4_000_000)));
    let mut stream = backend
        .chat_stream(ChatRequest {
            messages: vec![Message::user("long")],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    let during = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(
        during > baseline,
        "the stream holds a connection ({during} > {baseline})"
    );
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        if now <= baseline + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connection tasks still alive: {now} vs {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
