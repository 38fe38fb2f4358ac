//! `bedrock-emulator`: serve the Bedrock Runtime emulator on loopback until Ctrl-C.
//!
//! Prints exactly one line, `bedrock-emulator listening on http://127.0.0.1:PORT`, on stdout
//! (so scripts can read the URL), and logs requests to stderr.

use bedrock_emulator::{EmulatorArgs, run_until_ctrl_c};
use clap::Parser;

/// A loopback AWS Bedrock Runtime (Converse, ConverseStream) emulator for tests and offline runs.
#[derive(Parser)]
#[command(name = "bedrock-emulator", version, about)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = cli.args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_until_ctrl_c(config))
}
