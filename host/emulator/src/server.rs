//! The HTTP server: accept loop, per-connection hyper service, and the request pipeline.
//!
//! hyper 1 is used directly (one `http1` connection per accepted socket) because faults need
//! control below what a web framework exposes: dropping a connection without a response,
//! failing a body after a promised `Content-Length`. The shared state sits behind one short
//! std `Mutex` that is never held across an `.await`.

use crate::config::EmulatorConfig;
use crate::faults::{BEDROCK_ERROR_SUFFIX, Fault, FaultQueue, stream_exception_as_http};
use crate::ids;
use crate::record::{Operation, RecordedRequest, RequestLog, SentFrame};
use crate::responder::{self, Answer};
use crate::route::{Route, route};
use crate::script::{Reply, Script, last_user_text};
use crate::sigv4;
use crate::stream;
use crate::validate::validate_converse;
use crate::wire::{self, Body, OnData, Step};
use bytes::Bytes;
use futures::FutureExt;
use http::{Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Requests larger than this are refused (and not read further).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A running Bedrock emulator. Cheap to clone; it stops when [`Emulator::shutdown`] is called
/// or the last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// What the server tasks share with the handle.
struct Shared {
    config: EmulatorConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    log: RequestLog,
    script: Script,
    faults: FaultQueue,
    latency: Duration,
    /// Gap before each ConverseStream event frame after the first.
    stream_pacing: Duration,
    /// Whether sent ConverseStream frames are recorded in `sent_frames`.
    record_frames: bool,
    sent_frames: Vec<SentFrame>,
    tool_use_counter: u64,
    request_counter: u64,
    /// Prompt-cache entries by model and prefix.
    prompt_cache: crate::cache::PromptCache,
    /// A cassette being replayed, if any.
    replay: Option<crate::replay::Replay>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // State stays consistent across a panic (every update is a single step), so a
        // poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_request_id(&self) -> String {
        let mut s = self.lock();
        s.request_counter += 1;
        ids::request_id(s.request_counter)
    }
}

impl Emulator {
    /// Start on `127.0.0.1` with an OS-chosen port and the default credentials.
    pub async fn start() -> anyhow::Result<Emulator> {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// Start with this configuration.
    pub async fn start_with(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let mut state = State {
            latency: config.latency,
            ..State::default()
        };
        config.rules.load_into(&mut state.script);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        tracing::debug!(%addr, "bedrock emulator listening");
        Ok(Emulator {
            inner: Arc::new(Inner {
                shared,
                addr,
                shutdown: tx,
                accept_task: Mutex::new(Some(task)),
            }),
        })
    }

    /// The base URL to use as the SDK's `endpoint_url`, e.g. `http://127.0.0.1:49152`.
    pub fn url(&self) -> String {
        let addr = self.addr();
        let host = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
            }
            _ => addr,
        };
        format!("http://{host}")
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// An AWS SDK configuration that talks to this emulator: its region, its credentials and
    /// its URL as the endpoint. Hand it to any AWS client (or `BedrockBackend::new_with_config`).
    pub fn sdk_config(&self) -> aws_types::SdkConfig {
        let config = &self.inner.shared.config;
        let credentials = aws_credential_types::Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
            None,
            None,
            "bedrock-emulator",
        );
        aws_types::SdkConfig::builder()
            .region(aws_types::region::Region::new(config.region.clone()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .endpoint_url(self.url())
            .behavior_version(
                aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
            )
            .build()
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.shared.config
    }

    /// Queue a reply: consumed by the next successful request, before rules and the default
    /// responder.
    pub fn push_reply(&self, reply: Reply) {
        self.inner.shared.lock().script.push(reply);
    }

    /// Whenever the last user message's text contains `needle`, answer `reply` (checked after
    /// the FIFO, before the default responder; rules persist until [`Emulator::clear`]).
    pub fn add_rule(&self, needle: impl Into<String>, reply: Reply) {
        self.inner
            .shared
            .lock()
            .script
            .add_rule(needle.into(), reply);
    }

    /// Adds a rules file's replies (after those queued) and rules (after those set).
    pub fn load_rules(&self, rules: &crate::rules::Rules) {
        rules.load_into(&mut self.inner.shared.lock().script);
    }

    /// The next `times` requests that pass routing and signature verification get `fault`.
    /// Several calls queue up in order.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.inner.shared.lock().faults.push(fault, times);
    }

