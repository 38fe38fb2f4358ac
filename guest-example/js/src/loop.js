// The tool loop, and the assembly of streamed replies.
//
// `runAgent(host, task)` continues the conversation the host holds for the run's session (under
// SESSION_KEY), with the plugin's own tools plus the host's; pushes the task (attachments
// first), then only each turn's tool results (failures flagged `isError`); the host keeps the
// history, the model's reasoning and the prompt-cache points. It stops at the model's final
// answer or after MAX_TURNS model turns. Every turn is streamed (`send-stream`); a host that
// answers `unsupported` gets one-shot `send` calls for the rest of the run. When the model can
// think (`describe-model`), it asks for extended thinking and, with `gamecode run -v`, prints a
// line of each reasoning block on stderr.
//
// Values are the WIT types as componentize-js maps them: records are objects with camelCase
// fields, enums are strings, variants are `{tag, val}`, options are `undefined` or the value,
// and the `err` of a result is thrown as an error whose `payload` is the error value.
//
// `host` is anything with the WIT imports' shape (`agent.js` passes the real imports, the tests
// a fake):
// - `sessionConversation(key, setup) -> conversation`, throwing `{payload: chat-error}`; the
//   conversation has `push(content)`, `send() -> chat-response` and `sendStream() -> stream`,
//   throwing `{payload: chat-error}`; the stream has `next() -> stream-event | undefined`,
//   throwing `{payload: chat-error}`, and is disposed with `[Symbol.dispose]()` (which drops the
//   resource and cancels the request);
// - `describeModel() -> model-info | undefined` and `config(key) -> string | undefined`;
// - `listTools() -> tool-spec[]`;
// - `callTool(name, input) -> string`, throwing `{payload: tool-error}`.

import { debugStr, trim } from './rustfmt.js';
import { componentErrorPayload, execute, ownSpecs } from './tools.js';

// The key of the session conversation the agent continues.
const SESSION_KEY = 'chat';

// The most model turns (chat calls) one run makes.
export const MAX_TURNS = 8;

// The thinking budget when the model can think (`--config reasoning-budget=N` changes it; 0
// turns thinking off). Bedrock's minimum.
const REASONING_BUDGET = 1024;

/**
 * How a run fails: thrown out of `runAgent`. `payload` is the `agent-error` (a `{tag, val}`
 * variant), which componentize-js returns as the `err` of `run`'s result.
 */
export class AgentFailure extends Error {
  constructor(payload) {
    super(`agent error ${payload.tag}`);
    this.payload = payload;
  }
}

const failed = (message) => new AgentFailure({ tag: 'failed', val: message });
const chatFailure = (chatError) => new AgentFailure({ tag: 'chat', val: chatError });

/** Stream events that cannot follow the ones before them. */
export class MalformedStream extends Error {}

/**
 * Builds a reply `{message, stopReason, usage}` from stream events, one `push` per event.
 *
 * Text deltas are concatenated into one text block (cited when citations came with it) until
 * something else interrupts them; empty deltas (the provider sends some) add nothing. Reasoning
 * deltas make one reasoning block, closed by its signature. `tool-use-stop` carries the whole
 * tool call; the input fragments are the fallback when its input is empty.
 */
export class Assembler {
  constructor() {
    this.content = [];
    this.text = '';
    this.citations = [];
    this.reasoning = null;
    this.tool = null; // {id, name, input: fragments so far} of the tool call being streamed
    this.stopReason = undefined;
    this.usage = undefined;
  }

  push(event) {
    switch (event.tag) {
      case 'message-start':
        break;
      case 'text-delta':
        this.endReasoning(undefined);
        this.text += event.val;
        break;
      case 'citation':
        this.citations.push(event.val);
        break;
      case 'reasoning-delta':
        this.endText();
        this.reasoning = (this.reasoning ?? '') + event.val;
        break;
      case 'reasoning-signature':
        this.endReasoning(event.val);
        break;
      case 'redacted-reasoning':
        this.endText();
        this.endReasoning(undefined);
        this.content.push({ tag: 'reasoning', val: { tag: 'redacted', val: event.val } });
        break;
      case 'tool-use-start':
        if (this.tool !== null) {
          throw new MalformedStream(
            `tool call ${debugStr(event.val.id)} started before tool call ${debugStr(this.tool.id)} stopped`,
          );
        }
        this.endText();
        this.endReasoning(undefined);
        this.tool = { id: event.val.id, name: event.val.name, input: '' };
        break;
      case 'tool-use-input-delta':
        if (this.tool === null) throw new MalformedStream('tool input arrived outside a tool call');
        this.tool.input += event.val;
        break;
      case 'tool-use-stop': {
        this.endText();
        const fragments = this.tool ? this.tool.input : '';
        this.tool = null;
        let input = event.val.input;
        if (!trim(input)) input = fragments;
        if (!trim(input)) input = '{}';
        this.content.push({ tag: 'tool-use', val: { id: event.val.id, name: event.val.name, input } });
        break;
      }
      case 'message-stop':
        this.stopReason = event.val;
        break;
      case 'metadata':
        this.usage = event.val;
        break;
      default:
        throw new MalformedStream(`unknown stream event ${debugStr(String(event.tag))}`);
    }
  }

