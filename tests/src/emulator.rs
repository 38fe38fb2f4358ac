//! The emulator from a client's side: one on loopback, and an AWS SDK configuration with its
//! static credentials (no AWS account, nothing from this machine's environment).
//!
//! Besides this crate's lib, the test binaries of the Bedrock backend and of the emulator
//! (crates this one depends on) include it by `#[path]`.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator,
};

/// An emulator on 127.0.0.1 with an OS-chosen port.
pub async fn emulator() -> Emulator {
    Emulator::start().await.expect("the emulator starts")
}

/// The emulator's default credentials and region as an SDK config, with no endpoint (see
/// `Emulator::sdk_config` for one pointed at a running emulator).
pub fn sdk_config() -> SdkConfig {
    sdk_config_with(
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
        DEFAULT_REGION,
    )
}

/// An SDK config with these static credentials and region, and no endpoint.
pub fn sdk_config_with(access_key: &str, secret: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, secret, None, None, "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build()
}
