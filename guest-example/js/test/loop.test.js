// The tool loop against a scripted fake host, streamed and not: the Rust example's cases plus
// stream assembly and the fallback to send.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { AgentFailure, Assembler, MAX_TURNS, Session, messageText, runAgent, toolLoop } from '../src/loop.js';
import {
  ComponentError,
  FakeHost,
  UNSUPPORTED,
  UNSUPPORTED_FIRST_EVENT,
  call,
  eventsOf,
  hostTool,
  quiet,
  reply,
  say,
  stop,
  text,
} from './fakeHost.js';

/** [answer or agent-error, stderr lines] */
function run(host, task) {
  const lines = [];
  const out = quiet(() => {
    try {
      return runAgent(host, task);
    } catch (e) {
      assert.ok(e instanceof AgentFailure, String(e));
      return e.payload;
    }
  }, lines);
  return [out, lines];
}

function results(request) {
  const last = request.messages.at(-1);
  assert.equal(last.role, 'user');
  for (const b of last.content) assert.equal(b.tag, 'tool-result');
  return last.content.map((b) => b.val);
}

function resultText(r) {
  assert.equal(r.content.length, 1);
  return r.content[0].val;
}

function assemble(events) {
  const a = new Assembler();
  for (const e of events) a.push(e);
  return a.finish();
}

const summary = (r) =>
  r.message.content.map((b) => (b.tag === 'text' ? `text:${b.val}` : `tool:${b.val.id}:${b.val.name}:${b.val.input}`));

const TOOL_USE = stop('tool-use');
const END_TURN = stop('end-turn');

describe('loop', () => {
  test('calculator round trip', () => {
    const host = new FakeHost({
      replies: [
        reply([text("I'll use the calculator."), call('t1', 'calculator', '{"expression":"6 * 7"}')], TOOL_USE),
        say('6 times 7 is 42.'),
      ],
    });
    const [answer, stderr] = run(host, 'What is 6 * 7?');
    assert.equal(answer, '6 times 7 is 42.');
    assert.equal(host.requests.length, 2);
    const [first, second] = host.requests;
    assert.deepEqual(first.messages.map((m) => m.role), ['system', 'user']);
    assert.match(messageText(first.messages[0]), /calculator/);
    assert.equal(messageText(first.messages[1]), 'What is 6 * 7?');
    assert.deepEqual(first.tools.map((t) => t.name), ['calculator', 'text_stats']);
    assert.equal(second.messages.length, 4);
    assert.equal(second.messages[2].role, 'assistant');
    const [r] = results(second);
    assert.deepEqual([r.toolUseId, r.isError, resultText(r)], ['t1', false, '42']);
    assert.deepEqual(host.toolCalls, []);
    assert.deepEqual(stderr, ['tool calculator({"expression":"6 * 7"}) -> 42', 'agent: 2 model turns (streamed)']);
  });

  test('every call of a turn is answered in one message, failures flagged', () => {
    const host = new FakeHost({
      replies: [
        reply(
          [
            call('a', 'read_file', '{"path":"notes.txt"}'),
            call('b', 'secret', '{}'),
            call('c', 'nonexistent', '{}'),
            call('d', 'calculator', '{"expression":"1/0"}'),
            call('e', 'text_stats', 'not json'),
            call('f', 'text_stats', '{"text":"to be or not to be"}'),
          ],
          TOOL_USE,
        ),
        say('done'),
      ],
      hostTools: [hostTool('read_file'), hostTool('secret'), hostTool('calculator')],
    });
    const [answer, stderr] = run(host, 'do things');
    assert.equal(answer, 'done');
    assert.deepEqual(host.requests[0].tools.map((t) => t.name), ['calculator', 'text_stats', 'read_file', 'secret']);
    assert.match(messageText(host.requests[0].messages[0]), /- read_file: host tool/);
    assert.equal(stderr[0], 'host tool "calculator" is shadowed by another tool of that name');
    const got = results(host.requests[1]).map((r) => [r.toolUseId, r.isError, resultText(r)]);
    assert.deepEqual(got[0], ['a', false, 'contents for {"path":"notes.txt"}']);
    assert.deepEqual(got[1], ['b', true, 'not-allowed: secret is not granted']);
    assert.deepEqual(got[2], ['c', true, 'unknown tool "nonexistent": it was not offered']);
    assert.deepEqual(got[3], ['d', true, 'cannot evaluate "1/0": division by zero']);
    assert.ok(got[4][1] && got[4][2].startsWith('the input is not valid JSON'));
    assert.equal(got[5][1], false);
    assert.equal(JSON.parse(got[5][2]).words, 6);
    assert.deepEqual(host.toolCalls, [['read_file', '{"path":"notes.txt"}'], ['secret', '{}']]);
  });

  test('stops at the turn limit', () => {
    const replies = Array.from({ length: MAX_TURNS }, (_, i) =>
      reply([call(`t${i}`, 'calculator', '{"expression":"1+1"}')], TOOL_USE),
    );
    const host = new FakeHost({ replies });
    assert.deepEqual(run(host, 'loop forever')[0], { tag: 'turn-limit', val: MAX_TURNS });
    assert.equal(host.requests.length, MAX_TURNS);
  });

  test('chat errors end the run', () => {
    const host = new FakeHost({ replies: [new ComponentError({ tag: 'chat-limit-reached', val: '3 of 3' })] });
    assert.deepEqual(run(host, 'hi')[0], { tag: 'chat', val: { tag: 'chat-limit-reached', val: '3 of 3' } });
  });

  test('final answers and failures', () => {
    const once = (r) => run(new FakeHost({ replies: [r] }), 'task')[0];
    assert.equal(once(reply([text(' cut off ')], stop('max-tokens'))), 'cut off');
    assert.equal(once(reply([text('x')], stop('stop-sequence'))), 'x');
    // tool-use without any tool call: the text is the answer.
    assert.equal(once(reply([text('y')], TOOL_USE)), 'y');
    assert.deepEqual(once(reply([text('  ')], END_TURN)), {
      tag: 'failed',
      val: 'the model stopped (end-turn) without an answer',
    });
    assert.deepEqual(once(reply([text('no')], stop('guardrail-intervened'))), {
      tag: 'failed',
      val: 'the model stopped: guardrail-intervened (it said: no)',
    });
    assert.deepEqual(once(reply([], stop('other', 'weird'))), { tag: 'failed', val: 'the model stopped: other: weird' });
    const host = new FakeHost();
    assert.deepEqual(run(host, '  ')[0], { tag: 'failed', val: 'the task is empty' });
    assert.deepEqual(host.requests, []);
  });
});

