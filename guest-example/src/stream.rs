//! Assembling a streamed reply (`send-stream`) into the same assistant turn a one-shot
//! `send` returns. (The host appends the reply to the conversation itself; the plugin
//! assembles it to read the text and tool calls.)
//!
//! Events arrive in the provider's order: `message-start`, then reasoning (deltas, then its
//! signature), text deltas (with citations) and tool calls (`tool-use-start`,
//! `tool-use-input-delta`s, `tool-use-stop` with the whole input), then `message-stop` with the
//! stop reason and `metadata` with the token usage. Text deltas are concatenated into one text
//! block until something else interrupts them; empty deltas (the provider sends some) add
//! nothing.

use crate::gamecode::plugin::types::{
    ChatResponse, Citation, CitedText, ContentBlock, Message, Reasoning, ReasoningText, Role,
    StopReason, StreamEvent, Usage,
};

/// One assistant turn, however it was received.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The assistant message: text and/or tool calls, in order.
    pub message: Message,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens used, when reported.
    pub usage: Option<Usage>,
}

impl From<ChatResponse> for Reply {
    fn from(response: ChatResponse) -> Self {
        Reply {
            message: response.message,
            stop_reason: response.stop_reason,
            usage: response.usage,
        }
    }
}

/// Builds a [`Reply`] from stream events, one [`push`](Assembler::push) per event.
#[derive(Debug, Default)]
pub struct Assembler {
    content: Vec<ContentBlock>,
    /// The text block being written (not yet in `content`), and its citations.
    text: String,
    citations: Vec<Citation>,
    /// The reasoning block being written.
    reasoning: Option<String>,
    /// The tool call being streamed: id, name and the input fragments so far.
    tool: Option<(String, String, String)>,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
}

impl Assembler {
    /// Takes the next event. An event that cannot follow the ones before it is an error.
    pub fn push(&mut self, event: StreamEvent) -> Result<(), String> {
        match event {
            StreamEvent::MessageStart => {}
            StreamEvent::TextDelta(delta) => {
                self.end_reasoning(None);
                self.text.push_str(&delta)
            }
            StreamEvent::Citation(citation) => self.citations.push(citation),
            StreamEvent::ReasoningDelta(delta) => {
                self.end_text();
                self.reasoning.get_or_insert_default().push_str(&delta);
            }
            StreamEvent::ReasoningSignature(signature) => self.end_reasoning(Some(signature)),
            StreamEvent::RedactedReasoning(data) => {
                self.end_text();
                self.end_reasoning(None);
                self.content
                    .push(ContentBlock::Reasoning(Reasoning::Redacted(data)));
            }
            StreamEvent::ToolUseStart(start) => {
                if let Some((id, ..)) = &self.tool {
                    return Err(format!(
                        "tool call {:?} started before tool call {id:?} stopped",
                        start.id
                    ));
                }
                self.end_text();
                self.end_reasoning(None);
                self.tool = Some((start.id, start.name, String::new()));
            }
            StreamEvent::ToolUseInputDelta(fragment) => match &mut self.tool {
                Some((.., input)) => input.push_str(&fragment),
                None => return Err("tool input arrived outside a tool call".to_string()),
            },
            StreamEvent::ToolUseStop(mut call) => {
                self.end_text();
                // The stop event carries the whole input; the fragments are the fallback.
                if let Some((_, _, fragments)) = self.tool.take()
                    && call.input.trim().is_empty()
                {
                    call.input = fragments;
                }
                if call.input.trim().is_empty() {
                    call.input = "{}".to_string();
                }
                self.content.push(ContentBlock::ToolUse(call));
            }
            StreamEvent::MessageStop(reason) => self.stop_reason = Some(reason),
            StreamEvent::Metadata(usage) => self.usage = Some(usage),
        }
        Ok(())
    }

    /// The assembled turn, once the stream has ended (`next` returned `none`).
    pub fn finish(mut self) -> Result<Reply, String> {
        if let Some((id, name, _)) = &self.tool {
            return Err(format!(
                "the reply ended inside tool call {name:?} ({id:?})"
            ));
        }
        let stop_reason = self
            .stop_reason
            .take()
            .ok_or("the reply ended without a stop reason")?;
        self.end_reasoning(None);
        self.end_text();
        Ok(Reply {
            message: Message {
                role: Role::Assistant,
                content: self.content,
            },
            stop_reason,
            usage: self.usage,
        })
    }

