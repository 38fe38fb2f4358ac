//! Extended thinking through the real SDK: the reply starts with signed reasoning, streamed
//! as reasoning deltas and a signature; a tool loop that sends it back unmodified works, one
//! that drops or alters it is refused as Bedrock refuses it; and the rules of a thinking
//! request are checked before any call.

use crate::support::*;
use bedrock_emulator::Reply;
use futures::StreamExt;
use gamecode_backend::{
    ChatOptions, ChatRequest, ContentBlock, ErrorCategory, InferenceConfig, Message, Reasoning,
    ReasoningConfig, ReasoningEffort, StreamCollector, Tool, ToolChoice, ToolResult,
};
use serde_json::json;

fn thinking(question: &str, reasoning: ReasoningConfig) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(question)],
        tools: Some(vec![Tool {
            name: "calculator".into(),
            description: "Evaluates arithmetic.".into(),
            input_schema: json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
        }]),
        inference_config: Some(InferenceConfig {
            max_tokens: Some(4000),
            ..Default::default()
        }),
        options: ChatOptions {
            reasoning: Some(reasoning),
            ..Default::default()
        },
        ..Default::default()
    }
}

const BUDGET: ReasoningConfig = ReasoningConfig::Budget { tokens: 2048 };

fn reasoning_of(message: &Message) -> &Reasoning {
    match message.content.first() {
        Some(ContentBlock::Reasoning(r)) => r,
        other => panic!("the reply starts with {other:?}"),
    }
}

#[tokio::test]
async fn a_tool_loop_keeps_its_signed_reasoning_and_succeeds() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut request = thinking("What is 12 * 34?", BUDGET);
    let first = backend.chat(request.clone()).await.unwrap();
    let Reasoning::Text { text, signature } = reasoning_of(&first.message) else {
        panic!("readable reasoning");
    };
    assert!(
        text.contains("What is 12 * 34?") && text.contains("calculator"),
        "{text}"
    );
    assert!(signature.is_some());
    let sent = &emu.requests()[0].body;
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
    );
    let call = first.tool_calls().next().unwrap().clone();
    request.messages.push(first.message.clone());
    request
        .messages
        .push(Message::tool_results([ToolResult::text(call.id, "408")]));
    let second = backend.chat(request.clone()).await.unwrap();
    assert!(second.text().contains("408"), "{}", second.text());

    // Dropped or altered reasoning: refused, as Bedrock refuses it.
    let mut dropped = request.clone();
    dropped.messages[1]
        .content
        .retain(|b| !matches!(b, ContentBlock::Reasoning(_)));
    let err = backend.chat(dropped).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    assert!(err.message().contains("Expected `thinking`"), "{err}");
    let mut altered = request;
    if let Some(ContentBlock::Reasoning(Reasoning::Text { text, .. })) =
        altered.messages[1].content.first_mut()
    {
        text.push_str(" (edited)");
    }
    let err = backend.chat(altered).await.unwrap_err();
    assert!(err.message().contains("Invalid `signature`"), "{err}");
}

#[tokio::test]
async fn streamed_reasoning_arrives_as_deltas_and_a_signature() {
    let emu = emulator().await;
    emu.push_reply(Reply::Text("Forty-two.".into()));
    let backend = backend(&emu);
    let mut request = thinking(
        "Say forty-two",
        ReasoningConfig::Effort(ReasoningEffort::High),
    );
    // Adaptive thinking with an effort level: a model that has it.
    request.model = Some("global.anthropic.claude-opus-4-6-v1".into());
    let mut stream = backend.chat_stream(request).await.unwrap();
    let mut collector = StreamCollector::new();
    let (mut deltas, mut signatures) = (0, 0);
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        match &event {
            gamecode_backend::StreamEvent::ReasoningDelta { .. } => deltas += 1,
            gamecode_backend::StreamEvent::ReasoningSignature { .. } => signatures += 1,
            _ => {}
        }
        collector.push(&event);
    }
    assert!(
        deltas >= 1 && signatures == 1,
        "{deltas} deltas, {signatures} signatures"
    );
    let reply = collector.finish("m".into(), None).unwrap();
    assert!(matches!(
        reasoning_of(&reply.message),
        Reasoning::Text {
            signature: Some(_),
            ..
        }
    ));
    assert_eq!(reply.text(), "Forty-two.");
    let sent = &emu.requests()[0].body;
    assert_eq!(sent["outputConfig"]["effort"], "high");
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"]["type"],
        "adaptive"
    );
}

#[tokio::test]
async fn thinking_rules_are_checked_before_any_call() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let cases: Vec<(ChatRequest, &str)> = vec![
        (
            thinking("x", ReasoningConfig::Budget { tokens: 500 }),
            "at least 1024",
        ),
        (
            thinking("x", ReasoningConfig::Budget { tokens: 4000 }),
            "must be greater than the thinking budget",
        ),
        (
            {
                let mut r = thinking("x", BUDGET);
                r.inference_config.as_mut().unwrap().temperature = Some(0.2);
                r
            },
            "temperature",
        ),
        (
            {
                let mut r = thinking("x", BUDGET);
                r.tool_choice = Some(ToolChoice::Any);
                r
            },
            "forced tool choice",
        ),
    ];
    for (request, expected) in cases {
        let err = backend.chat(request).await.unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Validation);
        assert!(err.message().contains(expected), "{expected}: {err}");
    }
    assert_eq!(emu.request_count(), 0);
}
