//! The Converse path end to end: request mapping, system prompts, tools, normalization.

use crate::support::*;
use bedrock_emulator::Reply;
use gamecode_backend::{
    BackendError, ChatRequest, ContentBlock, InferenceConfig, Message, MessageRole, StopReason,
    Tool, ToolChoice, ToolResult,
};
use gamecode_bedrock::DEFAULT_MODEL;
use serde_json::json;

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: "Get current weather for a location".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city"}},
            "required": ["location"]
        }),
    }
}

#[tokio::test]
async fn plain_chat_round_trips_with_default_model_and_usage() {
    let emu = emulator().await;
    let response = backend(&emu)
        .chat(ChatRequest {
            messages: vec![Message::text(MessageRole::User, "Hello, Claude!")],
            session_id: Some("s-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.model, DEFAULT_MODEL);
    assert_eq!(response.session_id.as_deref(), Some("s-1"));
    assert!(
        response.text().contains("Hello, Claude!"),
        "{}",
        response.text()
    );
    let usage = response.usage.expect("usage reported");
    assert!(usage.input_tokens > 0 && usage.output_tokens > 0);
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);

    let log = emu.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].model_id, DEFAULT_MODEL,
        "':' travels percent-encoded and decodes back"
    );
    assert_eq!(log[0].status, 200);
}