    fn end_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.text);
        self.content.push(if self.citations.is_empty() {
            ContentBlock::Text(text)
        } else {
            ContentBlock::Cited(CitedText {
                text,
                citations: std::mem::take(&mut self.citations),
            })
        });
    }

    fn end_reasoning(&mut self, signature: Option<String>) {
        if let Some(text) = self.reasoning.take() {
            self.content
                .push(ContentBlock::Reasoning(Reasoning::Text(ReasoningText {
                    text,
                    signature,
                })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamecode::plugin::types::{ToolCall, ToolUseStart};

    fn assemble(events: Vec<StreamEvent>) -> Result<Reply, String> {
        let mut assembler = Assembler::default();
        for event in events {
            assembler.push(event)?;
        }
        assembler.finish()
    }

    fn start(id: &str, name: &str) -> StreamEvent {
        StreamEvent::ToolUseStart(ToolUseStart {
            id: id.into(),
            name: name.into(),
        })
    }

    fn stop(id: &str, name: &str, input: &str) -> StreamEvent {
        StreamEvent::ToolUseStop(ToolCall {
            id: id.into(),
            name: name.into(),
            input: input.into(),
        })
    }

    fn text(s: &str) -> StreamEvent {
        StreamEvent::TextDelta(s.into())
    }

    fn summary(reply: &Reply) -> Vec<String> {
        reply
            .message
            .content
            .iter()
            .map(|block| match block {
                ContentBlock::Text(t) => format!("text:{t}"),
                ContentBlock::ToolUse(c) => format!("tool:{}:{}:{}", c.id, c.name, c.input),
                ContentBlock::Reasoning(Reasoning::Text(r)) => {
                    format!(
                        "thought:{}:{}",
                        r.text,
                        r.signature.as_deref().unwrap_or("-")
                    )
                }
                ContentBlock::Cited(c) => format!("cited:{}:{}", c.text, c.citations.len()),
                _ => "other".to_string(),
            })
            .collect()
    }

    #[test]
    fn text_deltas_are_joined_per_block_and_tool_calls_split_them() {
        let reply = assemble(vec![
            StreamEvent::MessageStart,
            text(""),
            text("Let me "),
            text("compute."),
            start("t1", "calculator"),
            StreamEvent::ToolUseInputDelta("{\"expression\":".into()),
            StreamEvent::ToolUseInputDelta("\"6*7\"}".into()),
            stop("t1", "calculator", "{\"expression\":\"6*7\"}"),
            start("t2", "text_stats"),
            stop("t2", "text_stats", "{\"text\":\"a\"}"),
            text("Done"),
            text("."),
            StreamEvent::MessageStop(StopReason::ToolUse),
            StreamEvent::Metadata(Usage {
                input_tokens: 10,
                output_tokens: 5,
                total_tokens: 15,
                cache_read_input_tokens: 0,
                cache_write_input_tokens: 0,
            }),
        ])
        .expect("assembled");
        assert_eq!(reply.message.role, Role::Assistant);
        assert_eq!(
            summary(&reply),
            [
                "text:Let me compute.",
                "tool:t1:calculator:{\"expression\":\"6*7\"}",
                "tool:t2:text_stats:{\"text\":\"a\"}",
                "text:Done.",
            ]
        );
        assert_eq!(reply.stop_reason, StopReason::ToolUse);
        assert_eq!(reply.usage.map(|u| u.total_tokens), Some(15));
    }

    #[test]
    fn tool_input_falls_back_to_the_fragments_then_to_an_empty_object() {
        let reply = assemble(vec![
            start("a", "calculator"),
            StreamEvent::ToolUseInputDelta("{\"expression\":".into()),
            StreamEvent::ToolUseInputDelta("\"1\"}".into()),
            stop("a", "calculator", ""),
            start("b", "list"),
            stop("b", "list", ""),
            StreamEvent::MessageStop(StopReason::ToolUse),
        ])
        .expect("assembled");
        assert_eq!(
            summary(&reply),
            ["tool:a:calculator:{\"expression\":\"1\"}", "tool:b:list:{}"]
        );
        assert!(reply.usage.is_none());
    }

    #[test]
    fn reasoning_and_citations_are_kept_in_their_blocks() {
        let reply = assemble(vec![
            StreamEvent::MessageStart,
            StreamEvent::ReasoningDelta("Think".into()),
            StreamEvent::ReasoningDelta("ing.".into()),
            StreamEvent::ReasoningSignature("sig1".into()),
            text("It says "),
            StreamEvent::Citation(Citation {
                title: Some("notes".into()),
                quoted: vec!["hi".into()],
                location: None,
            }),
            text("hi."),
            StreamEvent::MessageStop(StopReason::EndTurn),
        ])
        .expect("assembled");
        assert_eq!(
            summary(&reply),
            ["thought:Thinking.:sig1", "cited:It says hi.:1"]
        );
    }

    #[test]
    fn only_empty_deltas_give_an_empty_message() {
        let reply = assemble(vec![
            text(""),
            StreamEvent::MessageStop(StopReason::EndTurn),
        ])
        .expect("assembled");
        assert!(reply.message.content.is_empty());
    }

    #[test]
    fn broken_streams_are_errors() {
        assert_eq!(
            assemble(vec![text("hi")]).err().as_deref(),
            Some("the reply ended without a stop reason")
        );
        assert_eq!(
            assemble(vec![
                start("a", "calculator"),
                StreamEvent::MessageStop(StopReason::ToolUse)
            ])
            .err()
            .as_deref(),
            Some("the reply ended inside tool call \"calculator\" (\"a\")")
        );
        assert!(assemble(vec![StreamEvent::ToolUseInputDelta("{".into())]).is_err());
        assert!(assemble(vec![start("a", "x"), start("b", "y")]).is_err());
    }
}
