// A scripted fake host for the loop tests: a conversation held as the real host holds it,
// replies in order (streamed or whole), a fixed host tool list, recorded calls. Errors are thrown the way componentize-js throws an import's `err`:
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
    } else if (block.tag === 'reasoning') {
      events.push(
        { tag: 'reasoning-delta', val: block.val.val.text },
        { tag: 'reasoning-signature', val: block.val.val.signature },
      );
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

/** The conversation as the host holds it: pushes join the user turn being written; each send
 * records what was sent (as `requests`, with the system prompt first) and appends the reply. */
class FakeConversation {
  constructor(host, setup) {
    this.host = host;
    this.setup = setup;
    this.history = [];
  }

  push(content) {
    const last = this.history.at(-1);
    if (last?.role === 'user') last.content.push(...structuredClone(content));
    else this.history.push({ role: 'user', content: structuredClone(content) });
  }

  sent(method) {
    const system = { role: 'system', content: [text(this.setup.system)] };
    this.host.requests.push({ messages: [system, ...structuredClone(this.history)], tools: this.setup.tools });
    this.host.methods.push(method);
  }

  reply() {
    const r = this.host.nextReply();
    this.history.push(structuredClone(r.message));
    return r;
  }

  send() {
    this.sent('send');
    return this.reply();
  }

  sendStream() {
    const host = this.host;
    if (host.streaming === UNSUPPORTED) throw new ComponentError({ tag: 'unsupported', val: 'no streaming here' });
    if (host.streaming === UNSUPPORTED_FIRST_EVENT) {
      return new FakeStream([new ComponentError({ tag: 'unsupported', val: 'no streaming here' })], host);
    }
    this.sent('send-stream');
    if (host.streams.length > 0) return new FakeStream(host.streams.shift(), host);
    return new FakeStream(eventsOf(this.reply()), host);
  }
}

export class FakeHost {
  constructor({ replies = [], streams = [], streaming = EVENTS, hostTools = [], model, config = {} } = {}) {
    this.replies = [...replies]; // chat-responses, or ComponentErrors to throw
    this.streams = [...streams]; // raw event scripts, used by sendStream before `replies`
    this.streaming = streaming;
    this.hostTools = hostTools;
    this.model = model;
    this.settings = config;
    this.key = undefined; // the session conversation's key
    this.setup = undefined;
    this.requests = [];
    this.methods = []; // "send" or "send-stream", per turn
    this.toolCalls = [];
    this.dropped = 0;
  }

  nextReply() {
    assert(this.replies.length > 0, 'the test scripted too few replies');
    const r = this.replies.shift();
    if (r instanceof ComponentError) throw r;
    return r;
  }

  sessionConversation(key, setup) {
    this.key = key;
    this.setup = setup;
    return new FakeConversation(this, setup);
  }

  describeModel() {
    return this.model;
  }

  config(key) {
    return this.settings[key];
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
