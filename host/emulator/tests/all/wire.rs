//! Wire-level tests with a raw hyper client: routing, SigV4, every fault, scripting, the
//! request log, and ConverseStream framing.

use crate::support::raw::*;
use aws_smithy_eventstream::frame::read_message_from;
use bedrock_emulator::{Emulator, EmulatorConfig, Fault, Operation, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn signed_converse_round_trip() {
    let emu = Emulator::start().await.unwrap();
    assert!(emu.url().starts_with("http://127.0.0.1:"));
    let body = json!({
        "system": [{"text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"text": "hi there"}]}]
    })
    .to_string();
    let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(a.headers.contains_key("x-amzn-requestid"));
    let v = a.json();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(
        v["output"]["message"]["content"][0]["text"],
        "This is the Bedrock emulator answering: hi there"
    );
    assert_eq!(v["stopReason"], "end_turn");
    let usage = &v["usage"];
    assert_eq!(
        usage["totalTokens"].as_u64().unwrap(),
        usage["inputTokens"].as_u64().unwrap() + usage["outputTokens"].as_u64().unwrap()
    );
    assert_eq!(v["metrics"]["latencyMs"], 0);

    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].operation, Operation::Converse);
    assert_eq!(reqs[0].model_id, MODEL);
    assert_eq!(reqs[0].status, 200);
    assert_eq!(reqs[0].body["system"][0]["text"], "You are terse.");
    assert!(reqs[0].header("authorization").is_some());
}

#[tokio::test]
async fn authentication_failures_are_403s() {
    let emu = Emulator::start().await.unwrap();
    let body = user_body("hi");

    let a = send(&emu, unsigned(&emu, "POST", MODEL_PATH, &body))
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    assert_eq!(a.error_type(), "MissingAuthenticationTokenException");

    let wrong_secret = signed_with(
        &emu,
        MODEL_PATH,
        &body,
        "AKIDGAMECODEEMULATOR",
        "nope",
        "us-east-1",
    );
    let a = send(&emu, wrong_secret).await.unwrap();
    assert_eq!(a.status, 403);
    assert_eq!(a.error_type(), "InvalidSignatureException");
    assert!(
        a.message()
            .starts_with("The request signature we calculated does not match")
    );

    let wrong_key = signed_with(&emu, MODEL_PATH, &body, "AKIDOTHER", "nope", "us-east-1");
    let a = send(&emu, wrong_key).await.unwrap();
    assert_eq!(a.error_type(), "UnrecognizedClientException");
    assert_eq!(
        a.message(),
        "The security token included in the request is invalid."
    );

    let wrong_region = signed_with(
        &emu,
        MODEL_PATH,
        &body,
        bedrock_emulator::DEFAULT_ACCESS_KEY_ID,
        bedrock_emulator::DEFAULT_SECRET_ACCESS_KEY,
        "eu-west-1",
    );
    let a = send(&emu, wrong_region).await.unwrap();
    assert_eq!(a.error_type(), "InvalidSignatureException");
    assert_eq!(
        a.message(),
        "Credential should be scoped to a valid region."
    );

    // A signed body swapped for another one.
    let mut tampered = signed(&emu, MODEL_PATH, &body);
    let other = user_body("ho");
    *tampered.body_mut() = http_body_util::Full::new(bytes::Bytes::from(other));
    let a = send(&emu, tampered).await.unwrap();
    assert_eq!(a.error_type(), "InvalidSignatureException");

    // Rejected requests are recorded too.
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![403; 5]);
}

