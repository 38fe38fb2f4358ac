//! Emulator configuration and its defaults.
//!
//! The default credentials are fixed, public and obviously fake so that tests and offline runs
//! can sign requests without any AWS account, and so that a request signed with anything else
//! is visibly rejected the way real Bedrock rejects it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::rules::Rules;

/// The access key id the emulator accepts by default.
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDGAMECODEEMULATOR";
/// The secret access key the emulator verifies signatures with by default.
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "gamecode-emulator-secret-key";
/// The region requests must be signed for by default.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How an [`Emulator`](crate::Emulator) listens and authenticates.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on; default `127.0.0.1:0` (an OS-chosen port).
    pub bind: SocketAddr,
    /// The only access key id accepted; others get `UnrecognizedClientException`.
    pub access_key_id: String,
    /// The secret used to recompute SigV4 signatures.
    pub secret_access_key: String,
    /// The region requests must be signed for; others get `InvalidSignatureException`.
    pub region: String,
    /// Verify SigV4 signatures (default true). When false any request is accepted.
    pub verify_signatures: bool,
    /// Simulated model latency added to every successful answer (default zero).
    /// [`Emulator::set_latency`](crate::Emulator::set_latency) overrides it at run time.
    pub latency: Duration,
    /// Scripted replies and rules to start with (see [`Rules`]).
    pub rules: Rules,
    /// A Bedrock API key clients may authenticate with (`Authorization: Bearer <key>`,
    /// what `AWS_BEARER_TOKEN_BEDROCK` sends); SigV4 keeps working beside it.
    pub api_key: Option<String>,
    /// Words a guardrail named by a request blocks (its word policy here): a user message
    /// containing one gets `guardrail_intervened` instead of an answer.
    pub guardrail_words: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            access_key_id: DEFAULT_ACCESS_KEY_ID.to_string(),
            secret_access_key: DEFAULT_SECRET_ACCESS_KEY.to_string(),
            region: DEFAULT_REGION.to_string(),
            verify_signatures: true,
            latency: Duration::ZERO,
            rules: Rules::default(),
            api_key: None,
            guardrail_words: Vec::new(),
        }
    }
}