describe('streaming', () => {
  test('turns are streamed by default', () => {
    const host = new FakeHost({
      replies: [
        reply([text('Let me compute that.'), call('t1', 'calculator', '{"expression":"6*7"}')], TOOL_USE),
        say('The answer is 42.'),
      ],
    });
    assert.equal(run(host, 'What is 6 * 7?')[0], 'The answer is 42.');
    assert.deepEqual(host.methods, ['send-stream', 'send-stream']);
    assert.equal(host.dropped, 2);
    const assistant = host.requests[1].messages[2];
    assert.equal(assistant.role, 'assistant');
    assert.deepEqual(assistant.content, [text('Let me compute that.'), call('t1', 'calculator', '{"expression":"6*7"}')]);
    assert.equal(resultText(results(host.requests[1])[0]), '42');
  });

  test('unsupported streaming falls back to send for the rest of the run', () => {
    for (const streaming of [UNSUPPORTED, UNSUPPORTED_FIRST_EVENT]) {
      const host = new FakeHost({
        replies: [reply([call('t1', 'calculator', '{"expression":"6*7"}')], TOOL_USE), say('42')],
        streaming,
      });
      const [answer, stderr] = run(host, '6*7?');
      assert.equal(answer, '42', streaming);
      assert.deepEqual(host.methods, ['send', 'send'], streaming);
      assert.deepEqual(stderr, [
        'streaming is unsupported (no streaming here); using send for the rest of the run',
        'tool calculator({"expression":"6*7"}) -> 42',
        'agent: 2 model turns (not streamed)',
      ]);
    }
  });

  test('stream errors end the run', () => {
    // An error mid-stream is a chat error (no fallback, even when it says unsupported).
    for (const error of [
      { tag: 'network', val: 'connection reset' },
      { tag: 'unsupported', val: 'late' },
    ]) {
      const host = new FakeHost({
        streams: [[{ tag: 'message-start' }, { tag: 'text-delta', val: 'partial' }, new ComponentError(error)]],
      });
      assert.deepEqual(run(host, 'hi')[0], { tag: 'chat', val: error });
      assert.deepEqual(host.methods, ['send-stream']);
      assert.equal(host.dropped, 1);
    }
    // Opening the stream can fail like send does.
    const budget = { tag: 'token-budget-exhausted', val: '0 left' };
    assert.deepEqual(run(new FakeHost({ replies: [new ComponentError(budget)] }), 'hi')[0], { tag: 'chat', val: budget });
    // A stream that ends without a stop reason is malformed.
    assert.deepEqual(run(new FakeHost({ streams: [[{ tag: 'text-delta', val: 'cut' }]] }), 'hi')[0], {
      tag: 'failed',
      val: 'malformed reply stream: the reply ended without a stop reason',
    });
  });

  test('a bug in the host binding is not swallowed as a chat error', () => {
    const host = new FakeHost();
    host.sessionConversation = () => ({
      push() {},
      sendStream() {
        throw new TypeError('boom');
      },
    });
    assert.throws(() => quiet(() => runAgent(host, 'hi')), TypeError);
  });

  test('usage is summed over turns', () => {
    const usage = (total, cached = 0) => ({
      inputTokens: total - 1,
      outputTokens: 1,
      totalTokens: total,
      cacheReadInputTokens: cached,
      cacheWriteInputTokens: 0,
    });
    const host = new FakeHost({
      replies: [
        reply([call('t1', 'calculator', '{"expression":"1+1"}')], TOOL_USE, usage(30)),
        reply([text('2')], END_TURN, usage(12, 1500)),
      ],
    });
    const session = new Session();
    assert.equal(quiet(() => toolLoop(host, { text: '1+1', attachments: [] }, session)), '2');
    assert.equal(session.summary(), 'agent: 2 model turns (streamed), 42 tokens (1500 read from the prompt cache)');
    session.turns = 1;
    session.tokens = undefined;
    assert.equal(session.summary(), 'agent: 1 model turn (streamed)');
  });
});

