"""The tool loop against a scripted fake host, streamed and not: the Rust example's cases plus
stream assembly and the fallback to send."""

import contextlib
import io
import json
import unittest

from componentize_py_types import Err
from fake_host import (
    UNSUPPORTED,
    UNSUPPORTED_FIRST_EVENT,
    FakeHost,
    call,
    events_of,
    host_tool,
    reply,
    say,
)
from gamecode_agent.loop import MAX_TURNS, Assembler, MalformedStream, Session, message_text, run_agent, tool_loop
from wit_world.imports.types import (
    AgentError_Chat,
    Attachment_Document,
    Attachment_Image,
    ContentBlock_Document,
    ContentBlock_Image,
    ContentBlock_Reasoning,
    Document,
    DocumentFormat,
    Image,
    ImageFormat,
    ModelInfo,
    ReasoningConfig_Budget,
    ReasoningText,
    Reasoning_Text,
    Task,
    AgentError_Failed,
    AgentError_TurnLimit,
    ChatError_ChatLimitReached,
    ChatError_Network,
    ChatError_TokenBudgetExhausted,
    ChatError_Unsupported,
    ContentBlock_Text,
    ContentBlock_ToolResult,
    Role,
    StopReason_EndTurn,
    StopReason_GuardrailIntervened,
    StopReason_MaxTokens,
    StopReason_StopSequence,
    StopReason_ToolUse,
    StreamEvent_MessageStart,
    StreamEvent_MessageStop,
    StreamEvent_Metadata,
    StreamEvent_TextDelta,
    StreamEvent_ToolUseInputDelta,
    StreamEvent_ToolUseStart,
    StreamEvent_ToolUseStop,
    ToolCall,
    ToolUseStart,
    Usage,
)


def run(host, task):
    """(answer or AgentError, stderr lines)"""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            out = run_agent(host, task)
        except Err as e:
            out = e.value
    return out, err.getvalue().splitlines()


def results(request):
    last = request.messages[-1]
    assert last.role == Role.USER
    assert all(isinstance(b, ContentBlock_ToolResult) for b in last.content), last.content
    return [b.value for b in last.content]


def result_text(r):
    assert len(r.content) == 1, r.content
    return r.content[0].value


def assemble(events):
    a = Assembler()
    for e in events:
        a.push(e)
    return a.finish()


def summary(reply_):
    out = []
    for b in reply_.message.content:
        if isinstance(b, ContentBlock_Text):
            out.append(f"text:{b.value}")
        else:
            out.append(f"tool:{b.value.id}:{b.value.name}:{b.value.input}")
    return out


