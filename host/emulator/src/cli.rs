//! Command-line options and the run-until-Ctrl-C loop, shared by the `bedrock-emulator`
//! binary and the `gamecode emulator` subcommand (which flattens [`EmulatorArgs`]).
//!
//! The emulator accepts a well-known fake key, so listening beyond loopback is refused unless
//! explicitly allowed.

use crate::config::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig,
};
use crate::server::Emulator;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// Options of the emulator's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "BEDROCK_EMULATOR_BIND")]
    pub bind: SocketAddr,
    /// Allow a non-loopback --bind address (the credentials are public; think twice).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// The access key id clients must sign with.
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_ID)]
    pub access_key_id: String,
    /// The secret access key clients must sign with.
    #[arg(long, default_value = DEFAULT_SECRET_ACCESS_KEY)]
    pub secret_access_key: String,
    /// The region clients must sign for.
    #[arg(long, default_value = DEFAULT_REGION)]
    pub region: String,
    /// Accept requests without checking their SigV4 signature.
    #[arg(long)]
    pub no_verify_signatures: bool,
    /// Simulated model latency added to each successful answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Scripted replies and rules (TOML; see the README): what the emulated model answers
    /// when the user's words match, before the default responder.
    #[arg(long, value_name = "FILE.toml")]
    pub rules: Option<std::path::PathBuf>,
    /// Also accept this Bedrock API key (`Authorization: Bearer`, as clients send
    /// `AWS_BEARER_TOKEN_BEDROCK`); signed requests keep working.
    #[arg(long, value_name = "KEY", env = "BEDROCK_EMULATOR_API_KEY")]
    pub api_key: Option<String>,
    /// A word a request's guardrail blocks (repeatable): the emulator's stand-in for a
    /// guardrail's word policy.
    #[arg(long = "guardrail-word", value_name = "WORD")]
    pub guardrail_words: Vec<String>,
}

impl EmulatorArgs {
    /// The configuration these options describe; refuses non-loopback addresses unless
    /// `--allow-non-loopback` was given.
    pub fn into_config(self) -> anyhow::Result<EmulatorConfig> {
        if !self.bind.ip().is_loopback() && !self.allow_non_loopback {
            anyhow::bail!(
                "refusing to listen on non-loopback address {} (the emulator's credentials are public); pass --allow-non-loopback to do it anyway",
                self.bind
            );
        }
        let rules = match &self.rules {
            Some(path) => crate::rules::Rules::from_file(path)?,
            None => crate::rules::Rules::default(),
        };
        Ok(EmulatorConfig {
            bind: self.bind,
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
            region: self.region,
            verify_signatures: !self.no_verify_signatures,
            latency: Duration::from_millis(self.latency_ms),
            rules,
            api_key: self.api_key,
            guardrail_words: self.guardrail_words,
        })
    }
}

/// Start an emulator, print `bedrock-emulator listening on http://…` on stdout, and serve
/// until Ctrl-C.
pub async fn run_until_ctrl_c(config: EmulatorConfig) -> anyhow::Result<()> {
    let emulator = Emulator::start_with(config).await?;
    {
        let mut out = std::io::stdout().lock();
        let url = emulator.url();
        let c = emulator.config();
        // One write: a parent that reads only the first line and closes the pipe must not
        // make a later write fail (and the server stop).
        let text = format!(
            "bedrock-emulator listening on {url}\n\
             \nTalk to it with any AWS client (these credentials are the emulator's own, not AWS's):\n\
             \n  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_REGION={}\
             \n  export AWS_ENDPOINT_URL_BEDROCK_RUNTIME={url}\
             \n  gamecode run --endpoint-url {url} agent.wasm \"What is 6 * 7?\"\n\n",
            c.access_key_id, c.secret_access_key, c.region
        );
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    tracing::info!(
        access_key_id = %emulator.config().access_key_id,
        region = %emulator.config().region,
        verify_signatures = emulator.config().verify_signatures,
        "serving until Ctrl-C"
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!(requests = emulator.request_count(), "shutting down");
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    #[test]
    fn defaults_and_loopback_guard() {
        let cfg = Cli::parse_from(["x"]).args.into_config().unwrap();
        assert!(cfg.bind.ip().is_loopback());
        assert_eq!(cfg.access_key_id, DEFAULT_ACCESS_KEY_ID);
        assert!(cfg.verify_signatures);

        assert!(
            Cli::parse_from(["x", "--bind", "0.0.0.0:0"])
                .args
                .into_config()
                .is_err()
        );
        let cfg = Cli::parse_from([
            "x",
            "--bind",
            "0.0.0.0:0",
            "--allow-non-loopback",
            "--no-verify-signatures",
            "--latency-ms",
            "25",
        ])
        .args
        .into_config()
        .unwrap();
        assert!(!cfg.verify_signatures);
        assert_eq!(cfg.latency, Duration::from_millis(25));
    }
}
