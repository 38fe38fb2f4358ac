"""Tool specs and dispatch: the agent's own tools run here, inside the sandbox; everything else
the model may call is a host tool, reached through the `tools` import.

Tool inputs come from the model, so every malformed input becomes a tool result flagged
`is_error` (which the model reads and can correct), never an uncaught exception.
"""

import json
import sys
import math

from componentize_py_types import Err
from wit_world.imports.types import (
    ToolError_Failed,
    ToolError_InvalidInput,
    ToolError_NotAllowed,
    ToolError_NotFound,
    ToolResult,
    ToolResultContent_Json,
    ToolResultContent_Text,
    ToolSpec,
)

from . import calculator
from .rustfmt import debug_str, is_control, trim
from .text_stats import text_stats, to_json

CALCULATOR = "calculator"
TEXT_STATS = "text_stats"

# Progress lines show at most this many characters of a tool's input and output.
PREVIEW_CHARS = 120


def _schema(field: str, description: str) -> str:
    return json.dumps(
        {
            "type": "object",
            "properties": {field: {"type": "string", "description": description}},
            "required": [field],
            "additionalProperties": False,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def own_specs() -> list:
    """The specs of the tools this plugin implements itself."""
    return [
        ToolSpec(
            name=CALCULATOR,
            description="Evaluates an arithmetic expression exactly and returns the number. "
            "Supports + - * / % (remainder), ^ (power), unary minus, parentheses and "
            "decimals. Use it for any arithmetic instead of computing in your head.",
            input_schema=_schema("expression", 'The expression, e.g. "(3 + 4) * 2 ^ 3 / 7".'),
        ),
        ToolSpec(
            name=TEXT_STATS,
            description="Counts the characters, words and lines of a text and finds its most "
            "frequent word (case-insensitive). Returns JSON.",
            input_schema=_schema("text", "The text to analyse."),
        ),
    ]


def is_own(name: str) -> bool:
    """Whether `name` is one of this plugin's own tools."""
    return name in (CALCULATOR, TEXT_STATS)


def execute(host, call, host_tools) -> ToolResult:
    """Runs one tool call and answers it: own tools locally, offered host tools through the
    host, anything else as an "unknown tool" error. Prints one progress line to stderr, which
    the host captures and attributes to this plugin."""
    error = None
    if is_own(call.name):
        try:
            content = run_own(call.name, call.input)
        except ToolFailure as e:
            error = str(e)
    elif any(spec.name == call.name for spec in host_tools):
        try:
            content = ToolResultContent_Text(host.call_tool(call.name, call.input))
        except Err as e:
            error = describe_tool_error(e.value)
    else:
        error = f"unknown tool {debug_str(call.name)}: it was not offered"
    if error is None:
        print(f"tool {call.name}({preview(call.input)}) -> {preview(content.value)}", file=sys.stderr)
        return ToolResult(tool_use_id=call.id, content=[content], is_error=False)
    print(f"tool {call.name}({preview(call.input)}) failed: {preview(error)}", file=sys.stderr)
    return ToolResult(tool_use_id=call.id, content=[ToolResultContent_Text(error)], is_error=True)


class ToolFailure(Exception):
    """A tool failed; the message is what the model reads."""


def run_own(name: str, text: str):
    """Runs one of the plugin's own tools on the model's JSON input."""
    args = _parse_object(text)
    if name == CALCULATOR:
        expression = args.get("expression")
        if isinstance(expression, (int, float)) and not isinstance(expression, bool):
            # A bare number is a (trivial) expression too. Its value is taken as is: as text,
            # `1e20` would read as prose around the expression `20`.
            return ToolResultContent_Text(calculator.format_number(float(expression)))
        if not isinstance(expression, str):
            raise ToolFailure(_missing_field("expression"))
        try:
            value, evaluated = calculator.evaluate_lenient(expression)
        except calculator.CalcError as e:
            raise ToolFailure(f"cannot evaluate {debug_str(preview(expression))}: {e}") from None
        if evaluated != trim(expression):
            print(f"calculator: took {debug_str(evaluated)} out of the input", file=sys.stderr)
        return ToolResultContent_Text(calculator.format_number(value))
    if name == TEXT_STATS:
        text_arg = args.get("text")
        if not isinstance(text_arg, str):
            raise ToolFailure(_missing_field("text"))
        return ToolResultContent_Json(to_json(text_stats(text_arg)))
    raise ToolFailure(f"unknown tool {debug_str(name)}")


_TOOL_ERROR_CASES = (
    (ToolError_NotFound, "not-found"),
    (ToolError_NotAllowed, "not-allowed"),
    (ToolError_InvalidInput, "invalid-input"),
    (ToolError_Failed, "failed"),
)


def describe_tool_error(error) -> str:
    """A host tool error as the model reads it: the WIT case name, then the host's message."""
    for cls, case in _TOOL_ERROR_CASES:
        if isinstance(error, cls):
            return f"{case}: {error.value}"
    return f"failed: {error!r}"


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {literal}")
    return value


def _finite_int(literal: str) -> int:
    value = int(literal)
    try:
        float(value)
    except OverflowError:
        raise ValueError(f"number out of range: {literal[:20]}…") from None
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse_object(text: str) -> dict:
    # Strict JSON, as the other plugins parse it: no NaN/Infinity, no numbers that overflow.
    try:
        value = json.loads(text, parse_float=_finite_float, parse_int=_finite_int, parse_constant=_no_constant)
    except ValueError as e:
        raise ToolFailure(f"the input is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ToolFailure("the input must be a JSON object")
    return value


def _missing_field(field: str) -> str:
    return f"the input needs a string field {debug_str(field)}"


def preview(s: str) -> str:
    """The first PREVIEW_CHARS characters of `s` on one line."""
    out = "".join(" " if is_control(c) else c for c in s[:PREVIEW_CHARS])
    return out + "…" if len(s) > PREVIEW_CHARS else out
