"""The component's entry point: `componentize-py ... componentize app` wraps this module.

It exports `gamecode:plugin/agent@0.2.1` (the `Agent` class below) and reaches the host through
the `chat`, `tools` and `config` imports. The agent logic itself lives in `gamecode_agent` and is
plain Python, unit-tested natively against a fake host.
"""

from wit_world import exports
from wit_world.imports import chat, config, tools
from wit_world.imports.types import Task

from gamecode_agent.loop import run_agent


class WitHost:
    """The real host, through the WIT imports."""

    def session_conversation(self, key, setup):
        return chat.session_conversation(key, setup)

    def describe_model(self):
        return chat.describe_model(None)

    def config(self, key):
        return config.get(key)

    def list_tools(self):
        return tools.list_tools()

    def call_tool(self, name, input):
        return tools.call_tool(name, input)


class Agent(exports.Agent):
    def run(self, task: Task) -> str:
        # Errors leave as `componentize_py_types.Err(AgentError)`, which componentize-py turns
        # into the `err` case of `result<string, agent-error>`.
        return run_agent(WitHost(), task)