describe('assembly', () => {
  test('text deltas are joined per block and tool calls split them', () => {
    const r = assemble([
      { tag: 'message-start' },
      { tag: 'text-delta', val: '' },
      { tag: 'text-delta', val: 'Let me ' },
      { tag: 'text-delta', val: 'compute.' },
      { tag: 'tool-use-start', val: { id: 't1', name: 'calculator' } },
      { tag: 'tool-use-input-delta', val: '{"expression":' },
      { tag: 'tool-use-input-delta', val: '"6*7"}' },
      { tag: 'tool-use-stop', val: { id: 't1', name: 'calculator', input: '{"expression":"6*7"}' } },
      { tag: 'tool-use-start', val: { id: 't2', name: 'text_stats' } },
      { tag: 'tool-use-stop', val: { id: 't2', name: 'text_stats', input: '{"text":"a"}' } },
      { tag: 'text-delta', val: 'Done' },
      { tag: 'text-delta', val: '.' },
      { tag: 'message-stop', val: TOOL_USE },
      { tag: 'metadata', val: { inputTokens: 10, outputTokens: 5, totalTokens: 15 } },
    ]);
    assert.equal(r.message.role, 'assistant');
    assert.deepEqual(summary(r), [
      'text:Let me compute.',
      'tool:t1:calculator:{"expression":"6*7"}',
      'tool:t2:text_stats:{"text":"a"}',
      'text:Done.',
    ]);
    assert.deepEqual(r.stopReason, TOOL_USE);
    assert.equal(r.usage.totalTokens, 15);
  });

  test('tool input falls back to the fragments, then to an empty object', () => {
    const r = assemble([
      { tag: 'tool-use-start', val: { id: 'a', name: 'calculator' } },
      { tag: 'tool-use-input-delta', val: '{"expression":' },
      { tag: 'tool-use-input-delta', val: '"1"}' },
      { tag: 'tool-use-stop', val: { id: 'a', name: 'calculator', input: '' } },
      { tag: 'tool-use-start', val: { id: 'b', name: 'list' } },
      { tag: 'tool-use-stop', val: { id: 'b', name: 'list', input: '' } },
      { tag: 'message-stop', val: TOOL_USE },
    ]);
    assert.deepEqual(summary(r), ['tool:a:calculator:{"expression":"1"}', 'tool:b:list:{}']);
    assert.equal(r.usage, undefined);
  });

  test('only empty deltas give an empty message', () => {
    assert.deepEqual(assemble([{ tag: 'text-delta', val: '' }, { tag: 'message-stop', val: END_TURN }]).message.content, []);
  });

  test('eventsOf round-trips', () => {
    const response = reply([text('héllo wörld 🙂'), call('x', 'calculator', '{"expression":"1"}')], TOOL_USE);
    assert.deepEqual(assemble(eventsOf(response)).message, response.message);
  });

  test('broken streams are errors', () => {
    const error = (events) => {
      try {
        assemble(events);
      } catch (e) {
        return e.message;
      }
      throw new Error('assembled');
    };
    assert.equal(error([{ tag: 'text-delta', val: 'hi' }]), 'the reply ended without a stop reason');
    assert.equal(
      error([{ tag: 'tool-use-start', val: { id: 'a', name: 'calculator' } }, { tag: 'message-stop', val: TOOL_USE }]),
      'the reply ended inside tool call "calculator" ("a")',
    );
    assert.equal(error([{ tag: 'tool-use-input-delta', val: '{' }]), 'tool input arrived outside a tool call');
    assert.equal(
      error([
        { tag: 'tool-use-start', val: { id: 'a', name: 'x' } },
        { tag: 'tool-use-start', val: { id: 'b', name: 'y' } },
      ]),
      'tool call "b" started before tool call "a" stopped',
    );
  });
});

