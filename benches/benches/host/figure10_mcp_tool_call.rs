//! Figure 10, `mcp`: an MCP tool called by a plugin (guest → host → rmcp → server) vs by an
//! rmcp client.

use std::path::Path;
use std::sync::Arc;

use gamecode_backend::LLMBackend;
use gamecode_benches::backends::InstantBackend;
use gamecode_benches::setup;
use gamecode_benches::stats::summarize;
use serde_json::json;

use crate::{Opts, Row, p50_p99, run_ok, timed, verdict};

pub async fn mcp(o: &Opts, bench: &Path) -> Vec<Row> {
    use rmcp::service::ServiceExt;
    println!("\n== 10. mcp: a tool call through a plugin vs an rmcp client calling the server ==");
    let server = gamecode_e2e::mcp_fault_server();
    let mut config = gamecode_host::mcp::McpConfig::default();
    config.servers.insert(
        "fault".into(),
        gamecode_host::mcp::ServerConfig {
            command: server.display().to_string(),
            args: vec![],
            env: Default::default(),
            cwd: None,
            timeout_secs: None,
            max_output_kib: None,
            ..Default::default()
        },
    );
    let tools = gamecode_host::mcp::connect(&config)
        .await
        .expect("the MCP server starts");
    let backend: Arc<dyn LLMBackend> = Arc::new(InstantBackend::default());
    let host = gamecode_host::PluginHost::builder()
        .backend(backend)
        .tools(tools)
        .policy(setup::bench_policy().with_allowed_tools(["mcp:fault"]))
        .build()
        .expect("host");
    let plugin = setup::load(&host, bench);
    // The direct side: its own connection to another instance of the same server.
    let direct = ()
        .serve(
            rmcp::transport::TokioChildProcess::new(tokio::process::Command::new(&server))
                .expect("the server starts"),
        )
        .await
        .expect("the MCP handshake");
    let call = || {
        let mut params = rmcp::model::CallToolRequestParams::new("echo");
        params.arguments = json!({"text": "hi"}).as_object().cloned();
        direct.peer().call_tool(params)
    };
    let (n, rounds, warm) = (o.size(200, 2), o.size(30, 1), o.size(3, 0));
    let task_n = format!("tool:{n}");
    let (mut via_plugin, mut direct_calls) = (Vec::new(), Vec::new());
    for round in 0..rounds + warm {
        let mut t = [0.0; 3];
        for k in 0..3 {
            let step = (k + round) % 3;
            t[step] = match step {
                0 => timed(run_ok(&plugin, "tool:0")).await.0,
                1 => timed(run_ok(&plugin, &task_n)).await.0,
                _ => {
                    timed(async {
                        for _ in 0..n {
                            call().await.expect("a direct call");
                        }
                    })
                    .await
                    .0
                }
            };
        }
        if round >= warm {
            via_plugin.push((t[1] - t[0]) / n as f64);
            direct_calls.push(t[2] / n as f64);
        }
    }
    let (p, d) = (summarize(&via_plugin), summarize(&direct_calls));
    println!(
        "per call: through a plugin {} ; rmcp client direct {} ; ratio {:.2}",
        p50_p99(&p),
        p50_p99(&d),
        p.p50 / d.p50
    );
    let _ = direct.cancel().await;
    vec![Row {
        figure: "10",
        what: "an MCP tool call (echo) through a plugin: guest → host → rmcp → stdio server".into(),
        target: "close to a direct call".into(),
        measured: format!("{} per call", p50_p99(&p)),
        comparison: format!(
            "an rmcp client calling the server directly: {} (ratio {:.2})",
            p50_p99(&d),
            p.p50 / d.p50
        ),
        verdict: verdict(p.p50 <= 1.5 * d.p50),
    }]
}
