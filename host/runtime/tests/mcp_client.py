"""The official Python MCP SDK (`mcp` on PyPI) driving `gamecode mcp serve`: the command to
start the server is the arguments; prints the tools, then each task's answer or error."""

import asyncio, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            print("tools:", ",".join(t.name for t in tools.tools))
            for task in ["What is 6 * 7?", ""]:
                r = await session.call_tool(tools.tools[0].name, {"task": task})
                print("error:" if r.is_error else "answer:", " ".join(c.text for c in r.content))

asyncio.run(main())