  /** The assembled turn, once the stream has ended (`next` returned `undefined`). */
  finish() {
    if (this.tool !== null) {
      throw new MalformedStream(
        `the reply ended inside tool call ${debugStr(this.tool.name)} (${debugStr(this.tool.id)})`,
      );
    }
    if (this.stopReason === undefined) throw new MalformedStream('the reply ended without a stop reason');
    this.endReasoning(undefined);
    this.endText();
    return { message: { role: 'assistant', content: this.content }, stopReason: this.stopReason, usage: this.usage };
  }

  endText() {
    if (this.text) {
      if (this.citations.length > 0) {
        this.content.push({ tag: 'cited', val: { text: this.text, citations: this.citations } });
        this.citations = [];
      } else {
        this.content.push({ tag: 'text', val: this.text });
      }
      this.text = '';
    }
  }

  endReasoning(signature) {
    if (this.reasoning !== null) {
      this.content.push({ tag: 'reasoning', val: { tag: 'text', val: { text: this.reasoning, signature } } });
      this.reasoning = null;
    }
  }
}

function unsupported(reason) {
  console.error(`streaming is unsupported (${reason}); using send for the rest of the run`);
}

const disposeSymbol = Symbol.dispose ?? Symbol.for('dispose');

/** Drops a stream resource now rather than when it is garbage-collected. */
function dispose(stream) {
  if (typeof stream[disposeSymbol] === 'function') stream[disposeSymbol]();
}

/**
 * Pulls one streamed reply to its end and assembles it; `null` if the host does not stream
 * (`unsupported` when opening the stream or as its first event). Throws AgentFailure.
 */
export function streamedTurn(conversation) {
  let stream;
  try {
    stream = conversation.sendStream();
  } catch (e) {
    const error = componentErrorPayload(e);
    if (error.tag === 'unsupported') {
      unsupported(error.val);
      return null;
    }
    throw chatFailure(error);
  }
  const assembler = new Assembler();
  try {
    let first = true;
    for (;;) {
      let event;
      try {
        event = stream.next();
      } catch (e) {
        const error = componentErrorPayload(e);
        if (first && error.tag === 'unsupported') {
          unsupported(error.val);
          return null;
        }
        throw chatFailure(error);
      }
      if (event === undefined || event === null) break;
      first = false;
      assembler.push(event);
    }
    return assembler.finish();
  } catch (e) {
    if (e instanceof MalformedStream) throw failed(`malformed reply stream: ${e.message}`);
    throw e;
  } finally {
    dispose(stream);
  }
}

/** How the run talks to the model, and what it has used so far. */
export class Session {
  constructor(verbose = false) {
    // Cleared for the rest of the run once the host answers send-stream with unsupported.
    this.streaming = true;
    // Print a line of each reasoning block (`gamecode run -v`).
    this.verbose = verbose;
    this.turns = 0;
    // Total tokens of the turns that reported usage; undefined if none did.
    this.tokens = undefined;
    // Input tokens read from the prompt cache.
    this.cached = 0;
  }

  /** One model turn: streamed while the host streams, one-shot after it said it cannot. */
  ask(conversation) {
    this.turns++;
    let reply = this.streaming ? streamedTurn(conversation) : null;
    if (reply === null) {
      this.streaming = false;
      let response;
      try {
        response = conversation.send();
      } catch (e) {
        throw chatFailure(componentErrorPayload(e));
      }
      reply = { message: response.message, stopReason: response.stopReason, usage: response.usage };
    }
    if (reply.usage !== undefined && reply.usage !== null) {
      this.tokens = Math.min((this.tokens ?? 0) + reply.usage.totalTokens, 2 ** 32 - 1);
      this.cached += reply.usage.cacheReadInputTokens ?? 0;
    }
    if (this.verbose) {
      for (const block of reply.message.content) {
        if (block.tag === 'reasoning' && block.val.tag === 'text') {
          console.error(`thinking: ${firstLine(block.val.val.text, 100)}`);
        }
      }
    }
    return reply;
  }

  /** The run's closing progress line. */
  summary() {
    let line = `agent: ${this.turns} model turn${this.turns === 1 ? '' : 's'} (${
      this.streaming ? 'streamed' : 'not streamed'
    })`;
    if (this.tokens !== undefined) {
      line += `, ${this.tokens} tokens`;
      if (this.cached > 0) line += ` (${this.cached} read from the prompt cache)`;
    }
    return line;
  }
}

/** The first line of `text`, cut to `limit` characters. */
export function firstLine(text, limit) {
  const line = text.trim().split('\n')[0] ?? '';
  const chars = Array.from(line);
  return chars.length <= limit ? line : `${chars.slice(0, limit).join('')}…`;
}

/**
 * Runs the tool loop for `task` (a `task` record, or its words) and returns the model's final
 * answer; throws AgentFailure. Ends with a summary line on stderr once the model was asked at
 * least once.
 */
