//! MCP servers' tools offered to plugins: opt-in by policy, a clean environment, and a server
//! that hangs, crashes or floods fails the call clearly and is restarted, while other runs go
//! on. The server is a real child process (`mcp_fault_server`, rmcp) over stdio.

use std::path::Path;
use std::time::{Duration, Instant};

use gamecode_e2e::*;
use gamecode_host::mcp::{McpConfig, ServerConfig};
use gamecode_host::{Plugin, PluginHost, Policy, RunError};

fn config(log: &Path, timeout_secs: f64) -> McpConfig {
    let mut config = McpConfig::default();
    config.servers.insert(
        "fault".into(),
        ServerConfig {
            command: env!("CARGO_BIN_EXE_mcp_fault_server").into(),
            args: vec![],
            env: [("FAULT_LOG".to_string(), log.display().to_string())].into(),
            cwd: None,
            timeout_secs: Some(timeout_secs),
            max_output_kib: Some(64),
            ..Default::default()
        },
    );
    config
}

async fn mcp_host(emu: &bedrock_emulator::Emulator, config: &McpConfig) -> PluginHost {
    let tools = gamecode_host::mcp::connect(config)
        .await
        .expect("the MCP server starts");
    PluginHost::builder()
        .backend(bedrock(emu))
        .tools(tools)
        .build()
        .expect("host")
}

