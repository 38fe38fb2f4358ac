//! AWS's own Python client (boto3, pinned) against the emulator: every shape of the Converse
//! surface the emulator produces must parse, every request shape it accepts must pass
//! botocore's validation (`tests/boto3/check_shapes.py`). The venv is made once in the target
//! directory; PyPI is needed the first time.

use std::path::Path;
use std::process::Command;

use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator, EmulatorConfig,
};

use crate::support::venv::python_venv;

const BOTO3: &str = "boto3==1.44.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_accepts_every_shape_the_emulator_produces() {
    let python = tokio::task::spawn_blocking(|| python_venv("boto3-venv", &[BOTO3]))
        .await
        .expect("venv");
    let emu = Emulator::start_with(EmulatorConfig {
        guardrail_words: vec!["forbidden".into()],
        ..Default::default()
    })
    .await
    .expect("emulator");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boto3/check_shapes.py");
    let url = emu.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("BEDROCK_URL", url)
            .env("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
            .env("AWS_REGION", DEFAULT_REGION)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("the script runs")
    })
    .await
    .expect("task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.trim_end().ends_with("all shapes accepted"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
