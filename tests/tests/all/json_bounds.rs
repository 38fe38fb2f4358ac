//! Guest JSON is measured and refused before it is parsed (issue 9): the host's peak memory
//! for a hostile request stays within a small multiple of what the guest itself holds. Peak
//! RSS is process-wide, so this test runs in a process of its own, one case at a time.

use std::time::{Duration, Instant};

use gamecode_e2e::*;
use gamecode_host::Policy;

/// The process's resident set now, and its peak since [`reset_peak`] (KiB), from /proc; a
/// /proc that cannot be read fails the test, saying so, rather than reading as 0.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| panic!("this test measures memory from /proc/self/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("/proc/self/status has no {name} line"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the kernel's peak-RSS mark for this process (Linux ≥ 4.0); a kernel or sandbox that
/// refuses fails the test, saying why, rather than skipping the measurement.
fn reset_peak() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        panic!(
            "this test resets the peak RSS through /proc/self/clear_refs (Linux 4.0 and later, \
             writable by the process): {e}"
        );
    }
}

/// Guest JSON is measured and refused before it is parsed: host memory stays within a small
/// multiple of what the guest itself holds (before the fix, a 16 MiB array cost ~300 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_guest_json_is_refused_before_it_is_parsed() {
    // Its time bounds assume free cores: no busy test beside it, in this process or the child.
    let _quiet = quiet_machine();
    // Peak RSS is the process's: measured in a child process running this test alone, not
    // beside the other tests' threads.
    if !own_process(
        "json_bounds::oversized_guest_json_is_refused_before_it_is_parsed",
        |_| {},
    ) {
        return; // it ran, and passed, in its own process
    }
    init_tracing();
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let host = fs_host(&emu, dir.path());
    let small = abuser(&host, Policy::default().with_max_request_bytes(1024));
    let no_calls = abuser(&host, Policy::default().with_max_chat_calls(0));
    const MIB: u64 = 16;
    for (plugin, task, expect) in [
        (&small, "schema:16", "request-too-large: the request is"),
        (&small, "tool-use:16", "request-too-large"),
        (&small, "tool-result:16", "request-too-large"),
        (&small, "tool-input:16", "invalid-input: the tool input is"),
        (&no_calls, "schema:16", "chat-limit-reached"),
        (&no_calls, "tool-input:16", "invalid-input"),
    ] {
        reset_peak();
        let (before, _) = rss_kib();
        let started = Instant::now();
        let got = answer(plugin, task).await;
        let took = started.elapsed();
        let (_, peak) = rss_kib();
        let grew_mib = peak.saturating_sub(before) / 1024;
        eprintln!("{task}: {took:?}, host peak RSS +{grew_mib} MiB: {got:.80}");
        assert!(got.starts_with(expect), "{task}: {got:.300}");
        // The guest's own copy and wasmtime's lifted copy of the text, and slack.
        assert!(grew_mib < 4 * MIB, "{task}: +{grew_mib} MiB");
        assert!(took < Duration::from_secs(2), "{task}: {took:?}");
    }

    // Within the byte limit, the structure is bounded: JSON values count as items.
    let items = abuser(
        &host,
        Policy::default()
            .with_max_request_bytes(64 << 20)
            .with_max_request_items(10_000),
    );
    let got = answer(&items, "schema:1").await;
    assert!(
        got.starts_with("request-too-large: the request has at least"),
        "{got:.300}"
    );
    let got = answer(&items, "tool-input:1").await;
    assert!(got.contains("items"), "{got:.300}");
    // A million empty messages are two bytes of strings; refused for their structure.
    let got = answer(&small, "empty-messages:1000000").await;
    assert!(
        got.starts_with("request-too-large: the request has 1000000 items"),
        "{got:.300}"
    );
}
