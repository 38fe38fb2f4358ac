//! Shared setup: an emulator on loopback and a real `BedrockBackend` (real SDK, real SigV4,
//! real HTTP) pointed at it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator,
};
use gamecode_backend::{BackoffStrategy, RetryConfig, RetryStatus};
use gamecode_bedrock::BedrockBackend;

pub async fn emulator() -> Emulator {
    Emulator::start().await.expect("emulator starts")
}

pub fn sdk_config(access_key: &str, secret: &str) -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new(DEFAULT_REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, secret, None, None, "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build()
}

/// A retry policy with small delays, so tests of retries stay quick.
pub fn fast_retry(max_retries: u32) -> RetryConfig {
    RetryConfig {
        max_retries,
        initial_delay: Duration::from_millis(20),
        backoff_strategy: BackoffStrategy::Exponential { multiplier: 2 },
        verbose: true,
        max_delay: Duration::from_millis(500),
        jitter: 0.5,
    }
}

pub fn backend_with(emu: &Emulator, access_key: &str, secret: &str) -> BedrockBackend {
    BedrockBackend::new_with_config(&sdk_config(access_key, secret))
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

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("gamecode_backend=info")
        .try_init();
}