    /// Every request that passes routing and signature verification gets `fault` for the next
    /// `duration` (e.g. 100 % throttling for ten seconds), before any counted fault.
    pub fn inject_for(&self, fault: Fault, duration: Duration) {
        self.inner
            .shared
            .lock()
            .faults
            .set_until(fault, Instant::now() + duration);
    }

    /// Change the simulated latency of successful answers.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.shared.lock().latency = latency;
    }

    /// Pace ConverseStream answers: wait `gap` before each event frame after the first
    /// (default zero: the frames go out back to back). Real Bedrock sends deltas tens of
    /// milliseconds apart; a gap also makes each frame leave in a write of its own, which
    /// per-frame latency measurements need.
    pub fn set_stream_pacing(&self, gap: Duration) {
        self.inner.shared.lock().stream_pacing = gap;
    }

    /// Start (`true`) or stop recording when each ConverseStream event frame is sent (off by
    /// default); read them with [`Emulator::sent_frames`]. A measurement hook: it costs one
    /// short lock per frame while on, one flag check per stream while off.
    pub fn record_sent_frames(&self, on: bool) {
        self.inner.shared.lock().record_frames = on;
    }

    /// The ConverseStream frames sent while recording was on, in send order.
    pub fn sent_frames(&self) -> Vec<SentFrame> {
        self.inner.shared.lock().sent_frames.clone()
    }

    /// Every request that reached the server, in arrival order (including rejected ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.shared.lock().log.snapshot()
    }

    /// How many requests reached the server.
    pub fn request_count(&self) -> usize {
        self.inner.shared.lock().log.len()
    }

    /// Answers from `cassette` from now on: each Converse / ConverseStream request is matched
    /// with the next recorded exchange and answered as recorded (see [`ReplayOptions`]). A
    /// request that does not match is drift ([`drift`](Self::drift)).
    ///
    /// [`ReplayOptions`]: crate::ReplayOptions
    pub fn load_cassette(
        &self,
        cassette: gamecode_cassette::Cassette,
        options: crate::replay::ReplayOptions,
    ) {
        self.inner.shared.lock().replay = Some(crate::replay::Replay::new(cassette, options));
    }

    /// The drift found while replaying, in order.
    pub fn drift(&self) -> Vec<gamecode_cassette::Drift> {
        self.inner
            .shared
            .lock()
            .replay
            .as_ref()
            .map(|r| r.drifts.clone())
            .unwrap_or_default()
    }

    /// The recorded exchanges not replayed yet (`None` without a cassette).
    pub fn replay_remaining(&self) -> Option<usize> {
        self.inner
            .shared
            .lock()
            .replay
            .as_ref()
            .map(|r| r.remaining())
    }

    /// Forget the recorded requests only: a long load keeps its rules, replies and faults.
    pub fn forget_requests(&self) {
        self.inner.shared.lock().log.clear();
    }

    /// Forget recorded requests and frames, scripted replies, rules and pending faults.
    pub fn clear(&self) {
        let mut s = self.inner.shared.lock();
        s.log.clear();
        s.sent_frames.clear();
        s.script.clear();
        s.faults.clear();
    }

    /// Stop accepting connections and close open ones.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let task = self
            .inner
            .accept_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(serve_connection(stream, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handle(shared.clone(), req));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Returned to hyper to close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose")]
struct DropConnection;

enum Outcome {
    Respond(Response<Body>),
    Drop,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, MAX_BODY_BYTES).collect().await;
    let at = Instant::now();
    // A read error other than the size limit means the client went away mid-body.
    let (bytes, too_large, read_failed) = match read {
        Ok(collected) => (collected.to_bytes(), false, false),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => (Bytes::new(), true, false),
        Err(_) => (Bytes::new(), false, true),
    };
    let routed = route(&parts.method, parts.uri.path());
    let body_json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let record = RecordedRequest {
        at,
        operation: routed.as_ref().map_or(Operation::Other, |r| r.operation),
        model_id: routed
            .as_ref()
            .map(|r| r.model_id.clone().unwrap_or_else(|| r.raw_model_id.clone()))
            .unwrap_or_default(),
        body: body_json.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        status: 0,
    };
    let seq = shared.lock().log.push(record);

    if read_failed {
        // The client went away while sending its body.
        return Err(DropConnection);
    }

    let request = RequestView {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        bytes: &bytes,
        body: &body_json,
        too_large,
    };
    let outcome = std::panic::AssertUnwindSafe(process(&shared, routed, request))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            let rid = shared.next_request_id();
            Outcome::Respond(wire::error_response(
                500,
                "InternalServerException",
                "The emulator failed while handling this request.",
                &rid,
                None,
            ))
        });
    match outcome {
        Outcome::Respond(resp) => {
            let status = resp.status().as_u16();
            shared.lock().log.set_status(seq, status);
            tracing::info!(method = %parts.method, path = %parts.uri.path(), status, "request");
            Ok(resp)
        }
        Outcome::Drop => {
            tracing::info!(method = %parts.method, path = %parts.uri.path(), "request: connection dropped");
            Err(DropConnection)
        }
    }
}

