"""A scripted fake host for the loop tests: replies in order (streamed or whole), a fixed host
tool list, recorded calls."""

import copy
from collections import deque

from componentize_py_types import Err
from wit_world.imports.types import (
    ChatError_Unsupported,
    ChatResponse,
    ContentBlock_Text,
    ContentBlock_ToolUse,
    Message,
    Role,
    StopReason_EndTurn,
    StreamEvent_MessageStart,
    StreamEvent_MessageStop,
    StreamEvent_Metadata,
    StreamEvent_TextDelta,
    StreamEvent_ToolUseInputDelta,
    StreamEvent_ToolUseStart,
    StreamEvent_ToolUseStop,
    ToolCall,
    ToolError_NotAllowed,
    ToolSpec,
    ToolUseStart,
)

# How the fake answers chat-stream.
EVENTS = "events"  # streams each scripted reply as events, in small deltas
UNSUPPORTED = "unsupported"  # chat-stream itself raises unsupported
UNSUPPORTED_FIRST_EVENT = "unsupported-first-event"  # the stream's first next() raises it


def reply(content, stop_reason, usage=None):
    return ChatResponse(
        message=Message(role=Role.ASSISTANT, content=content), model="test-model", stop_reason=stop_reason, usage=usage
    )


def say(text):
    return reply([ContentBlock_Text(text)], StopReason_EndTurn())


def call(id, name, input):
    return ContentBlock_ToolUse(ToolCall(id=id, name=name, input=input))


def host_tool(name):
    return ToolSpec(name=name, description=f"host tool {name}", input_schema='{"type":"object"}')


def events_of(response):
    """The events a provider would stream: text in 3-character deltas (plus an empty one), tool
    input in two fragments."""
    events = [StreamEvent_MessageStart(), StreamEvent_TextDelta("")]
    for block in response.message.content:
        if isinstance(block, ContentBlock_Text):
            events += [StreamEvent_TextDelta(block.value[i : i + 3]) for i in range(0, len(block.value), 3)]
        else:
            c = block.value
            half = len(c.input) // 2
            events += [
                StreamEvent_ToolUseStart(ToolUseStart(id=c.id, name=c.name)),
                StreamEvent_ToolUseInputDelta(c.input[:half]),
                StreamEvent_ToolUseInputDelta(c.input[half:]),
                StreamEvent_ToolUseStop(c),
            ]
    events.append(StreamEvent_MessageStop(response.stop_reason))
    if response.usage is not None:
        events.append(StreamEvent_Metadata(response.usage))
    return events


class FakeStream:
    """Items are events, or `Err(ChatError)` to raise."""

    def __init__(self, items, host):
        self.items = deque(items)
        self.host = host

    def next(self):
        if not self.items:
            return None
        item = self.items.popleft()
        if isinstance(item, Err):
            raise item
        return item

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.host.dropped += 1
        return None


class FakeHost:
    def __init__(self, replies=(), streams=(), streaming=EVENTS, host_tools=()):
        # Scripted replies: a ChatResponse, or Err(ChatError) to raise.
        self.replies = deque(replies)
        # Raw event scripts, used by chat_stream before `replies`.
        self.streams = deque(streams)
        self.streaming = streaming
        self.host_tools = list(host_tools)
        self.requests = []
        self.methods = []  # "chat" or "chat-stream", per request
        self.tool_calls = []
        self.dropped = 0

    def _next_reply(self):
        assert self.replies, "the test scripted too few replies"
        r = self.replies.popleft()
        if isinstance(r, Err):
            raise r
        return r

    def chat(self, request):
        self.requests.append(copy.deepcopy(request))
        self.methods.append("chat")
        return self._next_reply()

    def chat_stream(self, request):
        if self.streaming == UNSUPPORTED:
            raise Err(ChatError_Unsupported("no streaming here"))
        if self.streaming == UNSUPPORTED_FIRST_EVENT:
            return FakeStream([Err(ChatError_Unsupported("no streaming here"))], self)
        self.requests.append(copy.deepcopy(request))
        self.methods.append("chat-stream")
        if self.streams:
            return FakeStream(self.streams.popleft(), self)
        return FakeStream(events_of(self._next_reply()), self)

    def list_tools(self):
        return list(self.host_tools)

    def call_tool(self, name, input):
        self.tool_calls.append((name, input))
        if name == "read_file":
            return f"contents for {input}"
        raise Err(ToolError_NotAllowed(f"{name} is not granted"))
