//! A test that needs a process of its own: one that sets the process's environment, or
//! measures something process-wide (peak RSS), in a test binary whose other tests run as
//! threads beside it.
//!
//! Std only. Besides this crate's lib, the Bedrock backend's test binary (a crate this one
//! depends on) includes it by `#[path]`.

use std::process::Command;

/// Set in the child to the name of the test it runs alone.
const CHILD: &str = "GAMECODE_TEST_OWN_PROCESS";

/// Whether the calling test goes on in this process: `true` in the child process made for
/// it, where it runs alone; `false` in the test binary that called it, once that child has
/// run the test and passed (a failure there fails the test here, with the child's output).
///
/// `test` is the test's full name in this binary (`module::function`, as `--list` shows it);
/// the child is this binary again, filtered to exactly that test, with `env` applied to its
/// environment from the start — so no `set_var` is ever needed while other threads run.
///
/// ```ignore
/// if !own_process("json_bounds::oversized_guest_json_is_refused_before_it_is_parsed", |_| {}) {
///     return; // it ran, and passed, in a process of its own
/// }
/// ```
#[must_use]
pub fn own_process(test: &str, env: impl FnOnce(&mut Command)) -> bool {
    if std::env::var_os(CHILD).is_some_and(|running| running == test) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe);
    child.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    env(&mut child);
    // Last, so that no `env` (an `env_clear`, say) can drop it and recurse.
    child.env(CHILD, test);
    let out = child
        .output()
        .unwrap_or_else(|e| panic!("{test}: cannot start its own process: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Relayed as the test's own output (shown with --nocapture or when it fails).
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test}: in its own process it failed, or did not run as exactly one test ({:?})",
        out.status
    );
    false
}

/// A child process killed (SIGKILL) and reaped when dropped: a test that fails half-way
/// leaves no worker or server of its own running.
pub struct Reaped(Option<std::process::Child>);

impl Reaped {
    pub fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    /// The child, no longer killed on drop (to wait for its output).
    pub fn take(mut self) -> std::process::Child {
        self.0.take().expect("a child until taken")
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("a child until taken")
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("a child until taken")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
