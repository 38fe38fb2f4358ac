//! Guest-controlled text made safe to show a person: bounded, with control characters escaped.
//!
//! A plugin's strings (tool names, model ids, error messages, output lines) end up in error
//! messages, logs and the user's terminal. Unbounded, one 100 MiB error message is printed
//! whole; raw, an ESC sequence can erase a line, retitle the window or write the clipboard
//! (OSC 52), and a `\r` can overwrite the host's own prefix with a fake `error:` line.

use std::borrow::Cow;
use std::fmt::Write;

/// The most characters of a guest string echoed inside a host message.
pub const ECHO_MAX_CHARS: usize = 200;

/// The most bytes kept of a message a guest reports as its own (e.g. an agent error).
pub const MESSAGE_MAX_BYTES: usize = 4096;

/// Whether `c` must not reach a terminal raw: C0 controls but tab and newline, DEL, C1
/// controls, and the Unicode bidi overrides and isolates that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `text` with every control character but tab and newline escaped (`\x1b`, `\r`,
/// `\u{202e}`); borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` as one line (newlines escaped too), controls escaped: for a plugin's output line.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    if !text.contains('\n') {
        return escape_controls(text);
    }
    Cow::Owned(escape_controls(text).replace('\n', "\\n"))
}

/// A guest string to quote inside a host message: escaped, on one line, and cut to
/// [`ECHO_MAX_CHARS`] characters with the full length noted.
pub fn echo(text: &str) -> String {
    let cut = match text.char_indices().nth(ECHO_MAX_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    };
    let mut out = escape_line(cut).into_owned();
    if cut.len() < text.len() {
        let _ = write!(out, "… ({} bytes in all)", text.len());
    }
    out
}

/// Keeps at most `max` bytes of `text` (on a character boundary), noting what was cut.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    let _ = write!(text, "… ({total} bytes in all, cut)");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_tabs_and_text_kept() {
        assert!(matches!(escape_controls("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\x1b[2K\rerror: fake\x07"),
            "a\\x1b[2K\\rerror: fake\\x07"
        );
        // OSC 52 (clipboard), C1 CSI, bidi override.
        assert_eq!(
            escape_controls("\x1b]52;c;aGk=\x07"),
            "\\x1b]52;c;aGk=\\x07"
        );
        assert_eq!(escape_controls("\u{9b}2J"), "\\x9b2J");
        assert_eq!(escape_controls("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(escape_controls("héllo ✓"), "héllo ✓");
        assert_eq!(escape_line("two\nlines"), "two\\nlines");
    }

    #[test]
    fn echo_and_truncate_bound_what_is_shown() {
        let long = "x".repeat(1 << 20);
        let shown = echo(&long);
        assert!(shown.len() < ECHO_MAX_CHARS + 40, "{}", shown.len());
        assert!(shown.ends_with(&format!("({} bytes in all)", 1 << 20)));
        assert_eq!(echo("short"), "short");
        // Cut on characters, not bytes.
        assert!(echo("é".repeat(300).as_str()).starts_with(&"é".repeat(200)));
        let cut = truncate("é".repeat(10), 5);
        assert!(cut.starts_with("éé…"), "{cut}");
        assert_eq!(truncate("ok".into(), 5), "ok");
    }
}
