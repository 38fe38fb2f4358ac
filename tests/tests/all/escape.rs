//! The sandbox: a guest that tries to read host files, list `/`, write, read the host's
//! environment (with a real-looking `AWS_SECRET_ACCESS_KEY` set in this process), open a
//! socket to a listener this test owns, and resolve a name — all denied, while another plugin
//! runs concurrently and finishes normally.
//!
//! It runs in a process of its own, whose environment holds that key from the start.

use gamecode_e2e::*;
use gamecode_host::Policy;
use serde_json::Value;

#[test]
fn escape_attempts_are_all_denied() {
    // The environment is the process's: set in a child process of its own from its start,
    // not with `set_var` while the other tests' threads run.
    let alone = own_process("escape::escape_attempts_are_all_denied", |child| {
        child
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env("GAMECODE_E2E_MARKER", "visible-to-the-host-only");
    });
    if !alone {
        return; // it ran, and passed, in its own process
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    init_tracing();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap().to_string();

    let emu = emulator().await;
    let host = host(&emu, Policy::default());
    let good = load(&host, &guest_example());
    let escape = load(&host, &test_guest("guest_escape"));

    let good_run = tokio::spawn(async move { good.run("What is 6 * 7?").await });
    let outcome = escape.run(&target).await.expect("the escape guest reports");
    let good = good_run.await.unwrap().expect("the good plugin finishes");
    assert!(good.answer.contains("42"));

    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the guest's connection reached the listener: {accepted:?}"
    );

    let report: Value = serde_json::from_str(&outcome.answer).expect("a JSON report");
    eprintln!("escape report: {report:#}");
    for key in ["fs_read", "fs_list", "fs_write", "socket", "dns"] {
        let value = report[key].as_str().unwrap_or_default();
        assert!(value.starts_with("denied"), "{key}: {value}");
    }
    assert_eq!(report["env_secret"], "absent");
    assert_eq!(report["env_count"], "0");
    assert_eq!(report["earlier_run"], "none");
    // Only the plugin's name, like argv[0].
    assert_eq!(report["args"], "1");
    assert!(!outcome.answer.contains("wJalrXUtnFEMI"));
    assert!(!outcome.stdout.contains("wJalrXUtnFEMI") && !outcome.stderr.contains("wJalrXUtnFEMI"));
    assert!(!std::path::Path::new("/tmp/gamecode-escape").exists());
}
