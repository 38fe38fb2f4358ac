//! The real `aws-sdk-bedrockruntime` against the emulator: signing (including `%3A` in model
//! ids), response parsing, modelled error variants, tool calling, and ConverseStream.

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Builder;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseOutput as Out,
    ConverseStreamOutput, InferenceConfiguration, Message, StopReason, SystemContentBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator, Fault, Operation, Reply,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

use crate::support::emulator::sdk_config_with;

const MODEL: &str = "us.anthropic.claude-sonnet-4-6";

fn client_with(emu: &Emulator, key: &str, secret: &str, region: &str) -> Client {
    let config = Builder::from(&sdk_config_with(key, secret, region))
        .endpoint_url(emu.url())
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn client(emu: &Emulator) -> Client {
    client_with(
        emu,
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
        "us-east-1",
    )
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_string()))
        .build()
        .unwrap()
}

fn doc(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap()))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(doc).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), doc(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn weather_tools() -> ToolConfiguration {
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"]
    });
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .description("Current weather for a city")
                .input_schema(ToolInputSchema::Json(doc(&schema)))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

fn text_of(out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput) -> String {
    match out.output() {
        Some(Out::Message(m)) => m
            .content()
            .iter()
            .filter_map(|b| b.as_text().ok().cloned())
            .collect::<Vec<_>>()
            .join(""),
        _ => panic!("no message"),
    }
}

#[tokio::test]
async fn sdk_converse_round_trip() {
    let emu = Emulator::start().await.unwrap();
    let out = client(&emu)
        .converse()
        .model_id(MODEL)
        .system(SystemContentBlock::Text("You are terse.".into()))
        .messages(user("Hello, emulator"))
        .inference_config(InferenceConfiguration::builder().max_tokens(200).build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        text_of(&out),
        "This is the Bedrock emulator answering: Hello, emulator"
    );
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    assert!(usage.input_tokens() > 0 && usage.output_tokens() > 0);
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );

    let req = &emu.requests()[0];
    assert_eq!(req.status, 200);
    assert_eq!(req.model_id, MODEL);
    assert_eq!(req.body["system"], json!([{"text": "You are terse."}]));
    assert_eq!(req.body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn sdk_arn_model_id_signs_and_routes() {
    let emu = Emulator::start().await.unwrap();
    let arn =
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6";
    let out = client(&emu)
        .converse()
        .model_id(arn)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert!(text_of(&out).ends_with("hi"));
    assert_eq!(emu.requests()[0].model_id, arn);
}

#[tokio::test]
async fn sdk_tool_calling_round_trip() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let question = user("What's the weather in Tokyo for 3 days?");
    let out = c
        .converse()
        .model_id(MODEL)
        .messages(question.clone())
        .tool_config(weather_tools())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let Some(Out::Message(assistant)) = out.output().cloned() else {
        panic!("no message")
    };
    let tool_use = assistant
        .content()
        .iter()
        .find_map(|b| b.as_tool_use().ok())
        .unwrap()
        .clone();
    assert_eq!(tool_use.name(), "get_weather");
    let input = tool_use.input().as_object().unwrap();
    assert_eq!(input["city"], Document::String("Tokyo".into()));
    assert_eq!(input["days"], Document::Number(Number::PosInt(3)));

    let result = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(tool_use.tool_use_id())
                .content(ToolResultContentBlock::Text("22°C and sunny".into()))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let out = c
        .converse()
        .model_id(MODEL)
        .messages(question)
        .messages(assistant)
        .messages(result)
        .tool_config(weather_tools())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    assert!(
        text_of(&out).contains("22°C and sunny"),
        "{}",
        text_of(&out)
    );
}

