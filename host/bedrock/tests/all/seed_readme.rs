//! The seed README's three examples, as written (plus `..Default::default()` where the types
//! grew fields), run through the default AWS credential chain against the emulator.
//!
//! The environment is process-global: each test runs in a process of its own (`own_process`),
//! whose environment is set from its start, and runs each phase on its own runtime.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator, EmulatorConfig,
};
use gamecode_backend::{BackendError, ErrorCategory};
use gamecode_bedrock::BedrockBackend;

use crate::support::own_process;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

// ---- the seed README, "Basic Usage" -------------------------------------------------------
mod basic {
    use gamecode_backend::{ChatRequest, Message, MessageRole};
    use gamecode_bedrock::BedrockBackend;

    pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
        // Create backend (uses default AWS credential chain)
        let backend = BedrockBackend::new().await?;

        // Create a chat request
        let request = ChatRequest {
            messages: vec![Message::text(MessageRole::User, "Hello, Claude!")],
            model: None, // Uses default model
            tools: None,
            inference_config: None,
            session_id: None,
            ..Default::default()
        };

        // Send request
        let response = backend.chat(request).await?;
        println!("Response: {:?}", response.message);
        assert!(response.text().contains("Hello, Claude!"));

        Ok(())
    }
}

// ---- the seed README, "Custom Configuration" ----------------------------------------------
mod custom {
    use gamecode_backend::{BackoffStrategy, ChatRequest, Message, MessageRole, RetryConfig};
    use gamecode_bedrock::BedrockBackend;
    use std::time::Duration;

    pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
        // Custom region
        let backend = BedrockBackend::new_with_region("us-east-1").await?;
        assert_eq!(
            backend
                .chat(ChatRequest {
                    messages: vec![Message::text(MessageRole::User, "hi")],
                    ..Default::default()
                })
                .await?
                .model,
            // The seed's default (Claude 3.7 Sonnet) reached end of life on 2026-04-28.
            gamecode_bedrock::DEFAULT_MODEL
        );

        // Custom model
        let backend = BedrockBackend::new()
            .await?
            .with_default_model("anthropic.claude-3-5-sonnet-20240620-v1:0");

        // Custom retry configuration
        let retry_config = RetryConfig {
            max_retries: 5,
            initial_delay: Duration::from_millis(1000),
            backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
            verbose: true,
            ..Default::default()
        };

        let request = ChatRequest {
            messages: vec![Message::text(MessageRole::User, "Hello again")],
            ..Default::default()
        };
        // The seed's model was retired in October 2025: the call is refused before any
        // request, with the model to use instead.
        let err = backend
            .chat_with_retry(request.clone(), retry_config.clone())
            .await
            .expect_err("a retired model");
        assert_eq!(err.category(), gamecode_backend::ErrorCategory::Validation);
        assert!(
            err.message()
                .contains("reached end of life on Bedrock; use us.anthropic.claude-sonnet-4-6"),
            "{err}"
        );
        let backend = backend.with_default_model("us.anthropic.claude-sonnet-4-6");
        let response = backend.chat_with_retry(request, retry_config).await?;
        assert_eq!(response.model, "us.anthropic.claude-sonnet-4-6");
        Ok(())
    }
}

// ---- the seed README, "With Tools" --------------------------------------------------------
mod with_tools {
    use gamecode_backend::{ChatRequest, InferenceConfig, Message, MessageRole, StopReason, Tool};
    use gamecode_bedrock::BedrockBackend;
    use serde_json::json;

    pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
        let backend = BedrockBackend::new().await?;

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

        let request = ChatRequest {
            messages: vec![Message::text(
                MessageRole::User,
                "What's the weather in Tokyo?",
            )],
            model: None,
            tools: Some(tools),
            inference_config: Some(InferenceConfig {
                temperature: Some(0.3),
                top_p: Some(0.9),
                max_tokens: Some(1000),
                ..Default::default()
            }),
            session_id: None,
            ..Default::default()
        };

        // The seed sets temperature and top_p together; every Claude model from 4.5 on (the
        // default among them) takes one or the other, so the request is refused before any
        // call, with the rule named — as Bedrock would refuse it.
        let err = backend
            .chat(request.clone())
            .await
            .expect_err("temperature with top_p");
        assert!(
            err.message()
                .contains("takes temperature or top_p, not both"),
            "{err}"
        );
        let mut request = request;
        if let Some(config) = request.inference_config.as_mut() {
            config.top_p = None;
        }
        let response = backend.chat(request).await?;
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        let call = response
            .tool_calls()
            .next()
            .expect("the model calls the tool");
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.input["location"], "Tokyo");
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn timed(rt: &tokio::runtime::Runtime, f: impl std::future::Future<Output = Result>) -> Result {
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await })
        .unwrap_or_else(|e| Err(e.into()))
}

async fn expect_category(
    result: impl std::future::Future<Output = std::result::Result<BedrockBackend, BackendError>>,
    want: ErrorCategory,
    needle: &str,
) -> Result {
    match result.await {
        Ok(_) => Err(format!("expected a {want} error").into()),
        Err(e) if e.category() == want && e.to_string().contains(needle) => Ok(()),
        Err(e) => Err(format!("expected {want} mentioning {needle:?}, got {e}").into()),
    }
}

/// A hermetic environment for the test's own process: nothing from the developer's AWS
/// setup, no instance metadata (which would send traffic off the machine).
fn hermetic(child: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            child.env_remove(key);
        }
    }
    child
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/gamecode-seed-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/gamecode-seed-test/credentials",
        );
}

#[test]
fn no_region_is_a_clear_error() {
    if !own_process("seed_readme::no_region_is_a_clear_error", hermetic) {
        return; // it ran, and passed, in its own process
    }
    runtime()
        .block_on(expect_category(
            BedrockBackend::new(),
            ErrorCategory::Validation,
            "no AWS region",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn no_credentials_is_a_clear_error() {
    if !own_process("seed_readme::no_credentials_is_a_clear_error", hermetic) {
        return; // it ran, and passed, in its own process
    }
    runtime()
        .block_on(expect_category(
            BedrockBackend::new_with_region("us-east-1"),
            ErrorCategory::Authentication,
            "no AWS credentials",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The three examples, one after the other, against one emulator that the default chain
/// finds through the environment.
#[test]
fn the_seed_examples_run_against_the_emulator() {
    let alone = own_process(
        "seed_readme::the_seed_examples_run_against_the_emulator",
        |child| {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            hermetic(child);
            child
                .env("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
                .env("AWS_REGION", "us-east-1")
                .env(
                    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                    format!("http://127.0.0.1:{port}"),
                );
        },
    );
    if !alone {
        return; // it ran, and passed, in its own process
    }
    let port: u16 = std::env::var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        .ok()
        .and_then(|url| url.rsplit(':').next()?.parse().ok())
        .expect("the endpoint's port, set by the parent");

    let rt = runtime();
    let emu = rt
        .block_on(Emulator::start_with(EmulatorConfig {
            bind: ([127, 0, 0, 1], port).into(),
            ..Default::default()
        }))
        .unwrap_or_else(|e| panic!("emulator did not start: {e}"));
    let outcomes = [
        ("seed_basic_usage", timed(&rt, basic::main())),
        ("seed_custom_configuration", timed(&rt, custom::main())),
        ("seed_with_tools", timed(&rt, with_tools::main())),
    ];
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // seed_examples_reached_the_emulator
    assert_eq!(emu.request_count(), 4, "the requests the emulator saw");
}
