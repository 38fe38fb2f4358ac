//! The machine's cores, shared by the tests of one binary.
//!
//! The tests run as threads of one process, two or more at a time. A few keep the cores busy
//! for long: they build plugins with their languages' toolchains, or compile and run the large
//! interpreter-based components. A few measure rates, deadlines or peak memory in a way that
//! assumes the cores are free, as they were when each test file was a binary of its own, run
//! alone (a throttling storm whose 1,000 runs must all start within its first second). A test
//! of the first kind holds [`busy_machine`] and one of the second [`quiet_machine`] for its
//! whole run: busy tests run together, a quiet one never beside any of them. Tests that hold
//! neither (most) run beside anything, as before.
//!
//! Taken once, at the start of a test, never inside a helper (a test holding one must not ask
//! again: a quiet test waiting to start holds new busy ones back).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

struct State {
    busy: usize,
    quiet: bool,
    quiet_waiting: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    busy: 0,
    quiet: false,
    quiet_waiting: 0,
});
static CHANGED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    // A test that panicked while holding the lock changed nothing half-way.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait(guard: MutexGuard<'static, State>) -> MutexGuard<'static, State> {
    CHANGED.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Held by a test that keeps the cores busy for long; see the module's docs.
#[must_use = "the machine is busy only while the guard lives"]
pub struct Busy(());

/// Held by a test that needs the cores free of busy tests; see the module's docs.
#[must_use = "the machine is quiet only while the guard lives"]
pub struct Quiet(());

/// Waits until no quiet test runs or waits to run, then holds the machine as busy (with any
/// other busy tests) until the guard is dropped.
pub fn busy_machine() -> Busy {
    let mut s = state();
    while s.quiet || s.quiet_waiting > 0 {
        s = wait(s);
    }
    s.busy += 1;
    Busy(())
}

/// Waits until no busy test runs (and no other quiet one), then keeps busy tests from
/// starting until the guard is dropped. Busy tests that wait are let in after it: a quiet
/// test is not starved by a stream of busy ones.
pub fn quiet_machine() -> Quiet {
    let mut s = state();
    s.quiet_waiting += 1;
    while s.quiet || s.busy > 0 {
        s = wait(s);
    }
    s.quiet_waiting -= 1;
    s.quiet = true;
    Quiet(())
}

impl Drop for Busy {
    fn drop(&mut self) {
        state().busy -= 1;
        CHANGED.notify_all();
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        state().quiet = false;
        CHANGED.notify_all();
    }
}
