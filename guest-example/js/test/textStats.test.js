// text_stats: the Rust example's cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNICODE_VERSION, isAlphanumeric } from '../src/alphanumeric.js';
import { textStats, toJson } from '../src/textStats.js';

test('counts a small text', () => {
  assert.deepEqual(textStats('The cat sat.\nThe dog sat too!\nthe end'), {
    chars: 37, lines: 3, most_frequent_word: { count: 3, word: 'the' }, words: 9,
  });
});

test('empty and blank text', () => {
  assert.deepEqual(textStats(''), { chars: 0, lines: 0, most_frequent_word: null, words: 0 });
  assert.deepEqual(textStats('  \n - \n'), { chars: 7, lines: 2, most_frequent_word: null, words: 0 });
});

test('ties go to the first word and unicode counts as chars', () => {
  assert.ok(isAlphanumeric('é') && isAlphanumeric('日') && isAlphanumeric('①') && !isAlphanumeric('—'));
  const s = textStats('Café b a b A café');
  assert.deepEqual([s.chars, s.words, s.lines], [17, 6, 1]);
  assert.deepEqual(s.most_frequent_word, { count: 2, word: 'café' });
  assert.equal(textStats('🙂 ok').chars, 4);
});

test("punctuation is trimmed but apostrophes inside stay", () => {
  const s = textStats('don\'t stop, don\'t (don\'t) "go" go');
  assert.equal(s.words, 6);
  assert.deepEqual(s.most_frequent_word, { count: 3, word: "don't" });
});

test('lines like rust', () => {
  assert.equal(textStats('a\n\n').lines, 2);
  assert.equal(textStats('\n').lines, 1);
  assert.equal(textStats('a\r\nb').lines, 2);
});

test('json shape', () => {
  assert.equal(toJson(textStats('hi hi\n')), '{"chars":6,"lines":1,"most_frequent_word":{"count":2,"word":"hi"},"words":2}');
  assert.equal(toJson(textStats('')), '{"chars":0,"lines":0,"most_frequent_word":null,"words":0}');
});

// Only meaningful when this Node's ICU has the table's Unicode version.
const sameUnicode = process.versions.unicode === UNICODE_VERSION;
test('the alphanumeric table agrees with Unicode property escapes', { skip: !sameUnicode && `Node has Unicode ${process.versions.unicode}, the table ${UNICODE_VERSION}` }, () => {
  const re = /^[\p{Alphabetic}\p{N}]$/u;
  for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x30000 ? 1 : 97) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    if (isAlphanumeric(c) !== re.test(c)) assert.fail(`U+${cp.toString(16)}`);
  }
});