#[tokio::test]
async fn sdk_sees_modelled_error_variants() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    type IsExpected = fn(&ConverseError) -> bool;
    let cases: Vec<(Fault, IsExpected)> = vec![
        (Fault::throttling(), |e| {
            matches!(e, ConverseError::ThrottlingException(_))
        }),
        (Fault::model_not_ready(), |e| {
            matches!(e, ConverseError::ModelNotReadyException(_))
        }),
        (Fault::service_unavailable(), |e| {
            matches!(e, ConverseError::ServiceUnavailableException(_))
        }),
        (Fault::internal_server(), |e| {
            matches!(e, ConverseError::InternalServerException(_))
        }),
        (Fault::model_timeout(), |e| {
            matches!(e, ConverseError::ModelTimeoutException(_))
        }),
        (Fault::model_error(), |e| {
            matches!(e, ConverseError::ModelErrorException(_))
        }),
        (Fault::validation("nope"), |e| {
            matches!(e, ConverseError::ValidationException(_))
        }),
        (Fault::access_denied(), |e| {
            matches!(e, ConverseError::AccessDeniedException(_))
        }),
        (Fault::resource_not_found(), |e| {
            matches!(e, ConverseError::ResourceNotFoundException(_))
        }),
    ];
    for (fault, is_expected) in cases {
        let label = format!("{fault:?}");
        emu.inject(fault, 1);
        let err = c
            .converse()
            .model_id(MODEL)
            .messages(user("hi"))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(is_expected(&err), "{label}: {err:?}");
        assert!(err.message().is_some_and(|m| !m.is_empty()), "{label}");
    }
}

#[tokio::test]
async fn sdk_sees_emulator_validation_and_auth_errors() {
    let emu = Emulator::start().await.unwrap();
    // Two user messages in a row: Bedrock's alternation rule.
    let err = client(&emu)
        .converse()
        .model_id(MODEL)
        .messages(user("a"))
        .messages(user("b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ValidationException(_)),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("must alternate"));

    let err = client(&emu)
        .converse()
        .model_id("not a model")
        .messages(user("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ValidationException(_)),
        "{err:?}"
    );

    let err = client_with(&emu, DEFAULT_ACCESS_KEY_ID, "wrong", "us-east-1")
        .converse()
        .model_id(MODEL)
        .messages(user("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));

    let err = client_with(&emu, "AKIDSOMEONEELSE", "x", "us-east-1")
        .converse()
        .model_id(MODEL)
        .messages(user("a"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));

    let err = client_with(
        &emu,
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
        "eu-west-1",
    )
    .converse()
    .model_id(MODEL)
    .messages(user("a"))
    .send()
    .await
    .unwrap_err()
    .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert_eq!(
        err.message(),
        Some("Credential should be scoped to a valid region.")
    );
}

#[tokio::test]
async fn sdk_sees_network_level_faults_as_non_service_errors() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    for fault in [
        Fault::DropConnection,
        Fault::TruncatedBody,
        Fault::MalformedBody,
    ] {
        let label = format!("{fault:?}");
        emu.inject(fault, 1);
        let err = c
            .converse()
            .model_id(MODEL)
            .messages(user("hi"))
            .send()
            .await
            .unwrap_err();
        match (&label[..], &err) {
            ("DropConnection", SdkError::DispatchFailure(_)) => {}
            ("TruncatedBody", SdkError::ResponseError(_) | SdkError::DispatchFailure(_)) => {}
            ("MalformedBody", SdkError::ServiceError(se)) => {
                assert!(se.err().meta().code().is_none(), "{err:?}");
            }
            ("MalformedBody", SdkError::ResponseError(_)) => {}
            _ => panic!("{label}: unexpected {err:?}"),
        }
    }
    emu.inject(
        Fault::Status {
            status: 502,
            body: "<html>Bad Gateway</html>".into(),
        },
        1,
    );
    let err = c
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(502));

    emu.inject(Fault::Delay(Duration::from_millis(300)), 1);
    let timeouts = aws_sdk_bedrockruntime::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(100))
        .build();
    let config = c.config().to_builder().timeout_config(timeouts).build();
    let err = Client::from_conf(config)
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
}

#[tokio::test]
async fn sdk_converse_stream_text_and_tool_use() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let mut out = c
        .converse_stream()
        .model_id(MODEL)
        .messages(user("What's the weather in Tokyo?"))
        .tool_config(weather_tools())
        .send()
        .await
        .unwrap();
    let (mut text, mut tool_name, mut tool_input, mut stop, mut usage) =
        (String::new(), String::new(), String::new(), None, None);
    while let Some(event) = out.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(t)) => text.push_str(t),
                Some(ContentBlockDelta::ToolUse(t)) => tool_input.push_str(t.input()),
                _ => {}
            },
            ConverseStreamOutput::ContentBlockStart(s) => {
                if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                    tool_name = t.name().to_string();
                    assert!(t.tool_use_id().starts_with("tooluse_"));
                }
            }
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            ConverseStreamOutput::Metadata(m) => usage = m.usage().cloned(),
            _ => {}
        }
    }
    assert_eq!(text, "I'll use the get_weather tool.");
    assert_eq!(tool_name, "get_weather");
    let input: Value = serde_json::from_str(&tool_input).unwrap();
    assert_eq!(input["city"], "Tokyo");
    assert_eq!(stop, Some(StopReason::ToolUse));
    assert!(usage.unwrap().total_tokens() > 0);
    assert_eq!(emu.requests()[0].operation, Operation::ConverseStream);
}

