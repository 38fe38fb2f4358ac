//! What `gamecode run` and `gamecode mcp serve` both set up: the Bedrock backend on the AWS
//! chain, the read-only folders, and how a setup or load failure reads.

use std::path::PathBuf;
use std::sync::Arc;

use gamecode_backend::BackendError;
use gamecode_bedrock::BedrockBackend;
use gamecode_host::LoadError;
use gamecode_host::tools::fs::{FsRoot, FsRoots};

use crate::{EXIT_BACKEND, EXIT_PLUGIN, EXIT_USAGE, Failure};

/// The Bedrock backend on the default AWS chain (or `region`), optionally at `endpoint_url`.
pub(crate) async fn aws_backend(
    region: &Option<String>,
    endpoint_url: &Option<String>,
    verbose: u8,
) -> Result<BedrockBackend, Failure> {
    let backend = match region {
        Some(region) => BedrockBackend::new_with_region(region.clone()).await,
        None => BedrockBackend::new().await,
    }
    .map_err(|e| setup_failure(e, verbose))?;
    Ok(match endpoint_url {
        Some(url) => backend.with_endpoint_url(url.clone()),
        None => backend,
    })
}

pub(crate) fn backend_failure(e: BackendError) -> Failure {
    Failure::new(EXIT_BACKEND, format!("model backend: {e}"))
}

/// A backend that could not even be set up: no region, no credentials. Said in the CLI's
/// terms (flags and environment variables, not Rust APIs); the SDK's details with `-v`.
pub(crate) fn setup_failure(e: BackendError, verbose: u8) -> Failure {
    let message = e.message();
    let text = if message.starts_with("no AWS region") {
        "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION; or run \
         offline with --emulator"
            .to_string()
    } else if message.starts_with("no AWS credentials") {
        let mut text = "no AWS credentials found: set AWS_ACCESS_KEY_ID and \
                        AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a Bedrock API key in \
                        AWS_BEARER_TOKEN_BEDROCK; or use --emulator"
            .to_string();
        if verbose > 0 {
            text.push_str(&format!("\n{message}"));
        } else {
            text.push_str(" (-v: what the SDK tried)");
        }
        text
    } else {
        format!("model backend: {e}")
    };
    Failure::new(EXIT_BACKEND, text)
}

/// The plugin's file named in the message, whatever went wrong with it.
pub(crate) fn load_failure(path: &std::path::Path, e: LoadError) -> Failure {
    let message = match &e {
        LoadError::Io { .. } => e.to_string(),
        _ => format!("{}: {e}", path.display()),
    };
    Failure::new(EXIT_PLUGIN, message)
}

/// The file tools over every `--allow-read` directory.
pub(crate) fn fs_tools(dirs: &[PathBuf]) -> Result<Vec<Arc<dyn gamecode_host::HostTool>>, Failure> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    let roots = dirs
        .iter()
        .map(|dir| {
            FsRoot::new(dir).map_err(|e| {
                Failure::new(EXIT_USAGE, format!("--allow-read {}: {e}", dir.display()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    FsRoots::new(roots)
        .map(FsRoots::tools)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("--allow-read: {e}")))
}
