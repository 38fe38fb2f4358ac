//! Assembling a streamed reply (`chat.chat-stream`) into the same assistant turn a one-shot
//! `chat.chat` call returns.
//!
//! Events arrive in the provider's order: `message-start`, then text deltas and tool calls
//! (`tool-use-start`, `tool-use-input-delta`s, `tool-use-stop` with the whole input), then
//! `message-stop` with the stop reason and `metadata` with the token usage. Text deltas are
//! concatenated into one text block until a tool call interrupts them; empty deltas (the
//! provider sends some) add nothing.

use crate::gamecode::plugin::types::{
    ChatResponse, ContentBlock, Message, Role, StopReason, StreamEvent, Usage,
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
    /// The text block being written (not yet in `content`).
    text: String,
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
            StreamEvent::TextDelta(delta) => self.text.push_str(&delta),
            StreamEvent::ToolUseStart(start) => {
                if let Some((id, ..)) = &self.tool {
                    return Err(format!(
                        "tool call {:?} started before tool call {id:?} stopped",
                        start.id
                    ));
                }
                self.end_text();
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
        if !self.text.is_empty() {
            self.content
                .push(ContentBlock::Text(std::mem::take(&mut self.text)));
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
                ContentBlock::ToolResult(_) => "result".to_string(),
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
