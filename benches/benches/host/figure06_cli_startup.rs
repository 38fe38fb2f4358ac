//! Figure 6, `cli-startup`: `gamecode run`, process start to the first request with a warm
//! artifact cache, vs a minimal raw-SDK program (`raw-first-request`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bedrock_emulator::{Emulator, Reply};
use gamecode_benches::setup;
use gamecode_benches::stats::{fmt_ns, ns, summarize};

use crate::{Opts, Row, p50_p99, verdict};

/// The `gamecode` binary: `$GAMECODE_BIN`, else built now (same profile as this benchmark).
pub(crate) fn gamecode_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GAMECODE_BIN") {
        return PathBuf::from(bin);
    }
    let release = !cfg!(debug_assertions);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(gamecode_e2e::workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "gamecode-host",
        "--bin",
        "gamecode",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "building the gamecode binary failed");
    setup::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("gamecode")
}

pub async fn cli_startup(o: &Opts, example: &Path) -> Vec<Row> {
    println!("\n== 6. cli-startup: `gamecode run` process start → first request, warm cache ==");
    let gamecode = gamecode_bin();
    let raw_bin = PathBuf::from(env!("CARGO_BIN_EXE_raw-first-request"));
    let emu = Emulator::start().await.expect("the emulator starts");
    emu.add_rule("bench-cli", Reply::Text("Hello from the emulator.".into()));
    let url = emu.url();
    let home = tempfile::tempdir().expect("a temp dir");
    let cache = home.path().join("cache");
    let example = example.to_path_buf();

    let command = |which: usize| {
        let mut c = match which {
            0 => {
                let mut c = tokio::process::Command::new(&gamecode);
                c.arg("run")
                    .arg(&example)
                    .arg("Say hello (bench-cli).")
                    .arg("--endpoint-url")
                    .arg(&url)
                    .arg("--cache-dir")
                    .arg(&cache);
                c
            }
            1 => {
                let mut c = tokio::process::Command::new(&raw_bin);
                c.arg(&url);
                c
            }
            _ => tokio::process::Command::new("true"),
        };
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_ACCESS_KEY_ID", bedrock_emulator::DEFAULT_ACCESS_KEY_ID)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
            )
            .env("AWS_REGION", bedrock_emulator::DEFAULT_REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.path().join("no-aws-credentials"),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    // Returns (spawn → first request, spawn → exit) in ns.
    let run = |which: usize| {
        let mut cmd = command(which);
        let emu = emu.clone();
        async move {
            let before = emu.request_count();
            let t = Instant::now();
            let out = cmd.output().await.expect("the process starts");
            let exit = ns(t.elapsed());
            assert!(
                out.status.success(),
                "process {which} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let first = emu
                .requests()
                .get(before)
                .map(|r| ns(r.at.saturating_duration_since(t)));
            (first, exit)
        }
    };
    // The first `gamecode run` compiles and fills the cache.
    let (cold, _) = run(0).await;
    println!(
        "cold start (compile + store): first request after {}",
        fmt_ns(cold.unwrap_or(f64::NAN))
    );
    let (n, warm) = (o.size(25, 2), o.size(3, 0));
    let mut first: [Vec<f64>; 2] = Default::default();
    let mut exit: [Vec<f64>; 3] = Default::default();
    for round in 0..n + warm {
        for j in 0..3 {
            let which = (j + round) % 3;
            let (f, e) = run(which).await;
            if round < warm {
                continue;
            }
            if which < 2 {
                first[which].push(f.expect("a request arrived"));
            }
            exit[which].push(e);
        }
    }
    let (g, r) = (summarize(&first[0]), summarize(&first[1]));
    let (ge, re, te) = (
        summarize(&exit[0]),
        summarize(&exit[1]),
        summarize(&exit[2]),
    );
    println!("gamecode run → first request:        {}", g.times());
    println!("raw-first-request → first request:   {}", r.times());
    println!("gamecode run → exit:                 {}", ge.times());
    println!("raw-first-request → exit:            {}", re.times());
    println!("`true` → exit (process spawn+wait):  {}", te.times());
    vec![Row {
        figure: "6",
        what: "`gamecode run` process start → first request (warm artifact cache)".into(),
        target: "≤ 50 ms p50".into(),
        measured: p50_p99(&g),
        comparison: format!(
            "minimal raw-SDK binary {} / {} ({:.2}×, +{}); `true` spawn→exit {}; cold cache {}",
            fmt_ns(r.p50),
            fmt_ns(r.p99),
            g.p50 / r.p50,
            fmt_ns(g.p50 - r.p50),
            fmt_ns(te.p50),
            fmt_ns(cold.unwrap_or(f64::NAN))
        ),
        verdict: verdict(g.p50 <= 50e6),
    }]
}
