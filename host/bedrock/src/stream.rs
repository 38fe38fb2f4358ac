//! ConverseStream → `ChatStream`.
//!
//! The SDK never retries inside an event stream, and a stream can only be retried before its
//! first event reached the caller; so the retry policy wraps "send and receive the first
//! event", and later errors end the stream. The SDK's stalled-stream protection does not cover
//! ConverseStream, so each wait for an event is bounded by an idle timeout of ours. The stream
//! owns the SDK receiver and no task: dropping it drops the HTTP body and its connection.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{self as sdk};
use aws_smithy_types::error::display::DisplayErrorContext;
use gamecode_backend::{BackendError, MessageRole, StreamEvent, ToolCall};

use crate::classify::{chain_has_io, classify_service_error};
use crate::convert::{stop_reason_from_sdk, usage_from_sdk};

type Receiver = EventReceiver<sdk::ConverseStreamOutput, ConverseStreamOutputError>;

struct PendingToolUse {
    index: u32,
    id: String,
    name: String,
    input: String,
}

/// Reads SDK events and turns them into backend events.
pub struct EventMapper {
    receiver: Receiver,
    idle_timeout: Duration,
    tool: Option<PendingToolUse>,
    queued: VecDeque<StreamEvent>,
    stopped: bool,
    finished: bool,
}

impl EventMapper {
    pub fn new(receiver: Receiver, idle_timeout: Duration) -> Self {
        Self {
            receiver,
            idle_timeout,
            tool: None,
            queued: VecDeque::new(),
            stopped: false,
            finished: false,
        }
    }

