// The component's entry point: build.mjs hands this module to componentize-js.
//
// It exports `gamecode:plugin/agent@0.2.1` (the `agent` object below) and reaches the host
// through the `chat`, `tools` and `config` imports. The agent logic itself lives in the other
// modules and is plain JavaScript, unit-tested natively (`node --test`) against a fake host.

import { describeModel, sessionConversation } from 'gamecode:plugin/chat@0.2.1';
import { get } from 'gamecode:plugin/config@0.2.1';
import { callTool, listTools } from 'gamecode:plugin/tools@0.2.1';

import { runAgent } from './loop.js';

/** The real host, through the WIT imports. */
const host = {
  sessionConversation,
  describeModel: () => describeModel(undefined),
  config: get,
  listTools,
  callTool,
};

export const agent = {
  /**
   * Runs one task to completion. A failure is thrown as an error whose `payload` is the
   * `agent-error`; componentize-js returns that as the `err` of `result<string, agent-error>`.
   */
  run(task) {
    return runAgent(host, task);
  },
};
