"""Drives an MCP server over stdio with the official Python SDK and prints one JSON transcript
(see tests/e2e/interop.rs).

usage: .venv/bin/python client.py SCENARIO.json
"""

import json
import os
import sys
import traceback

import anyio
import mcp.client.session
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import Implementation


async def attempt(step):
    """What the SDK threw, recorded in place of an answer."""
    try:
        return await step()
    except Exception as e:  # noqa: BLE001 - the transcript records every failure
        return {"exception": f"{type(e).__name__}: {e}"}


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def listed(request, field):
    return [dump(item) for item in getattr(await request, field)]


async def call(session, name, arguments):
    result = await session.call_tool(name, arguments)
    return {
        "isError": result.is_error,
        "text": "\n".join(c.text for c in result.content if c.type == "text"),
        "structuredContent": result.structured_content,
    }


async def read(session, uri):
    result = await session.read_resource(uri)
    return {"uri": uri, "text": "\n".join(getattr(c, "text", "") for c in result.contents)}


async def run(scenario, transcript):
    version = scenario.get("protocolVersion")
    # 2026-07-28 has no handshake: the client asks `server/discover` and sends its name and
    # version with every request. Before it, the session offers its newest handshake revision,
    # and an older client offers an older one.
    modern = version == "2026-07-28"
    if version and not modern:
        mcp.client.session.LATEST_HANDSHAKE_VERSION = version
    server = StdioServerParameters(
        command=scenario["command"], args=scenario["args"], env={**os.environ, **scenario["env"]}
    )
    async with stdio_client(server) as (read_stream, write_stream):
        client_info = Implementation(name="interop-python", version="1.0.0")
        async with ClientSession(read_stream, write_stream, client_info=client_info) as session:
            if modern:
                await session.discover()
            else:
                await session.initialize()
            transcript["protocolVersion"] = session.protocol_version
            transcript["serverInfo"] = dump(session.server_info)
            transcript["tools"] = await attempt(lambda: listed(session.list_tools(), "tools"))
            for c in scenario["calls"]:
                transcript["calls"].append(await attempt(lambda: call(session, c["name"], c["arguments"])))
            transcript["resources"] = await attempt(lambda: listed(session.list_resources(), "resources"))
            if isinstance(transcript["resources"], list):
                for r in transcript["resources"]:
                    transcript["reads"].append(await attempt(lambda: read(session, r["uri"])))


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        scenario = json.load(f)
    transcript = {"protocolVersion": None, "serverInfo": None, "tools": None, "calls": [], "resources": None, "reads": []}
    try:
        anyio.run(run, scenario, transcript)
    except BaseException:  # noqa: BLE001 - including exception groups from the task groups
        transcript["exception"] = traceback.format_exc()
    sys.stdout.write(json.dumps(transcript) + "\n")


main()
