//! Bedrock API keys (bearer auth) through the real SDK: accepted by an emulator configured
//! with the key, refused (not retried) with another, and SigV4 keeps working beside them.

use crate::support::*;
use bedrock_emulator::{Emulator, EmulatorConfig};
use gamecode_backend::ErrorCategory;

#[tokio::test]
async fn an_api_key_authenticates_and_a_wrong_one_is_refused() {
    let emu = Emulator::start_with(EmulatorConfig {
        api_key: Some("bedrock-api-key-test".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let reply = backend(&emu)
        .with_api_key("bedrock-api-key-test")
        .chat(hello())
        .await
        .unwrap();
    assert!(!reply.text().is_empty());
    let sent = &emu.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer bedrock-api-key-test")
    );

    let err = backend(&emu)
        .with_api_key("not-the-key")
        .chat(hello())
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Authentication, "{err}");
    assert!(err.message().contains("API Key"), "{err}");
    assert_eq!(emu.request_count(), 2, "not retried");

    // Signed requests still work.
    backend(&emu).chat(hello()).await.unwrap();
    // The key is not in the backend's Debug output.
    let shown = format!("{:?}", backend(&emu).with_api_key("bedrock-api-key-test"));
    assert!(!shown.contains("bedrock-api-key-test"), "{shown}");
}
