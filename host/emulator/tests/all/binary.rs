//! The `bedrock-emulator` binary prints exactly its listening line on stdout and serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::raw;

#[test]
fn binary_prints_its_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
        .args(["--bind", "127.0.0.1:0", "--no-verify-signatures"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the emulator binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .trim_end()
        .strip_prefix("bedrock-emulator listening on ")
        .map(str::to_string);

    let result = std::panic::catch_unwind(|| {
        let url = url.expect("the listening line");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let addr = url.trim_start_matches("http://").to_string();
        // A raw HTTP/1.1 request, no client library needed.
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        let body = raw::user_body("hello binary");
        write!(
            s,
            "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            raw::MODEL_PATH,
            body.len()
        )
        .expect("write");
        let mut response = String::new();
        s.read_to_string(&mut response).expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("hello binary"), "{response}");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn binary_refuses_non_loopback_without_opt_in() {
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
        .args(["--bind", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}
