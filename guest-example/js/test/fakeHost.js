// A scripted fake host for the loop tests: replies in order (streamed or whole), a fixed host
// tool list, recorded calls. Errors are thrown the way componentize-js throws an import's `err`:
// as an Error with the error value as `payload`.

/** componentize-js's shape for the `err` of an import's result. */
export class ComponentError extends Error {
  constructor(payload) {
    super(`${payload.tag}: ${payload.val}`);
    this.payload = payload;
  }
}

// How the fake answers chat-stream.
export const EVENTS = 'events'; // streams each scripted reply as events, in small deltas
export const UNSUPPORTED = 'unsupported'; // chatStream itself throws unsupported
export const UNSUPPORTED_FIRST_EVENT = 'unsupported-first-event'; // the first next() throws it

export const reply = (content, stopReason, usage) => ({
  message: { role: 'assistant', content },
  model: 'test-model',
  stopReason,
  usage,
});
export const text = (t) => ({ tag: 'text', val: t });
export const say = (t) => reply([text(t)], { tag: 'end-turn' });
export const call = (id, name, input) => ({ tag: 'tool-use', val: { id, name, input } });
export const hostTool = (name) => ({ name, description: `host tool ${name}`, inputSchema: '{"type":"object"}' });
export const stop = (tag, val) => (val === undefined ? { tag } : { tag, val });

/** The events a provider would stream: text in 3-character deltas (plus an empty one), tool
 * input in two fragments. */
export function eventsOf(response) {
  const events = [{ tag: 'message-start' }, { tag: 'text-delta', val: '' }];
  for (const block of response.message.content) {
    if (block.tag === 'text') {
      const chars = Array.from(block.val);
      for (let i = 0; i < chars.length; i += 3) events.push({ tag: 'text-delta', val: chars.slice(i, i + 3).join('') });
    } else {
      const c = block.val;
      const half = Math.floor(c.input.length / 2);
      events.push(
        { tag: 'tool-use-start', val: { id: c.id, name: c.name } },
        { tag: 'tool-use-input-delta', val: c.input.slice(0, half) },
        { tag: 'tool-use-input-delta', val: c.input.slice(half) },
        { tag: 'tool-use-stop', val: c },
      );
    }
  }
  events.push({ tag: 'message-stop', val: response.stopReason });
  if (response.usage !== undefined) events.push({ tag: 'metadata', val: response.usage });
  return events;
}

/** Items are events, or `ComponentError`s to throw. */
class FakeStream {
  constructor(items, host) {
    this.items = [...items];
    this.host = host;
  }

  next() {
    if (this.items.length === 0) return undefined;
    const item = this.items.shift();
    if (item instanceof ComponentError) throw item;
    return item;
  }

  [Symbol.dispose]() {
    this.host.dropped++;
  }
}

export class FakeHost {
  constructor({ replies = [], streams = [], streaming = EVENTS, hostTools = [] } = {}) {
    this.replies = [...replies]; // chat-responses, or ComponentErrors to throw
    this.streams = [...streams]; // raw event scripts, used by chatStream before `replies`
    this.streaming = streaming;
    this.hostTools = hostTools;
    this.requests = [];
    this.methods = []; // "chat" or "chat-stream", per request
    this.toolCalls = [];
    this.dropped = 0;
  }

  nextReply() {
    assert(this.replies.length > 0, 'the test scripted too few replies');
    const r = this.replies.shift();
    if (r instanceof ComponentError) throw r;
    return r;
  }

  chat(request) {
    this.requests.push(structuredClone(request));
    this.methods.push('chat');
    return this.nextReply();
  }

  chatStream(request) {
    if (this.streaming === UNSUPPORTED) throw new ComponentError({ tag: 'unsupported', val: 'no streaming here' });
    if (this.streaming === UNSUPPORTED_FIRST_EVENT) {
      return new FakeStream([new ComponentError({ tag: 'unsupported', val: 'no streaming here' })], this);
    }
    this.requests.push(structuredClone(request));
    this.methods.push('chat-stream');
    if (this.streams.length > 0) return new FakeStream(this.streams.shift(), this);
    return new FakeStream(eventsOf(this.nextReply()), this);
  }

  listTools() {
    return [...this.hostTools];
  }

  callTool(name, input) {
    this.toolCalls.push([name, input]);
    if (name === 'read_file') return `contents for ${input}`;
    throw new ComponentError({ tag: 'not-allowed', val: `${name} is not granted` });
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs `fn` with console.error captured: its result, or `[result, lines]` with `lines`. */
export function quiet(fn, lines) {
  const original = console.error;
  console.error = (...args) => lines?.push(args.join(' '));
  try {
    return fn();
  } finally {
    console.error = original;
  }
}