export function runAgent(host, task) {
  if (typeof task === 'string') task = { text: task, attachments: [] };
  if (!trim(task.text)) throw failed('the task is empty');
  const verbose = !['', '0', undefined].includes(host.config('gamecode.verbose'));
  const session = new Session(verbose);
  try {
    return toolLoop(host, task, session);
  } finally {
    if (session.turns > 0) console.error(session.summary());
  }
}

/** The task as the first user turn: the attachments (if the model reads them), then the words. */
export function taskContent(task, model) {
  const content = [];
  for (const attachment of task.attachments) {
    const image = attachment.tag === 'image';
    const readable = model === undefined || (image ? model.images : model.documents);
    if (!readable) throw failed(`${model.name} does not read ${image ? 'images' : 'documents'}`);
    content.push({ tag: attachment.tag, val: attachment.val });
  }
  content.push({ tag: 'text', val: task.text });
  return content;
}

/** The tool loop proper. */
export function toolLoop(host, task, session) {
  // Own tools first; a host tool with the same name as one of them (or as an earlier host tool)
  // is left out, since tool names must be unique within a request.
  const specs = ownSpecs();
  const hostTools = [];
  for (const spec of host.listTools()) {
    if (specs.some((s) => s.name === spec.name)) {
      console.error(`host tool ${debugStr(spec.name)} is shadowed by another tool of that name`);
      continue;
    }
    hostTools.push(spec);
    specs.push(spec);
  }

  const model = host.describeModel() ?? undefined;
  // Think first when the model can (the host keeps the reasoning for the tool loop).
  const configured = Number.parseInt(host.config('reasoning-budget') ?? '', 10);
  const budget = Number.isNaN(configured) ? REASONING_BUDGET : configured;
  const thinking = budget > 0 && model !== undefined && model.reasoning;
  const setup = {
    system: systemPrompt(specs),
    model: undefined,
    tools: specs,
    toolChoice: undefined,
    // Thinking needs room to answer after it.
    inferenceConfig: thinking
      ? { temperature: undefined, topP: undefined, maxTokens: budget + 4096, stopSequences: [] }
      : undefined,
    options: {
      reasoning: thinking ? { tag: 'budget', val: budget } : undefined,
      structuredOutput: undefined,
      strictTools: false,
      serviceTier: undefined,
      latencyOptimized: false,
      metadata: [],
      guardrail: undefined,
      cacheTools: undefined,
    },
    autoCache: true,
  };
  const content = taskContent(task, model);
  let conversation;
  try {
    // The session's conversation, continued: in `gamecode chat` or `gamecode run --session` it
    // remembers the earlier turns; outside a session it starts empty.
    conversation = host.sessionConversation(SESSION_KEY, setup);
    conversation.push(content);
  } catch (e) {
    if (e instanceof AgentFailure) throw e;
    throw chatFailure(componentErrorPayload(e));
  }

  for (let turn = 1; turn <= MAX_TURNS; turn++) {
    const reply = session.ask(conversation);
    const calls = reply.message.content.filter((b) => b.tag === 'tool-use').map((b) => b.val);
    const text = messageText(reply.message);
    const reason = reply.stopReason;

    if (reason.tag === 'tool-use' && calls.length > 0) {
      if (turn === MAX_TURNS) break; // No turn left to show the model the results.
      const results = calls.map((call) => ({ tag: 'tool-result', val: execute(host, call, hostTools) }));
      try {
        conversation.push(results);
      } catch (e) {
        throw chatFailure(componentErrorPayload(e));
      }
    } else if (['tool-use', 'end-turn', 'stop-sequence', 'max-tokens'].includes(reason.tag)) {
      if (!text) throw failed(`the model stopped (${stopReasonName(reason)}) without an answer`);
      return text;
    } else {
      let message = `the model stopped: ${stopReasonName(reason)}`;
      if (text) message += ` (it said: ${text})`;
      throw failed(message);
    }
  }
  throw new AgentFailure({ tag: 'turn-limit', val: MAX_TURNS });
}

/** The message's text (cited text included), trimmed, the blank ones left out, joined by
 * newlines. */
export function messageText(message) {
  return message.content
    .filter((b) => b.tag === 'text' || b.tag === 'cited')
    .map((b) => trim(b.tag === 'text' ? b.val : b.val.text))
    .filter((t) => t)
    .join('\n');
}

export function systemPrompt(specs) {
  let prompt =
    "You are the gamecode example agent, running as a sandboxed WebAssembly plugin. " +
    "Solve the user's task. Use the tools when they help: never do arithmetic in your head, " +
    'call `calculator`; call `text_stats` to count characters, words or lines. ' +
    'When a tool reports an error, correct the input or work around it. ' +
    'When you have the answer, reply with it in plain text, without calling more tools.\n\n' +
    'Tools:';
  for (const spec of specs) prompt += `\n- ${spec.name}: ${spec.description}`;
  return prompt;
}

/** The WIT case name of a stop reason (`other` keeps the provider's value). */
export function stopReasonName(reason) {
  return reason.tag === 'other' ? `other: ${reason.val}` : reason.tag;
}