fn allowed(host: &PluginHost) -> Plugin {
    abuser(host, Policy::default().with_allowed_tools(["mcp:fault"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_are_opt_in_and_get_a_clean_environment() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = emulator().await;
    let host = mcp_host(&emu, &config(&dir.path().join("log"), 5.0)).await;

    // A policy allowing every host tool does not allow MCP tools.
    let default = abuser(&host, Policy::default());
    assert_eq!(answer(&default, "tools").await, "");
    let refused = answer(&default, r#"call:fault__echo:{"text":"hi"}"#).await;
    assert!(refused.starts_with("not-allowed:"), "{refused}");

    // Named by the policy: seen and called (the malformed tool is left out).
    let plugin = allowed(&host);
    assert_eq!(
        answer(&plugin, "tools").await,
        "fault__bigline,fault__crash,fault__echo,fault__env,fault__flood,fault__hang,fault__picture,fault__structured"
    );
    assert_eq!(
        answer(&plugin, r#"call:fault__echo:{"text":"hello"}"#).await,
        "ok: hello"
    );
    // Only the configured environment: none of the host's (its AWS credentials included).
    assert_eq!(answer(&plugin, "call:fault__env:{}").await, "ok: FAULT_LOG");
    let one = abuser(&host, Policy::default().with_allowed_tools(["fault__echo"]));
    assert_eq!(answer(&one, "tools").await, "fault__echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_crashed_or_flooding_server_fails_the_call_and_recovers() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = emulator().await;
    let host = mcp_host(&emu, &config(&dir.path().join("log"), 1.0)).await;
    let plugin = allowed(&host);

    let started = Instant::now();
    let hung = answer(&plugin, "call:fault__hang:{}").await;
    assert!(
        hung.starts_with(
            "failed: MCP server `fault`: no answer within 1 s; the call was cancelled"
        ),
        "{hung}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        answer(&plugin, r#"call:fault__echo:{"text":"1"}"#).await,
        "ok: 1"
    );

    let crashed = answer(&plugin, "call:fault__crash:{}").await;
    assert!(
        crashed.starts_with("failed: MCP server `fault`: the server stopped"),
        "{crashed}"
    );
    assert_eq!(
        answer(&plugin, r#"call:fault__echo:{"text":"2"}"#).await,
        "ok: 2"
    );

    // Over the cap: in text (the message itself is over what is read before parsing), and
    // in structured content alone (counted like text).
    let flooded = answer(&plugin, r#"call:fault__flood:{"kib":1024}"#).await;
    assert!(
        flooded.starts_with(
            "failed: MCP server `fault`: the server sent a message over the cap of 131072 bytes"
        ),
        "{flooded}"
    );
    assert_eq!(
        answer(&plugin, r#"call:fault__echo:{"text":"3"}"#).await,
        "ok: 3"
    );
    let structured = answer(&plugin, r#"call:fault__structured:{"kib":100}"#).await;
    assert!(
        structured.starts_with(
            "failed: MCP server `fault`: the tool's output is over the cap of 65536 bytes"
        ),
        "{structured}"
    );
    // A hostile 1 GiB line costs the host the cap plus a constant, not a gigabyte: the call
    // fails as soon as the line outgrows the limit, and the server is restarted.
    let started = Instant::now();
    let line = answer(&plugin, "call:fault__bigline:{}").await;
    assert!(line.contains("over the cap of 131072 bytes"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        answer(&plugin, r#"call:fault__echo:{"text":"4"}"#).await,
        "ok: 4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_deadline_cancels_the_call_on_the_server() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let emu = emulator().await;
    let host = mcp_host(&emu, &config(&log, 60.0)).await;
    let plugin = abuser(
        &host,
        Policy::default()
            .with_allowed_tools(["mcp:fault"])
            .with_deadline(Duration::from_secs(1)),
    );
    let e = plugin
        .run("call:fault__hang:{}")
        .await
        .expect_err("the deadline ends the run");
    assert!(matches!(e, RunError::DeadlineExceeded { .. }), "{e}");
    // The server heard `notifications/cancelled` for the call.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&log).ok().as_deref() != Some("cancelled") {
        assert!(
            Instant::now() < deadline,
            "no cancellation reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The connection is still good for the next run.
    let next = allowed(&host);
    assert_eq!(
        answer(&next, r#"call:fault__echo:{"text":"4"}"#).await,
        "ok: 4"
    );
}

/// `gamecode-mcp2` with one tool, `shout` (runs `echo`).
fn mcp2_config(dir: &Path) -> McpConfig {
    let tools_yaml = dir.join("tools.yaml");
    std::fs::write(
        &tools_yaml,
        "tools:\n  - name: shout\n    description: Repeats the given text back\n    command: echo\n    args:\n      - name: text\n        description: The text to repeat\n        required: true\n        type: string\n        cli_flag: null\n",
    )
    .expect("tools.yaml");
    let mut config = McpConfig::default();
    config.servers.insert(
        "mcp2".into(),
        ServerConfig {
            command: gamecode_mcp2().display().to_string(),
            args: vec!["--tools-file".into(), tools_yaml.display().to_string()],
            // It runs `echo`: the one variable it needs, and nothing else of the host's.
            env: [("PATH".to_string(), "/usr/bin:/bin".to_string())].into(),
            cwd: Some(dir.to_path_buf()),
            timeout_secs: Some(10.0),
            max_output_kib: None,
            ..Default::default()
        },
    );
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_mcp_server_serves_plugins() {
    // The first run installs gamecode-mcp2 (a cargo build): never beside a test that needs the cores free.
    let _busy = busy_machine();
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = emulator().await;
    let host = mcp_host(&emu, &mcp2_config(dir.path())).await;
    let plugin = abuser(&host, Policy::default().with_allowed_tools(["mcp:mcp2"]));
    let tools = answer(&plugin, "tools").await;
    assert!(tools.split(',').any(|t| t == "mcp2__shout"), "{tools}");
    let out = answer(
        &plugin,
        r#"call:mcp2__shout:{"text":"hello from a plugin"}"#,
    )
    .await;
    assert!(
        out.starts_with("ok: ") && out.contains("hello from a plugin"),
        "{out}"
    );

    // The example agent, offline: the emulated model picks the MCP tool that fits the task.
    let example = load(&host, &guest_example())
        .with_policy(Policy::default().with_allowed_tools(["mcp:mcp2"]))
        .expect("policy");
    let outcome = example
        .run("Shout the text \"hello world\"")
        .await
        .expect("the example runs");
    assert!(
        outcome
            .answer
            .contains(r#"{"output":"hello world","status":"success"}"#),
        "{}",
        outcome.answer
    );
    assert!(
        outcome.stderr.contains("tool mcp2__shout("),
        "{}",
        outcome.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_results_reach_0_2_0_plugins_as_content() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = emulator().await;
    let host = mcp_host(&emu, &config(&dir.path().join("log"), 5.0)).await;
    let policy = Policy::default().with_allowed_tools(["mcp:fault"]);
    // 0.2.0's call-tool-content: the image as an image, the text as text.
    let converse = load(&host, &test_guest("guest_converse"))
        .with_policy(policy.clone())
        .expect("policy");
    assert_eq!(
        answer(&converse, "tool-content:fault__picture:{}").await,
        "image ImageFormat::Png 33 bytes; text a red square"
    );
    // call-tool (both versions): the image described in a line.
    assert_eq!(
        answer(&abuser(&host, policy), "call:fault__picture:{}").await,
        "ok: [image: png, 33 bytes]\na red square"
    );
}

/// The README's MCP configuration and command lines, run as written in a shell: the server is
/// named by its bare command and found on `PATH`, as on a user's machine.
#[test]
fn the_readmes_mcp_lines_run_as_written() {
    // The first run installs gamecode-mcp2 (a cargo build): never beside a test that needs the cores free.
    let _busy = busy_machine();
    let mcp_toml = readme_block("mcp-config");
    let lines: Vec<String> = readme_block("mcp-run")
        .lines()
        .filter(|l| l.starts_with("gamecode run"))
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("mcp.toml"), mcp_toml).expect("mcp.toml");
    std::fs::write(
        at("tools.yaml"),
        "tools:\n  - name: shout\n    description: Repeats the given text back\n    command: echo\n    args:\n      - name: text\n        description: The text to repeat\n        required: true\n        type: string\n        cli_flag: null\n",
    )
    .expect("tools.yaml");
    std::fs::write(at("policy.toml"), "[tools]\nallowed = [\"mcp:files\"]\n").expect("policy");
    std::fs::copy(guest_example(), at("agent.wasm")).expect("agent.wasm");
    let bin = bin_with_gamecode(dir.path());
    std::os::unix::fs::symlink(gamecode_mcp2(), bin.join("gamecode-mcp2")).expect("link");
    for line in &lines {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("GAMECODE_CACHE_DIR", at("cache"))
            .env("GAMECODE_STATE_DIR", at("state"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{line}\n{stdout}\n{stderr}");
        assert!(
            stdout.contains(r#"{"output":"hi","status":"success"}"#),
            "{line}\n{stdout}\n{stderr}"
        );
        assert!(stderr.contains("tool files__shout("), "{line}\n{stderr}");
    }
}

/// A hostile streamable-HTTP server that answers with a gigabyte: the host reads at most
/// the cap plus a constant before it gives up (rmcp's response limits, set from the output
/// cap), promptly, and says which server failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_http_server_costs_the_cap_not_a_gigabyte() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sent = Arc::new(AtomicU64::new(0));
    let counted = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = conn.read(&mut request).await;
                // No length given: the body runs until the connection closes, so only the
                // client's own limit can stop it.
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Connection: close\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":0,\
                            \"result\":{\"x\":\"";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..1024 {
                    if conn.write_all(&chunk).await.is_err() {
                        return;
                    }
                    counted.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
            });
        }
    });
    let mut config = McpConfig::default();
    config.servers.insert(
        "huge".into(),
        ServerConfig {
            url: Some(format!("http://{addr}/mcp")),
            max_output_kib: Some(64),
            ..Default::default()
        },
    );
    let started = Instant::now();
    let err = match gamecode_host::mcp::connect(&config).await {
        Ok(_) => panic!("a gigabyte answer was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("MCP server `huge`"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // What was sent before the host hung up: the cap, plus what the socket buffers held.
    let mib = sent.load(std::sync::atomic::Ordering::SeqCst) >> 20;
    assert!(mib < 64, "{mib} MiB were read before the host gave up");
}
