//! Figure 6's baseline: the smallest useful raw-SDK program. It resolves the AWS config from
//! the environment like `gamecode run` does (`aws_config::defaults`), sends one Converse
//! request to the endpoint given as its argument, and exits. The benchmark times process
//! start to the request's arrival at the emulator, for this and for `gamecode run`.
//!
//! Usage: `raw-first-request ENDPOINT_URL` (credentials and region from `AWS_*` variables).

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};

fn main() -> ExitCode {
    let Some(endpoint) = std::env::args().nth(1) else {
        eprintln!("usage: raw-first-request ENDPOINT_URL");
        return ExitCode::from(2);
    };
    // The same runtime `gamecode` starts (multi-threaded, all drivers).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let conf = aws_sdk_bedrockruntime::config::Builder::from(&config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .endpoint_url(endpoint)
            .build();
        let client = aws_sdk_bedrockruntime::Client::from_conf(conf);
        let message = match Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text("hello".into()))
            .build()
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match client
            .converse()
            .model_id(gamecode_bedrock::DEFAULT_MODEL)
            .messages(message)
            .send()
            .await
        {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "converse failed: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
                ExitCode::FAILURE
            }
        }
    })
}