class Loop(unittest.TestCase):
    def test_calculator_round_trip(self):
        host = FakeHost(
            [
                reply(
                    [ContentBlock_Text("I'll use the calculator."), call("t1", "calculator", '{"expression":"6 * 7"}')],
                    StopReason_ToolUse(),
                ),
                say("6 times 7 is 42."),
            ]
        )
        answer, stderr = run(host, "What is 6 * 7?")
        self.assertEqual(answer, "6 times 7 is 42.")
        self.assertEqual(len(host.requests), 2)
        first = host.requests[0]
        self.assertEqual([m.role for m in first.messages], [Role.SYSTEM, Role.USER])
        self.assertIn("calculator", message_text(first.messages[0]))
        self.assertEqual(message_text(first.messages[1]), "What is 6 * 7?")
        self.assertEqual([t.name for t in first.tools], ["calculator", "text_stats"])
        second = host.requests[1]
        self.assertEqual(len(second.messages), 4)
        self.assertEqual(second.messages[2].role, Role.ASSISTANT)
        (r,) = results(second)
        self.assertEqual((r.tool_use_id, r.is_error, result_text(r)), ("t1", False, "42"))
        self.assertEqual(host.tool_calls, [])
        self.assertEqual(
            stderr, ['tool calculator({"expression":"6 * 7"}) -> 42', "agent: 2 model turns (streamed)"]
        )

    def test_every_call_of_a_turn_is_answered_in_one_message_with_failures_flagged(self):
        host = FakeHost(
            [
                reply(
                    [
                        call("a", "read_file", '{"path":"notes.txt"}'),
                        call("b", "secret", "{}"),
                        call("c", "nonexistent", "{}"),
                        call("d", "calculator", '{"expression":"1/0"}'),
                        call("e", "text_stats", "not json"),
                        call("f", "text_stats", '{"text":"to be or not to be"}'),
                    ],
                    StopReason_ToolUse(),
                ),
                say("done"),
            ],
            host_tools=[host_tool("read_file"), host_tool("secret"), host_tool("calculator")],
        )
        answer, stderr = run(host, "do things")
        self.assertEqual(answer, "done")
        self.assertEqual([t.name for t in host.requests[0].tools], ["calculator", "text_stats", "read_file", "secret"])
        self.assertIn("- read_file: host tool", message_text(host.requests[0].messages[0]))
        self.assertEqual(stderr[0], 'host tool "calculator" is shadowed by another tool of that name')
        got = [(r.tool_use_id, r.is_error, result_text(r)) for r in results(host.requests[1])]
        self.assertEqual(got[0], ("a", False, 'contents for {"path":"notes.txt"}'))
        self.assertEqual(got[1], ("b", True, "not-allowed: secret is not granted"))
        self.assertEqual(got[2], ("c", True, 'unknown tool "nonexistent": it was not offered'))
        self.assertEqual(got[3], ("d", True, 'cannot evaluate "1/0": division by zero'))
        self.assertTrue(got[4][1] and got[4][2].startswith("the input is not valid JSON"))
        self.assertFalse(got[5][1])
        self.assertEqual(json.loads(got[5][2])["words"], 6)
        self.assertEqual(host.tool_calls, [("read_file", '{"path":"notes.txt"}'), ("secret", "{}")])

    def test_stops_at_the_turn_limit(self):
        host = FakeHost(
            [reply([call(f"t{i}", "calculator", '{"expression":"1+1"}')], StopReason_ToolUse()) for i in range(MAX_TURNS)]
        )
        answer, _ = run(host, "loop forever")
        self.assertEqual(answer, AgentError_TurnLimit(MAX_TURNS))
        self.assertEqual(len(host.requests), MAX_TURNS)

    def test_chat_errors_end_the_run(self):
        host = FakeHost([Err(ChatError_ChatLimitReached("3 of 3"))])
        self.assertEqual(run(host, "hi")[0], AgentError_Chat(ChatError_ChatLimitReached("3 of 3")))

    def test_final_answers_and_failures(self):
        def once(r):
            return run(FakeHost([r]), "task")[0]

        self.assertEqual(once(reply([ContentBlock_Text(" cut off ")], StopReason_MaxTokens())), "cut off")
        self.assertEqual(once(reply([ContentBlock_Text("x")], StopReason_StopSequence())), "x")
        # tool-use without any tool call: the text is the answer.
        self.assertEqual(once(reply([ContentBlock_Text("y")], StopReason_ToolUse())), "y")
        self.assertEqual(
            once(reply([ContentBlock_Text("  ")], StopReason_EndTurn())),
            AgentError_Failed("the model stopped (end-turn) without an answer"),
        )
        self.assertEqual(
            once(reply([ContentBlock_Text("no")], StopReason_GuardrailIntervened())),
            AgentError_Failed("the model stopped: guardrail-intervened (it said: no)"),
        )
        host = FakeHost()
        self.assertEqual(run(host, "  ")[0], AgentError_Failed("the task is empty"))
        self.assertEqual(host.requests, [])


