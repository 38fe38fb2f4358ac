//! The remaining Converse options through the real SDK: structured output (JSON that follows
//! the schema), strict tools, service tier, latency-optimized performance, request metadata,
//! raw model fields and response field paths — sent as Bedrock expects, echoed by the
//! emulator, and checked before any call.

use crate::support::*;
use gamecode_backend::{
    ChatOptions, ChatRequest, ErrorCategory, InferenceConfig, Message, ReasoningConfig,
    ServiceTier, StructuredOutput, Tool,
};
use serde_json::{Value, json};

fn ask(options: ChatOptions) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("Describe Tokyo in one record.")],
        options,
        ..Default::default()
    }
}

#[tokio::test]
async fn structured_output_answers_with_json_that_follows_the_schema() {
    let emu = emulator().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "population_millions": {"type": "number", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}
        },
        "required": ["city", "population_millions", "tags"]
    });
    let reply = backend(&emu)
        .chat(ask(ChatOptions {
            structured_output: Some(StructuredOutput {
                schema: schema.clone(),
                name: Some("city_record".into()),
                description: None,
            }),
            ..Default::default()
        }))
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&reply.text()).expect("the answer is JSON");
    assert_eq!(answer["city"], "Tokyo");
    assert!(answer["population_millions"].as_f64().unwrap() >= 1.0);
    assert!(answer["tags"].as_array().unwrap().len() >= 2);
    let sent = &emu.requests()[0].body["outputConfig"]["textFormat"];
    assert_eq!(sent["type"], "json_schema");
    let sent_schema: Value =
        serde_json::from_str(sent["structure"]["jsonSchema"]["schema"].as_str().unwrap()).unwrap();
    assert_eq!(sent_schema, schema);
    assert_eq!(sent["structure"]["jsonSchema"]["name"], "city_record");
}

#[tokio::test]
async fn tier_performance_metadata_and_model_fields_are_sent_and_echoed() {
    let emu = emulator().await;
    let mut options = ChatOptions {
        service_tier: Some(ServiceTier::Priority),
        latency_optimized: true,
        strict_tools: true,
        additional_model_request_fields: Some(json!({"top_k": 40})),
        additional_model_response_field_paths: vec!["/stop_reason".into()],
        reasoning: Some(ReasoningConfig::Budget { tokens: 1024 }),
        ..Default::default()
    };
    options
        .request_metadata
        .insert("team".into(), "agents".into());
    let mut request = ask(options);
    request.tools = Some(vec![Tool {
        name: "lookup".into(),
        description: "Looks a city up.".into(),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    }]);
    request.inference_config = Some(InferenceConfig {
        max_tokens: Some(2048),
        ..Default::default()
    });
    let reply = backend(&emu).chat(request).await.unwrap();
    assert_eq!(reply.meta.service_tier, Some(ServiceTier::Priority));
    assert!(reply.meta.latency_ms.is_some());
    assert_eq!(
        reply.meta.additional_model_response_fields,
        Some(json!({"stop_reason": "tool_use"}))
    );
    let sent = &emu.requests()[0].body;
    assert_eq!(sent["serviceTier"], json!({"type": "priority"}));
    assert_eq!(sent["performanceConfig"], json!({"latency": "optimized"}));
    assert_eq!(sent["requestMetadata"], json!({"team": "agents"}));
    assert_eq!(sent["toolConfig"]["tools"][0]["toolSpec"]["strict"], true);
    // The caller's raw fields and the thinking field side by side.
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    );
}

#[tokio::test]
async fn option_limits_are_checked_before_any_call() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut many = ChatOptions::default();
    for i in 0..17 {
        many.request_metadata.insert(format!("k{i}"), "v".into());
    }
    let cases = [
        (many, "at most 16"),
        (
            ChatOptions {
                additional_model_response_field_paths: vec!["stop_reason".into()],
                ..Default::default()
            },
            "JSON pointer",
        ),
        (
            ChatOptions {
                additional_model_request_fields: Some(json!({"thinking": {"type": "enabled"}})),
                reasoning: Some(ReasoningConfig::Budget { tokens: 2000 }),
                ..Default::default()
            },
            "not both",
        ),
        (
            ChatOptions {
                structured_output: Some(StructuredOutput {
                    schema: json!("not a schema"),
                    name: None,
                    description: None,
                }),
                ..Default::default()
            },
            "JSON object",
        ),
    ];
    for (options, expected) in cases {
        let err = backend.chat(ask(options)).await.unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Validation);
        assert!(err.message().contains(expected), "{expected}: {err}");
    }
    assert_eq!(emu.request_count(), 0);
}

