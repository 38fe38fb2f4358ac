// Tool specs and the own tools' input handling.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CALCULATOR, PREVIEW_CHARS, TEXT_STATS, ToolFailure, isOwn, ownSpecs, preview, runOwn } from '../src/tools.js';
import { quiet } from './fakeHost.js';

function run(name, text) {
  try {
    const c = quiet(() => runOwn(name, text));
    return [c.tag, c.val];
  } catch (e) {
    assert.ok(e instanceof ToolFailure, String(e));
    return ['err', e.message];
  }
}

test('specs are valid JSON schemas with valid names', () => {
  for (const spec of ownSpecs()) {
    assert.ok(isOwn(spec.name));
    assert.match(spec.name, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.equal(JSON.parse(spec.inputSchema).type, 'object');
  }
});

test('calculator tool', () => {
  assert.deepEqual(run(CALCULATOR, '{"expression": "6 * 7"}'), ['text', '42']);
  assert.deepEqual(run(CALCULATOR, '{"expression": "What is 2 ^ 10?"}'), ['text', '1024']);
  assert.deepEqual(run(CALCULATOR, '{"expression": 7}'), ['text', '7']);
  for (const [number, shown] of [
    ['1e20', '1e20'], ['1e-7', '1e-7'], ['2.5e3', '2500'], ['-3', '-3'],
    ['12345678901234567890', '1.2345678901234567e19'],
  ]) {
    assert.deepEqual(run(CALCULATOR, `{"expression": ${number}}`), ['text', shown], number);
  }
  assert.deepEqual(run(CALCULATOR, '{"expression": 1e400}'), ['err', 'the input is not valid JSON: number out of range']);
  assert.deepEqual(run(CALCULATOR, '{"expression": "1/0"}'), ['err', 'cannot evaluate "1/0": division by zero']);
  assert.deepEqual(run(CALCULATOR, '{"expr": "1"}'), ['err', 'the input needs a string field "expression"']);
  assert.deepEqual(run(CALCULATOR, '{"expression": true}'), ['err', 'the input needs a string field "expression"']);
  assert.deepEqual(run(CALCULATOR, '[1]'), ['err', 'the input must be a JSON object']);
  assert.deepEqual(run(CALCULATOR, 'null'), ['err', 'the input must be a JSON object']);
  assert.match(run(CALCULATOR, 'not json')[1], /^the input is not valid JSON/);
  assert.equal(run(CALCULATOR, '')[0], 'err');
  const [kind, message] = run(CALCULATOR, JSON.stringify({ expression: '('.repeat(20_000) }));
  assert.equal(kind, 'err');
  assert.ok(message.length < 200, message);
});

test('text_stats tool', () => {
  const [kind, out] = run(TEXT_STATS, '{"text": "a b a"}');
  assert.equal(kind, 'json');
  assert.deepEqual(JSON.parse(out).most_frequent_word, { count: 2, word: 'a' });
  assert.deepEqual(run(TEXT_STATS, '{"text": 3}'), ['err', 'the input needs a string field "text"']);
});

test('previews are short single lines', () => {
  assert.equal(preview('a\nb'), 'a b');
  assert.equal(Array.from(preview('x'.repeat(500))).length, PREVIEW_CHARS + 1);
});
