//! Python virtual environments for tests: made once under the target directory, with pinned
//! requirements.
//!
//! Std only, and uses its sibling module `paths`. Besides this crate's lib, the test binaries
//! of crates this crate depends on (the emulator's boto3 test, the CLI's MCP tests) include it
//! by `#[path]`.

use std::path::PathBuf;
use std::process::Command;

use super::paths::target_dir;

/// The Python of the venv `target/<name>` with `requirements` (pinned, `package==version`)
/// installed; the first call makes it (PyPI is needed then), later ones find it made.
///
/// A lock file beside it (`target/<name>.lock`) lets one maker at a time in, across the
/// threads of a test binary and across test binaries; a stamp in the venv names what was
/// installed, so a venv made for other requirements, or left half-made by an interrupted run,
/// is completed in place (`venv` and `pip install` over it, never removed under another
/// process's feet).
pub fn python_venv(name: &str, requirements: &[&str]) -> PathBuf {
    let target = target_dir();
    std::fs::create_dir_all(&target)
        .unwrap_or_else(|e| panic!("creating {}: {e}", target.display()));
    let venv = target.join(name);
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    let wanted = requirements.join("\n");
    let lock_path = target.join(format!("{name}.lock"));
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(&system)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {system}: {e}"));
    assert!(
        made.status.success(),
        "{system} -m venv {} failed:\n{}",
        venv.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(requirements)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        installed.status.success(),
        "pip install {} into {} failed:\n{}",
        requirements.join(" "),
        venv.display(),
        String::from_utf8_lossy(&installed.stderr)
    );
    std::fs::write(&stamp, &wanted).unwrap_or_else(|e| panic!("writing {}: {e}", stamp.display()));
    python
}