/// CountTokens counts what a Converse call with the same request bills as input, without
/// running the model; invalid requests are refused the same way.
#[tokio::test]
async fn count_tokens_matches_what_the_call_bills() {
    use gamecode_backend::LLMBackend;
    let emu = emulator().await;
    let backend = backend(&emu);
    let request = ChatRequest {
        messages: vec![
            Message::system("Be brief and exact."),
            Message::user("How many tokens is this question?"),
        ],
        ..Default::default()
    };
    let counted = LLMBackend::count_tokens(&backend, &request).await.unwrap();
    let billed = backend
        .chat(request)
        .await
        .unwrap()
        .usage
        .unwrap()
        .input_tokens;
    assert_eq!(counted, billed);
    assert!(counted > 5, "{counted}");
    assert_eq!(
        emu.requests()[0].operation,
        bedrock_emulator::Operation::CountTokens
    );
}

/// A guardrail: input holding a blocked word is stopped as Bedrock stops it, with the
/// assessment in the trace; other input passes with an (empty) assessment.
#[tokio::test]
async fn a_guardrail_intervenes_on_its_words_with_a_trace() {
    use bedrock_emulator::{Emulator, EmulatorConfig};
    use gamecode_backend::{GuardrailConfig, StopReason};
    let emu = Emulator::start_with(EmulatorConfig {
        guardrail_words: vec!["forbidden".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let backend = backend(&emu);
    let guarded = |text: &str| ChatRequest {
        messages: vec![Message::user(text)],
        options: ChatOptions {
            guardrail: Some(GuardrailConfig {
                identifier: "gr-123".into(),
                version: "1".into(),
                trace: true,
                stream_async: false,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let blocked = backend
        .chat(guarded("Tell me the Forbidden recipe"))
        .await
        .unwrap();
    assert_eq!(blocked.stop_reason, StopReason::GuardrailIntervened);
    assert_eq!(
        blocked.text(),
        "Sorry, the model cannot answer this question."
    );
    let trace = blocked.meta.guardrail_trace.expect("trace");
    assert_eq!(
        trace["inputAssessment"]["gr-123"]["wordPolicy"]["customWords"][0]["match"],
        "forbidden"
    );
    assert_eq!(trace["actionReason"], "Guardrail blocked.");
    let sent = &emu.requests()[0].body["guardrailConfig"];
    assert_eq!(
        sent,
        &json!({"guardrailIdentifier": "gr-123", "guardrailVersion": "1", "trace": "enabled"})
    );

    let passed = backend
        .chat(guarded("Tell me a cake recipe"))
        .await
        .unwrap();
    assert_eq!(passed.stop_reason, StopReason::EndTurn);
    assert!(passed.meta.guardrail_trace.is_some());

    let mut bad = guarded("x");
    bad.options.guardrail.as_mut().unwrap().version = "latest".into();
    let err = backend.chat(bad).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    assert!(err.message().contains("version"), "{err}");
}

/// The same options on ConverseStream: the schema-following answer streams as text, the
/// guardrail (in its stream form) stops the stream with guardrail_intervened, and the tier,
/// metadata and stream processing mode are sent.
#[tokio::test]
async fn options_work_on_streams_too() {
    use bedrock_emulator::{Emulator, EmulatorConfig};
    use futures::StreamExt;
    use gamecode_backend::{GuardrailConfig, StopReason, StreamCollector};
    let emu = Emulator::start_with(EmulatorConfig {
        guardrail_words: vec!["forbidden".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let backend = backend(&emu);
    let collect = |request: ChatRequest| {
        let backend = backend.clone();
        async move {
            let mut stream = backend.chat_stream(request).await.unwrap();
            let mut c = StreamCollector::new();
            while let Some(e) = stream.next().await {
                c.push(&e.unwrap());
            }
            c.finish("m".into(), None).unwrap()
        }
    };
    let mut options = ChatOptions {
        structured_output: Some(StructuredOutput {
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}),
            name: None,
            description: None,
        }),
        service_tier: Some(ServiceTier::Flex),
        ..Default::default()
    };
    options.request_metadata.insert("run".into(), "7".into());
    let reply = collect(ask(options)).await;
    let answer: Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(answer["city"], "Tokyo");
    let sent = &emu.requests()[0].body;
    assert_eq!(sent["serviceTier"], json!({"type": "flex"}));
    assert_eq!(sent["requestMetadata"], json!({"run": "7"}));

    let guarded = ChatRequest {
        messages: vec![Message::user("a forbidden question")],
        options: ChatOptions {
            guardrail: Some(GuardrailConfig {
                identifier: "gr-9".into(),
                version: "DRAFT".into(),
                trace: true,
                stream_async: true,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let blocked = collect(guarded).await;
    assert_eq!(blocked.stop_reason, StopReason::GuardrailIntervened);
    assert_eq!(
        emu.requests()[1].body["guardrailConfig"]["streamProcessingMode"],
        "async"
    );
}