#[tokio::test]
async fn system_messages_go_to_the_system_field_not_the_turns() {
    let emu = emulator().await;
    backend(&emu)
        .chat(ChatRequest {
            messages: vec![
                Message::system("You are terse."),
                Message::user("Hi"),
                Message::system("Answer in French."),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let body = &emu.requests()[0].body;
    assert_eq!(
        body["system"],
        json!([{"text": "You are terse."}, {"text": "Answer in French."}])
    );
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    assert!(!body.to_string().contains("\"role\":\"system\""));
}

#[tokio::test]
async fn tool_calling_round_trip() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut request = ChatRequest {
        messages: vec![Message::user("What's the weather in Tokyo?")],
        tools: Some(vec![weather_tool()]),
        inference_config: Some(InferenceConfig {
            // Claude 4.5 and later take temperature or top_p, not both.
            temperature: Some(0.3),
            max_tokens: Some(1000),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = backend.chat(request.clone()).await.unwrap();
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    let call = first.tool_calls().next().expect("a tool call").clone();
    assert_eq!(call.name, "get_weather");
    assert!(
        call.input["location"].is_string(),
        "schema satisfied: {}",
        call.input
    );

    request.messages.push(first.message.clone());
    request
        .messages
        .push(Message::tool_results([ToolResult::json(
            call.id.clone(),
            json!({"temperature_c": 21, "sky": "clear"}),
        )]));
    let second = backend.chat(request).await.unwrap();
    assert_eq!(second.stop_reason, StopReason::EndTurn);
    assert!(
        second.text().contains("21"),
        "answer uses the tool result: {}",
        second.text()
    );

    let sent = &emu.requests()[1].body;
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 1000);
    let result = &sent["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["toolUseId"], call.id.as_str());
    assert_eq!(result["content"][0]["json"]["temperature_c"], 21);
}

#[tokio::test]
async fn tool_errors_and_tool_choice_are_sent_as_bedrock_expects() {
    let emu = emulator().await;
    let backend = backend(&emu);
    emu.push_reply(Reply::ToolUse {
        name: "get_weather".into(),
        input: json!({"location": "Atlantis"}),
    });
    let mut request = ChatRequest {
        messages: vec![Message::user("Weather in Atlantis?")],
        tools: Some(vec![weather_tool()]),
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        ..Default::default()
    };
    let first = backend.chat(request.clone()).await.unwrap();
    let call = first.tool_calls().next().unwrap().clone();
    assert_eq!(call.input, json!({"location": "Atlantis"}));
    request.messages.push(first.message);
    request
        .messages
        .push(Message::tool_results([ToolResult::error(
            call.id,
            "no such city",
        )]));
    let second = backend.chat(request).await.unwrap();
    assert!(second.text().contains("no such city"), "{}", second.text());

    let sent = &emu.requests()[1].body;
    assert_eq!(
        sent["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["status"],
        "error"
    );
}

#[tokio::test]
async fn normalization_merges_turns_and_drops_blank_text_before_sending() {
    let emu = emulator().await;
    backend(&emu)
        .chat(ChatRequest {
            messages: vec![
                Message::user("first"),
                Message::user("   "),
                Message::user("second"),
                Message::assistant(""),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let body = &emu.requests()[0].body;
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "first"}, {"text": "second"}]}])
    );
}

#[tokio::test]
async fn unfixable_requests_fail_before_any_network_call() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let bad = [
        ChatRequest::default(),
        ChatRequest {
            messages: vec![Message::assistant("I speak first")],
            ..Default::default()
        },
        ChatRequest {
            messages: vec![Message::user("hi")],
            model: Some("not a model".into()),
            ..Default::default()
        },
        ChatRequest {
            messages: vec![Message::user("hi")],
            tools: Some(vec![Tool {
                name: "bad name!".into(),
                ..weather_tool()
            }]),
            ..Default::default()
        },
        ChatRequest {
            messages: vec![Message::user("hi")],
            inference_config: Some(InferenceConfig {
                temperature: Some(2.0),
                ..Default::default()
            }),
            ..Default::default()
        },
        ChatRequest {
            messages: vec![
                Message::user("hi"),
                Message::tool_results([ToolResult::text("nope", "orphan")]),
            ],
            tools: Some(vec![weather_tool()]),
            ..Default::default()
        },
    ];
    for request in bad {
        let err = backend.chat(request.clone()).await.unwrap_err();
        assert!(
            matches!(err, BackendError::Validation { .. }),
            "{request:?} gave {err}"
        );
    }
    assert_eq!(emu.request_count(), 0, "nothing reached the wire");
}

#[tokio::test]
async fn scripted_stop_reasons_and_mixed_content_map_back() {
    let emu = emulator().await;
    emu.push_reply(Reply::Raw {
        content: vec![
            json!({"text": "Let me check. "}),
            json!({"toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"location": "Oslo", "n": -3, "big": 18446744073709551615u64, "f": 0.25}}}),
        ],
        stop_reason: "tool_use".into(),
    });
    emu.push_reply(Reply::Raw {
        content: vec![json!({"text": "cut"})],
        stop_reason: "guardrail_intervened".into(),
    });
    let backend = backend(&emu);
    let request = ChatRequest {
        messages: vec![Message::user("go")],
        tools: Some(vec![weather_tool()]),
        ..Default::default()
    };
    let first = backend.chat(request.clone()).await.unwrap();
    assert_eq!(first.message.content.len(), 2);
    assert!(
        matches!(&first.message.content[0], ContentBlock::Text { text } if text == "Let me check. ")
    );
    let call = first.tool_calls().next().unwrap();
    assert_eq!(
        call.input,
        json!({"location": "Oslo", "n": -3, "big": 18446744073709551615u64, "f": 0.25})
    );
    let second = backend.chat(request).await.unwrap();
    assert_eq!(second.stop_reason, StopReason::GuardrailIntervened);
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_are_honoured() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let long = "word ".repeat(200);
    let r = backend
        .chat(ChatRequest {
            messages: vec![Message::user(long)],
            inference_config: Some(InferenceConfig {
                max_tokens: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxTokens);
    assert!(r.usage.unwrap().output_tokens <= 5);

    emu.push_reply(Reply::Text("alpha STOP beta".into()));
    let r = backend
        .chat(ChatRequest {
            messages: vec![Message::user("go")],
            inference_config: Some(InferenceConfig {
                stop_sequences: vec!["STOP".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::StopSequence);
    assert_eq!(r.text().trim(), "alpha");
}
