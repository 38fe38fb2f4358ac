//! The `gamecode` binary cut off from this machine: none of its AWS configuration, and its
//! compiled-plugin cache and state store in a directory of the test's.
//!
//! Std only: the CLI's test binary (`host/runtime/tests/cli.rs`) includes it by `#[path]`.

use std::path::Path;
use std::process::{Command, Stdio};

/// `bin` with its cache in `dir`, its state store in `dir/state`, no AWS profile, config
/// file, credentials file or instance metadata, no `RUST_LOG`, and an empty stdin.
pub fn isolated_gamecode(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("GAMECODE_CACHE_DIR", dir)
        .env("GAMECODE_STATE_DIR", dir.join("state"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}
