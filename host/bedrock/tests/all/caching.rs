//! Prompt caching through the real SDK: cache points in the system prompt, after the tools and
//! in the conversation; the emulator writes a prefix on first use, reads it within its TTL,
//! caches nothing below the model's minimum, and refuses a fifth cache point as Bedrock does.

use crate::support::*;
use bedrock_emulator::Reply;
use futures::StreamExt;
use gamecode_backend::{
    CachePoint, ChatOptions, ChatRequest, ContentBlock, Message, MessageRole, StreamEvent, Tool,
    ToolResult, Usage,
};
use serde_json::json;

/// A model with Bedrock's smallest cache minimum (1,024 tokens; the default, Sonnet 4.6,
/// caches from 2,048).
const SONNET_4_5: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn system_prompt() -> String {
    "You are a careful assistant who answers with evidence. ".repeat(120)
}

fn tools() -> Vec<Tool> {
    vec![Tool {
        name: "lookup".into(),
        description: "Looks a fact up. ".repeat(20),
        input_schema: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
    }]
}

fn cached(question: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message {
                role: MessageRole::System,
                content: vec![
                    ContentBlock::Text {
                        text: system_prompt(),
                    },
                    ContentBlock::CachePoint(CachePoint::default()),
                ],
            },
            Message::user(question),
        ],
        tools: Some(tools()),
        options: ChatOptions {
            cache_tools: Some(CachePoint::default()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn a_prefix_is_written_once_then_read() {
    let emu = emulator().await;
    emu.push_reply(Reply::Text("first".into()));
    emu.push_reply(Reply::Text("second".into()));
    let backend = backend(&emu).with_default_model(SONNET_4_5);
    let first = backend.chat(cached("one?")).await.unwrap().usage.unwrap();
    assert!(first.cache_write_input_tokens >= 1024, "{first:?}");
    assert_eq!(first.cache_read_input_tokens, 0);
    let second = backend.chat(cached("two?")).await.unwrap().usage.unwrap();
    assert_eq!(
        second.cache_read_input_tokens,
        first.cache_write_input_tokens
    );
    assert_eq!(second.cache_write_input_tokens, 0);
    assert!(second.input_tokens < first.cache_write_input_tokens);
    assert_eq!(
        second.total_tokens,
        second.input_tokens + second.output_tokens + second.cache_read_input_tokens
    );
    // Sent as Bedrock expects: a cachePoint after the system text and after the tools.
    let body = &emu.requests()[0].body;
    assert_eq!(
        body["system"][1],
        json!({"cachePoint": {"type": "default"}})
    );
    assert_eq!(
        body["toolConfig"]["tools"][1],
        json!({"cachePoint": {"type": "default"}})
    );

    // Streamed: the metadata event carries the cache usage.
    let mut stream = backend.chat_stream(cached("three?")).await.unwrap();
    let mut usage = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Metadata { usage: u } = event.unwrap() {
            usage = Some(u);
        }
    }
    assert_eq!(
        usage.unwrap().cache_read_input_tokens,
        first.cache_write_input_tokens
    );
}

#[tokio::test]
async fn below_the_models_minimum_nothing_is_cached_and_a_fifth_point_is_refused() {
    let emu = emulator().await;
    let backend = backend(&emu);
    let mut short = cached("q");
    short.messages[0].content[0] = ContentBlock::Text {
        text: "Be brief.".into(),
    };
    short.tools = None;
    short.options = ChatOptions::default();
    let usage = backend.chat(short.clone()).await.unwrap().usage.unwrap();
    assert_eq!(
        (
            usage.cache_read_input_tokens,
            usage.cache_write_input_tokens
        ),
        (0, 0)
    );
    // Five points: refused before any call; the raw SDK meets the same rule at the emulator.
    let mut five = cached("q");
    five.messages[1].content.extend([
        ContentBlock::CachePoint(CachePoint::default()),
        ContentBlock::Text { text: "b".into() },
        ContentBlock::CachePoint(CachePoint::default()),
        ContentBlock::Text { text: "c".into() },
        ContentBlock::CachePoint(CachePoint::default()),
    ]);
    let before = emu.request_count();
    let err = backend.chat(five).await.unwrap_err();
    assert!(err.message().contains("5 cache points"), "{err}");
    assert_eq!(emu.request_count(), before);
}

/// A 20-turn tool loop: billed input with a moving cache point on the conversation versus
/// none. Plumbing, not a price claim: the emulator counts about four characters a token.
#[tokio::test]
async fn a_tool_loop_bills_far_less_input_with_cache_points() {
    async fn run(with_cache: bool) -> Usage {
        let emu = emulator().await;
        let backend = backend(&emu).with_default_model(SONNET_4_5);
        let mut request = cached("Find twenty facts.");
        if !with_cache {
            request.messages[0].content.pop();
            request.options = ChatOptions::default();
        }
        let mut total = Usage::default();
        for turn in 0..20 {
            emu.push_reply(Reply::ToolUse {
                name: "lookup".into(),
                input: json!({"q": format!("fact {turn}")}),
            });
            let reply = backend.chat(request.clone()).await.unwrap();
            let u = reply.usage.unwrap();
            total.input_tokens += u.input_tokens;
            total.cache_read_input_tokens += u.cache_read_input_tokens;
            total.cache_write_input_tokens += u.cache_write_input_tokens;
            let call = reply.tool_calls().next().unwrap().clone();
            request.messages.push(reply.message);
            let mut result = vec![ContentBlock::ToolResult(ToolResult::text(
                call.id,
                format!("fact {turn}: {}", "evidence ".repeat(30)),
            ))];
            if with_cache {
                // Keep one moving point on the conversation: the previous one goes.
                for m in &mut request.messages {
                    m.content.retain(|b| {
                        !matches!(b, ContentBlock::CachePoint(_)) || m.role == MessageRole::System
                    });
                }
                result.push(ContentBlock::CachePoint(CachePoint::default()));
            }
            request.messages.push(Message {
                role: MessageRole::User,
                content: result,
            });
        }
        total
    }
    let cached = run(true).await;
    let uncached = run(false).await;
    eprintln!(
        "20-turn tool loop, billed input tokens: with cache points {} uncached + {} cache reads + \
         {} cache writes; without {} uncached",
        cached.input_tokens,
        cached.cache_read_input_tokens,
        cached.cache_write_input_tokens,
        uncached.input_tokens
    );
    assert_eq!(uncached.cache_read_input_tokens, 0);
    assert!(cached.cache_read_input_tokens > 0);
    // One measure for all three: the cached loop bills exactly the uncached loop's input,
    // split three ways (its uncached part is what follows the last cache point, counted, not
    // floored at 1 per call).
    assert_eq!(
        cached.input_tokens + cached.cache_read_input_tokens + cached.cache_write_input_tokens,
        uncached.input_tokens,
        "{cached:?} vs {uncached:?}"
    );
    assert!(
        cached.input_tokens * 3 < uncached.input_tokens,
        "{cached:?} vs {uncached:?}"
    );
}
