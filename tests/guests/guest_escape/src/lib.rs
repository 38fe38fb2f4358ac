//! Adversarial guest: `run(task)` tries to escape the sandbox and reports what happened, as a
//! JSON object of strings. `task` is the address ("127.0.0.1:PORT") of a TCP listener the test
//! owns, for the socket attempt.
//!
//! | key | attempt | value |
//! |---|---|---|
//! | `fs_read` | `fs::read_to_string("/etc/passwd")` | `ok: <n> bytes` / `denied: <error>` |
//! | `fs_list` | `fs::read_dir("/")` | `ok: <n> entries` / `denied: <error>` |
//! | `fs_write` | `fs::write("/tmp/gamecode-escape", "x")` | `ok: wrote 1 byte` / `denied: <error>` |
//! | `env_secret` | `env::var("AWS_SECRET_ACCESS_KEY")` | `absent` / `present` |
//! | `env_count` | `env::vars().count()` | the count, e.g. `0` |
//! | `args` | `env::args().count()` | the count, e.g. `0` |
//! | `socket` | `TcpStream::connect(task)` | `ok: connected to <addr>` / `denied: <error>` |
//! | `dns` | `"localhost:80".to_socket_addrs()` | `ok: <addrs>` / `denied: <error>` |
//! | `earlier_run` | reads a static and a 64 KiB buffer an earlier run of this plugin wrote | `none` / `seen: <what>` |
//!
//! The secret's value is never reported, only whether it is there.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::types::AgentError;
use serde_json::{Map, Value};
use std::fmt::Display;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// Starts at 7 (the data segment); every run leaves 8.
static STAMP: AtomicU32 = AtomicU32::new(7);
/// Starts zeroed (.bss); every run leaves it filled.
static SCRATCH: [AtomicU8; 64 << 10] = [const { AtomicU8::new(0) }; 64 << 10];

struct Escape;

impl Guest for Escape {
    fn run(task: String) -> Result<String, AgentError> {
        let mut report = Map::new();
        let mut put = |key: &str, value: String| {
            report.insert(key.to_string(), Value::String(value));
        };

        put(
            "fs_read",
            outcome(std::fs::read_to_string("/etc/passwd"), |s| {
                format!("{} bytes", s.len())
            }),
        );
        put(
            "fs_list",
            outcome(std::fs::read_dir("/"), |entries| {
                format!("{} entries", entries.count())
            }),
        );
        put(
            "fs_write",
            outcome(std::fs::write("/tmp/gamecode-escape", "x"), |()| {
                "wrote 1 byte".to_string()
            }),
        );
        put(
            "env_secret",
            match std::env::var_os("AWS_SECRET_ACCESS_KEY") {
                Some(_) => "present".to_string(),
                None => "absent".to_string(),
            },
        );
        put("env_count", std::env::vars_os().count().to_string());
        put("args", std::env::args_os().count().to_string());
        put(
            "socket",
            outcome(TcpStream::connect(task.trim()), |stream| {
                match stream.peer_addr() {
                    Ok(peer) => format!("connected to {peer}"),
                    Err(_) => "connected".to_string(),
                }
            }),
        );
        put(
            "dns",
            outcome("localhost:80".to_socket_addrs(), |addrs| {
                addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
            }),
        );

        put("earlier_run", earlier_run());

        Ok(Value::Object(report).to_string())
    }
}

/// What this instance's memory holds of an earlier run (a fresh instance holds nothing),
/// then leaves its own marks for the next to find.
fn earlier_run() -> String {
    let stamp = STAMP.swap(8, Ordering::Relaxed);
    let dirty = SCRATCH
        .iter()
        .filter(|b| b.swap(0xA5, Ordering::Relaxed) != 0)
        .count();
    match (stamp, dirty) {
        (7, 0) => "none".to_string(),
        _ => format!("seen: stamp {stamp}, {dirty} bytes written"),
    }
}

/// `ok: <detail>` if the attempt worked, `denied: <error>` if not.
fn outcome<T, E: Display>(result: Result<T, E>, detail: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => format!("ok: {}", detail(value)),
        Err(e) => format!("denied: {e}"),
    }
}

export!(Escape);