#[tokio::test]
async fn signature_checks_can_be_disabled() {
    let emu = Emulator::start_with(EmulatorConfig {
        verify_signatures: false,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let a = send(&emu, unsigned(&emu, "POST", MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn unknown_routes_are_404s() {
    let emu = Emulator::start().await.unwrap();
    for (method, path) in [
        ("GET", MODEL_PATH),
        ("POST", "/model/x.y/invoke"),
        ("POST", "/"),
        ("PUT", "/model/a.b/converse"),
    ] {
        let a = send(&emu, unsigned(&emu, method, path, "{}"))
            .await
            .unwrap();
        assert_eq!(a.status, 404, "{method} {path}");
        assert_eq!(a.error_type(), "UnknownOperationException");
        assert!(!a.message().is_empty());
    }
    assert!(
        emu.requests()
            .iter()
            .all(|r| r.operation == Operation::Other)
    );
}

#[tokio::test]
async fn validation_errors_are_400s() {
    let emu = Emulator::start().await.unwrap();
    let cases = [
        ("not json".to_string(), "Malformed input request"),
        (
            json!({"messages": []}).to_string(),
            "A conversation must start with a user message",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}],
                   "inferenceConfig": {"temperature": 1.5}})
            .to_string(),
            "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature'",
        ),
    ];
    for (body, expected) in cases {
        let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
        assert_eq!(a.status, 400);
        assert_eq!(a.error_type(), "ValidationException");
        assert!(a.message().starts_with(expected), "{}", a.message());
    }
    let a = send(
        &emu,
        signed(&emu, "/model/not%20a%20model/converse", &user_body("x")),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 400);
    assert_eq!(a.message(), "The provided model identifier is invalid.");
    let recorded = emu.requests();
    assert_eq!(recorded[0].body, Value::Null);
    assert_eq!(recorded[3].model_id, "not a model");
}

#[tokio::test]
async fn arn_model_ids_are_decoded() {
    let emu = Emulator::start().await.unwrap();
    let arn =
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6";
    let path = format!(
        "/model/{}/converse",
        percent_encoding::utf8_percent_encode(arn, percent_encoding::NON_ALPHANUMERIC)
    );
    let a = send(&emu, signed(&emu, &path, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(emu.requests()[0].model_id, arn);
}

#[tokio::test]
async fn modelled_error_faults() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(
        Fault::throttling().with_retry_after(Duration::from_secs(2)),
        2,
    );
    emu.inject(Fault::access_denied(), 1);
    let body = user_body("hi");
    for _ in 0..2 {
        let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
        assert_eq!(a.status, 429);
        assert_eq!(a.error_type(), "ThrottlingException");
        assert_eq!(a.headers["retry-after"], "2");
        assert_eq!(
            a.message(),
            "Too many requests, please wait before trying again."
        );
        assert!(
            a.headers["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .contains(":http://internal.amazon.com/coral/")
        );
    }
    // Unauthenticated requests do not consume faults.
    let a = send(&emu, unsigned(&emu, "POST", MODEL_PATH, &body))
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    assert_eq!(a.error_type(), "MissingAuthenticationTokenException");
    let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
    assert_eq!(a.status, 403);
    assert_eq!(a.error_type(), "AccessDeniedException");
    let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
    assert_eq!(a.status, 200);

    for (fault, status, kind) in [
        (Fault::model_not_ready(), 429, "ModelNotReadyException"),
        (
            Fault::service_unavailable(),
            503,
            "ServiceUnavailableException",
        ),
        (Fault::internal_server(), 500, "InternalServerException"),
        (Fault::model_timeout(), 408, "ModelTimeoutException"),
        (Fault::model_error(), 424, "ModelErrorException"),
        (Fault::validation("bad"), 400, "ValidationException"),
        (
            Fault::resource_not_found(),
            404,
            "ResourceNotFoundException",
        ),
    ] {
        emu.inject(fault, 1);
        let a = send(&emu, signed(&emu, MODEL_PATH, &body)).await.unwrap();
        assert_eq!(a.status, status);
        assert_eq!(a.error_type(), kind);
        assert!(a.headers.get("retry-after").is_none());
    }
}

#[tokio::test]
async fn unmodelled_status_fault() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(
        Fault::Status {
            status: 502,
            body: "<html><body>Bad Gateway</body></html>".into(),
        },
        1,
    );
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 502);
    assert!(a.headers.get("x-amzn-errortype").is_none());
    assert!(a.body.starts_with(b"<html>"));
}

#[tokio::test]
async fn delay_and_latency() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(Fault::Delay(Duration::from_millis(200)), 1);
    let t = Instant::now();
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    emu.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(a.json()["metrics"]["latencyMs"], 150);

    // Latency applies to successful answers only.
    let t = Instant::now();
    let a = send(&emu, unsigned(&emu, "POST", MODEL_PATH, "{}"))
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn drop_connection_fault() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(Fault::DropConnection, 1);
    let r = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi"))).await;
    assert!(matches!(r, Err(Failure::NoResponse(_))), "{r:?}");
    assert_eq!(emu.requests()[0].status, 0);
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn truncated_body_fault() {
    let emu = Emulator::start().await.unwrap();
    emu.push_reply(Reply::Text("kept for the retry".into()));
    emu.inject(Fault::TruncatedBody, 1);
    let r = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi"))).await;
    match r {
        Err(Failure::Body(status, headers, _)) => {
            assert_eq!(status, 200);
            assert!(headers.contains_key("content-length"));
        }
        other => panic!("expected a body failure, got {other:?}"),
    }
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(
        a.json()["output"]["message"]["content"][0]["text"],
        "kept for the retry"
    );
}

#[tokio::test]
async fn malformed_body_fault() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(Fault::MalformedBody, 1);
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&a.body).is_err());
}

