"""A scripted fake host for the loop tests: a conversation held as the real host holds it,
replies in order (streamed or whole), a fixed host tool list, recorded calls."""

import copy
from collections import deque
from types import SimpleNamespace

from componentize_py_types import Err
from wit_world.imports.types import (
    ChatError_Unsupported,
    ChatResponse,
    ContentBlock_Reasoning,
    ContentBlock_Text,
    ContentBlock_ToolUse,
    Message,
    Role,
    StopReason_EndTurn,
    StreamEvent_MessageStart,
    StreamEvent_MessageStop,
    StreamEvent_Metadata,
    StreamEvent_ReasoningDelta,
    StreamEvent_ReasoningSignature,
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
        message=Message(role=Role.ASSISTANT, content=content),
        model="test-model",
        stop_reason=stop_reason,
        usage=usage,
        latency_ms=None,
        service_tier=None,
        guardrail_trace=None,
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
        elif isinstance(block, ContentBlock_Reasoning):
            events.append(StreamEvent_ReasoningDelta(block.value.value.text))
            events.append(StreamEvent_ReasoningSignature(block.value.value.signature))
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


class FakeConversation:
    """The conversation as the host holds it: pushes join the user turn being written; each
    send records what was sent (as `requests`, with the system prompt first) and appends the
    reply."""

    def __init__(self, host, setup):
        self.host = host
        self.setup = setup
        self.history = []

    def push(self, content):
        if self.history and self.history[-1].role == Role.USER:
            self.history[-1].content.extend(copy.deepcopy(content))
        else:
            self.history.append(Message(role=Role.USER, content=copy.deepcopy(list(content))))

    def _sent(self, method):
        system = Message(role=Role.SYSTEM, content=[ContentBlock_Text(self.setup.system)])
        request = SimpleNamespace(messages=[system] + copy.deepcopy(self.history), tools=self.setup.tools)
        self.host.requests.append(request)
        self.host.methods.append(method)

    def _reply(self):
        r = self.host._next_reply()
        self.history.append(copy.deepcopy(r.message))
        return r

    def send(self):
        self._sent("send")
        return self._reply()

    def send_stream(self):
        host = self.host
        if host.streaming == UNSUPPORTED:
            raise Err(ChatError_Unsupported("no streaming here"))
        if host.streaming == UNSUPPORTED_FIRST_EVENT:
            return FakeStream([Err(ChatError_Unsupported("no streaming here"))], host)
        self._sent("send-stream")
        if host.streams:
            return FakeStream(host.streams.popleft(), host)
        return FakeStream(events_of(self._reply()), host)


class FakeHost:
    def __init__(self, replies=(), streams=(), streaming=EVENTS, host_tools=(), model=None, config=None):
        # Scripted replies: a ChatResponse, or Err(ChatError) to raise.
        self.replies = deque(replies)
        # Raw event scripts, used by send_stream before `replies`.
        self.streams = deque(streams)
        self.streaming = streaming
        self.host_tools = list(host_tools)
        self.model = model
        self.settings = dict(config or {})
        self.key = None  # the session conversation's key
        self.setup = None
        self.requests = []
        self.methods = []  # "send" or "send-stream", per turn
        self.tool_calls = []
        self.dropped = 0

    def _next_reply(self):
        assert self.replies, "the test scripted too few replies"
        r = self.replies.popleft()
        if isinstance(r, Err):
            raise r
        return r

    def session_conversation(self, key, setup):
        self.key = key
        self.setup = setup
        return FakeConversation(self, setup)

    def describe_model(self):
        return self.model

    def config(self, key):
        return self.settings.get(key)

    def list_tools(self):
        return list(self.host_tools)

    def call_tool(self, name, input):
        self.tool_calls.append((name, input))
        if name == "read_file":
            return f"contents for {input}"
        raise Err(ToolError_NotAllowed(f"{name} is not granted"))
