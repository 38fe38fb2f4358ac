//! The seed README's tool-calling example, carried through a whole tool round trip.
//!
//! By default it runs offline against the bundled Bedrock emulator (real SDK, real SigV4,
//! real HTTP on 127.0.0.1). With `--aws` it uses the default AWS credential chain and region
//! instead, i.e. real Bedrock.
//!
//! ```text
//! cargo run -p gamecode-bedrock --example tool_calling            # offline
//! cargo run -p gamecode-bedrock --example tool_calling -- --aws   # real Bedrock
//! ```

use bedrock_emulator::Emulator;
use gamecode_backend::{
    ChatRequest, InferenceConfig, Message, MessageRole, StopReason, Tool, ToolResult,
};
use gamecode_bedrock::BedrockBackend;
use serde_json::{Value, json};

/// The example's tool. A real one would call a weather service; this one is deterministic so
/// the example's output is reproducible.
fn get_weather(input: &Value) -> ToolResult {
    let Some(location) = input["location"].as_str() else {
        return ToolResult::error("", "`location` must be a string");
    };
    let temperature = location.bytes().map(u32::from).sum::<u32>() % 30;
    ToolResult::json(
        "",
        json!({"location": location, "temperature_c": temperature, "sky": "clear"}),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();

    let use_aws = std::env::args().any(|a| a == "--aws");
    let (backend, _emulator) = if use_aws {
        (BedrockBackend::new().await?, None)
    } else {
        let emu = Emulator::start().await?;
        eprintln!("offline: Bedrock emulator at {}", emu.url());
        let backend = BedrockBackend::new_with_config(&emu.sdk_config())?;
        (backend, Some(emu))
    };
    let backend = backend.with_status_callback(|status| eprintln!("retry: {status:?}"));

    let tools = vec![Tool {
        name: "get_weather".to_string(),
        description: "Get current weather for a location".to_string(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA"
                }
            },
            "required": ["location"]
        }),
    }];
    let mut request = ChatRequest {
        messages: vec![Message::text(
            MessageRole::User,
            "What's the weather in Tokyo?",
        )],
        tools: Some(tools),
        inference_config: Some(InferenceConfig {
            temperature: Some(0.3),
            top_p: Some(0.9),
            max_tokens: Some(1000),
            ..Default::default()
        }),
        ..Default::default()
    };

    for _turn in 0..4 {
        let response = backend.chat(request.clone()).await?;
        request.messages.push(response.message.clone());
        if response.stop_reason != StopReason::ToolUse {
            println!("{}", response.text());
            return Ok(());
        }
        let results: Vec<ToolResult> = response
            .tool_calls()
            .map(|call| {
                eprintln!("tool call: {}({})", call.name, call.input);
                let mut result = match call.name.as_str() {
                    "get_weather" => get_weather(&call.input),
                    other => ToolResult::error("", format!("unknown tool {other}")),
                };
                result.tool_use_id = call.id.clone();
                result
            })
            .collect();
        request.messages.push(Message::tool_results(results));
    }
    Err("the model did not finish within 4 turns".into())
}
