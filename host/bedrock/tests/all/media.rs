//! Images and documents through the real SDK: converted byte-exactly, described by the
//! emulated model, checked against Bedrock's rules before any call, and refused by the
//! emulator as Bedrock would when a client sends bytes that are not what they claim.

use crate::support::*;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Blob;
use bedrock_emulator::Reply;
use futures::StreamExt;
use gamecode_backend::{
    ChatRequest, ContentBlock, Document, DocumentFormat, ErrorCategory, Image, ImageFormat,
    Message, MessageRole, StreamEvent, Tool, ToolCall, ToolResult, ToolResultContent,
};
use serde_json::json;

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0xAB, 0xCD]);
    b
}

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type /Page >>\n%%EOF";

fn looking_at(image: Vec<u8>) -> ChatRequest {
    ChatRequest {
        messages: vec![Message {
            role: MessageRole::User,
            content: vec![
                ContentBlock::Text {
                    text: "What are these?".into(),
                },
                ContentBlock::Image(Image {
                    format: ImageFormat::Png,
                    bytes: image,
                }),
                ContentBlock::Document(Document {
                    format: DocumentFormat::Pdf,
                    name: "Spec (v2)".into(),
                    bytes: PDF.to_vec(),
                    citations: false,
                }),
            ],
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn images_and_documents_reach_the_model_byte_exact_and_are_described() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let image = png(640, 480);
    let reply = backend.chat(looking_at(image.clone())).await.unwrap();
    let text = reply.text();
    assert!(
        text.contains("I see a PNG image, 640×480 pixels."),
        "{text}"
    );
    assert!(
        text.contains("The document \"Spec (v2)\" is a PDF document of 2 pages."),
        "{text}"
    );
    let sent = &emu.requests()[0].body["messages"][0]["content"];
    assert_eq!(sent[1]["image"]["format"], "png");
    let bytes = sent[1]["image"]["source"]["bytes"].as_str().unwrap();
    assert_eq!(aws_smithy_types::base64::decode(bytes).unwrap(), image);
    assert_eq!(sent[2]["document"]["name"], "Spec (v2)");
    // The image counts toward the input tokens (Bedrock bills it by its pixels).
    let usage = reply.usage.unwrap();
    assert!(usage.input_tokens > 400, "{usage:?}");

    // Streamed, the same.
    let mut stream = backend.chat_stream(looking_at(image)).await.unwrap();
    let mut streamed = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text, .. } = event.unwrap() {
            streamed.push_str(&text);
        }
    }
    assert_eq!(streamed, text);
}

#[tokio::test]
async fn a_tool_can_answer_with_an_image() {
    let emu = emulator().await;
    emu.push_reply(Reply::ToolUse {
        name: "screenshot".into(),
        input: json!({}),
    });
    let backend = backend(&emu);
    let tools = vec![Tool {
        name: "screenshot".into(),
        description: "Takes a screenshot.".into(),
        input_schema: json!({"type": "object"}),
    }];
    let mut request = ChatRequest {
        messages: vec![Message::user("Show me the screen")],
        tools: Some(tools),
        ..Default::default()
    };
    let first = backend.chat(request.clone()).await.unwrap();
    let call: ToolCall = first.tool_calls().next().unwrap().clone();
    request.messages.push(first.message);
    request.messages.push(Message::tool_results([ToolResult {
        tool_use_id: call.id,
        content: vec![ToolResultContent::Image(Image {
            format: ImageFormat::Png,
            bytes: png(32, 16),
        })],
        is_error: false,
    }]));
    backend.chat(request).await.unwrap();
    let sent = &emu.requests()[1].body["messages"][2]["content"][0]["toolResult"]["content"][0];
    assert_eq!(sent["image"]["format"], "png");
}

#[tokio::test]
async fn bedrocks_rules_are_checked_before_any_call() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut request = looking_at(png(9000, 10));
    let err = backend.chat(request.clone()).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    assert!(err.message().contains("9000×10"), "{err}");
    request.messages[0].content[1] = ContentBlock::Image(Image {
        format: ImageFormat::Jpeg,
        bytes: png(1, 1),
    });
    let err = backend.chat(request).await.unwrap_err();
    assert!(err.message().contains("declared jpeg is png"), "{err}");
    assert_eq!(emu.request_count(), 0, "nothing was sent");
}