/// The parts of a request the pipeline reads.
struct RequestView<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a http::HeaderMap,
    bytes: &'a Bytes,
    body: &'a Value,
    too_large: bool,
}

/// A step of [`process`] hands on what it found, or breaks off with the request's outcome.
type Stage<T> = ControlFlow<Outcome, T>;

/// Route → size → authenticate → (count tokens) → cassette → fault → validate → latency →
/// answer → guardrail → encode. Each step either hands on or ends the request; their order is
/// Bedrock's precedence of errors.
async fn process(shared: &Arc<Shared>, routed: Option<Route>, req: RequestView<'_>) -> Outcome {
    let rid = shared.next_request_id();
    let rid = rid.as_str();
    let steps = async {
        let routed = resolve_route(shared, routed, &req, rid)?;
        check_size(&req, rid)?;
        authenticate(shared, &req, rid)?;
        if routed.operation == Operation::CountTokens {
            return Break(count_tokens(routed.model_id.as_deref(), req.body, rid));
        }
        let streaming = routed.operation == Operation::ConverseStream;
        play_cassette(shared, &routed, streaming, req.body, rid).await?;
        let fault = apply_fault(shared, streaming, rid).await?;
        validate(shared, &routed, req.body, rid)?;
        let latency = simulate_latency(shared).await;
        let mut answer = compose_answer(shared, &routed, req.body, fault.use_fifo);
        apply_guardrail(shared, req.body, &mut answer);
        Continue(encode(
            shared,
            streaming,
            &answer,
            latency,
            fault.stream,
            rid,
        ))
    };
    match steps.await {
        Continue(outcome) | Break(outcome) => outcome,
    }
}

/// An error answer without `Retry-After`.
fn error(status: u16, error_type: &str, message: &str, rid: &str) -> Outcome {
    Outcome::Respond(wire::error_response(status, error_type, message, rid, None))
}

/// The 400 `ValidationException` Bedrock sends for a request it refuses to run.
fn validation_error(message: &str, rid: &str) -> Outcome {
    error(
        400,
        &format!("ValidationException{BEDROCK_ERROR_SUFFIX}"),
        message,
        rid,
    )
}

/// Requests that are not Converse-like may still be control-plane ones; anything else is a
/// 404, before the signature is looked at.
fn resolve_route(
    shared: &Arc<Shared>,
    routed: Option<Route>,
    req: &RequestView<'_>,
    rid: &str,
) -> Stage<Route> {
    let Some(routed) = routed else {
        if let Some(op) = crate::control::route(req.method, req.uri.path()) {
            return Break(control(shared, &op, req, rid));
        }
        return Break(error(
            404,
            "UnknownOperationException",
            "The requested operation is not recognized by the Bedrock emulator.",
            rid,
        ));
    };
    Continue(routed)
}

