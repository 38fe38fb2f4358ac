// The calculator's parser, formatting and leniency: the Rust example's cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CalcError, evaluate, evaluateLenient, formatNumber } from '../src/calculator.js';

const ev = (s) => formatNumber(evaluate(s));

function err(s, fn = evaluate) {
  try {
    fn(s);
  } catch (e) {
    assert.ok(e instanceof CalcError, String(e));
    return e.message;
  }
  throw new Error(`${JSON.stringify(s)} evaluated`);
}

test('precedence and associativity', () => {
  for (const [expr, want] of [
    ['6 * 7', '42'], ['1 + 2 * 3', '7'], ['(1 + 2) * 3', '9'], ['10 - 4 - 3', '3'],
    ['100 / 10 / 5', '2'], ['2 ^ 3 ^ 2', '512'], ['2 ** 10', '1024'], ['2 * 3 ^ 2', '18'],
    ['17 % 5', '2'], ['-7 % 3', '-1'], ['((((2))))', '2'],
  ]) {
    assert.equal(ev(expr), want, expr);
  }
});

test('unary minus', () => {
  for (const [expr, want] of [
    ['-3', '-3'], ['--3', '3'], ['-2 ^ 2', '-4'], ['(-2) ^ 2', '4'], ['2 ^ -1', '0.5'],
    ['3 - -2', '5'], ['+4', '4'], ['-(1 + 2) * 3', '-9'],
  ]) {
    assert.equal(ev(expr), want, expr);
  }
});

test('decimals and formatting', () => {
  for (const [expr, want] of [
    ['0.1 + 0.2', '0.3'], ['.5 * 4', '2'], ['1 / 3', '0.333333333333'], ['2 / 3', '0.666666666667'],
    ['3.25 * 2', '6.5'], ['1.5 - 1.5', '0'], ['-0.5 * 0', '0'], ['1234567.891', '1234567.891'],
    ['2 ^ 53', '9007199254740992'], ['2 ^ 64', '1.8446744073709552e19'], ['1 / 10000000', '1e-7'],
    ['7.', '7'], ['0 - 2 ^ 60', '-1.152921504606847e18'],
    // A tie at the 12th digit rounds half to even, like Rust's formatting (toFixed rounds up).
    ['1.000244140625', '1.00024414062'], ['4096.000244140625', '4096.00024414'],
    ['0.000001', '0.000001'], ['2 ** -1074', '5e-324'],
  ]) {
    assert.equal(ev(expr), want, expr);
  }
});

test('errors', () => {
  for (const [expr, want] of [
    ['', 'the expression is empty'], ['   ', 'the expression is empty'],
    ['1 / 0', 'division by zero'], ['1 / (2 - 2)', 'division by zero'], ['5 % 0', 'modulo by zero'],
    ['2 +', 'the expression ends too early'],
    ['(1 + 2', "unexpected end (expected ')') at position 6"],
    ['1 + 2)', "unexpected ')' at position 5"], ['1 2', 'unexpected number 2 at position 2'],
    ['* 3', "unexpected '*' at position 0"], ['()', "unexpected ')' at position 1"],
    ['1.2.3', 'malformed number "1.2.3"'], ['.', 'malformed number "."'],
    ['2 x 3', "unexpected character 'x' at position 2"],
    ['10 ^ 400', 'the result is not a finite number'], ['9'.repeat(400), 'a number is too large'],
    ['(-8) ^ 0.5', 'the result is not a finite number'], ['0 ^ -1', 'the result is not a finite number'],
  ]) {
    assert.equal(err(expr), want, expr);
  }
});

test('hostile inputs fail cleanly', () => {
  assert.equal(err('('.repeat(10_000) + '1' + ')'.repeat(10_000)), 'the expression is longer than 10000 characters');
  assert.equal(err('('.repeat(1_000) + '1' + ')'.repeat(1_000)), 'parentheses are nested deeper than 200');
  assert.equal(err('-'.repeat(5_000)), 'parentheses are nested deeper than 200');
  assert.equal(err('2^'.repeat(1_000)), 'parentheses are nested deeper than 200');
  assert.equal(evaluate('('.repeat(199) + '1' + ')'.repeat(199)), 1);
});

test('lenient takes the expression out of a question', () => {
  const lenient = (s) => {
    const [value, expr] = evaluateLenient(s);
    return [formatNumber(value), expr];
  };
  assert.deepEqual(lenient('What is 6 * 7?'), ['42', '6 * 7']);
  assert.deepEqual(lenient('Compute (3 + 4) * 2 please'), ['14', '(3 + 4) * 2']);
  assert.deepEqual(lenient("what's 2^10 - 1, roughly"), ['1023', '2^10 - 1']);
  assert.deepEqual(lenient('The answer is 6 * 7.'), ['42', '6 * 7']);
  assert.deepEqual(lenient('(that is, 2+2)'), ['4', '2+2']);
  assert.deepEqual(lenient('x = 1.5 * 4'), ['6', '1.5 * 4']);
  assert.deepEqual(lenient('  12 / 4  '), ['3', '12 / 4']);
  assert.equal(err('example', evaluateLenient), 'no arithmetic expression found in the input');
  assert.equal(err('', evaluateLenient), 'the expression is empty');
  // Only expression characters: strict, so the real syntax error is reported.
  assert.equal(err('2 + * 3', evaluateLenient), "unexpected '*' at position 4");
  // The extracted part is evaluated strictly too.
  assert.equal(err('What is 1 / 0?', evaluateLenient), 'division by zero');
});
