//! AWS's own Python client (boto3, pinned) against the emulator: every shape of the Converse
//! surface the emulator produces must parse, every request shape it accepts must pass
//! botocore's validation (`tests/boto3/check_shapes.py`). The venv is made once in the target
//! directory; PyPI is needed the first time.

use std::path::{Path, PathBuf};
use std::process::Command;

use bedrock_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, Emulator, EmulatorConfig,
};

const BOTO3: &str = "boto3==1.44.8";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// A venv with the pinned boto3, made once.
fn python() -> PathBuf {
    let venv = target_dir().join("boto3-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(BOTO3) {
        return python;
    }
    let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(&system)
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "python3 -m venv {}",
        venv.display()
    );
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            BOTO3,
        ])
        .output()
        .expect("pip runs");
    assert!(
        out.status.success(),
        "pip install {BOTO3} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&stamp, BOTO3).expect("stamp");
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_accepts_every_shape_the_emulator_produces() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
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