/// A body over the limit was not read whole, so it is refused before the signature (which
/// covers it) is checked.
fn check_size(req: &RequestView<'_>, rid: &str) -> Stage<()> {
    if req.too_large {
        return Break(error(
            400,
            "ValidationException",
            "The request body exceeds the emulator's 32 MiB limit.",
            rid,
        ));
    }
    Continue(())
}

/// A cassette answers first: replay is what was recorded, faults and all.
async fn play_cassette(
    shared: &Arc<Shared>,
    routed: &Route,
    streaming: bool,
    body: &Value,
    rid: &str,
) -> Stage<()> {
    let operation = if streaming {
        gamecode_cassette::Operation::ConverseStream
    } else {
        gamecode_cassette::Operation::Converse
    };
    let model = routed.model_id.as_deref().unwrap_or(&routed.raw_model_id);
    let verdict = shared
        .lock()
        .replay
        .as_mut()
        .map(|r| r.take(operation, model, body));
    match verdict {
        Some(crate::replay::Verdict::Play(x, options)) => {
            if let Some(latency) = crate::replay::latency(&x, options) {
                tokio::time::sleep(latency).await;
            }
            Break(match crate::replay::respond(&x, options, rid) {
                Some(response) => Outcome::Respond(response),
                None => Outcome::Drop,
            })
        }
        Some(crate::replay::Verdict::Refuse(drift)) => {
            Break(validation_error(&format!("cassette {drift}"), rid))
        }
        Some(crate::replay::Verdict::FallBack) | None => Continue(()),
    }
}

/// What an injected fault leaves for the rest of the pipeline when it does not end the
/// request itself.
struct FaultPlan {
    /// Whether the scripted FIFO may be consumed (not when the stream is going to fail).
    use_fifo: bool,
    /// A fault the event stream carries out mid-answer.
    stream: Option<Fault>,
}

/// An injected fault comes after authentication and before validation, so only routed,
/// signed requests consume one.
async fn apply_fault(shared: &Arc<Shared>, streaming: bool, rid: &str) -> Stage<FaultPlan> {
    let fault = shared.lock().faults.next();
    let mut plan = FaultPlan {
        use_fifo: true,
        stream: None,
    };
    match fault {
        None => {}
        Some(Fault::Error {
            status,
            error_type,
            message,
            retry_after,
        }) => {
            return Break(Outcome::Respond(wire::error_response(
                status,
                &error_type,
                &message,
                rid,
                retry_after,
            )));
        }
        Some(Fault::Status { status, body }) => {
            return Break(Outcome::Respond(wire::status_page(status, &body, rid)));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DropConnection) => return Break(Outcome::Drop),
        Some(Fault::TruncatedBody) => return Break(Outcome::Respond(truncated(streaming, rid))),
        Some(Fault::MalformedBody) => return Break(Outcome::Respond(malformed(streaming, rid))),
        Some(Fault::StreamError {
            exception_type,
            message,
            ..
        }) if !streaming => {
            let (status, error_type) = stream_exception_as_http(&exception_type);
            return Break(error(status, &error_type, &message, rid));
        }
        Some(Fault::StreamStall { stall, .. }) if !streaming => tokio::time::sleep(stall).await,
        Some(f @ Fault::StreamError { .. }) => {
            // The stream fails, so the scripted reply is kept for the retry.
            plan.use_fifo = false;
            plan.stream = Some(f);
        }
        Some(f @ Fault::StreamStall { .. }) => plan.stream = Some(f),
    }
    Continue(plan)
}

/// Bedrock's refusals in its order: the model id against the catalogue, then the request's
/// shape and conversation rules, then the model's own rules for the body.
fn validate(shared: &Arc<Shared>, routed: &Route, body: &Value, rid: &str) -> Stage<()> {
    let region = shared.config.region.as_str();
    let refused = |r: bedrock_models::Refusal| {
        let error_type = format!("{}{BEDROCK_ERROR_SUFFIX}", r.error_type);
        error(r.status, &error_type, &r.message, rid)
    };
    if let Some(id) = routed.model_id.as_deref()
        && let Err(r) = crate::catalogue::check_id(id, region)
    {
        return Break(refused(r));
    }
    if let Err(invalid) = validate_converse(routed.model_id.as_deref(), body) {
        return Break(validation_error(&invalid.0, rid));
    }
    if let Some(id) = routed.model_id.as_deref()
        && let Err(r) = crate::catalogue::check_body(id, body)
    {
        return Break(refused(r));
    }
    Continue(())
}

