//! `gamecode cassette show|diff`, and the replay report of `gamecode run --replay`.

use std::path::Path;

use gamecode_cassette::{Cassette, Drift};

use crate::{EXIT_OTHER, EXIT_USAGE, Failure};

/// Recorded model text, for stdout: control characters escaped on a terminal.
fn terminal_safe(text: &str) -> String {
    if crate::terminal::stdout_is_tty() {
        gamecode_host::text::escape_controls(text).into_owned()
    } else {
        text.to_string()
    }
}

pub(crate) fn read(path: &Path) -> Result<Cassette, Failure> {
    Cassette::from_file(path)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("{}: {e}", path.display())))
}

/// `gamecode cassette show FILE`.
pub(crate) fn show(path: &Path) -> Result<(), Failure> {
    let cassette = read(path)?;
    print!("{}", terminal_safe(&gamecode_cassette::show(&cassette)));
    Ok(())
}

/// `gamecode cassette diff A B`: exit 0 when they agree, 1 when they diverge.
pub(crate) fn diff(a: &Path, b: &Path) -> Result<(), Failure> {
    let (x, y) = (read(a)?, read(b)?);
    let report = gamecode_cassette::diff(&x, &y);
    print!("{}", terminal_safe(&report));
    if report.starts_with("no divergence") {
        Ok(())
    } else {
        Err(Failure::new(1, String::new()))
    }
}

/// The drift report after a replay: each drifted exchange, and what the fallback did.
pub(crate) fn drift_report(drift: &[Drift], fallback: bool, remaining: usize) -> Option<String> {
    if drift.is_empty() && remaining == 0 {
        return None;
    }
    let mut out = String::new();
    if !drift.is_empty() {
        out.push_str(&format!(
            "replay drifted from the cassette ({} exchange{}):\n",
            drift.len(),
            if drift.len() == 1 { "" } else { "s" }
        ));
        for d in drift {
            out.push_str(&format!("  {d}\n"));
        }
        if fallback {
            out.push_str("  those turns were answered by the emulator's own responder\n");
        }
    }
    if remaining > 0 {
        out.push_str(&format!(
            "  {remaining} recorded exchange{} not replayed (the run made fewer calls)\n",
            if remaining == 1 { " was" } else { "s were" }
        ));
    }
    Some(out)
}

/// The failure of a run whose replay drifted, without the fallback.
pub(crate) fn drift_failure(report: String) -> Failure {
    Failure::new(EXIT_OTHER, report.trim_end().to_string())
}
