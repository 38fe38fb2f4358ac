//! The WASI side of the sandbox: what a plugin gets from WASI 0.2, which is almost nothing.
//!
//! Deny by default, by construction: the context starts from an empty `WasiCtxBuilder` and
//! only adds what is listed here.
//! - **filesystem**: no preopened directories, so every path lookup fails (there is no root to
//!   resolve against). Host files reach a plugin only through host tools the embedder grants.
//! - **environment**: empty. Nothing of the host's environment (AWS credentials, tokens)
//!   crosses, not even by name.
//! - **arguments**: just the plugin's name, like `argv[0]`.
//! - **sockets**: TCP, UDP and name lookup are disabled and the address check refuses every
//!   address (wasmtime-wasi's defaults, set again here explicitly so a future default cannot
//!   open them).
//! - **stdin**: empty. **clocks, random**: the real ones; they grant nothing. A journaled
//!   run's are replayable ([`Replayable`]).
//! - **stdout/stderr**: captured per run ([`OutputCapture`]), bounded, logged line by line
//!   under the plugin's name (control characters escaped) and returned to the embedder
//!   (as written).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream as WasiOutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use crate::journal::{ClockTape, JournaledMonotonicClock, JournaledWallClock};
use crate::observer::{OutputStream, RunEvent, RunObserver};

/// A line longer than this is logged in pieces, so one newline-free write cannot make the
/// host buffer without bound.
const MAX_LINE_BYTES: usize = 4096;

/// What makes a journaled run's WASI context replayable: its clocks read through the
/// journal's tape, its random numbers drawn from the seed the journal keeps.
pub(crate) struct Replayable {
    pub(crate) clocks: Arc<ClockTape>,
    pub(crate) seed: [u8; 32],
}

/// Builds the WASI context of one run.
pub(crate) fn wasi_ctx(
    plugin: &str,
    stdout: OutputCapture,
    stderr: OutputCapture,
    replayable: Option<Replayable>,
) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(plugin)
        .stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    if let Some(Replayable { clocks, seed }) = replayable {
        use rand::SeedableRng;
        // Three streams from one seed: ChaCha with a 256-bit seed is as good a source of
        // secure random numbers as the OS's; the seed is kept with the journal, as the bytes
        // drawn would be.
        let derive = |n: u8| {
            let mut s = seed;
            s[31] ^= n;
            s
        };
        let insecure_seed = u128::from_le_bytes(derive(2)[..16].try_into().unwrap_or_default());
        builder
            .wall_clock(JournaledWallClock(clocks.clone()))
            .monotonic_clock(JournaledMonotonicClock(clocks))
            .secure_random(rand::rngs::StdRng::from_seed(seed))
            .insecure_random(rand::rngs::StdRng::from_seed(derive(1)))
            .insecure_random_seed(insecure_seed);
    }
    builder.build()
}

/// One captured output stream of one run: keeps the first `cap` bytes, logs complete lines
/// through `tracing` (target `gamecode::plugin`) and the run's observer, and silently drops
/// what exceeds the cap (failing the write instead would make Rust's `println!` panic, turning
/// a chatty plugin into a crashed one).
#[derive(Clone)]
pub(crate) struct OutputCapture {
    inner: Arc<Mutex<CaptureState>>,
}

struct CaptureState {
    plugin: Arc<str>,
    stream: OutputStream,
    observer: Option<Arc<dyn RunObserver>>,
    cap: usize,
    /// Everything kept, up to `cap`.
    kept: Vec<u8>,
    /// The current incomplete line.
    line: Vec<u8>,
    truncated: bool,
}

impl OutputCapture {
    pub(crate) fn new(
        plugin: Arc<str>,
        stream: OutputStream,
        cap: usize,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CaptureState {
                plugin,
                stream,
                observer,
                cap,
                kept: Vec::new(),
                line: Vec::new(),
                truncated: false,
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CaptureState> {
        // A panic while holding this lock can only come from a panicking observer; the
        // buffer itself is still consistent, so keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_bytes(&self, bytes: &[u8]) {
        self.state().write(bytes);
    }

    /// Logs the last partial line and returns what was kept, and whether output was dropped.
    pub(crate) fn finish(&self) -> (String, bool) {
        let mut state = self.state();
        state.flush_line();
        (
            String::from_utf8_lossy(&state.kept).into_owned(),
            state.truncated,
        )
    }
}

impl CaptureState {
    fn write(&mut self, mut bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept.len());
        if bytes.len() > room {
            if !self.truncated {
                tracing::warn!(
                    target: "gamecode::plugin",
                    plugin = %self.plugin,
                    stream = self.stream.as_str(),
                    cap = self.cap,
                    "plugin output over its cap; the rest is dropped"
                );
            }
            self.truncated = true;
            bytes = &bytes[..room];
        }
        self.kept.extend_from_slice(bytes);
        for &b in bytes {
            if b == b'\n' {
                self.flush_line();
            } else {
                self.line.push(b);
                if self.line.len() >= MAX_LINE_BYTES {
                    self.flush_line();
                }
            }
        }
    }

    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.ends_with('\r') {
            line.pop();
        }
        // Logs and terminals get the line with control characters escaped: a plugin must
        // not be able to move the cursor, erase the host's prefix or write the clipboard.
        let line = crate::text::escape_line(&line).into_owned();
        tracing::info!(
            target: "gamecode::plugin",
            plugin = %self.plugin,
            stream = self.stream.as_str(),
            "{line}"
        );
        if let Some(observer) = &self.observer {
            observer.on_event(
                &self.plugin,
                &RunEvent::Output {
                    stream: self.stream,
                    line,
                },
            );
        }
    }
}

impl IsTerminal for OutputCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputCapture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn WasiOutputStream> {
        Box::new(self.clone())
    }
}

/// How much a guest may hand over per write; the capture never blocks.
const WRITE_PERMIT: usize = 64 * 1024;

#[async_trait::async_trait]
impl WasiOutputStream for OutputCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for OutputCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for OutputCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_splits_lines_and_bounds_output() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        let observer: Arc<dyn RunObserver> = Arc::new(move |plugin: &str, e: &RunEvent| {
            if let RunEvent::Output { line, .. } = e {
                seen.lock().unwrap().push(format!("{plugin}: {line}"));
            }
        });
        let c = OutputCapture::new("p".into(), OutputStream::Stderr, 12, Some(observer));
        c.write_bytes(b"one\ntw");
        c.write_bytes(b"o\r\nthree and more");
        let (kept, truncated) = c.finish();
        assert_eq!(kept, "one\ntwo\r\nthr");
        assert!(truncated);
        assert_eq!(*lines.lock().unwrap(), ["p: one", "p: two", "p: thr"]);

        // Terminal spoofing: ESC sequences and a mid-line carriage return arrive escaped.
        lines.lock().unwrap().clear();
        let observer = {
            let seen = lines.clone();
            Arc::new(move |_: &str, e: &RunEvent| {
                if let RunEvent::Output { line, .. } = e {
                    seen.lock().unwrap().push(line.clone());
                }
            }) as Arc<dyn RunObserver>
        };
        let c = OutputCapture::new("p".into(), OutputStream::Stderr, 1024, Some(observer));
        c.write_bytes(b"x\x1b[2K\rerror: fake\ttab\n\x1b]52;c;aGk=\x07\n");
        assert_eq!(
            *lines.lock().unwrap(),
            ["x\\x1b[2K\\rerror: fake\ttab", "\\x1b]52;c;aGk=\\x07"]
        );
    }
}
