//! The model catalogue at work: features a model lacks are refused before any call, with the
//! model named; an end-of-life answer from Bedrock names the successor.

use crate::support::*;
use bedrock_emulator::Fault;
use gamecode_backend::{
    CachePoint, CacheTtl, ChatOptions, ChatRequest, ContentBlock, ErrorCategory, InferenceConfig,
    LLMBackend, Message, MessageRole, ReasoningConfig, ReasoningEffort,
};

fn on(model: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("hi")],
        model: Some(model.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn features_a_model_lacks_are_refused_before_any_call() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut thinking = on("us.anthropic.claude-opus-4-7");
    thinking.options.reasoning = Some(ReasoningConfig::Effort(ReasoningEffort::Low));
    thinking.inference_config = Some(InferenceConfig {
        temperature: Some(0.2),
        ..Default::default()
    });
    let mut sampled = on("us.anthropic.claude-opus-4-7");
    sampled.inference_config = Some(InferenceConfig {
        top_p: Some(0.9),
        ..Default::default()
    });
    let mut both = on("us.anthropic.claude-sonnet-4-6");
    both.inference_config = Some(InferenceConfig {
        temperature: Some(0.2),
        top_p: Some(0.9),
        ..Default::default()
    });
    let mut hour = on("us.anthropic.claude-opus-4-1-20250805-v1:0");
    hour.messages[0]
        .content
        .push(ContentBlock::CachePoint(CachePoint {
            ttl: CacheTtl::OneHour,
        }));
    let mut long = on("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    long.inference_config = Some(InferenceConfig {
        max_tokens: Some(100_000),
        ..Default::default()
    });
    let mut effort = on("us.anthropic.claude-sonnet-4-6");
    effort.options.reasoning = Some(ReasoningConfig::Effort(ReasoningEffort::XHigh));
    let mut prefill = on("us.anthropic.claude-opus-4-6-v1");
    prefill
        .messages
        .push(Message::text(MessageRole::Assistant, "{"));
    for (request, expected) in [
        (
            on("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "Claude 3.7 Sonnet (anthropic.claude-3-7-sonnet-20250219-v1:0) reached end of life on Bedrock on 2026-04-28; use us.anthropic.claude-sonnet-4-6",
        ),
        (
            on("anthropic.claude-sonnet-4-6"),
            "Claude Sonnet 4.6 (anthropic.claude-sonnet-4-6) is reached only through an inference profile: use us.anthropic.claude-sonnet-4-6",
        ),
        (
            thinking,
            "temperature and top_p cannot be set when extended thinking is on",
        ),
        (
            sampled,
            "takes no sampling parameters (temperature, top_p, top_k): remove top_p",
        ),
        (both, "takes temperature or top_p, not both"),
        (
            effort,
            "takes the effort levels low, medium, high, max, not \"xhigh\"",
        ),
        (prefill, "does not continue an assistant message"),
        (hour, "5 minutes only"),
        (long, "writes at most 64000 tokens"),
    ] {
        let err = backend.chat(request).await.unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Validation);
        assert!(err.message().contains(expected), "{expected}: {err}");
    }
    assert_eq!(emu.request_count(), 0, "all refused before the network");

    // What a model has goes through: an hour-long cache point on Sonnet 4.5.
    let mut ok = on("global.anthropic.claude-sonnet-4-5-20250929-v1:0");
    ok.messages.insert(
        0,
        Message {
            role: MessageRole::System,
            content: vec![
                ContentBlock::Text {
                    text: "Be brief.".into(),
                },
                ContentBlock::CachePoint(CachePoint {
                    ttl: CacheTtl::OneHour,
                }),
            ],
        },
    );
    ok.options = ChatOptions::default();
    backend.chat(ok).await.unwrap();
    assert_eq!(
        emu.requests()[0].body["system"][1]["cachePoint"]["ttl"],
        "1h"
    );
    let info = backend
        .model_info("eu.anthropic.claude-haiku-4-5-20251001-v1:0")
        .unwrap();
    assert_eq!((info.caching, info.max_output_tokens), (Some(4096), 64_000));
}

#[tokio::test]
async fn thinking_is_fitted_to_the_model_and_answers_with_reasoning() {
    let emu = emulator().await;
    let backend = backend(&emu);
    // A budget asked of Opus 4.7 (adaptive only) goes out as adaptive thinking at an effort.
    let mut budget = on("us.anthropic.claude-opus-4-7");
    budget.options.reasoning = Some(ReasoningConfig::Budget { tokens: 4_096 });
    budget.inference_config = Some(InferenceConfig {
        max_tokens: Some(8_000),
        ..Default::default()
    });
    let reply = backend.chat(budget).await.unwrap();
    assert!(
        matches!(
            reply.message.content.first(),
            Some(ContentBlock::Reasoning(_))
        ),
        "{:?}",
        reply.message.content
    );
    let sent = &emu.requests()[0].body;
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"],
        serde_json::json!({"type": "adaptive"})
    );
    assert_eq!(sent["outputConfig"]["effort"], "medium");
    // An effort asked of Sonnet 4.5 (budget only) goes out as its documented budget.
    let mut effort = on("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    effort.options.reasoning = Some(ReasoningConfig::Effort(ReasoningEffort::Low));
    backend.chat(effort).await.unwrap();
    let sent = &emu.requests()[1].body;
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"],
        serde_json::json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 64_000);
    // Opus 4.7 thinking adaptively at xhigh, streamed.
    let mut adaptive = on("global.anthropic.claude-opus-4-7");
    adaptive.options.reasoning = Some(ReasoningConfig::Effort(ReasoningEffort::XHigh));
    let stream = backend.chat_stream(adaptive).await.unwrap();
    let reply =
        gamecode_backend::collect_stream(stream, "us.anthropic.claude-opus-4-7".into(), None)
            .await
            .unwrap();
    assert!(matches!(
        reply.message.content.first(),
        Some(ContentBlock::Reasoning(_))
    ));
}

#[tokio::test]
async fn an_end_of_life_answer_names_the_successor() {
    let emu = emulator().await;
    // A model the catalogue thinks alive, ended by Bedrock first: the answer is mapped.
    emu.inject(
        Fault::validation(
            "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
        ),
        1,
    );
    let err = backend(&emu)
        .chat(on("us.anthropic.claude-sonnet-4-5-20250929-v1:0"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    let m = err.message();
    assert!(m.contains("Claude Sonnet 4.5"), "{m}");
    assert!(m.contains("reached the end of its life"), "{m}");
}