    /// The next backend event; `Ok(None)` at the clean end of the stream. After an error or
    /// the end, it keeps returning `Ok(None)`.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, BackendError> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            let received = tokio::time::timeout(self.idle_timeout, self.receiver.recv()).await;
            let outcome = match received {
                Err(_) => Err(BackendError::network(format!(
                    "the stream stalled: no event for {:?}",
                    self.idle_timeout
                ))),
                Ok(Err(e)) => Err(classify_stream_error(&e)),
                Ok(Ok(None)) if !self.stopped => Err(BackendError::network(
                    "the stream ended before the message stopped",
                )),
                Ok(Ok(None)) => {
                    self.finished = true;
                    return Ok(None);
                }
                Ok(Ok(Some(event))) => self.map(event),
            };
            if let Err(e) = outcome {
                self.finished = true;
                return Err(e);
            }
        }
    }

    fn map(&mut self, event: sdk::ConverseStreamOutput) -> Result<(), BackendError> {
        use sdk::ConverseStreamOutput as E;
        let index_of = |i: i32| u32::try_from(i).unwrap_or(0);
        match event {
            E::MessageStart(_) => self.queued.push_back(StreamEvent::MessageStart {
                role: MessageRole::Assistant,
            }),
            E::ContentBlockStart(start) => {
                if let Some(sdk::ContentBlockStart::ToolUse(tool)) = start.start() {
                    let index = index_of(start.content_block_index());
                    self.tool = Some(PendingToolUse {
                        index,
                        id: tool.tool_use_id().to_string(),
                        name: tool.name().to_string(),
                        input: String::new(),
                    });
                    self.queued.push_back(StreamEvent::ToolUseStart {
                        index,
                        id: tool.tool_use_id().to_string(),
                        name: tool.name().to_string(),
                    });
                }
            }
            E::ContentBlockDelta(delta) => {
                let index = index_of(delta.content_block_index());
                match delta.delta() {
                    // Bedrock sends empty text deltas; they carry nothing.
                    Some(sdk::ContentBlockDelta::Text(text)) if !text.is_empty() => {
                        self.queued.push_back(StreamEvent::TextDelta {
                            index,
                            text: text.clone(),
                        })
                    }
                    Some(sdk::ContentBlockDelta::Citation(c)) => {
                        self.queued.push_back(StreamEvent::Citation {
                            index,
                            citation: crate::convert::citation_from_delta(c),
                        })
                    }
                    Some(sdk::ContentBlockDelta::ReasoningContent(r)) => {
                        use sdk::ReasoningContentBlockDelta as R;
                        self.queued.push_back(match r {
                            R::Text(text) => StreamEvent::ReasoningDelta {
                                index,
                                text: text.clone(),
                            },
                            R::Signature(signature) => StreamEvent::ReasoningSignature {
                                index,
                                signature: signature.clone(),
                            },
                            R::RedactedContent(data) => StreamEvent::RedactedReasoning {
                                index,
                                data: data.clone().into_inner(),
                            },
                            _ => return Err(malformed("a reasoning delta of an unknown kind")),
                        })
                    }
                    Some(sdk::ContentBlockDelta::ToolUse(tool)) => {
                        let Some(pending) = self.tool.as_mut().filter(|t| t.index == index) else {
                            return Err(malformed(
                                "a tool input delta arrived outside a tool block",
                            ));
                        };
                        pending.input.push_str(tool.input());
                        self.queued.push_back(StreamEvent::ToolUseInputDelta {
                            index,
                            fragment: tool.input().to_string(),
                        });
                    }
                    _ => {}
                }
            }
            E::ContentBlockStop(stop) => {
                let index = index_of(stop.content_block_index());
                match self.tool.take_if(|t| t.index == index) {
                    Some(tool) => {
                        let input = if tool.input.trim().is_empty() {
                            serde_json::Value::Object(Default::default())
                        } else {
                            serde_json::from_str(&tool.input).map_err(|e| {
                                malformed(format!("tool input of {} is not JSON: {e}", tool.id))
                            })?
                        };
                        self.queued.push_back(StreamEvent::ToolUseStop {
                            index,
                            call: ToolCall {
                                id: tool.id,
                                name: tool.name,
                                input,
                            },
                        });
                    }
                    None => self
                        .queued
                        .push_back(StreamEvent::ContentBlockStop { index }),
                }
            }
            E::MessageStop(stop) => {
                self.stopped = true;
                self.queued.push_back(StreamEvent::MessageStop {
                    stop_reason: stop_reason_from_sdk(stop.stop_reason()),
                });
            }
            E::Metadata(meta) => {
                if let Some(usage) = meta.usage() {
                    self.queued.push_back(StreamEvent::Metadata {
                        usage: usage_from_sdk(usage),
                    });
                }
            }
            other => tracing::debug!(?other, "skipping unknown stream event"),
        }
        Ok(())
    }
}

fn malformed(what: impl std::fmt::Display) -> BackendError {
    BackendError::provider(format!("malformed ConverseStream event: {what}"))
}

/// Classifies an error received inside the event stream.
fn classify_stream_error(
    err: &SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>,
) -> BackendError {
    let detail = DisplayErrorContext(err).to_string();
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            // Exceptions decoded from stream frames carry no error code metadata; the variant
            // is the code.
            let code = e.code().or(match e {
                ConverseStreamOutputError::InternalServerException(_) => {
                    Some("InternalServerException")
                }
                ConverseStreamOutputError::ModelStreamErrorException(_) => {
                    Some("ModelStreamErrorException")
                }
                ConverseStreamOutputError::ValidationException(_) => Some("ValidationException"),
                ConverseStreamOutputError::ThrottlingException(_) => Some("ThrottlingException"),
                ConverseStreamOutputError::ServiceUnavailableException(_) => {
                    Some("ServiceUnavailableException")
                }
                _ => None,
            });
            classify_service_error(
                code,
                None,
                e.message()
                    .unwrap_or("error event in the stream")
                    .to_string(),
                None,
            )
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            BackendError::network(format!("the stream failed: {detail}"))
        }
        _ if chain_has_io(err) => {
            BackendError::network(format!("the stream was cut off: {detail}"))
        }
        _ => malformed(detail),
    }
}