#[tokio::test]
async fn script_rules_and_clear() {
    let emu = Emulator::start().await.unwrap();
    emu.add_rule("weather", Reply::Text("It is sunny.".into()));
    emu.push_reply(Reply::ToolUse {
        name: "calc".into(),
        input: json!({"a": 1}),
    });
    let text = |a: &Answer| a.json()["output"]["message"]["content"][0]["text"].clone();

    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("weather?")))
        .await
        .unwrap();
    let v = a.json();
    assert_eq!(v["stopReason"], "tool_use");
    assert_eq!(
        v["output"]["message"]["content"][0]["toolUse"]["name"],
        "calc"
    );
    assert!(
        v["output"]["message"]["content"][0]["toolUse"]["toolUseId"]
            .as_str()
            .unwrap()
            .starts_with("tooluse_")
    );
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("weather?")))
        .await
        .unwrap();
    assert_eq!(text(&a), "It is sunny.");
    let a = send(
        &emu,
        signed(&emu, MODEL_PATH, &user_body("the weather again")),
    )
    .await
    .unwrap();
    assert_eq!(text(&a), "It is sunny.");
    assert_eq!(emu.request_count(), 3);

    emu.inject(Fault::throttling(), 5);
    emu.clear();
    assert_eq!(emu.request_count(), 0);
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("weather?")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(text(&a), "This is the Bedrock emulator answering: weather?");
}

