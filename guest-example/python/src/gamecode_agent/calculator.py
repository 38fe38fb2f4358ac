"""The `calculator` tool: arithmetic evaluated by a recursive-descent parser.

Grammar (lowest precedence first), the same as the Rust example's:

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '%') unary)*
    unary   := ('-' | '+') unary | power
    power   := primary (('^' | '**') unary)?      right-associative: 2^3^2 = 2^9
    primary := number | '(' expr ')'
    number  := digits ['.' digits] | '.' digits

As in mathematics, unary minus binds looser than `^`: `-2^2` is `-4`, while `2^-1` is `0.5`.
`%` is the remainder with the sign of the dividend (`-7 % 3` is `-1`). Every failure (empty
input, bad syntax, division by zero, a result that is not a finite number) is a `CalcError`,
never an uncaught exception: the expression comes from the model.

The tool is lenient in one way, see `evaluate_lenient`: models sometimes pass the whole
question ("What is 6 * 7?") instead of the expression, so when the input contains anything
that cannot be part of an expression, the longest arithmetic-looking substring is evaluated.
"""

import math
import sys
from decimal import Decimal

from .rustfmt import WHITESPACE, debug_char, debug_str, trim

# Deeper nesting is refused, so a hostile expression cannot exhaust the guest's stack.
MAX_DEPTH = 200
# Longer inputs are refused before parsing.
MAX_LEN = 10_000
# Integers up to 2^53 are exact in a float and printed without a fraction.
MAX_EXACT_INTEGER = 9_007_199_254_740_992.0
# Significant digits shown for non-integer results (hides binary rounding: 0.1 + 0.2 = 0.3).
SIGNIFICANT_DIGITS = 12

# Each nesting level costs a handful of Python frames; MAX_DEPTH levels must fit.
if sys.getrecursionlimit() < 20 * MAX_DEPTH:
    sys.setrecursionlimit(20 * MAX_DEPTH)


class CalcError(Exception):
    """Why an expression could not be evaluated; `str(e)` is the message the model reads."""


def _empty():
    return CalcError("the expression is empty")


def evaluate_lenient(text: str):
    """Evaluates `text`, accepting a whole sentence around the expression.

    If `text` consists only of expression characters it is evaluated strictly, so a genuinely
    malformed expression reports its syntax error. Otherwise the longest run of expression
    characters that contains a digit is evaluated ("What is 6 * 7?" -> `6 * 7`). Returns the
    value and the expression actually evaluated.
    """
    if len(text) > MAX_LEN:
        raise CalcError(f"the expression is longer than {MAX_LEN} characters")
    if all(_is_expression_char(c) for c in text):
        expr = trim(text)
        return evaluate(expr), expr
    expr = _longest_arithmetic_run(text)
    if expr is None:
        raise CalcError("no arithmetic expression found in the input")
    return evaluate(expr), expr


