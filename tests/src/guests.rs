//! The guests the tests run: the example plugin and the test guests (`tests/guests`), built
//! for wasm32-wasip2 once per test binary.
//!
//! Std only, and uses its sibling module `paths`. Besides this crate's lib, the CLI's test
//! binary (`host/runtime/tests/cli.rs`, a crate this one depends on) includes it by `#[path]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::paths::workspace_root;

/// Builds the example plugin and the adversarial guests, once per test binary. Panics with
/// the build's output (and the fix, if the wasm32-wasip2 target is missing) when it fails.
pub fn build_guests() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = BUILT.get_or_init(build_all) {
        panic!("{message}");
    }
}

fn build_all() -> Result<(), String> {
    let root = workspace_root();
    check_target()?;
    for manifest in ["guest-example/Cargo.toml", "tests/guests/Cargo.toml"] {
        // The guests' own workspaces keep their own target dirs; the test paths rely on it.
        cargo(
            &root,
            &[
                "build",
                "--manifest-path",
                manifest,
                "--target",
                "wasm32-wasip2",
                "--release",
                "--quiet",
            ],
            true,
            &format!("building {manifest} for wasm32-wasip2"),
        )?;
    }
    Ok(())
}

/// Runs cargo in `dir` (without the caller's target-dir overrides when `own_target`); the
/// error says what failed (`what`) with cargo's stderr.
pub fn cargo(dir: &Path, args: &[&str], own_target: bool, what: &str) -> Result<(), String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).args(args);
    if own_target {
        cmd.env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET");
    }
    let output = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Fails clearly when the wasm32-wasip2 standard library is not installed.
pub fn check_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib/wasm32-wasip2");
    if lib.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the wasm32-wasip2 target is not installed (no {}): run `rustup target add \
             wasm32-wasip2`",
            lib.display()
        ))
    }
}

/// The example agent plugin.
pub fn guest_example() -> PathBuf {
    build_guests();
    workspace_root().join("guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm")
}

/// One of the test guests, e.g. `guest_looper`.
pub fn test_guest(name: &str) -> PathBuf {
    build_guests();
    workspace_root()
        .join("tests/guests/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}
