"""The tool loop, and the assembly of streamed replies.

`run_agent(host, task)` continues the conversation the host holds for the run's session (under
SESSION_KEY), with the plugin's own tools plus the host's; pushes the task (attachments first),
then only each turn's tool results (failures flagged `is_error`); the host keeps the history,
the model's reasoning and the prompt-cache points. It stops at the model's final answer or
after MAX_TURNS model turns. Every turn is streamed (`send-stream`); a host that answers
`unsupported` gets one-shot `send` calls for the rest of the run. When the model can think
(`describe-model`), it asks for extended thinking and, with `gamecode run -v`, prints a line of
each reasoning block on stderr.

`host` is anything with the WIT imports' shape (the component's `app.WitHost`, or a fake in the
tests):

- `session_conversation(key, setup) -> conversation`, raising `Err(ChatError)`; the
  conversation has `push(content)`, `send() -> ChatResponse` and `send_stream() -> stream`,
  raising `Err(ChatError)`; the stream is a context manager (leaving it drops the resource, which
  cancels the request) with `next() -> event or None`, raising `Err(ChatError)`;
- `describe_model() -> ModelInfo or None` and `config(key) -> str or None`;
- `list_tools() -> [ToolSpec]`;
- `call_tool(name, input) -> str`, raising `Err(ToolError)`.
"""

import sys
from dataclasses import dataclass
from typing import List, Optional

from componentize_py_types import Err
from wit_world.imports.chat import ConversationSetup
from wit_world.imports.types import (
    AgentError_Chat,
    AgentError_Failed,
    AgentError_TurnLimit,
    Attachment_Image,
    ChatError_Unsupported,
    ChatOptions,
    CitedText,
    ContentBlock_Cited,
    ContentBlock_Document,
    ContentBlock_Image,
    ContentBlock_Reasoning,
    ContentBlock_Text,
    ContentBlock_ToolResult,
    ContentBlock_ToolUse,
    InferenceConfig,
    Message,
    ReasoningConfig_Budget,
    ReasoningText,
    Reasoning_Redacted,
    Reasoning_Text,
    Role,
    StopReason_ContentFiltered,
    StopReason_EndTurn,
    StopReason_GuardrailIntervened,
    StopReason_MalformedModelOutput,
    StopReason_MalformedToolUse,
    StopReason_MaxTokens,
    StopReason_ModelContextWindowExceeded,
    StopReason_Other,
    StopReason_StopSequence,
    StopReason_ToolUse,
    StreamEvent_Citation,
    StreamEvent_MessageStart,
    StreamEvent_MessageStop,
    StreamEvent_Metadata,
    StreamEvent_ReasoningDelta,
    StreamEvent_ReasoningSignature,
    StreamEvent_RedactedReasoning,
    StreamEvent_TextDelta,
    StreamEvent_ToolUseInputDelta,
    StreamEvent_ToolUseStart,
    StreamEvent_ToolUseStop,
    Task,
    ToolCall,
    Usage,
)

from . import tools
from .rustfmt import debug_str, trim

# The key of the session conversation the agent continues.
SESSION_KEY = "chat"

# The most model turns (chat calls) one run makes.
MAX_TURNS = 8

# The thinking budget when the model can think (`--config reasoning-budget=N` changes it; 0 turns
# thinking off). Bedrock's minimum.
REASONING_BUDGET = 1024


