//! The Bedrock backend's integration tests, one binary: the real `aws-sdk-bedrockruntime`
//! (real SigV4, real HTTP) against the loopback emulator. One module per subject; `support`
//! holds the helpers, one module per concern.
//!
//! The modules' tests run as threads of one process. A test that sets the environment runs
//! in a process of its own (`own_process`); add new test files here as modules, not as new
//! binaries (each would link the AWS SDK again).

mod support;

mod api_key;
mod caching;
mod converse;
mod media;
mod models;
mod options;
mod reasoning;
mod retries;
mod seed_readme;
mod stalls;
mod streaming;