describe('conversation', () => {
  const model = (reasoning, images) => ({
    id: 'anthropic.test',
    name: 'Test Model',
    images,
    documents: true,
    reasoning,
    adaptiveReasoning: false,
    cacheMinTokens: 1024,
    contextWindow: 200000,
    maxOutputTokens: 64000,
  });

  test('continues the session conversation under the key "chat"', () => {
    const host = new FakeHost({ replies: [say('ok')] });
    assert.equal(run(host, 'hi')[0], 'ok');
    assert.equal(host.key, 'chat');
  });

  test('thinks when the model can and keeps attachments first', () => {
    const thought = { tag: 'reasoning', val: { tag: 'text', val: { text: 'Think.\nMore.', signature: 'sig' } } };
    const host = new FakeHost({
      replies: [reply([thought, text('It is a PNG.')], END_TURN)],
      model: model(true, true),
      config: { 'reasoning-budget': '2048', 'gamecode.verbose': '1' },
    });
    const image = { format: 'png', data: new Uint8Array([1, 2]) };
    const document = { format: 'txt', name: 'notes', data: new Uint8Array([104, 105]), citations: false };
    const task = {
      text: 'What is this?',
      attachments: [
        { tag: 'image', val: image },
        { tag: 'document', val: document },
      ],
    };
    const [answer, stderr] = run(host, task);
    assert.equal(answer, 'It is a PNG.');
    assert.deepEqual(host.setup.options.reasoning, { tag: 'budget', val: 2048 });
    assert.equal(host.setup.inferenceConfig.maxTokens, 2048 + 4096);
    assert.equal(host.setup.autoCache, true);
    assert.deepEqual(host.requests[0].messages[1].content, [
      { tag: 'image', val: image },
      { tag: 'document', val: document },
      text('What is this?'),
    ]);
    assert.equal(stderr[0], 'thinking: Think.');
  });

  test('no images for a blind model, no thinking when configured off', () => {
    let host = new FakeHost({ replies: [say('ok')], model: model(true, false) });
    const task = { text: 'look', attachments: [{ tag: 'image', val: { format: 'png', data: new Uint8Array([1]) } }] };
    assert.deepEqual(run(host, task)[0], { tag: 'failed', val: 'Test Model does not read images' });
    assert.equal(host.setup, undefined);
    host = new FakeHost({ replies: [say('ok')], model: model(true, false), config: { 'reasoning-budget': '0' } });
    assert.equal(run(host, 'hi')[0], 'ok');
    assert.equal(host.setup.options.reasoning, undefined);
  });
});
