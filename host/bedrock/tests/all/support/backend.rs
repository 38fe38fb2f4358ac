//! A real `BedrockBackend` (real SDK, real SigV4, real HTTP) pointed at an emulator on
//! loopback.

use std::sync::{Arc, Mutex};

use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator,
};
use gamecode_backend::{ChatRequest, Message, RetryStatus};
use gamecode_bedrock::BedrockBackend;

use super::emulator::sdk_config_with;
use super::retry::fast_retry;

pub fn backend_with(emu: &Emulator, access_key: &str, secret: &str) -> BedrockBackend {
    BedrockBackend::new_with_config(&sdk_config_with(access_key, secret, DEFAULT_REGION))
        .expect("config has a region")
        .with_endpoint_url(emu.url())
        .with_retry_config(fast_retry(3))
}

pub fn backend(emu: &Emulator) -> BedrockBackend {
    backend_with(emu, DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)
}

/// Collects the retry status events a backend reports.
pub fn recording(backend: BedrockBackend) -> (BedrockBackend, Arc<Mutex<Vec<RetryStatus>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let backend = backend.with_status_callback(move |s| sink.lock().unwrap().push(s.clone()));
    (backend, seen)
}

/// The smallest request: a user saying hello.
pub fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("hello")],
        ..Default::default()
    }
}

/// The test log subscriber, once per process: the backend's retries at info (`RUST_LOG`
/// overrides).
pub fn init_tracing() {
    super::log::init_tracing_with("gamecode_backend=info");
}