def _eprint(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass
class Reply:
    """One assistant turn, however it was received."""

    message: Message
    stop_reason: object
    usage: Optional[Usage]


class MalformedStream(Exception):
    """Stream events that cannot follow the ones before them."""


class Assembler:
    """Builds a Reply from stream events, one `push` per event.

    Text deltas are concatenated into one text block (cited when citations came with it) until
    something else interrupts them; empty deltas (the provider sends some) add nothing.
    Reasoning deltas make one reasoning block, closed by its signature. `tool-use-stop` carries
    the whole tool call; the input fragments are the fallback when its input is empty.
    """

    def __init__(self) -> None:
        self.content: List[object] = []
        self.text = ""
        self.citations: List[object] = []
        self.reasoning: Optional[str] = None
        self.tool = None  # [id, name, input fragments so far] of the tool call being streamed
        self.stop_reason = None
        self.usage = None

    def push(self, event) -> None:
        if isinstance(event, StreamEvent_MessageStart):
            pass
        elif isinstance(event, StreamEvent_TextDelta):
            self._end_reasoning(None)
            self.text += event.value
        elif isinstance(event, StreamEvent_Citation):
            self.citations.append(event.value)
        elif isinstance(event, StreamEvent_ReasoningDelta):
            self._end_text()
            self.reasoning = (self.reasoning or "") + event.value
        elif isinstance(event, StreamEvent_ReasoningSignature):
            self._end_reasoning(event.value)
        elif isinstance(event, StreamEvent_RedactedReasoning):
            self._end_text()
            self._end_reasoning(None)
            self.content.append(ContentBlock_Reasoning(Reasoning_Redacted(event.value)))
        elif isinstance(event, StreamEvent_ToolUseStart):
            if self.tool is not None:
                raise MalformedStream(
                    f"tool call {debug_str(event.value.id)} started before tool call "
                    f"{debug_str(self.tool[0])} stopped"
                )
            self._end_text()
            self._end_reasoning(None)
            self.tool = [event.value.id, event.value.name, ""]
        elif isinstance(event, StreamEvent_ToolUseInputDelta):
            if self.tool is None:
                raise MalformedStream("tool input arrived outside a tool call")
            self.tool[2] += event.value
        elif isinstance(event, StreamEvent_ToolUseStop):
            self._end_text()
            call = event.value
            fragments, self.tool = (self.tool[2] if self.tool else ""), None
            text = call.input
            if not trim(text):
                text = fragments
            if not trim(text):
                text = "{}"
            self.content.append(ContentBlock_ToolUse(ToolCall(id=call.id, name=call.name, input=text)))
        elif isinstance(event, StreamEvent_MessageStop):
            self.stop_reason = event.value
        elif isinstance(event, StreamEvent_Metadata):
            self.usage = event.value
        else:
            raise MalformedStream(f"unknown stream event {event!r}")

    def finish(self) -> Reply:
        """The assembled turn, once the stream has ended (`next` returned None)."""
        if self.tool is not None:
            raise MalformedStream(
                f"the reply ended inside tool call {debug_str(self.tool[1])} ({debug_str(self.tool[0])})"
            )
        if self.stop_reason is None:
            raise MalformedStream("the reply ended without a stop reason")
        self._end_reasoning(None)
        self._end_text()
        return Reply(Message(role=Role.ASSISTANT, content=self.content), self.stop_reason, self.usage)

    def _end_text(self) -> None:
        if self.text:
            if self.citations:
                self.content.append(ContentBlock_Cited(CitedText(text=self.text, citations=self.citations)))
                self.citations = []
            else:
                self.content.append(ContentBlock_Text(self.text))
            self.text = ""

    def _end_reasoning(self, signature) -> None:
        if self.reasoning is not None:
            block = ReasoningText(text=self.reasoning, signature=signature)
            self.content.append(ContentBlock_Reasoning(Reasoning_Text(block)))
            self.reasoning = None


def _unsupported(reason: str) -> None:
    _eprint(f"streaming is unsupported ({reason}); using send for the rest of the run")


def streamed_turn(conversation) -> Optional[Reply]:
    """Pulls one streamed reply to its end and assembles it; None if the host does not stream
    (`unsupported` when opening the stream or as its first event). Raises Err(AgentError)."""
    try:
        stream = conversation.send_stream()
    except Err as e:
        if isinstance(e.value, ChatError_Unsupported):
            _unsupported(e.value.value)
            return None
        raise Err(AgentError_Chat(e.value)) from None
    assembler = Assembler()
    with stream:
        first = True
        while True:
            try:
                event = stream.next()
            except Err as e:
                if first and isinstance(e.value, ChatError_Unsupported):
                    _unsupported(e.value.value)
                    return None
                raise Err(AgentError_Chat(e.value)) from None
            if event is None:
                break
            first = False
            try:
                assembler.push(event)
            except MalformedStream as e:
                raise Err(AgentError_Failed(f"malformed reply stream: {e}")) from None
    try:
        return assembler.finish()
    except MalformedStream as e:
        raise Err(AgentError_Failed(f"malformed reply stream: {e}")) from None


class Session:
    """How the run talks to the model, and what it has used so far."""

    def __init__(self, verbose: bool = False) -> None:
        # Cleared for the rest of the run once the host answers send-stream with unsupported.
        self.streaming = True
        # Print a line of each reasoning block (`gamecode run -v`).
        self.verbose = verbose
        self.turns = 0
        # Total tokens of the turns that reported usage; None if none did.
        self.tokens: Optional[int] = None
        # Input tokens read from the prompt cache.
        self.cached = 0

    def ask(self, conversation) -> Reply:
        """One model turn: streamed while the host streams, one-shot after it said it cannot."""
        self.turns += 1
        reply = streamed_turn(conversation) if self.streaming else None
        if reply is None:
            self.streaming = False
            try:
                response = conversation.send()
            except Err as e:
                raise Err(AgentError_Chat(e.value)) from None
            reply = Reply(response.message, response.stop_reason, response.usage)
        if reply.usage is not None:
            self.tokens = min((self.tokens or 0) + reply.usage.total_tokens, 2**32 - 1)
            self.cached += reply.usage.cache_read_input_tokens
        if self.verbose:
            for block in reply.message.content:
                if isinstance(block, ContentBlock_Reasoning) and isinstance(block.value, Reasoning_Text):
                    _eprint(f"thinking: {first_line(block.value.value.text, 100)}")
        return reply

    def summary(self) -> str:
        """The run's closing progress line."""
        line = "agent: %d model turn%s (%s)" % (
            self.turns,
            "" if self.turns == 1 else "s",
            "streamed" if self.streaming else "not streamed",
        )
        if self.tokens is not None:
            line += f", {self.tokens} tokens"
            if self.cached:
                line += f" ({self.cached} read from the prompt cache)"
        return line


def first_line(text: str, limit: int) -> str:
    """The first line of `text`, cut to `limit` characters."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit] + "…"


def run_agent(host, task) -> str:
    """Runs the tool loop for `task` (a Task, or its words) and returns the model's final answer;
    raises Err(AgentError). Ends with a summary line on stderr once the model was asked at least
    once."""
    if isinstance(task, str):
        task = Task(text=task, attachments=[])
    if not trim(task.text):
        raise Err(AgentError_Failed("the task is empty"))
    verbose = (host.config("gamecode.verbose") or "0") not in ("", "0")
    session = Session(verbose)
    try:
        return tool_loop(host, task, session)
    finally:
        if session.turns > 0:
            _eprint(session.summary())


def task_content(task, model) -> list:
    """The task as the first user turn: the attachments (if the model reads them), then the words."""
    content = []
    for attachment in task.attachments:
        if isinstance(attachment, Attachment_Image):
            kind, readable, block = "images", model is None or model.images, ContentBlock_Image(attachment.value)
        else:
            kind, readable, block = "documents", model is None or model.documents, ContentBlock_Document(attachment.value)
        if not readable:
            raise Err(AgentError_Failed(f"{model.name} does not read {kind}"))
        content.append(block)
    content.append(ContentBlock_Text(task.text))
    return content


def tool_loop(host, task, session: Session) -> str:
    """The tool loop proper."""
    # Own tools first; a host tool with the same name as one of them (or as an earlier host
    # tool) is left out, since tool names must be unique within a request.
    specs = tools.own_specs()
    host_tools = []
    for spec in host.list_tools():
        if any(s.name == spec.name for s in specs):
            _eprint(f"host tool {debug_str(spec.name)} is shadowed by another tool of that name")
            continue
        host_tools.append(spec)
        specs.append(spec)

    model = host.describe_model()
    # Think first when the model can (the host keeps the reasoning for the tool loop).
    try:
        budget = int(host.config("reasoning-budget") or REASONING_BUDGET)
    except ValueError:
        budget = REASONING_BUDGET
    thinking = budget > 0 and model is not None and model.reasoning
    setup = ConversationSetup(
        system=system_prompt(specs),
        model=None,
        tools=specs,
        tool_choice=None,
        # Thinking needs room to answer after it.
        inference_config=InferenceConfig(None, None, budget + 4096, []) if thinking else None,
        options=ChatOptions(
            reasoning=ReasoningConfig_Budget(budget) if thinking else None,
            structured_output=None,
            strict_tools=False,
            service_tier=None,
            latency_optimized=False,
            metadata=[],
            guardrail=None,
            cache_tools=None,
        ),
        auto_cache=True,
    )
    content = task_content(task, model)
    try:
        # The session's conversation, continued: in `gamecode chat` or `gamecode run --session`
        # it remembers the earlier turns; outside a session it starts empty.
        conversation = host.session_conversation(SESSION_KEY, setup)
        conversation.push(content)
    except Err as e:
        raise Err(AgentError_Chat(e.value)) from None

    for turn in range(1, MAX_TURNS + 1):
        reply = session.ask(conversation)
        calls = [b.value for b in reply.message.content if isinstance(b, ContentBlock_ToolUse)]
        text = message_text(reply.message)
        reason = reply.stop_reason

        if isinstance(reason, StopReason_ToolUse) and calls:
            if turn == MAX_TURNS:
                break  # No turn left to show the model the results.
            results = [ContentBlock_ToolResult(tools.execute(host, call, host_tools)) for call in calls]
            try:
                conversation.push(results)
            except Err as e:
                raise Err(AgentError_Chat(e.value)) from None
        elif isinstance(reason, (StopReason_ToolUse, StopReason_EndTurn, StopReason_StopSequence, StopReason_MaxTokens)):
            if not text:
                raise Err(AgentError_Failed(f"the model stopped ({stop_reason_name(reason)}) without an answer"))
            return text
        else:
            message = f"the model stopped: {stop_reason_name(reason)}"
            if text:
                message += f" (it said: {text})"
            raise Err(AgentError_Failed(message))
    raise Err(AgentError_TurnLimit(MAX_TURNS))


def message_text(message) -> str:
    """The message's text (cited text included), trimmed, the blank ones left out, joined by
    newlines."""
    parts = []
    for b in message.content:
        if isinstance(b, ContentBlock_Text):
            parts.append(trim(b.value))
        elif isinstance(b, ContentBlock_Cited):
            parts.append(trim(b.value.text))
    return "\n".join(p for p in parts if p)


def system_prompt(specs) -> str:
    prompt = (
        "You are the gamecode example agent, running as a sandboxed WebAssembly plugin. "
        "Solve the user's task. Use the tools when they help: never do arithmetic in your head, "
        "call `calculator`; call `text_stats` to count characters, words or lines. "
        "When a tool reports an error, correct the input or work around it. "
        "When you have the answer, reply with it in plain text, without calling more tools.\n\n"
        "Tools:"
    )
    for spec in specs:
        prompt += f"\n- {spec.name}: {spec.description}"
    return prompt


_STOP_REASON_NAMES = (
    (StopReason_EndTurn, "end-turn"),
    (StopReason_ToolUse, "tool-use"),
    (StopReason_MaxTokens, "max-tokens"),
    (StopReason_StopSequence, "stop-sequence"),
    (StopReason_GuardrailIntervened, "guardrail-intervened"),
    (StopReason_ContentFiltered, "content-filtered"),
    (StopReason_MalformedModelOutput, "malformed-model-output"),
    (StopReason_MalformedToolUse, "malformed-tool-use"),
    (StopReason_ModelContextWindowExceeded, "model-context-window-exceeded"),
)


def stop_reason_name(reason) -> str:
    """The WIT case name of a stop reason (`other` keeps the provider's value)."""
    if isinstance(reason, StopReason_Other):
        return f"other: {reason.value}"
    for cls, name in _STOP_REASON_NAMES:
        if isinstance(reason, cls):
            return name
    return repr(reason)