/// Sleep first: a client that gives up during the latency must not consume a scripted reply
/// meant for its retry (hyper drops this future when the connection closes).
async fn simulate_latency(shared: &Arc<Shared>) -> Duration {
    let latency = shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    latency
}

/// The model's answer: a scripted reply, a rule or the default responder, with the prompt
/// cache's share of the input tokens.
fn compose_answer(shared: &Arc<Shared>, routed: &Route, body: &Value, use_fifo: bool) -> Answer {
    let mut state = shared.lock();
    let reply = state.script.take(&last_user_text(body), use_fifo);
    let state = &mut *state;
    let counter = &mut state.tool_use_counter;
    let mut next_id = || {
        *counter += 1;
        ids::tool_use_id(*counter)
    };
    let mut answer = responder::answer(body, reply, &mut next_id);
    let model = routed.model_id.as_deref().unwrap_or("");
    let cached = state.prompt_cache.account(model, body, Instant::now());
    // The cached part of the input is reported apart, not twice: both are counted with
    // one measure, so the uncached tail is what remains, counted for real.
    answer.input_tokens = answer
        .input_tokens
        .saturating_sub(cached.read + cached.write);
    answer.cache_read_tokens = cached.read;
    answer.cache_write_tokens = cached.write;
    answer
}

/// A guardrail named by the request may replace the answer with its blocked message and
/// attach its trace.
fn apply_guardrail(shared: &Arc<Shared>, body: &Value, answer: &mut Answer) {
    if let Some(verdict) = crate::guardrail::assess(&shared.config.guardrail_words, body) {
        if verdict.blocked_by.is_some() {
            answer.content = vec![json!({ "text": crate::guardrail::BLOCKED_MESSAGE })];
            answer.stop_reason = "guardrail_intervened".to_string();
        }
        if let (Some(trace), Some(extra)) = (verdict.trace, answer.extra.as_object_mut()) {
            extra.insert("trace".into(), trace);
        }
    }
}

/// The answer on the wire: Converse JSON, or a (paced, possibly faulted) event stream.
fn encode(
    shared: &Arc<Shared>,
    streaming: bool,
    answer: &Answer,
    latency: Duration,
    stream_fault: Option<Fault>,
    rid: &str,
) -> Outcome {
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    if streaming {
        let (pacing, record) = {
            let state = shared.lock();
            (state.stream_pacing, state.record_frames)
        };
        let on_data = record.then(|| frame_recorder(shared.clone(), rid.to_string()));
        Outcome::Respond(stream_response(
            answer,
            latency_ms,
            stream_fault,
            rid,
            pacing,
            on_data,
        ))
    } else {
        Outcome::Respond(wire::converse_response(answer, latency_ms, rid))
    }
}

/// The 403 for a request whose SigV4 signature (or API key) does not verify, when the
/// emulator checks them.
fn authenticate(shared: &Arc<Shared>, req: &RequestView<'_>, rid: &str) -> Stage<()> {
    if !shared.config.verify_signatures {
        return Continue(());
    }
    match sigv4::verify(
        req.method,
        req.uri,
        req.headers,
        req.bytes,
        &shared.config,
        SystemTime::now(),
    ) {
        Ok(()) => Continue(()),
        Err(failure) => Break(error(403, &failure.error_type, &failure.message, rid)),
    }
}

/// A control-plane request (`GET /foundation-models`, `/inference-profiles`, …): signed for
/// the same service, answered from the catalogue.
fn control(
    shared: &Arc<Shared>,
    op: &crate::control::Control,
    req: &RequestView<'_>,
    rid: &str,
) -> Outcome {
    if let Break(refused) = authenticate(shared, req, rid) {
        return refused;
    }
    match crate::control::answer(op, req.uri.query(), &shared.config.region) {
        crate::control::Answer::Ok(body) => Outcome::Respond(wire::json_response(&body, rid)),
        crate::control::Answer::Error(status, error_type, message) => Outcome::Respond(
            wire::error_response(status, error_type, &message, rid, None),
        ),
    }
}

