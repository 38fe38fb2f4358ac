// The `calculator` tool: arithmetic evaluated by a recursive-descent parser.
//
// Grammar (lowest precedence first), the same as the Rust example's:
//
//     expr    := term (('+' | '-') term)*
//     term    := unary (('*' | '/' | '%') unary)*
//     unary   := ('-' | '+') unary | power
//     power   := primary (('^' | '**') unary)?      right-associative: 2^3^2 = 2^9
//     primary := number | '(' expr ')'
//     number  := digits ['.' digits] | '.' digits
//
// As in mathematics, unary minus binds looser than `^`: `-2^2` is `-4`, while `2^-1` is `0.5`.
// `%` is the remainder with the sign of the dividend (`-7 % 3` is `-1`). Every failure (empty
// input, bad syntax, division by zero, a result that is not a finite number) is a `CalcError`:
// the expression comes from the model.
//
// The tool is lenient in one way, see `evaluateLenient`: models sometimes pass the whole
// question ("What is 6 * 7?") instead of the expression, so when the input contains anything
// that cannot be part of an expression, the longest arithmetic-looking substring is evaluated.
//
// Positions count Unicode code points, as the Rust example's count chars.

import { WHITESPACE, debugChar, debugStr, trim } from './rustfmt.js';

// Deeper nesting is refused, so a hostile expression cannot exhaust the guest's stack.
export const MAX_DEPTH = 200;
// Longer inputs are refused before parsing.
export const MAX_LEN = 10_000;
// Integers up to 2^53 are exact in a double and printed without a fraction.
const MAX_EXACT_INTEGER = 9_007_199_254_740_992;
// Significant digits shown for non-integer results (hides binary rounding: 0.1 + 0.2 = 0.3).
const SIGNIFICANT_DIGITS = 12;

/** Why an expression could not be evaluated; `message` is what the model reads. */
export class CalcError extends Error {}

const tooLong = () => new CalcError(`the expression is longer than ${MAX_LEN} characters`);
const notFinite = () => new CalcError('the result is not a finite number');

/**
 * Evaluates `text`, accepting a whole sentence around the expression: returns
 * `[value, expression actually evaluated]`.
 *
 * If `text` consists only of expression characters it is evaluated strictly, so a genuinely
 * malformed expression reports its syntax error. Otherwise the longest run of expression
 * characters that contains a digit is evaluated ("What is 6 * 7?" -> `6 * 7`).
 */
export function evaluateLenient(text) {
  const chars = Array.from(text);
  if (chars.length > MAX_LEN) throw tooLong();
  if (chars.every(isExpressionChar)) {
    const expr = trim(text);
    return [evaluate(expr), expr];
  }
  const expr = longestArithmeticRun(chars);
  if (expr === null) throw new CalcError('no arithmetic expression found in the input');
  return [evaluate(expr), expr];
}

/** Evaluates an arithmetic expression strictly. */
export function evaluate(text) {
  const chars = Array.from(text);
  if (chars.length > MAX_LEN) throw tooLong();
  const tokens = tokenize(chars);
  if (tokens.length === 0) throw new CalcError('the expression is empty');
  const parser = new Parser(tokens);
  const value = parser.expr();
  if (parser.pos < tokens.length) {
    const token = tokens[parser.pos];
    throw new CalcError(`unexpected ${describe(token)} at position ${token.at}`);
  }
  return finite(value);
}

/**
 * Integers without a fraction, other values to 12 significant digits with trailing zeros
 * removed, very large or very small magnitudes in scientific notation (as Rust's `{:e}`).
 */
export function formatNumber(x) {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const magnitude = Math.abs(x);
  if (Number.isInteger(x) && magnitude <= MAX_EXACT_INTEGER) return x.toFixed(0);
  if (!(magnitude >= 1e-6 && magnitude < 1e15)) {
    // toExponential() without digits gives the shortest round-trip digits, like Rust's {:e}.
    return x.toExponential().replace('e+', 'e');
  }
  const exponent = Math.floor(Math.log10(magnitude));
  const decimals = Math.max(SIGNIFICANT_DIGITS - 1 - exponent, 0);
  const fixed = toFixedHalfEven(x, decimals);
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return trimmed === '-0' ? '0' : trimmed;
}

/**
 * `x` to `decimals` places, rounded from its exact binary value with ties to even, as Rust's
 * and Python's formatting do (`Number.prototype.toFixed` rounds ties up).
 */
function toFixedHalfEven(x, decimals) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let exp2;
  if (biased === 0) {
    exp2 = -1074;
  } else {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  // |x| * 10^decimals = mantissa * 2^exp2 * 10^decimals = num / den, exactly.
  let num = mantissa * 10n ** BigInt(decimals);
  let den = 1n;
  if (exp2 >= 0) num <<= BigInt(exp2);
  else den <<= BigInt(-exp2);
  let q = num / den;
  const twice = 2n * (num % den);
  if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(decimals + 1, '0');
  const text = decimals > 0 ? `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}` : digits;
  return (negative ? '-' : '') + text;
}

function isDigit(c) {
  return c >= '0' && c <= '9';
}

function isExpressionChar(c) {
  return isDigit(c) || '+-*/%^().'.includes(c) || WHITESPACE.has(c);
}

