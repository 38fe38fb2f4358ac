//! Helpers shared by the integration tests: a raw hyper client and a SigV4 signer that signs
//! exactly like the AWS SDK does.

#![allow(dead_code)]

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bedrock_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::SystemTime;
use tokio::net::TcpStream;

pub const MODEL: &str = "us.anthropic.claude-sonnet-4-6";
pub const MODEL_PATH: &str = "/model/us.anthropic.claude-sonnet-4-6/converse";
pub const STREAM_PATH: &str = "/model/us.anthropic.claude-sonnet-4-6/converse-stream";

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn error_type(&self) -> String {
        self.headers
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().split(':').next().unwrap().to_string())
            .unwrap_or_default()
    }
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Why a request failed below HTTP.
#[derive(Debug)]
pub enum Failure {
    /// No response head at all (e.g. the connection was closed).
    NoResponse(hyper::Error),
    /// A response head, then the body failed.
    Body(StatusCode, HeaderMap, hyper::Error),
}

/// Send a request over a fresh connection.
pub async fn send(emu: &Emulator, req: Request<Full<Bytes>>) -> Result<Answer, Failure> {
    let stream = TcpStream::connect(emu.addr()).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(Failure::NoResponse)?;
    let (parts, body) = resp.into_parts();
    match body.collect().await {
        Ok(b) => Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body: b.to_bytes(),
        }),
        Err(e) => Err(Failure::Body(parts.status, parts.headers, e)),
    }
}

/// A request signed the way the SDK signs it.
pub fn signed_with(
    emu: &Emulator,
    path: &str,
    body: &str,
    access_key: &str,
    secret: &str,
    region: &str,
) -> Request<Full<Bytes>> {
    let host = emu.addr().to_string();
    let identity = Credentials::new(access_key, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", &host)
        .header("content-type", "application/json")
        .header("content-length", body.len().to_string())
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let url = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        "POST",
        url,
        req.headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req
}

/// A request signed with the default credentials.
pub fn signed(emu: &Emulator, path: &str, body: &str) -> Request<Full<Bytes>> {
    signed_with(
        emu,
        path,
        body,
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
        "us-east-1",
    )
}

/// An unsigned request.
pub fn unsigned(emu: &Emulator, method: &str, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", emu.addr().to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// `{"messages": [{"role": "user", "content": [{"text": text}]}]}`
pub fn user_body(text: &str) -> String {
    serde_json::json!({"messages": [{"role": "user", "content": [{"text": text}]}]}).to_string()
}
