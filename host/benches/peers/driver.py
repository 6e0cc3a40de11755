"""One MCP client (the official Python SDK) against several stdio servers, printing latencies as JSON.

    .venv/bin/python driver.py SPEC_JSON

The twin of driver.mjs (same spec, same output): `ClientSession` over `stdio_client`, used as the
SDK's README shows. `call_tool` lists the tools the first time and from then on validates
structured content against the tool's outputSchema with `jsonschema`; that is part of each call.
"""

import json
import sys
import time
from contextlib import AsyncExitStack

import anyio
from jsonschema import exceptions as jsonschema_exceptions
from jsonschema.validators import validator_for
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from referencing import Registry


def text(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def validator(schema):
    """The check `ClientSession.validate_tool_result` makes, with the validator it compiles."""
    compiled = validator_for(schema)(schema, registry=Registry())

    def validate(value):
        if jsonschema_exceptions.best_match(compiled.iter_errors(value)) is not None:
            raise RuntimeError("structured content does not match its schema")

    return validate


async def main(spec: dict) -> dict:
    out = {"client": "Python SDK", "servers": {}, "phases": {}}
    async with AsyncExitStack() as stack:
        sessions, tools = {}, {}
        for server in spec["servers"]:
            errlog = stack.enter_context(open(server["stderr"], "a"))
            params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"])
            read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            session = await stack.enter_async_context(ClientSession(read, write))
            init = await session.initialize()
            tools[server["name"]] = {t.name: t for t in (await session.list_tools()).tools}
            sessions[server["name"]] = session
            out["servers"][server["name"]] = {
                "protocol": init.protocol_version,
                "serverInfo": init.server_info.model_dump(mode="json", exclude_none=True),
            }

        async def call(name: str, how: dict):
            if how.get("method") == "ping":
                return await sessions[name].send_ping()
            return await sessions[name].call_tool(how["tool"], how["arguments"])

        for phase in spec["phases"]:
            names = list(phase["calls"])
            cells = {n: {"ms": [], "timings": {}} for n in names}
            last = {}
            deadline = time.perf_counter() + phase["budget_s"]
            rounds = phase["warmup"] + phase["iterations"]
            round_ = 0
            # Interleaved rounds, as in driver.mjs.
            while round_ < rounds and time.perf_counter() < deadline:
                for k in range(len(names)):
                    name = names[(round_ + k) % len(names)]
                    t0 = time.perf_counter()
                    result = await call(name, phase["calls"][name])
                    ms = (time.perf_counter() - t0) * 1e3
                    if getattr(result, "is_error", False):
                        raise RuntimeError(f"{name} answered {phase['label']} with an error: {text(result)[:500]}")
                    last[name] = result
                    if round_ < phase["warmup"]:
                        continue
                    cell = cells[name]
                    cell["ms"].append(ms)
                    structured = getattr(result, "structured_content", None) or {}
                    for key, value in (structured.get("timings") or {}).items():
                        cell["timings"].setdefault(key, []).append(value)
                round_ += 1
            for name in names:
                cell, result = cells[name], last[name]
                content = getattr(result, "content", None) or []
                cell["contentItems"] = len(content)
                cell["answerChars"] = len(text(result)) if content else 0
                cell["sample"] = text(result)[:300] if content else ""
                cell["expectedFound"] = "expect" not in phase or (phase["expect"] in text(result) if content else False)
                tool = tools[name].get(phase["calls"][name].get("tool"))
                structured = getattr(result, "structured_content", None)
                if tool is not None and tool.output_schema and structured is not None:
                    validate = validator(tool.output_schema)
                    cell["validateMs"] = []
                    for _ in range(30):
                        t0 = time.perf_counter()
                        validate(structured)
                        cell["validateMs"].append((time.perf_counter() - t0) * 1e3)
            out["phases"][phase["label"]] = cells
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: driver.py SPEC_JSON")
    print(json.dumps(anyio.run(main, json.loads(sys.argv[1]))))