def evaluate(text: str) -> float:
    """Evaluates an arithmetic expression strictly."""
    if len(text) > MAX_LEN:
        raise CalcError(f"the expression is longer than {MAX_LEN} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise _empty()
    parser = _Parser(tokens)
    value = parser.expr()
    if parser.pos < len(tokens):
        kind, number, at = tokens[parser.pos]
        raise CalcError(f"unexpected {_describe(kind, number)} at position {at}")
    return _finite(value)


def format_number(x: float) -> str:
    """Integers without a fraction, other values to 12 significant digits with trailing zeros
    removed, very large or very small magnitudes in scientific notation (as Rust's `{:e}`)."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0.0:
        return "0"
    magnitude = abs(x)
    if x.is_integer() and magnitude <= MAX_EXACT_INTEGER:
        return str(int(x))
    if not 1e-6 <= magnitude < 1e15:
        return _lower_exp(x)
    exponent = math.floor(math.log10(magnitude))
    decimals = max(SIGNIFICANT_DIGITS - 1 - exponent, 0)
    fixed = f"{x:.{decimals}f}"
    trimmed = fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
    return "0" if trimmed == "-0" else trimmed


def _lower_exp(x: float) -> str:
    """Rust's `{:e}`: the shortest digits that round-trip, as `d.ddde-7` / `de19`."""
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    sci = len(digits) - 1 + exp
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(map(str, digits[1:]))
    return ("-" if sign else "") + mantissa + "e" + str(sci)


def _is_expression_char(c: str) -> bool:
    return "0" <= c <= "9" or c in "+-*/%^()." or c in WHITESPACE


def _longest_arithmetic_run(text: str):
    """The longest maximal run of expression characters containing a digit, trimmed; the first
    one on ties."""
    best = None
    run = []
    for c in text + "\0":  # "\0" is not an expression character: it ends the last run
        if _is_expression_char(c):
            run.append(c)
            continue
        candidate = _trim_run("".join(run))
        run = []
        if any("0" <= ch <= "9" for ch in candidate) and (best is None or len(candidate) > len(best)):
            best = candidate
    return best


def _trim_run(run: str) -> str:
    """Trims whitespace, a sentence-ending ".", and parentheses left unbalanced by the
    surrounding prose ("(that is, 2+2)")."""
    while True:
        before = run
        run = trim(run)
        if run.endswith("."):
            run = run[:-1]
        opens, closes = run.count("("), run.count(")")
        if closes > opens and run.endswith(")"):
            run = run[:-1]
        elif opens > closes and run.startswith("("):
            run = run[1:]
        if run == before:
            return run


def _tokenize(text: str):
    """Tokens as (kind, number, position): kind is "num" or the operator character (`**` is
    "^"); positions count characters."""
    tokens = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        start = i
        if c in WHITESPACE:
            i += 1
            continue
        if "0" <= c <= "9" or c == ".":
            while i < n and ("0" <= text[i] <= "9" or text[i] == "."):
                i += 1
            literal = text[start:i]
            if literal.count(".") > 1 or literal == ".":
                raise CalcError(f"malformed number {debug_str(literal)}")
            value = float(literal)
            if not math.isfinite(value):
                raise CalcError("a number is too large")
            tokens.append(("num", value, start))
            continue
        if c == "*" and i + 1 < n and text[i + 1] == "*":
            # `**` is accepted as power, as in Python.
            i += 2
            tokens.append(("^", None, start))
            continue
        if c not in "+-*/%^()":
            raise CalcError(f"unexpected character {debug_char(c)} at position {start}")
        i += 1
        tokens.append((c, None, start))
    return tokens


def _describe(kind, number) -> str:
    return f"number {format_number(number)}" if kind == "num" else f"'{kind}'"


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise CalcError("the result is not a finite number")
    return x


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def next(self):
        if self.pos >= len(self.tokens):
            raise CalcError("the expression ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def enter(self):
        """One nesting level deeper, refusing to go past MAX_DEPTH (undone by `leave`)."""
        if self.depth >= MAX_DEPTH:
            raise CalcError(f"parentheses are nested deeper than {MAX_DEPTH}")
        self.depth += 1

    def leave(self):
        self.depth -= 1

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.next()[0]
            rhs = self.term()
            value = _finite(value + rhs if op == "+" else value - rhs)
        return value

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.next()[0]
            rhs = self.unary()
            if op == "*":
                value = value * rhs
            elif op == "/":
                if rhs == 0.0:
                    raise CalcError("division by zero")
                value = value / rhs
            else:
                if rhs == 0.0:
                    raise CalcError("modulo by zero")
                value = math.fmod(value, rhs)
            value = _finite(value)
        return value

    def unary(self) -> float:
        op = self.peek()
        if op in ("-", "+"):
            self.pos += 1
            self.enter()
            value = self.unary()
            self.leave()
            return -value if op == "-" else value
        return self.power()

    def power(self) -> float:
        base = self.primary()
        if self.peek() == "^":
            self.pos += 1
            self.enter()
            exponent = self.unary()
            self.leave()
            try:
                return _finite(math.pow(base, exponent))
            except (OverflowError, ValueError):
                # Overflow, a negative base with a fractional exponent, 0 to a negative power.
                raise CalcError("the result is not a finite number") from None
        return base

    def primary(self) -> float:
        kind, number, at = self.next()
        if kind == "num":
            return number
        if kind == "(":
            self.enter()
            value = self.expr()
            self.leave()
            if self.pos >= len(self.tokens):
                end = self.tokens[-1][2] + 1
                raise CalcError(f"unexpected end (expected ')') at position {end}")
            kind, number, at = self.next()
            if kind != ")":
                raise CalcError(f"unexpected {_describe(kind, number)} (expected ')') at position {at}")
            return value
        raise CalcError(f"unexpected {_describe(kind, number)} at position {at}")
