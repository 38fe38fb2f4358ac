//! Backends for the benchmarks: one that answers at once (to isolate the host's own cost),
//! and a timing wrapper around the real one (to split a plugin run into "in the backend"
//! and "everything else").

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use gamecode_backend::{
    BackendResult, ChatCall, ChatReply, ChatRequest, ChatResponse, ContentBlock, LLMBackend,
    MessageRole, StreamEvent,
};

use crate::busy::{thread_cpu_time, timed_polls};
use crate::fixture;

/// Answers every call immediately with a canned reply: a `ChatResponse` clone for `chat`,
/// the canned events for `chat_stream`.
pub struct InstantBackend {
    latency: Duration,
    response: ChatResponse,
    events: Vec<StreamEvent>,
    recording: AtomicBool,
    last: Mutex<Option<ChatRequest>>,
}

impl Default for InstantBackend {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            response: fixture::canned_response(),
            events: fixture::canned_stream(),
            recording: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }
}

impl InstantBackend {
    /// Answers each call after `latency` (a timer, no work), as a model would: runs then
    /// overlap as they do against a real one.
    pub fn after(latency: Duration) -> Self {
        Self {
            latency,
            ..Self::default()
        }
    }

    /// Keep a copy of each request (off while timing: the copy costs microseconds).
    pub fn record(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The last request recorded.
    pub fn last_request(&self) -> Option<ChatRequest> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn keep(&self, request: &ChatRequest) {
        if self.recording.load(Ordering::Relaxed) {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(request.clone());
        }
    }
}

#[async_trait]
impl LLMBackend for InstantBackend {
    // Like BedrockBackend, it answers from a borrowed request (a conversation's) as cheaply
    // as from an owned one.
    async fn send(&self, call: ChatCall<'_>) -> BackendResult<ChatReply> {
        self.keep(&call.request);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if call.stream {
            return Ok(ChatReply::Stream(Box::pin(futures::stream::iter(
                self.events.clone().into_iter().map(Ok),
            ))));
        }
        let mut response = self.response.clone();
        response.session_id = match call.request {
            Cow::Owned(request) => request.session_id,
            Cow::Borrowed(request) => request.session_id.clone(),
        };
        Ok(ChatReply::Whole(response))
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn supported_models(&self) -> Vec<String> {
        vec![self.response.model.clone()]
    }

    fn default_model(&self) -> &str {
        &self.response.model
    }
}

tokio::task_local! {
    /// The run a backend call belongs to: set by the benchmark around each plugin run, read
    /// by [`TimedBackend`] (the host calls the backend on the run's own task).
    pub static RUN_ID: usize;
}

/// One backend call, as [`TimedBackend`] saw it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// [`RUN_ID`] of the calling task (`usize::MAX` outside any run).
    pub run: usize,
    /// 1 + the assistant messages in the request.
    pub turn: usize,
    pub streaming: bool,
    /// When the host called the backend.
    pub started: Instant,
    /// When the inner backend returned (for a stream: opened it, first event received).
    pub returned: Option<Instant>,
    /// When the stream ended (`None` from the inner stream); `returned` for `chat`.
    pub ended: Option<Instant>,
    /// When each text delta came out of the inner stream (only with `capture_deltas`).
    pub deltas: Vec<Instant>,
    /// Time spent inside the polls of the inner backend's call and stream (its work, not
    /// its waits; see [`crate::busy`]), plus this wrapper's own bookkeeping.
    pub busy: Duration,
    /// The request as it reached the inner backend (only with `keep_requests`).
    pub request: Option<ChatRequest>,
}

/// Times the calls to an inner backend. Optionally appends `[bench turn K]` to the last user
/// message of turn K ≥ 2, so that emulator rules (which match the last user text) can script
/// different answers for different turns of many concurrent conversations.
pub struct TimedBackend {
    inner: Arc<dyn LLMBackend>,
    mark_turns: bool,
    capture_deltas: bool,
    keep_requests: bool,
    calls: Mutex<Vec<Arc<Mutex<CallRecord>>>>,
}

/// The text [`TimedBackend`] appends on turn `turn` when marking turns.
pub fn turn_marker(turn: usize) -> String {
    format!("[bench turn {turn}]")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TimedBackend {
    pub fn new(inner: Arc<dyn LLMBackend>) -> Self {
        Self {
            inner,
            mark_turns: false,
            capture_deltas: false,
            keep_requests: false,
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn mark_turns(mut self, on: bool) -> Self {
        self.mark_turns = on;
        self
    }

    pub fn capture_deltas(mut self, on: bool) -> Self {
        self.capture_deltas = on;
        self
    }

    pub fn keep_requests(mut self, on: bool) -> Self {
        self.keep_requests = on;
        self
    }

    /// The calls so far (completed or not), and forgets them.
    pub fn take_calls(&self) -> Vec<CallRecord> {
        let calls = std::mem::take(&mut *lock(&self.calls));
        calls.iter().map(|c| lock(c).clone()).collect()
    }

    fn begin(&self, request: &mut Cow<'_, ChatRequest>, streaming: bool) -> Arc<Mutex<CallRecord>> {
        let started = Instant::now();
        let begin = thread_cpu_time();
        let turn = 1 + request
            .messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .count();
        if self.mark_turns
            && turn >= 2
            && let Some(last) = request.to_mut().messages.last_mut()
            && last.role == MessageRole::User
        {
            last.content.push(ContentBlock::Text {
                text: turn_marker(turn),
            });
        }
        let record = Arc::new(Mutex::new(CallRecord {
            run: RUN_ID.try_with(|id| *id).unwrap_or(usize::MAX),
            turn,
            streaming,
            started,
            returned: None,
            ended: None,
            deltas: Vec::new(),
            busy: Duration::ZERO,
            request: self.keep_requests.then(|| request.as_ref().clone()),
        }));
        lock(&self.calls).push(record.clone());
        lock(&record).busy = thread_cpu_time().saturating_sub(begin);
        record
    }
}

#[async_trait]
impl LLMBackend for TimedBackend {
    async fn send(&self, mut call: ChatCall<'_>) -> BackendResult<ChatReply> {
        let record = self.begin(&mut call.request, call.stream);
        let mut busy = Duration::ZERO;
        let stream = call.stream;
        let reply = timed_polls(self.inner.send(call), &mut busy).await;
        let now = Instant::now();
        {
            let mut r = lock(&record);
            r.returned = Some(now);
            r.busy += busy;
            if !stream {
                r.ended = Some(now);
            }
        }
        let inner = match reply? {
            ChatReply::Stream(inner) => inner,
            whole => return Ok(whole),
        };
        let capture = self.capture_deltas;
        let stream =
            futures::stream::unfold((inner, record), move |(mut inner, record)| async move {
                let mut busy = Duration::ZERO;
                let item = timed_polls(inner.next(), &mut busy).await;
                let now = Instant::now();
                {
                    let mut r = lock(&record);
                    r.busy += busy;
                    match &item {
                        None => r.ended = Some(now),
                        Some(Ok(StreamEvent::TextDelta { .. })) if capture => r.deltas.push(now),
                        _ => {}
                    }
                }
                item.map(|item| (item, (inner, record)))
            });
        Ok(ChatReply::Stream(Box::pin(stream)))
    }

    fn supports_tools(&self) -> bool {
        self.inner.supports_tools()
    }

    fn supported_models(&self) -> Vec<String> {
        self.inner.supported_models()
    }

    fn default_model(&self) -> &str {
        self.inner.default_model()
    }
}
