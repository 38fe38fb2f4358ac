//! What `gamecode run` shows on stderr while a plugin runs: a spinner while the model is
//! thinking (only on a terminal), retry notices, tool calls, policy refusals and the plugin's
//! own output lines prefixed with its name. stdout is reserved for the answer, which is
//! shown as it streams in when `--stream` is on (the default when stdout is a terminal).

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use gamecode_backend::RetryStatus;
use gamecode_host::{OutputStream, RunEvent, RunObserver};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

#[derive(Default)]
struct State {
    /// The model being waited on, and since when.
    waiting: Option<(String, Instant)>,
    /// Whether a spinner line is on screen (and must be cleared before other output).
    shown: bool,
    frame: usize,
    /// Text streamed to stdout during the current model turn.
    turn_text: String,
    /// Whether anything was streamed to stdout at all.
    streamed_any: bool,
    /// Whether stdout's last line is unfinished (streamed text without its newline yet).
    stdout_open: bool,
}

/// The progress display. Cheap to share; the spinner thread stops when the last handle drops.
pub struct Progress {
    state: Arc<Mutex<State>>,
    tty: bool,
    /// Whether stdout is a terminal: model and plugin text printed there is escaped.
    stdout_tty: bool,
    /// Whether streamed text goes to stdout as it arrives.
    live_text: bool,
    /// Whether a run's journal id is shown (not in `gamecode chat`, where every line is one).
    show_journaled: bool,
}

impl Progress {
    pub fn new(tty: bool, live_text: bool) -> Arc<Self> {
        Self::with(tty, live_text, true)
    }

    /// For `gamecode chat`: text streamed live, runs' journal ids not shown.
    pub fn for_chat(tty: bool) -> Arc<Self> {
        Self::with(tty, true, false)
    }

    fn with(tty: bool, live_text: bool, show_journaled: bool) -> Arc<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        if tty {
            let weak = Arc::downgrade(&state);
            // No spinner is no loss: the run goes on without one.
            let _ = std::thread::Builder::new()
                .name("gamecode-spinner".into())
                .spawn(move || spin(weak));
        }
        Arc::new(Self {
            state,
            tty,
            stdout_tty: crate::terminal::stdout_is_tty(),
            live_text,
            show_journaled,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prints one line on stderr, clearing the spinner first. When stdout and stderr are the
    /// same terminal, a line the streamed text left open is ended first, so that the two
    /// never run together on one line.
    pub fn line(&self, text: &str) {
        let mut state = self.lock();
        self.end_stdout_line(&mut state);
        let mut err = std::io::stderr().lock();
        if state.shown {
            let _ = write!(err, "\r\x1b[2K");
            state.shown = false;
        }
        let _ = writeln!(err, "{text}");
    }

    /// Shows `text` in place on a terminal (a batch's progress bar), replaced by the next
    /// status or line; nothing elsewhere.
    pub fn status(&self, text: &str) {
        if !self.tty {
            return;
        }
        let mut state = self.lock();
        let width = crate::terminal::stderr_columns().saturating_sub(1);
        let text: String = text.chars().take(width).collect();
        let _ = write!(std::io::stderr(), "\r\x1b[2K{text}");
        state.shown = true;
    }

    /// Ends stdout's open line, when it shares the terminal with stderr.
    fn end_stdout_line(&self, state: &mut State) {
        if state.stdout_open && self.tty && self.stdout_tty {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out);
            let _ = out.flush();
            state.stdout_open = false;
        }
    }

    /// Clears the spinner for good (before the answer is printed).
    pub fn finish(&self) {
        let mut state = self.lock();
        state.waiting = None;
        if state.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            state.shown = false;
        }
    }

    /// Text for stdout: as is into a pipe or file, control characters escaped on a terminal
    /// (the answer and the streamed text come from the plugin and the model).
    fn for_stdout<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.stdout_tty {
            gamecode_host::text::escape_controls(text)
        } else {
            Cow::Borrowed(text)
        }
    }

    /// A new run begins (`gamecode chat`'s next line): nothing of the last one is streaming.
    pub fn next_run(&self) {
        let mut state = self.lock();
        if state.stdout_open {
            let _ = writeln!(std::io::stdout());
            state.stdout_open = false;
        }
        state.turn_text.clear();
        state.streamed_any = false;
        state.waiting = None;
    }

    /// Prints the answer on stdout. When the last turn was streamed live and is the answer,
    /// only the line is ended; otherwise the answer is printed whole.
    pub fn answer(&self, answer: &str) {
        let answer = &*self.for_stdout(answer);
        let mut state = self.lock();
        let mut out = std::io::stdout().lock();
        if state.stdout_open {
            let _ = writeln!(out);
            state.stdout_open = false;
        }
        if state.streamed_any && state.turn_text.trim() == answer.trim() {
            return;
        }
        let _ = writeln!(out, "{answer}");
    }

    fn live(&self, text: &str) {
        let mut state = self.lock();
        if state.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            state.shown = false;
        }
        let text = &*self.for_stdout(text);
        if text.is_empty() {
            return;
        }
        state.turn_text.push_str(text);
        state.streamed_any = true;
        state.stdout_open = !text.ends_with('\n');
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }

    /// Shows a retry notice from the backend's status callback.
    pub fn retry(&self, status: &RetryStatus) {
        let text = match status {
            RetryStatus::RetryAttempt {
                attempt,
                max_attempts,
                delay,
                error,
            } => format!(
                "model call failed (attempt {attempt}/{max_attempts}): {error}; retrying in {}",
                secs(*delay)
            ),
            RetryStatus::RateLimited {
                attempt,
                max_attempts,
                delay,
                ..
            } => format!(
                "rate limited by the model provider (attempt {attempt}/{max_attempts}); \
                 retrying in {}",
                secs(*delay)
            ),
            RetryStatus::RetriesExhausted { attempts, .. } => format!(
                "the model call failed after {attempts} attempt{}; giving up",
                if *attempts == 1 { "" } else { "s" }
            ),
            RetryStatus::BudgetExhausted { .. } => {
                "retry budget exhausted; not retrying the model call".to_string()
            }
            // Nothing to add to the error the run reports (and nothing to say of statuses
            // newer than this CLI).
            _ => return,
        };
        self.line(&text);
    }
}

