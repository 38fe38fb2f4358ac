"""Text formatting shared with the Rust example, so all three plugins print the same lines."""

# Rust's `char::is_whitespace` (the Unicode White_Space property). Python's `str.isspace` and
# `str.split()` also accept U+001C..U+001F, so the tools use this set instead.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_ESCAPES = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", '"': '\\"', "\\": "\\\\"}


def is_control(c: str) -> bool:
    """Unicode general category Cc, as Rust's `char::is_control`."""
    o = ord(c)
    return o < 0x20 or 0x7F <= o < 0xA0


def _invisible(c: str) -> bool:
    """Characters Rust's `{:?}` writes as `\\u{...}`, approximately: controls, whitespace other
    than the space, common invisible format characters, combining diacritics. (Rust's own table
    also covers unassigned code points and every grapheme extender.)"""
    o = ord(c)
    return (
        is_control(c)
        or (c in WHITESPACE and c != " ")
        or o == 0xAD
        or 0x300 <= o <= 0x36F
        or 0x200B <= o <= 0x200F
        or 0x202A <= o <= 0x202E
        or 0x2060 <= o <= 0x2064
        or o == 0xFEFF
    )


def debug_str(s: str) -> str:
    """A string quoted like Rust's `{:?}`: in double quotes, with escapes."""
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif _invisible(c):
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def debug_char(c: str) -> str:
    """A character quoted like Rust's `{:?}`: in single quotes, with escapes."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + debug_str(c)[1:-1] + "'"


def trim(s: str) -> str:
    """Rust's `str::trim`."""
    start, end = 0, len(s)
    while start < end and s[start] in WHITESPACE:
        start += 1
    while end > start and s[end - 1] in WHITESPACE:
        end -= 1
    return s[start:end]


def split_whitespace(s: str) -> list:
    """Rust's `str::split_whitespace`."""
    words, current = [], []
    for c in s:
        if c in WHITESPACE:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(c)
    if current:
        words.append("".join(current))
    return words