/** The longest maximal run of expression characters containing a digit, trimmed; the first
 * one on ties. */
function longestArithmeticRun(chars) {
  let best = null;
  let run = [];
  for (const c of [...chars, '\0']) {
    // "\0" is not an expression character: it ends the last run.
    if (isExpressionChar(c)) {
      run.push(c);
      continue;
    }
    const candidate = trimRun(run.join(''));
    run = [];
    if (/[0-9]/.test(candidate) && (best === null || Array.from(candidate).length > Array.from(best).length)) {
      best = candidate;
    }
  }
  return best;
}

/** Trims whitespace, a sentence-ending ".", and parentheses left unbalanced by the
 * surrounding prose ("(that is, 2+2)"). */
function trimRun(run) {
  for (;;) {
    const before = run;
    run = trim(run);
    if (run.endsWith('.')) run = run.slice(0, -1);
    const opens = run.split('(').length - 1;
    const closes = run.split(')').length - 1;
    if (closes > opens && run.endsWith(')')) run = run.slice(0, -1);
    else if (opens > closes && run.startsWith('(')) run = run.slice(1);
    if (run === before) return run;
  }
}

/** Tokens `{kind, value, at}`: kind is "num" or the operator (`**` is "^"). */
function tokenize(chars) {
  const tokens = [];
  let i = 0;
  while (i < chars.length) {
    const c = chars[i];
    const start = i;
    if (WHITESPACE.has(c)) {
      i++;
      continue;
    }
    if (isDigit(c) || c === '.') {
      while (i < chars.length && (isDigit(chars[i]) || chars[i] === '.')) i++;
      const literal = chars.slice(start, i).join('');
      if (literal.split('.').length > 2 || literal === '.') {
        throw new CalcError(`malformed number ${debugStr(literal)}`);
      }
      const value = Number(literal);
      if (!Number.isFinite(value)) throw new CalcError('a number is too large');
      tokens.push({ kind: 'num', value, at: start });
      continue;
    }
    if (c === '*' && chars[i + 1] === '*') {
      // `**` is accepted as power, as in Python.
      i += 2;
      tokens.push({ kind: '^', at: start });
      continue;
    }
    if (!'+-*/%^()'.includes(c)) {
      throw new CalcError(`unexpected character ${debugChar(c)} at position ${start}`);
    }
    i++;
    tokens.push({ kind: c, at: start });
  }
  return tokens;
}

function describe(token) {
  return token.kind === 'num' ? `number ${formatNumber(token.value)}` : `'${token.kind}'`;
}

function finite(x) {
  if (!Number.isFinite(x)) throw notFinite();
  return x;
}

class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.pos = 0;
    this.depth = 0;
  }

  peek() {
    return this.pos < this.tokens.length ? this.tokens[this.pos].kind : null;
  }

  next() {
    if (this.pos >= this.tokens.length) throw new CalcError('the expression ends too early');
    return this.tokens[this.pos++];
  }

  /** One nesting level deeper, refusing to go past MAX_DEPTH (undone by `leave`). */
  enter() {
    if (this.depth >= MAX_DEPTH) throw new CalcError(`parentheses are nested deeper than ${MAX_DEPTH}`);
    this.depth++;
  }

  leave() {
    this.depth--;
  }

  expr() {
    let value = this.term();
    while (this.peek() === '+' || this.peek() === '-') {
      const op = this.next().kind;
      const rhs = this.term();
      value = finite(op === '+' ? value + rhs : value - rhs);
    }
    return value;
  }

  term() {
    let value = this.unary();
    while (this.peek() === '*' || this.peek() === '/' || this.peek() === '%') {
      const op = this.next().kind;
      const rhs = this.unary();
      if (op === '*') {
        value = value * rhs;
      } else if (op === '/') {
        if (rhs === 0) throw new CalcError('division by zero');
        value = value / rhs;
      } else {
        if (rhs === 0) throw new CalcError('modulo by zero');
        value = value % rhs;
      }
      value = finite(value);
    }
    return value;
  }

  unary() {
    const op = this.peek();
    if (op === '-' || op === '+') {
      this.pos++;
      this.enter();
      const value = this.unary();
      this.leave();
      return op === '-' ? -value : value;
    }
    return this.power();
  }

  power() {
    const base = this.primary();
    if (this.peek() === '^') {
      this.pos++;
      this.enter();
      const exponent = this.unary();
      this.leave();
      return finite(Math.pow(base, exponent));
    }
    return base;
  }

  primary() {
    const token = this.next();
    if (token.kind === 'num') return token.value;
    if (token.kind === '(') {
      this.enter();
      const value = this.expr();
      this.leave();
      if (this.pos >= this.tokens.length) {
        const end = this.tokens[this.tokens.length - 1].at + 1;
        throw new CalcError(`unexpected end (expected ')') at position ${end}`);
      }
      const close = this.next();
      if (close.kind !== ')') {
        throw new CalcError(`unexpected ${describe(close)} (expected ')') at position ${close.at}`);
      }
      return value;
    }
    throw new CalcError(`unexpected ${describe(token)} at position ${token.at}`);
  }
}
