//! Where the workspace and its build output are.
//!
//! Std only. Besides this crate's lib, the test binaries of crates this crate depends on (and
//! so cannot depend on it) include it by `#[path]`, next to the modules that use it as
//! `super::paths` (`guests`, `venv`).

use std::path::{Path, PathBuf};

/// The workspace root: the nearest directory above the including crate's manifest that holds
/// the workspace's `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("the workspace's Cargo.lock above this crate")
        .to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR` if set, else `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
