//! What the CLI knows of its terminal: whether stdout and stderr are one, and how wide.

use std::io::IsTerminal;

/// Whether stderr (progress, logs) is a terminal.
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stdout (the answer) is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// The columns of the terminal `fd` is on, if it is one that says.
fn columns_of(fd: impl std::os::fd::AsFd) -> Option<usize> {
    #[cfg(target_os = "linux")]
    if let Ok(size) = rustix::termios::tcgetwinsize(fd)
        && size.ws_col > 0
    {
        return Some(usize::from(size.ws_col));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
    None
}

/// The columns of the terminal stderr is on (80 when it cannot be told).
pub fn stderr_columns() -> usize {
    columns_of(std::io::stderr()).unwrap_or(80)
}

/// The columns of the terminal stdout is on, if it is one.
pub fn stdout_columns() -> Option<usize> {
    stdout_is_tty()
        .then(|| columns_of(std::io::stdout()))
        .flatten()
}
