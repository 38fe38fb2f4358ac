//! Streaming replies.

use std::pin::Pin;

use futures::Stream;

use crate::error::BackendError;
use crate::types::{MessageRole, StopReason, ToolCall, Usage};

/// One event of a streamed reply, in the order the provider produced them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The assistant turn begins.
    MessageStart { role: MessageRole },
    /// More text for the content block at `index`.
    TextDelta { index: u32, text: String },
    /// A tool call begins at content block `index`.
    ToolUseStart {
        index: u32,
        id: String,
        name: String,
    },
    /// A fragment of the tool call's JSON input; fragments concatenate to the whole input.
    ToolUseInputDelta { index: u32, fragment: String },
    /// The tool call at `index` is complete, its input assembled and parsed.
    ToolUseStop { index: u32, call: ToolCall },
    /// A piece of the model's reasoning (extended thinking), before its answer.
    ReasoningDelta { index: u32, text: String },
    /// The provider's signature over the reasoning block at `index`.
    ReasoningSignature { index: u32, signature: String },
    /// A reasoning block the provider encrypted (opaque).
    RedactedReasoning { index: u32, data: Vec<u8> },
    /// A citation for the text of the block at `index`.
    Citation {
        index: u32,
        citation: crate::types::Citation,
    },
    /// The content block at `index` (text) is complete.
    ContentBlockStop { index: u32 },
    /// The assistant turn ended.
    MessageStop { stop_reason: StopReason },
    /// Token usage, sent after the message stops.
    Metadata { usage: Usage },
}

/// A streamed reply. Dropping it cancels the upstream request.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, BackendError>> + Send>>;

/// Folds stream events into the [`ChatResponse`](crate::ChatResponse) that
/// [`LLMBackend::chat`](crate::LLMBackend::chat) would have returned for the same reply.
#[derive(Debug, Default)]
pub struct StreamCollector {
    content: Vec<crate::types::ContentBlock>,
    /// Index of the text block currently receiving deltas, in `content`.
    open_text: Option<(u32, usize)>,
    /// The reasoning block being streamed: its index and where it is in `content`.
    open_reasoning: Option<(u32, usize)>,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
}