class Streaming(unittest.TestCase):
    def test_turns_are_streamed_by_default(self):
        host = FakeHost(
            [
                reply(
                    [ContentBlock_Text("Let me compute that."), call("t1", "calculator", '{"expression":"6*7"}')],
                    StopReason_ToolUse(),
                ),
                say("The answer is 42."),
            ]
        )
        answer, _ = run(host, "What is 6 * 7?")
        self.assertEqual(answer, "The answer is 42.")
        self.assertEqual(host.methods, ["send-stream", "send-stream"])
        self.assertEqual(host.dropped, 2)
        assistant = host.requests[1].messages[2]
        self.assertEqual(assistant.role, Role.ASSISTANT)
        self.assertEqual(
            assistant.content,
            [ContentBlock_Text("Let me compute that."), call("t1", "calculator", '{"expression":"6*7"}')],
        )
        self.assertEqual(result_text(results(host.requests[1])[0]), "42")

    def test_unsupported_streaming_falls_back_to_send_for_the_rest_of_the_run(self):
        for mode in [UNSUPPORTED, UNSUPPORTED_FIRST_EVENT]:
            host = FakeHost(
                [reply([call("t1", "calculator", '{"expression":"6*7"}')], StopReason_ToolUse()), say("42")],
                streaming=mode,
            )
            answer, stderr = run(host, "6*7?")
            self.assertEqual(answer, "42", mode)
            self.assertEqual(host.methods, ["send", "send"], mode)
            self.assertEqual(
                stderr,
                [
                    "streaming is unsupported (no streaming here); using send for the rest of the run",
                    'tool calculator({"expression":"6*7"}) -> 42',
                    "agent: 2 model turns (not streamed)",
                ],
            )

    def test_stream_errors_end_the_run(self):
        # An error mid-stream is a chat error (no fallback, even when it says unsupported).
        for error in [ChatError_Network("connection reset"), ChatError_Unsupported("late")]:
            host = FakeHost(
                streams=[[StreamEvent_MessageStart(), StreamEvent_TextDelta("partial"), Err(error)]]
            )
            self.assertEqual(run(host, "hi")[0], AgentError_Chat(error))
            self.assertEqual(host.methods, ["send-stream"])
            self.assertEqual(host.dropped, 1)
        # Opening the stream can fail like send does.
        host = FakeHost([Err(ChatError_TokenBudgetExhausted("0 left"))])
        self.assertEqual(run(host, "hi")[0], AgentError_Chat(ChatError_TokenBudgetExhausted("0 left")))
        # A stream that ends without a stop reason is malformed.
        host = FakeHost(streams=[[StreamEvent_TextDelta("cut")]])
        self.assertEqual(
            run(host, "hi")[0], AgentError_Failed("malformed reply stream: the reply ended without a stop reason")
        )

    def test_usage_is_summed_over_turns(self):
        def usage(total, cached=0):
            return Usage(
                input_tokens=total - 1,
                output_tokens=1,
                total_tokens=total,
                cache_read_input_tokens=cached,
                cache_write_input_tokens=0,
            )

        host = FakeHost(
            [
                reply([call("t1", "calculator", '{"expression":"1+1"}')], StopReason_ToolUse(), usage(30)),
                reply([ContentBlock_Text("2")], StopReason_EndTurn(), usage(12, 1500)),
            ]
        )
        session = Session()
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(tool_loop(host, Task(text="1+1", attachments=[]), session), "2")
        self.assertEqual(
            session.summary(), "agent: 2 model turns (streamed), 42 tokens (1500 read from the prompt cache)"
        )
        session.turns, session.tokens = 1, None
        self.assertEqual(session.summary(), "agent: 1 model turn (streamed)")


class Assembly(unittest.TestCase):
    def test_text_deltas_are_joined_per_block_and_tool_calls_split_them(self):
        r = assemble(
            [
                StreamEvent_MessageStart(),
                StreamEvent_TextDelta(""),
                StreamEvent_TextDelta("Let me "),
                StreamEvent_TextDelta("compute."),
                StreamEvent_ToolUseStart(ToolUseStart(id="t1", name="calculator")),
                StreamEvent_ToolUseInputDelta('{"expression":'),
                StreamEvent_ToolUseInputDelta('"6*7"}'),
                StreamEvent_ToolUseStop(ToolCall(id="t1", name="calculator", input='{"expression":"6*7"}')),
                StreamEvent_ToolUseStart(ToolUseStart(id="t2", name="text_stats")),
                StreamEvent_ToolUseStop(ToolCall(id="t2", name="text_stats", input='{"text":"a"}')),
                StreamEvent_TextDelta("Done"),
                StreamEvent_TextDelta("."),
                StreamEvent_MessageStop(StopReason_ToolUse()),
                StreamEvent_Metadata(Usage(10, 5, 15, 0, 0)),
            ]
        )
        self.assertEqual(r.message.role, Role.ASSISTANT)
        self.assertEqual(
            summary(r),
            [
                "text:Let me compute.",
                'tool:t1:calculator:{"expression":"6*7"}',
                'tool:t2:text_stats:{"text":"a"}',
                "text:Done.",
            ],
        )
        self.assertEqual(r.stop_reason, StopReason_ToolUse())
        self.assertEqual(r.usage.total_tokens, 15)

    def test_tool_input_falls_back_to_the_fragments_then_to_an_empty_object(self):
        r = assemble(
            [
                StreamEvent_ToolUseStart(ToolUseStart(id="a", name="calculator")),
                StreamEvent_ToolUseInputDelta('{"expression":'),
                StreamEvent_ToolUseInputDelta('"1"}'),
                StreamEvent_ToolUseStop(ToolCall(id="a", name="calculator", input="")),
                StreamEvent_ToolUseStart(ToolUseStart(id="b", name="list")),
                StreamEvent_ToolUseStop(ToolCall(id="b", name="list", input="")),
                StreamEvent_MessageStop(StopReason_ToolUse()),
            ]
        )
        self.assertEqual(summary(r), ['tool:a:calculator:{"expression":"1"}', "tool:b:list:{}"])
        self.assertIsNone(r.usage)

    def test_only_empty_deltas_give_an_empty_message(self):
        r = assemble([StreamEvent_TextDelta(""), StreamEvent_MessageStop(StopReason_EndTurn())])
        self.assertEqual(r.message.content, [])

    def test_events_of_round_trips(self):
        response = reply(
            [ContentBlock_Text("héllo wörld"), call("x", "calculator", '{"expression":"1"}')], StopReason_ToolUse()
        )
        r = assemble(events_of(response))
        self.assertEqual(r.message, response.message)

    def test_broken_streams_are_errors(self):
        def error(events):
            try:
                assemble(events)
            except MalformedStream as e:
                return str(e)
            raise AssertionError("assembled")

        self.assertEqual(error([StreamEvent_TextDelta("hi")]), "the reply ended without a stop reason")
        self.assertEqual(
            error(
                [StreamEvent_ToolUseStart(ToolUseStart(id="a", name="calculator")), StreamEvent_MessageStop(StopReason_ToolUse())]
            ),
            'the reply ended inside tool call "calculator" ("a")',
        )
        self.assertEqual(error([StreamEvent_ToolUseInputDelta("{")]), "tool input arrived outside a tool call")
        self.assertEqual(
            error(
                [
                    StreamEvent_ToolUseStart(ToolUseStart(id="a", name="x")),
                    StreamEvent_ToolUseStart(ToolUseStart(id="b", name="y")),
                ]
            ),
            'tool call "b" started before tool call "a" stopped',
        )


