//! The README's "Write a plugin" section, built and run as written: each language's hello
//! plugin and tool loop are taken from the README's own code blocks, built with the same
//! toolchains (`scripts/build-guests.sh` installs them) and run in the host against the
//! emulator, and their answers must be the ones the README shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use gamecode_e2e::*;
use gamecode_host::tools::fs::FsRoot;
use gamecode_host::{Attachment, PluginHost, Policy, Task};

/// The one block in `lang` containing `marker` and (not) `tool_marker`.
fn block(lang: &str, marker: &str, tool_loop: bool, tool_marker: &str) -> String {
    let found: Vec<String> = readme_blocks()
        .into_iter()
        .filter(|b| {
            b.lang == lang && b.body.contains(marker) && b.body.contains(tool_marker) == tool_loop
        })
        .map(|b| b.body)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "README blocks ({lang}, {marker}, loop {tool_loop})"
    );
    found.into_iter().next().unwrap_or_default()
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_wit(dir: &Path) {
    let wit = dir.join("wit");
    std::fs::create_dir_all(&wit).unwrap();
    for entry in std::fs::read_dir(workspace_root().join("wit/v0.2.1")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), wit.join(entry.file_name())).unwrap();
    }
}

/// Builds a plugin from `source` in each language; returns the component's path.
fn build(language: GuestLanguage, dir: &Path, source: &str) -> PathBuf {
    let root = workspace_root();
    match language {
        GuestLanguage::Rust => {
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(
                dir.join("Cargo.toml"),
                "[package]\nname = \"hello-plugin\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\nwit-bindgen = \"0.61\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
                 [workspace]\n",
            )
            .unwrap();
            // The same versions the repository's guests were built with.
            std::fs::copy(root.join("tests/guests/Cargo.lock"), dir.join("Cargo.lock")).unwrap();
            std::fs::write(dir.join("src/lib.rs"), source).unwrap();
            let target = root.join("tests/guests/target/readme");
            run_ok(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .current_dir(dir)
                    .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"])
                    .arg("--target-dir")
                    .arg(&target)
                    .env_remove("CARGO_TARGET_DIR")
                    .env_remove("CARGO_BUILD_TARGET"),
                "cargo build",
            );
            target.join("wasm32-wasip2/release/hello_plugin.wasm")
        }
        GuestLanguage::Python => {
            std::fs::write(dir.join("app.py"), source).unwrap();
            let cpy = root.join("guest-example/python/.venv/bin/componentize-py");
            run_ok(
                Command::new(cpy).current_dir(dir).args([
                    "-d",
                    "wit",
                    "-w",
                    "plugin",
                    "componentize",
                    "app",
                    "-o",
                    "hello.wasm",
                ]),
                "componentize-py",
            );
            dir.join("hello.wasm")
        }
        GuestLanguage::JavaScript => {
            std::fs::write(dir.join("agent.js"), source).unwrap();
            std::fs::write(
                dir.join("build.mjs"),
                block("js", "componentize(", false, "callTool"),
            )
            .unwrap();
            std::fs::write(dir.join("package.json"), "{\"type\": \"module\"}\n").unwrap();
            let modules = dir.join("node_modules");
            if !modules.exists() {
                std::os::unix::fs::symlink(root.join("guest-example/js/node_modules"), &modules)
                    .unwrap();
            }
            run_ok(
                Command::new("node").current_dir(dir).arg("build.mjs"),
                "node build.mjs",
            );
            dir.join("hello.wasm")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_plugins_build_and_answer_as_shown() {
    // Keeps the cores busy (see `machine`): never beside a test that needs them free.
    let _busy = busy_machine();
    init_tracing();
    // The toolchains: the same script the README and CI use.
    for language in GuestLanguage::ALL {
        example_in(language);
    }
    let emu = emulator().await;
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(docs.path().join("intro.md"), "Plugins run in a sandbox.\n").unwrap();
    let host = PluginHost::builder()
        .backend(bedrock(&emu))
        .tools(FsRoot::new(docs.path()).unwrap().tools())
        .policy(Policy::default())
        .cache(Some(shared_cache()))
        .build()
        .unwrap();
    let sources = [
        (
            GuestLanguage::Rust,
            "rust",
            "wit_bindgen::generate!",
            "call_tool",
        ),
        (
            GuestLanguage::Python,
            "python",
            "class Agent(exports.Agent)",
            "call_tool",
        ),
        (
            GuestLanguage::JavaScript,
            "js",
            "export const agent",
            "callTool",
        ),
    ];
    for (language, lang, marker, tool_marker) in sources {
        let dir = tempfile::tempdir().unwrap();
        copy_wit(dir.path());

        let hello = build(
            language,
            dir.path(),
            &block(lang, marker, false, tool_marker),
        );
        let plugin = load(&host, &hello);
        let answer = plugin.run("Say hello").await.expect("hello runs").answer;
        assert_eq!(
            answer, "This is the Bedrock emulator answering: Say hello",
            "{language:?}"
        );
        // The task's attachments go to the model with it.
        let picture = Task {
            text: "What is in this picture?".into(),
            attachments: vec![Attachment::from_bytes("photo", png(640, 480)).expect("a png")],
        };
        let answer = plugin.run(&picture).await.expect("hello runs").answer;
        assert!(
            answer.starts_with("I see a PNG image, 640×480 pixels."),
            "{language:?}: {answer}"
        );

        let looped = build(
            language,
            dir.path(),
            &block(lang, marker, true, tool_marker),
        );
        let plugin = load(&host, &looped);
        let outcome = plugin
            .run("Summarize the docs")
            .await
            .expect("the loop runs");
        assert_eq!(
            outcome.answer,
            "Based on the tool results: .: intro.md; intro.md: Plugins run in a sandbox.",
            "{language:?}"
        );
        assert_eq!(outcome.stats.tool_calls, 2, "{language:?}");
    }
}