/// CountTokens: `{"input": {"converse": {messages, system, toolConfig, …}}}` is checked like
/// the Converse request it describes and answered with its input tokens.
fn count_tokens(model_id: Option<&str>, body: &Value, rid: &str) -> Outcome {
    let Some(converse) = body.get("input").and_then(|i| i.get("converse")) else {
        return validation_error("The input must hold a converse request.", rid);
    };
    if let Err(invalid) = validate_converse(model_id, converse) {
        return validation_error(&invalid.0, rid);
    }
    let tokens = responder::input_tokens(converse);
    Outcome::Respond(wire::json_response(&json!({ "inputTokens": tokens }), rid))
}

/// Records each frame of the answer `rid` as it is sent.
fn frame_recorder(shared: Arc<Shared>, rid: String) -> OnData {
    Box::new(move |index| {
        let frame = SentFrame {
            request_id: rid.clone(),
            index,
            at: Instant::now(),
            wall: SystemTime::now(),
        };
        shared.lock().sent_frames.push(frame);
    })
}

fn stream_response(
    answer: &Answer,
    latency_ms: u64,
    fault: Option<Fault>,
    rid: &str,
    pacing: Duration,
    on_data: Option<OnData>,
) -> Response<Body> {
    let frames = stream::answer_frames(answer, latency_ms);
    let mut steps: Vec<Step> = Vec::new();
    match fault {
        Some(Fault::StreamError {
            exception_type,
            message,
            after_events,
        }) => {
            steps.extend(frames.into_iter().take(after_events).map(Step::Data));
            steps.push(Step::Data(stream::exception_frame(
                &exception_type,
                &message,
            )));
        }
        Some(Fault::StreamStall {
            after_events,
            stall,
        }) => {
            for (i, f) in frames.into_iter().enumerate() {
                if i == after_events {
                    steps.push(Step::Sleep(stall));
                }
                steps.push(Step::Data(f));
            }
        }
        _ => steps.extend(frames.into_iter().map(Step::Data)),
    }
    if !pacing.is_zero() {
        let mut paced = Vec::with_capacity(steps.len() * 2);
        let mut first = true;
        for step in steps {
            if matches!(step, Step::Data(_)) && !std::mem::take(&mut first) {
                paced.push(Step::Sleep(pacing));
            }
            paced.push(step);
        }
        steps = paced;
    }
    wire::response(
        200,
        stream::CONTENT_TYPE,
        rid,
        wire::scripted_with(steps, on_data),
    )
}

/// A fixed answer used by the truncation fault (which must not consume scripted replies).
fn canned_answer() -> Answer {
    Answer {
        content: vec![
            json!({ "text": "This answer was truncated by the Bedrock emulator before it was complete." }),
        ],
        stop_reason: "end_turn".to_string(),
        input_tokens: 10,
        output_tokens: 19,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        extra: json!({}),
    }
}

fn truncated(streaming: bool, rid: &str) -> Response<Body> {
    let answer = canned_answer();
    if streaming {
        let bytes: Vec<u8> = stream::answer_frames(&answer, 0).concat();
        // Without a Content-Length the cut is only visible as a frame ending mid-way and the
        // connection failing.
        let cut = bytes.len() / 2 + 3;
        let bytes = Bytes::from(bytes);
        let steps = vec![
            Step::Data(bytes.slice(..cut.min(bytes.len()))),
            Step::Sleep(Duration::from_millis(50)),
            Step::Fail,
        ];
        wire::response(200, stream::CONTENT_TYPE, rid, wire::scripted(steps))
    } else {
        let bytes = Bytes::from(wire::converse_output(&answer, 0).to_string());
        wire::truncated_response("application/json", bytes, rid)
    }
}

fn malformed(streaming: bool, rid: &str) -> Response<Body> {
    if streaming {
        let steps = vec![Step::Data(stream::corrupt_frame())];
        wire::response(200, stream::CONTENT_TYPE, rid, wire::scripted(steps))
    } else {
        wire::response(
            200,
            "application/json",
            rid,
            wire::full(wire::MALFORMED_JSON),
        )
    }
}
