// Text formatting shared with the Rust example, so all three plugins print the same lines.

// Rust's `char::is_whitespace` (the Unicode White_Space property). JavaScript's `\s` and
// `trim()` differ (they accept U+FEFF and not U+0085), so the tools use this set instead.
export const WHITESPACE = new Set(
  '\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008' +
    '\u2009\u200a\u2028\u2029\u202f\u205f\u3000',
);

const ESCAPES = { '\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n', '"': '\\"', '\\': '\\\\' };

/** Unicode general category Cc, as Rust's `char::is_control`. */
export function isControl(c) {
  const o = c.codePointAt(0);
  return o < 0x20 || (o >= 0x7f && o < 0xa0);
}

/**
 * Characters Rust's `{:?}` writes as `\u{...}`, approximately: controls, whitespace other than
 * the space, common invisible format characters, combining diacritics. (Rust's own table also
 * covers unassigned code points and every grapheme extender.)
 */
function invisible(c) {
  const o = c.codePointAt(0);
  return (
    isControl(c) ||
    (WHITESPACE.has(c) && c !== ' ') ||
    o === 0xad ||
    (o >= 0x300 && o <= 0x36f) ||
    (o >= 0x200b && o <= 0x200f) ||
    (o >= 0x202a && o <= 0x202e) ||
    (o >= 0x2060 && o <= 0x2064) ||
    o === 0xfeff
  );
}

/** A string quoted like Rust's `{:?}`: in double quotes, with escapes. */
export function debugStr(s) {
  let out = '"';
  for (const c of s) {
    if (c in ESCAPES) out += ESCAPES[c];
    else if (invisible(c)) out += `\\u{${c.codePointAt(0).toString(16)}}`;
    else out += c;
  }
  return out + '"';
}

/** A character quoted like Rust's `{:?}`: in single quotes, with escapes. */
export function debugChar(c) {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  return `'${debugStr(c).slice(1, -1)}'`;
}

/** Rust's `str::trim`. */
export function trim(s) {
  const chars = Array.from(s);
  let start = 0;
  let end = chars.length;
  while (start < end && WHITESPACE.has(chars[start])) start++;
  while (end > start && WHITESPACE.has(chars[end - 1])) end--;
  return chars.slice(start, end).join('');
}

/** Rust's `str::split_whitespace`. */
export function splitWhitespace(s) {
  const words = [];
  let current = '';
  for (const c of s) {
    if (WHITESPACE.has(c)) {
      if (current) words.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current) words.push(current);
  return words;
}