class Conversation(unittest.TestCase):
    def test_continues_the_session_conversation_under_chat(self):
        host = FakeHost([say("ok")])
        self.assertEqual(run(host, "hi")[0], "ok")
        self.assertEqual(host.key, "chat")

    def test_thinks_when_the_model_can_and_keeps_attachments_first(self):
        thought = ContentBlock_Reasoning(Reasoning_Text(ReasoningText(text="Think.\nMore.", signature="sig")))
        host = FakeHost(
            [reply([thought, ContentBlock_Text("It is a PNG.")], StopReason_EndTurn())],
            model=model(reasoning=True, images=True),
            config={"reasoning-budget": "2048", "gamecode.verbose": "1"},
        )
        image = Image(format=ImageFormat.PNG, data=b"\x01\x02")
        document = Document(format=DocumentFormat.TXT, name="notes", data=b"hi", citations=False)
        task = Task(text="What is this?", attachments=[Attachment_Image(image), Attachment_Document(document)])
        answer, stderr = run(host, task)
        self.assertEqual(answer, "It is a PNG.")
        self.assertEqual(host.setup.options.reasoning, ReasoningConfig_Budget(2048))
        self.assertEqual(host.setup.inference_config.max_tokens, 2048 + 4096)
        self.assertTrue(host.setup.auto_cache)
        self.assertEqual(
            host.requests[0].messages[1].content,
            [ContentBlock_Image(image), ContentBlock_Document(document), ContentBlock_Text("What is this?")],
        )
        self.assertEqual(stderr[0], "thinking: Think.")
        # Only the tool results cross after the first turn: the host holds the rest.
        self.assertEqual(len(host.requests), 1)

    def test_no_thinking_when_configured_off_and_no_images_for_a_blind_model(self):
        host = FakeHost([say("ok")], model=model(reasoning=True, images=False), config={"reasoning-budget": "0"})
        task = Task(text="look", attachments=[Attachment_Image(Image(format=ImageFormat.PNG, data=b"\x01"))])
        answer, _ = run(host, task)
        self.assertEqual(answer, AgentError_Failed("Test Model does not read images"))
        self.assertIsNone(host.setup, "refused before the conversation started")
        host = FakeHost([say("ok")], model=model(reasoning=True, images=False), config={"reasoning-budget": "0"})
        self.assertEqual(run(host, "hi")[0], "ok")
        self.assertIsNone(host.setup.options.reasoning)


def model(reasoning, images):
    return ModelInfo(
        id="anthropic.test",
        name="Test Model",
        images=images,
        documents=True,
        reasoning=reasoning,
        adaptive_reasoning=False,
        cache_min_tokens=1024,
        context_window=200_000,
        max_output_tokens=64_000,
    )


if __name__ == "__main__":
    unittest.main()
