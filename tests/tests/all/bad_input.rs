//! Bad input: things that are not runnable plugins, and malformed policy files, give clear
//! errors and no panic; the host keeps working afterwards.

use gamecode_e2e::*;
use gamecode_host::inspect::ItemRole;
use gamecode_host::{LoadError, Policy, PolicyError, WitVersion};

#[tokio::test]
async fn not_wasm_core_modules_and_other_worlds_are_refused_clearly() {
    init_tracing();
    let emu = emulator().await;
    let host = host(&emu, Policy::default());

    let e = host
        .load_bytes("text", b"hello, I am not wasm")
        .unwrap_err();
    assert!(matches!(e, LoadError::NotWasm(_)), "{e}");
    assert!(e.to_string().contains("not a WebAssembly file"), "{e}");

    let e = host.load_bytes("empty", b"").unwrap_err();
    assert!(matches!(e, LoadError::NotWasm(_)), "{e}");

    let e = host.load_bytes("wat", b"(component)").unwrap_err();
    assert!(e.to_string().contains("WebAssembly text"), "{e}");

    let e = host.load_bytes("core", b"\0asm\x01\0\0\0").unwrap_err();
    assert_eq!(e, LoadError::CoreModuleNotComponent);
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");

    // A component header followed by garbage.
    let e = host
        .load_bytes("garbage", b"\0asm\x0d\0\x01\0\xff\xff\xff")
        .unwrap_err();
    assert!(matches!(e, LoadError::Invalid(_)), "{e}");

    let e = host.load_file("/definitely/not/here.wasm").unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");

    let e = host.load_file(test_guest("guest_other_world")).unwrap_err();
    match &e {
        LoadError::WrongWorld(m) => {
            assert_eq!(
                m.missing_export.as_deref(),
                Some(
                    "`gamecode:plugin/agent@0.2.1` or `gamecode:plugin/agent@0.2.0` or \
                     `gamecode:plugin/agent@0.1.0`"
                )
            );
            assert_eq!(m.exports, ["hello"]);
        }
        other => panic!("expected a world mismatch, got {other:?}"),
    }
    let message = e.to_string();
    assert!(
        message.contains(
            "does not export `gamecode:plugin/agent@0.2.1` or `gamecode:plugin/agent@0.2.0` or \
             `gamecode:plugin/agent@0.1.0`"
        ) && message.contains("hello"),
        "{message}"
    );

    // The right export under 0.2.0's name, with 0.1.0's `run`: said in words, with the
    // version it claims and the function that does not match.
    let e = host.load_file(test_guest("guest_wrong_shape")).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(
            "does not export `gamecode:plugin/agent@0.2.0` with gamecode:plugin@0.2.0's `run: \
             func(task: task) -> result<string, agent-error>`: the component claims \
             gamecode:plugin@0.2.0 but its `run` takes (string) and returns (result)"
        ),
        "{message}"
    );

    // Inspection explains the same without failing.
    let inspection = host
        .inspect_file(test_guest("guest_other_world"))
        .expect("a valid component");
    assert!(inspection.runnable.is_err());
    assert_eq!(inspection.exports[0].name, "hello");
    // Each version's plugin is named as such: its line, and the exact release (a 0.2.0
    // plugin links to this 0.2.1 host unchanged).
    for (plugin, version, release) in [
        (guest_example(), WitVersion::V0_2_0, "0.2.1"),
        (test_guest("guest_converse"), WitVersion::V0_2_0, "0.2.0"),
        (fixture_v0_1_0(), WitVersion::V0_1_0, "0.1.0"),
    ] {
        let inspection = host.inspect_file(&plugin).unwrap();
        assert!(inspection.runnable.is_ok());
        assert_eq!(inspection.targets, Some(version));
        let chat = format!("gamecode:plugin/chat@{release}");
        assert!(inspection.imports.iter().any(|i| i.name == chat
            && i.role
                == ItemRole::Gamecode {
                    version: Some(release.to_string())
                }));
        let report = inspection.render();
        assert!(report.contains("runnable: yes"), "{report}");
        assert!(
            report.contains(&format!("plugin targets: gamecode:plugin@{release}")),
            "{report}"
        );
        assert_eq!(
            load(&host, &plugin).wit_package(),
            format!("gamecode:plugin@{release}")
        );
    }

    // The host still serves.
    let hello = load(&host, &test_guest("guest_hello"));
    assert_eq!(hello.run("ok").await.unwrap().answer, "hello, ok");
}

#[test]
fn malformed_policy_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[chat]\nmax_cals = 3\n", "unknown field `max_cals`"),
        ("[limits]\nmemory_mib = \"lots\"\n", "memory_mib"),
        ("[limitz]\n", "unknown field `limitz`"),
        ("[chat]\nallowed_models = \"one\"\n", "allowed_models"),
        ("[limits\n", "invalid"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        let e = Policy::from_file(&path).unwrap_err();
        assert!(matches!(e, PolicyError::Parse(_)), "{text:?}: {e}");
        let message = e.to_string();
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains("policy.toml"), "{message}");
    }
    let e = Policy::from_file(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(e, PolicyError::Io { .. }), "{e}");
    let e = Policy::from_toml_str("[limits]\ndeadline_secs = 0\n").unwrap_err();
    assert!(matches!(e, PolicyError::Invalid(_)), "{e}");
}
