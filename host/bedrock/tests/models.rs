//! The model catalogue at work: features a model lacks are refused before any call, with the
//! model named; an end-of-life answer from Bedrock names the successor.

mod common;

use bedrock_emulator::Fault;
use common::*;
use gamecode_backend::{
    CachePoint, CacheTtl, ChatOptions, ChatRequest, ContentBlock, ErrorCategory, Image,
    ImageFormat, InferenceConfig, LLMBackend, Message, MessageRole, ReasoningConfig,
};

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&64u32.to_be_bytes());
    b.extend_from_slice(&64u32.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b
}

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
    let mut image = on("anthropic.claude-3-5-haiku-20241022-v1:0");
    image.messages[0].content.push(ContentBlock::Image(Image {
        format: ImageFormat::Png,
        bytes: png(),
    }));
    let mut thinking = on("anthropic.claude-3-5-sonnet-20240620-v1:0");
    thinking.options.reasoning = Some(ReasoningConfig::Budget { tokens: 1024 });
    thinking.inference_config = Some(InferenceConfig {
        max_tokens: Some(2048),
        ..Default::default()
    });
    let mut hour = on("us.anthropic.claude-3-7-sonnet-20250219-v1:0");
    hour.messages[0]
        .content
        .push(ContentBlock::CachePoint(CachePoint {
            ttl: CacheTtl::OneHour,
        }));
    let mut long = on("us.anthropic.claude-3-7-sonnet-20250219-v1:0");
    long.inference_config = Some(InferenceConfig {
        max_tokens: Some(100_000),
        ..Default::default()
    });
    for (request, expected) in [
        (
            image,
            "Claude 3.5 Haiku (anthropic.claude-3-5-haiku-20241022-v1:0) does not take images",
        ),
        (thinking, "does not do extended thinking"),
        (hour, "5 minutes only"),
        (long, "writes at most 64000 tokens"),
    ] {
        let err = backend.chat(request).await.unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Validation);
        assert!(err.message().contains(expected), "{expected}: {err}");
    }
    assert_eq!(emu.request_count(), 0);

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
async fn an_end_of_life_answer_names_the_successor() {
    let emu = emulator().await;
    emu.inject(
        Fault::validation(
            "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
        ),
        1,
    );
    let err = backend(&emu)
        .chat(on("anthropic.claude-3-sonnet-20240229-v1:0"))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    let m = err.message();
    assert!(m.contains("Claude 3 Sonnet"), "{m}");
    assert!(
        m.contains("use anthropic.claude-sonnet-4-5-20250929-v1:0"),
        "{m}"
    );
    assert!(m.contains("reached the end of its life"), "{m}");
}