impl StreamCollector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one event.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart { .. } | StreamEvent::ToolUseStart { .. } => {}
            StreamEvent::TextDelta { index, text } => match self.open_text {
                Some((open, at)) if open == *index => match self.content.get_mut(at) {
                    Some(crate::types::ContentBlock::Text { text: t }) => t.push_str(text),
                    Some(crate::types::ContentBlock::Cited(c)) => c.text.push_str(text),
                    _ => {}
                },
                _ => {
                    self.content
                        .push(crate::types::ContentBlock::Text { text: text.clone() });
                    self.open_text = Some((*index, self.content.len() - 1));
                }
            },
            StreamEvent::ToolUseInputDelta { .. } => {}
            StreamEvent::ToolUseStop { call, .. } => {
                self.open_text = None;
                self.content
                    .push(crate::types::ContentBlock::ToolUse(call.clone()));
            }
            StreamEvent::ReasoningDelta { index, text } => match self.open_reasoning {
                Some((open, at)) if open == *index => {
                    if let Some(crate::types::ContentBlock::Reasoning(
                        crate::types::Reasoning::Text { text: t, .. },
                    )) = self.content.get_mut(at)
                    {
                        t.push_str(text);
                    }
                }
                _ => {
                    self.open_text = None;
                    self.content.push(crate::types::ContentBlock::Reasoning(
                        crate::types::Reasoning::Text {
                            text: text.clone(),
                            signature: None,
                        },
                    ));
                    self.open_reasoning = Some((*index, self.content.len() - 1));
                }
            },
            StreamEvent::ReasoningSignature { index, signature } => {
                if let Some((open, at)) = self.open_reasoning
                    && open == *index
                    && let Some(crate::types::ContentBlock::Reasoning(
                        crate::types::Reasoning::Text { signature: s, .. },
                    )) = self.content.get_mut(at)
                {
                    *s = Some(signature.clone());
                }
            }
            StreamEvent::Citation { index, citation } => {
                // The block's text becomes cited text (opened now if no text came yet).
                let at = match self.open_text {
                    Some((open, at)) if open == *index => at,
                    _ => {
                        self.content.push(crate::types::ContentBlock::Text {
                            text: String::new(),
                        });
                        let at = self.content.len() - 1;
                        self.open_text = Some((*index, at));
                        at
                    }
                };
                if let Some(block) = self.content.get_mut(at) {
                    match block {
                        crate::types::ContentBlock::Text { text } => {
                            *block = crate::types::ContentBlock::Cited(crate::types::CitedText {
                                text: std::mem::take(text),
                                citations: vec![citation.clone()],
                            })
                        }
                        crate::types::ContentBlock::Cited(c) => c.citations.push(citation.clone()),
                        _ => {}
                    }
                }
            }
            StreamEvent::RedactedReasoning { data, .. } => {
                self.open_text = None;
                self.content.push(crate::types::ContentBlock::Reasoning(
                    crate::types::Reasoning::Redacted { data: data.clone() },
                ));
            }
            StreamEvent::ContentBlockStop { .. } => {
                self.open_text = None;
                self.open_reasoning = None;
            }
            StreamEvent::MessageStop { stop_reason } => {
                self.stop_reason = Some(stop_reason.clone())
            }
            StreamEvent::Metadata { usage } => self.usage = Some(*usage),
        }
    }

    /// The reply so far as a response; `None` if the message never stopped.
    pub fn finish(
        self,
        model: String,
        session_id: Option<String>,
    ) -> Option<crate::types::ChatResponse> {
        Some(crate::types::ChatResponse {
            message: crate::types::Message {
                role: MessageRole::Assistant,
                content: self.content,
            },
            model,
            stop_reason: self.stop_reason?,
            usage: self.usage,
            session_id,
            meta: Default::default(),
        })
    }
}

/// Drains a stream into a [`ChatResponse`](crate::ChatResponse).
pub async fn collect_stream(
    mut stream: ChatStream,
    model: String,
    session_id: Option<String>,
) -> Result<crate::types::ChatResponse, BackendError> {
    use futures::StreamExt;
    let mut collector = StreamCollector::new();
    while let Some(event) = stream.next().await {
        collector.push(&event?);
    }
    collector
        .finish(model, session_id)
        .ok_or_else(|| BackendError::network("the stream ended before the message stopped"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ContentBlock;

    #[test]
    fn collector_rebuilds_text_and_tool_calls() {
        let call = ToolCall {
            id: "t".into(),
            name: "calc".into(),
            input: serde_json::json!({"x": 1}),
        };
        let mut c = StreamCollector::new();
        for e in [
            StreamEvent::MessageStart {
                role: MessageRole::Assistant,
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "Hel".into(),
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "".into(),
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "lo".into(),
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::ToolUseStart {
                index: 1,
                id: "t".into(),
                name: "calc".into(),
            },
            StreamEvent::ToolUseInputDelta {
                index: 1,
                fragment: "{\"x\":".into(),
            },
            StreamEvent::ToolUseStop {
                index: 1,
                call: call.clone(),
            },
            StreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
            },
            StreamEvent::Metadata {
                usage: Usage {
                    input_tokens: 1,
                    output_tokens: 2,
                    total_tokens: 3,
                    ..Default::default()
                },
            },
        ] {
            c.push(&e);
        }
        let r = c.finish("m".into(), None).unwrap();
        assert_eq!(
            r.message.content,
            [
                ContentBlock::Text {
                    text: "Hello".into()
                },
                ContentBlock::ToolUse(call)
            ]
        );
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.usage.unwrap().total_tokens, 3);
    }

    #[test]
    fn unfinished_streams_have_no_response() {
        let mut c = StreamCollector::new();
        c.push(&StreamEvent::TextDelta {
            index: 0,
            text: "x".into(),
        });
        assert!(c.finish("m".into(), None).is_none());
    }
}
