// Tool specs and dispatch: the agent's own tools run here, inside the sandbox; everything else
// the model may call is a host tool, reached through the `tools` import.
//
// Tool inputs come from the model, so every malformed input becomes a tool result flagged
// `isError` (which the model reads and can correct), never an uncaught exception.

import { CalcError, evaluateLenient, formatNumber } from './calculator.js';
import { debugStr, isControl, trim } from './rustfmt.js';
import { textStats, toJson } from './textStats.js';

export const CALCULATOR = 'calculator';
export const TEXT_STATS = 'text_stats';

// Progress lines show at most this many characters of a tool's input and output.
export const PREVIEW_CHARS = 120;

/** A tool failed; the message is what the model reads. */
export class ToolFailure extends Error {}

function schema(field, description) {
  // Keys sorted, as the Rust example prints its schemas.
  return JSON.stringify({
    additionalProperties: false,
    properties: { [field]: { description, type: 'string' } },
    required: [field],
    type: 'object',
  });
}

/** The specs of the tools this plugin implements itself. */
export function ownSpecs() {
  return [
    {
      name: CALCULATOR,
      description:
        'Evaluates an arithmetic expression exactly and returns the number. ' +
        'Supports + - * / % (remainder), ^ (power), unary minus, parentheses and ' +
        'decimals. Use it for any arithmetic instead of computing in your head.',
      inputSchema: schema('expression', 'The expression, e.g. "(3 + 4) * 2 ^ 3 / 7".'),
    },
    {
      name: TEXT_STATS,
      description:
        'Counts the characters, words and lines of a text and finds its most ' +
        'frequent word (case-insensitive). Returns JSON.',
      inputSchema: schema('text', 'The text to analyse.'),
    },
  ];
}

/** Whether `name` is one of this plugin's own tools. */
export function isOwn(name) {
  return name === CALCULATOR || name === TEXT_STATS;
}

/**
 * Runs one tool call and answers it: own tools locally, offered host tools through the host,
 * anything else as an "unknown tool" error. Prints one progress line to stderr, which the host
 * captures and attributes to this plugin.
 */
export function execute(host, call, hostTools) {
  let content;
  let error = null;
  if (isOwn(call.name)) {
    try {
      content = runOwn(call.name, call.input);
    } catch (e) {
      if (!(e instanceof ToolFailure)) throw e;
      error = e.message;
    }
  } else if (hostTools.some((spec) => spec.name === call.name)) {
    try {
      content = { tag: 'text', val: host.callTool(call.name, call.input) };
    } catch (e) {
      error = describeToolError(componentErrorPayload(e));
    }
  } else {
    error = `unknown tool ${debugStr(call.name)}: it was not offered`;
  }
  if (error === null) {
    console.error(`tool ${call.name}(${preview(call.input)}) -> ${preview(content.val)}`);
    return { toolUseId: call.id, content: [content], isError: false };
  }
  console.error(`tool ${call.name}(${preview(call.input)}) failed: ${preview(error)}`);
  return { toolUseId: call.id, content: [{ tag: 'text', val: error }], isError: true };
}

/** Runs one of the plugin's own tools on the model's JSON input: a tool-result-content. */
export function runOwn(name, text) {
  const args = parseObject(text);
  if (name === CALCULATOR) {
    const expression = args.expression;
    if (typeof expression === 'number') {
      // A bare number is a (trivial) expression too. Its value is taken as is: as text, `1e20`
      // would read as prose around the expression `20`.
      if (!Number.isFinite(expression)) throw new ToolFailure('the input is not valid JSON: number out of range');
      return { tag: 'text', val: formatNumber(expression) };
    }
    if (typeof expression !== 'string') throw new ToolFailure(missingField('expression'));
    let value;
    let evaluated;
    try {
      [value, evaluated] = evaluateLenient(expression);
    } catch (e) {
      if (!(e instanceof CalcError)) throw e;
      throw new ToolFailure(`cannot evaluate ${debugStr(preview(expression))}: ${e.message}`);
    }
    if (evaluated !== trim(expression)) {
      console.error(`calculator: took ${debugStr(evaluated)} out of the input`);
    }
    return { tag: 'text', val: formatNumber(value) };
  }
  if (name === TEXT_STATS) {
    if (typeof args.text !== 'string') throw new ToolFailure(missingField('text'));
    return { tag: 'json', val: toJson(textStats(args.text)) };
  }
  throw new ToolFailure(`unknown tool ${debugStr(name)}`);
}

/**
 * What an import threw: componentize-js throws a `ComponentError` whose `payload` is the
 * `err` value of the WIT result (a variant `{tag, val}`). Anything else is a bug: rethrown.
 */
export function componentErrorPayload(e) {
  if (e !== null && typeof e === 'object' && 'payload' in e) return e.payload;
  throw e;
}

/** A host tool error (`{tag, val}`) as the model reads it: the WIT case name, then the message. */
export function describeToolError(error) {
  return `${error.tag}: ${error.val}`;
}

function parseObject(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ToolFailure(`the input is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ToolFailure('the input must be a JSON object');
  }
  return value;
}

function missingField(field) {
  return `the input needs a string field ${debugStr(field)}`;
}

/** The first PREVIEW_CHARS characters of `s` on one line. */
export function preview(s) {
  const chars = Array.from(s);
  const out = chars
    .slice(0, PREVIEW_CHARS)
    .map((c) => (isControl(c) ? ' ' : c))
    .join('');
  return chars.length > PREVIEW_CHARS ? `${out}…` : out;
}
