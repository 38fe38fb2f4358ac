//! The emulator's integration tests, one binary: its wire format from a raw HTTP client, the
//! real AWS SDK and AWS's own Python client (boto3) against it, and its binary. One module per
//! subject; `support` holds the helpers, one module per concern.
//!
//! The modules' tests run as threads of one process; add new test files here as modules, not
//! as new binaries (each would link the AWS SDK again).

mod support;

mod binary;
mod boto3;
mod sdk;
mod wire;