/// A client without our pre-flight checks (the raw SDK) meets the same rules at the
/// emulator, as a ValidationException.
#[tokio::test]
async fn the_emulator_refuses_what_bedrock_refuses() {
    let emu = emulator().await;
    let client = backend(&emu).client().clone();
    let message = |blocks: Vec<sdk::ContentBlock>| {
        sdk::Message::builder()
            .role(sdk::ConversationRole::User)
            .set_content(Some(blocks))
            .build()
            .unwrap()
    };
    let image = |format: sdk::ImageFormat, bytes: Vec<u8>| {
        sdk::ContentBlock::Image(
            sdk::ImageBlock::builder()
                .format(format)
                .source(sdk::ImageSource::Bytes(Blob::new(bytes)))
                .build()
                .unwrap(),
        )
    };
    let text = sdk::ContentBlock::Text("look".into());
    for (blocks, expected) in [
        (
            vec![text.clone(), image(sdk::ImageFormat::Jpeg, png(4, 4))],
            "not a valid jpeg image",
        ),
        (
            vec![text.clone(), image(sdk::ImageFormat::Png, png(8001, 1))],
            "8001x1 pixels",
        ),
        (
            vec![sdk::ContentBlock::Document(
                sdk::DocumentBlock::builder()
                    .format(sdk::DocumentFormat::Pdf)
                    .name("spec")
                    .source(sdk::DocumentSource::Bytes(Blob::new(PDF.to_vec())))
                    .build()
                    .unwrap(),
            )],
            "no text block",
        ),
    ] {
        let err = client
            .converse()
            .model_id(gamecode_bedrock::DEFAULT_MODEL)
            .messages(message(blocks))
            .send()
            .await
            .unwrap_err();
        let service = err.into_service_error();
        assert!(service.is_validation_exception(), "{service:?}");
        let text = service.to_string();
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

/// A document given with citations on: the answer cites it (name, quoted passage, location),
/// streamed as text and citation deltas, and the cited reply goes back in the history intact.
#[tokio::test]
async fn documents_with_citations_on_are_cited() {
    use gamecode_backend::{CitationLocation, StreamCollector};
    let emu = emulator().await;
    let backend = backend(&emu);
    let notes = "Release notes\nv0.2 adds citations.\n";
    let request = ChatRequest {
        messages: vec![Message {
            role: MessageRole::User,
            content: vec![
                ContentBlock::Text {
                    text: "What changed?".into(),
                },
                ContentBlock::Document(Document {
                    format: DocumentFormat::Txt,
                    name: "notes".into(),
                    bytes: notes.as_bytes().to_vec(),
                    citations: true,
                }),
            ],
        }],
        ..Default::default()
    };
    let reply = backend.chat(request.clone()).await.unwrap();
    let Some(ContentBlock::Cited(cited)) = reply.message.content.first() else {
        panic!("{:?}", reply.message.content);
    };
    assert!(cited.text.contains("What changed?"), "{}", cited.text);
    let c = &cited.citations[0];
    assert_eq!(c.title.as_deref(), Some("notes"));
    assert_eq!(c.quoted, ["Release notes"]);
    assert_eq!(
        c.location,
        Some(CitationLocation::DocumentChars {
            document: 0,
            start: 0,
            end: 13
        })
    );
    assert_eq!(
        emu.requests()[0].body["messages"][0]["content"][1]["document"]["citations"],
        json!({"enabled": true})
    );

    let mut stream = backend.chat_stream(request.clone()).await.unwrap();
    let mut collector = StreamCollector::new();
    while let Some(event) = stream.next().await {
        collector.push(&event.unwrap());
    }
    let streamed = collector.finish("m".into(), None).unwrap();
    assert_eq!(streamed.message.content, reply.message.content);

    // The cited answer goes back in the history as it came.
    let mut next = request;
    next.messages.push(reply.message.clone());
    next.messages.push(Message::user("Thanks"));
    backend.chat(next).await.unwrap();
    let sent = &emu.requests()[2].body["messages"][1]["content"][0]["citationsContent"];
    assert_eq!(sent["citations"][0]["title"], "notes");
}