#[tokio::test]
async fn sdk_converse_stream_errors() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    emu.inject(Fault::model_stream_error(), 1);
    let mut out = c
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let mut events = 0;
    let err = loop {
        match out.stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("stream ended without the injected error"),
            Err(e) => break e,
        }
    };
    assert_eq!(events, 2);
    match err {
        SdkError::ServiceError(se) => assert!(
            matches!(
                se.err(),
                ConverseStreamOutputError::ModelStreamErrorException(_)
            ),
            "{:?}",
            se.err()
        ),
        other => panic!("unexpected {other:?}"),
    }

    emu.inject(Fault::throttling(), 1);
    let err = c
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");

    emu.push_reply(Reply::Raw {
        content: vec![json!({"text": "cut short"})],
        stop_reason: "max_tokens".into(),
    });
    let mut out = c
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let mut stop = None;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::MessageStop(m) = ev {
            stop = Some(m.stop_reason().clone());
        }
    }
    assert_eq!(stop, Some(StopReason::MaxTokens));
}

/// Today's Bedrock through the real SDK: an ended model, a profile-only model called by its
/// bare id, budget thinking on an adaptive-only model and sampling where it was removed are
/// refused with Bedrock's status and message; adaptive thinking answers with reasoning.
#[tokio::test]
async fn todays_models_are_refused_as_bedrock_refuses_them() {
    let emu = Emulator::start().await.unwrap();
    let client = client(&emu);
    let refused = |model: &'static str, fields: Option<Value>, temperature: Option<f32>| {
        let client = client.clone();
        async move {
            let mut call = client.converse().model_id(model).messages(user("hi"));
            if let Some(f) = fields {
                call = call.additional_model_request_fields(doc(&f));
            }
            call = call.inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(4096)
                    .set_temperature(temperature)
                    .build(),
            );
            let err = call.send().await.expect_err(model);
            let status = err.raw_response().map(|r| r.status().as_u16());
            let service = err.into_service_error();
            (
                status,
                service.code().unwrap_or("").to_string(),
                service.message().unwrap_or("").to_string(),
            )
        }
    };
    let (status, code, message) =
        refused("us.anthropic.claude-3-7-sonnet-20250219-v1:0", None, None).await;
    assert_eq!(
        (status, code.as_str()),
        (Some(404), "ResourceNotFoundException")
    );
    assert!(message.starts_with("This model version has reached the end of its life."));
    let (status, code, message) = refused("anthropic.claude-sonnet-4-6", None, None).await;
    assert_eq!((status, code.as_str()), (Some(400), "ValidationException"));
    assert_eq!(
        message,
        "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't \
         supported. Retry your request with the ID or ARN of an inference profile that contains \
         this model."
    );
    let budget = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}});
    let (status, _, message) = refused("us.anthropic.claude-opus-4-7", Some(budget), None).await;
    assert_eq!(status, Some(400));
    assert!(
        message.contains(
            "\"thinking.type.enabled\" is not supported for this model. Use \
             \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking behavior."
        ),
        "{message}"
    );
    let (_, _, message) = refused("us.anthropic.claude-opus-4-7", None, Some(0.5)).await;
    assert!(
        message.contains("`temperature` is deprecated for this model."),
        "{message}"
    );
    let max = json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}});
    let (_, _, message) = refused("us.anthropic.claude-sonnet-4-6", Some(max), None).await;
    assert!(
        message.contains(
            "does not support effort level 'xhigh'. Supported levels: high, low, max, medium."
        ),
        "{message}"
    );
    assert_eq!(emu.request_count(), 5);

    let adaptive = json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}});
    let out = client
        .converse()
        .model_id("global.anthropic.claude-opus-4-7")
        .messages(user("What is 6 * 7?"))
        .additional_model_request_fields(doc(&adaptive))
        .send()
        .await
        .unwrap();
    let Some(Out::Message(m)) = out.output() else {
        panic!("{out:?}")
    };
    assert!(matches!(
        m.content().first(),
        Some(ContentBlock::ReasoningContent(_))
    ));
}