/// The spinner's line, fitted to `width` columns so that it never wraps: a wrapped line
/// cannot be cleared in place, and each tick would leave a stale copy. A long model id keeps
/// its end (the profile and model), the most telling part.
fn spinner_line(frame: &str, model: &str, elapsed: &str, width: usize) -> String {
    let room = width.saturating_sub(1);
    let full = format!("{frame} waiting for model {model}… {elapsed}");
    if full.chars().count() <= room {
        return full;
    }
    let fixed = format!("{frame} waiting for model …… {elapsed}")
        .chars()
        .count();
    let keep = room.saturating_sub(fixed);
    if keep >= 8 {
        let tail: String = {
            let chars: Vec<char> = model.chars().collect();
            chars[chars.len().saturating_sub(keep)..].iter().collect()
        };
        return format!("{frame} waiting for model …{tail}… {elapsed}");
    }
    format!("{frame} waiting for the model… {elapsed}")
        .chars()
        .take(room)
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn spin(state: Weak<Mutex<State>>) {
    while let Some(state) = state.upgrade() {
        {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((model, since)) = &s.waiting {
                let frame = FRAMES[s.frame % FRAMES.len()];
                let line = spinner_line(
                    frame,
                    model,
                    &secs(since.elapsed()),
                    crate::terminal::stderr_columns(),
                );
                let text = format!("\r\x1b[2K{line}");
                let _ = write!(std::io::stderr(), "{text}");
                let _ = std::io::stderr().flush();
                s.frame += 1;
                s.shown = true;
            }
        }
        drop(state);
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl RunObserver for Progress {
    fn on_event(&self, plugin: &str, event: &RunEvent) {
        match event {
            RunEvent::ChatStarted { model, .. } => {
                let mut state = self.lock();
                if self.tty {
                    state.waiting = Some((model.clone(), Instant::now()));
                }
                // A new turn: its text starts on a line of its own.
                state.turn_text.clear();
                if state.stdout_open {
                    let _ = writeln!(std::io::stdout());
                    state.stdout_open = false;
                }
            }
            RunEvent::TextDelta { text } if self.live_text => {
                self.lock().waiting = None;
                self.live(text);
            }
            RunEvent::ChatFinished { error, .. } => {
                self.lock().waiting = None;
                if let Some(category) = error {
                    self.line(&format!("model call failed ({category})"));
                }
            }
            RunEvent::ToolCall { name, ok, error } => {
                if *ok {
                    self.line(&format!("tool {name}: ok"));
                } else {
                    self.line(&format!(
                        "tool {name}: {}",
                        error.as_deref().unwrap_or("failed")
                    ));
                }
            }
            RunEvent::PolicyViolation(v) => self.line(&format!("policy refused: {}", v.message)),
            // Short enough for a 60-column terminal; the README says what to do with the id.
            RunEvent::Journaled { .. } if !self.show_journaled => {}
            RunEvent::Journaled { run_id, resumed } => self.line(&if *resumed {
                format!("resuming run {run_id} from its journal")
            } else {
                format!("journaled as run {run_id}")
            }),
            RunEvent::Output { stream, line } => match stream {
                OutputStream::Stderr => self.line(&format!("[{plugin}] {line}")),
                OutputStream::Stdout => self.line(&format!("[{plugin} stdout] {line}")),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spinner_line;

    #[test]
    fn the_spinner_line_never_outgrows_the_terminal() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6";
        for width in [20, 40, 60, 80, 120, 200] {
            for model in ["us.anthropic.claude-sonnet-4-6", arn] {
                let line = spinner_line("⠋", model, "12.3s", width);
                assert!(line.chars().count() < width, "{width}: {line}");
                if width >= 60 {
                    assert!(line.contains("claude-sonnet-4-6"), "{width}: {line}");
                }
            }
        }
        assert_eq!(
            spinner_line("⠋", "us.anthropic.claude-sonnet-4-6", "1.0s", 120),
            "⠋ waiting for model us.anthropic.claude-sonnet-4-6… 1.0s"
        );
    }
}
