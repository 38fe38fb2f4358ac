// The `text_stats` tool: character, word and line counts and the most frequent word.
//
// Definitions (the Rust example's):
// - `chars`: Unicode code points (not UTF-16 units, not bytes).
// - `words`: whitespace-separated tokens containing at least one letter or digit (a lone "-"
//   or "—" is not a word).
// - `lines`: a final newline does not start another line; empty text has 0.
// - `most_frequent_word`: words compared case-insensitively with surrounding punctuation
//   removed ("The", "the," and "THE" are one word; "don't" keeps its apostrophe); ties go to
//   the word that appears first; `null` when there are no words.

import { isAlphanumeric } from './alphanumeric.js';
import { splitWhitespace } from './rustfmt.js';

function stripPunctuation(token) {
  const chars = Array.from(token);
  let start = 0;
  let end = chars.length;
  while (start < end && !isAlphanumeric(chars[start])) start++;
  while (end > start && !isAlphanumeric(chars[end - 1])) end--;
  return chars.slice(start, end).join('');
}

/** The statistics of `text`, keys in the order the tool prints them. */
export function textStats(text) {
  const counts = new Map(); // word -> [count, index of first occurrence]
  let words = 0;
  for (const token of splitWhitespace(text)) {
    const word = stripPunctuation(token);
    if (!word) continue;
    const key = word.toLowerCase();
    if (!counts.has(key)) counts.set(key, [0, words]);
    counts.get(key)[0] += 1;
    words += 1;
  }
  let best = null;
  for (const [word, [count, first]] of counts) {
    if (best === null || count > best.count || (count === best.count && first < best.first)) {
      best = { word, count, first };
    }
  }
  let lines = 0;
  if (text) {
    lines = text.split('\n').length - 1 + (text.endsWith('\n') ? 0 : 1);
  }
  return {
    chars: Array.from(text).length,
    lines,
    most_frequent_word: best && { count: best.count, word: best.word },
    words,
  };
}

/** The tool's output: compact JSON with sorted keys, as the Rust example prints it. */
export function toJson(stats) {
  return JSON.stringify(stats);
}
