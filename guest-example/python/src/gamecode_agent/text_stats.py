"""The `text_stats` tool: character, word and line counts and the most frequent word.

Definitions (the Rust example's):
- `chars`: Unicode code points (not bytes).
- `words`: whitespace-separated tokens containing at least one letter or digit (a lone "-" or
  "—" is not a word).
- `lines`: a final newline does not start another line; empty text has 0.
- `most_frequent_word`: words compared case-insensitively with surrounding punctuation removed
  ("The", "the," and "THE" are one word; "don't" keeps its apostrophe); ties go to the word
  that appears first; `None` when there are no words.
"""

import json

from .rustfmt import split_whitespace


def _is_alphanumeric(c: str) -> bool:
    return c.isalpha() or c.isnumeric()


def _strip_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and not _is_alphanumeric(token[start]):
        start += 1
    while end > start and not _is_alphanumeric(token[end - 1]):
        end -= 1
    return token[start:end]


def text_stats(text: str) -> dict:
    """The statistics of `text`: {"chars", "words", "lines", "most_frequent_word"}."""
    counts = {}  # word -> [count, index of first occurrence]
    words = 0
    for token in split_whitespace(text):
        word = _strip_punctuation(token)
        if not word:
            continue
        entry = counts.setdefault(word.lower(), [0, words])
        entry[0] += 1
        words += 1
    best = None
    for word, (count, first) in counts.items():
        if best is None or count > best[1] or (count == best[1] and first < best[2]):
            best = (word, count, first)
    if text:
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    else:
        lines = 0
    return {
        "chars": len(text),
        "words": words,
        "lines": lines,
        "most_frequent_word": {"word": best[0], "count": best[1]} if best else None,
    }


def to_json(stats: dict) -> str:
    """The tool's output: compact JSON with sorted keys, as the Rust example prints it."""
    return json.dumps(stats, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