#[tokio::test]
async fn garbage_never_breaks_the_server() {
    let emu = Emulator::start().await.unwrap();
    let bodies = [
        "",
        "null",
        "[]",
        "{\"messages\": 7}",
        "{\"messages\": [null]}",
        "{\"messages\": [{\"role\": 1, \"content\": [{}]}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": [{\"toolResult\": {\"toolUseId\": 5}}]}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"x\"}]}], \"toolConfig\": {\"tools\": [{\"toolSpec\": {\"name\": \"t\", \"inputSchema\": {\"json\": {\"type\": \"object\", \"properties\": {\"a\": {\"$ref\": \"#/properties/a\"}}}}}}]}}",
        "\u{0}\u{1}\u{2}",
    ];
    for body in bodies {
        let a = send(&emu, signed(&emu, MODEL_PATH, body)).await.unwrap();
        assert!(a.status == 400 || a.status == 200, "{body}: {}", a.status);
    }
    let a = send(&emu, signed(&emu, "/model/%FF%FE/converse", "{}"))
        .await
        .unwrap();
    assert_eq!(a.status, 400);
    // Still alive.
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("ok")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn keep_alive_connections_serve_several_requests() {
    let emu = Emulator::start().await.unwrap();
    let stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let resp = sender
            .send_request(signed(&emu, MODEL_PATH, &user_body(&format!("n{i}"))))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        use http_body_util::BodyExt;
        let _ = resp.into_body().collect().await.unwrap();
    }
    assert_eq!(emu.request_count(), 3);
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let emu = Emulator::start().await.unwrap();
    let addr = emu.addr();
    emu.clone().shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let emu = Emulator::start().await.unwrap();
    let addr = emu.addr();
    drop(emu);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

fn events(body: &[u8]) -> Vec<(String, String, Value)> {
    let mut buf = bytes::Bytes::copy_from_slice(body);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let m = read_message_from(&mut buf).unwrap();
        let header = |name: &str| {
            m.headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        };
        let kind = if header(":message-type") == "exception" {
            header(":exception-type")
        } else {
            header(":event-type")
        };
        out.push((
            header(":message-type"),
            kind,
            serde_json::from_slice(m.payload()).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn converse_stream_frames() {
    let emu = Emulator::start().await.unwrap();
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("stream please")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let ev = events(&a.body);
    let kinds: Vec<&str> = ev.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"messageStart"));
    assert_eq!(
        &kinds[kinds.len() - 3..],
        &["contentBlockStop", "messageStop", "metadata"]
    );
    let text: String = ev
        .iter()
        .filter_map(|(_, _, v)| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        text,
        "This is the Bedrock emulator answering: stream please"
    );
    assert_eq!(emu.requests()[0].operation, Operation::ConverseStream);
}

#[tokio::test]
async fn stream_pacing_and_sent_frame_times() {
    let emu = Emulator::start().await.unwrap();
    // Off by default: nothing is recorded.
    send(&emu, signed(&emu, STREAM_PATH, &user_body("unrecorded")))
        .await
        .unwrap();
    assert!(emu.sent_frames().is_empty());

    emu.record_sent_frames(true);
    emu.set_stream_pacing(Duration::from_millis(5));
    let started = Instant::now();
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("paced")))
        .await
        .unwrap();
    let frames = emu.sent_frames();
    let n = events(&a.body).len();
    assert_eq!(frames.len(), n);
    let rid = a.headers["x-amzn-requestid"].to_str().unwrap();
    assert!(frames.iter().all(|f| f.request_id == rid));
    assert_eq!(
        frames.iter().map(|f| f.index).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert!(frames[0].at >= started);
    for pair in frames.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(5));
        assert!(pair[1].wall >= pair[0].wall);
    }

    emu.clear();
    assert!(emu.sent_frames().is_empty());
}

#[tokio::test]
async fn converse_stream_faults() {
    let emu = Emulator::start().await.unwrap();
    emu.push_reply(Reply::Text("scripted".into()));
    emu.inject(Fault::model_stream_error(), 1);
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("x")))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    let ev = events(&a.body);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2].0, "exception");
    assert_eq!(ev[2].1, "modelStreamErrorException");
    // The scripted reply survived the failed stream.
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("x")))
        .await
        .unwrap();
    let text: String = events(&a.body)
        .iter()
        .filter_map(|(_, _, v)| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "scripted");

    emu.inject(
        Fault::StreamStall {
            after_events: 1,
            stall: Duration::from_millis(200),
        },
        1,
    );
    let t = Instant::now();
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("x")))
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(events(&a.body).last().unwrap().1, "metadata");

    emu.inject(Fault::TruncatedBody, 1);
    let r = send(&emu, signed(&emu, STREAM_PATH, &user_body("x"))).await;
    assert!(matches!(r, Err(Failure::Body(..))), "{r:?}");

    emu.inject(Fault::MalformedBody, 1);
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("x")))
        .await
        .unwrap();
    assert!(read_message_from(&mut a.body.clone()).is_err());

    emu.inject(Fault::throttling(), 1);
    let a = send(&emu, signed(&emu, STREAM_PATH, &user_body("x")))
        .await
        .unwrap();
    assert_eq!(a.status, 429);

    // On Converse, a stream error fault is the equivalent HTTP error.
    emu.inject(Fault::model_stream_error(), 1);
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("x")))
        .await
        .unwrap();
    assert_eq!(a.status, 424);
    assert_eq!(a.error_type(), "ModelStreamErrorException");
}

#[tokio::test]
async fn a_client_that_gives_up_during_a_delay_does_not_consume_the_script() {
    let emu = Emulator::start().await.unwrap();
    emu.inject(Fault::Delay(Duration::from_millis(400)), 1);
    emu.push_reply(Reply::Text("for the retry".into()));
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        send(&emu, signed(&emu, MODEL_PATH, &user_body("hi"))),
    )
    .await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = send(&emu, signed(&emu, MODEL_PATH, &user_body("hi")))
        .await
        .unwrap();
    assert_eq!(
        a.json()["output"]["message"]["content"][0]["text"],
        "for the retry"
    );
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![0, 200]);
}
