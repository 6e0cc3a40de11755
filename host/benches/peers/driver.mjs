// One MCP client against several stdio servers, called in turn, printing latencies as JSON.
//
//   node driver.mjs bare|sdk SPEC_JSON
//
// `bare` is a hand-rolled JSON-RPC client (newline-delimited messages: initialize,
// notifications/initialized, then one request at a time, each answer JSON.parse'd and nothing
// more). `sdk` is the official TypeScript SDK's `Client` over `StdioClientTransport`; it lists the
// tools once after connecting, as real clients do, so `callTool` validates structured content
// against the tool's outputSchema. bench.py writes SPEC_JSON and reads what this prints; driver.py
// is the same for the Python SDK. Both share the spec and output formats described in bench.py.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

const PROTOCOL_VERSION = '2025-11-25';
const CLIENT_INFO = { name: 'querygate-peer-bench', version: '1' };

/** The bare client: a child process and a map of pending request ids. */
async function connectBare(server) {
  const child = spawn(server.command, server.args, {
    env: { ...process.env, ...server.env },
    stdio: ['pipe', 'pipe', openSync(server.stderr, 'a')],
  });
  const pending = new Map();
  let nextId = 1;
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    if (!line.trim()) return;
    const message = JSON.parse(line);
    const waiter = pending.get(message.id);
    if (waiter === undefined) return; // a notification or a request from the server
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${server.name}: ${JSON.stringify(message.error)}`));
    else waiter.resolve(message.result);
  });
  child.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${server.name} exited (${code})`));
  });
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  const init = await request('initialize', {
    protocolVersion: PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: CLIENT_INFO,
  });
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  const { tools } = await request('tools/list', {});
  return {
    protocol: init.protocolVersion,
    serverInfo: init.serverInfo,
    tools,
    call: (spec) =>
      spec.method === 'ping'
        ? request('ping', {})
        : request('tools/call', { name: spec.tool, arguments: spec.arguments }),
    validator: null, // a bare client validates nothing
    close: async () => {
      child.stdin.end();
      child.kill();
    },
  };
}

/** The official TypeScript SDK, used as its README shows. */
async function connectSdk(server) {
  const transport = new StdioClientTransport({
    command: server.command,
    args: server.args,
    env: { ...process.env, ...server.env },
    stderr: openSync(server.stderr, 'a'),
  });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  // Lists the tools (and caches their output validators), as Claude Desktop, Cursor or the
  // Inspector do before calling one.
  const { tools } = await client.listTools();
  const ajv = new AjvJsonSchemaValidator();
  return {
    protocol: null, // the SDK keeps the negotiated version to itself over stdio
    serverInfo: client.getServerVersion(),
    tools,
    call: (spec) => (spec.method === 'ping' ? client.ping() : client.callTool({ name: spec.tool, arguments: spec.arguments })),
    // The validator class `callTool` uses, compiled afresh, to time validation on its own.
    validator: (schema) => {
      const validate = ajv.getValidator(schema);
      return (value) => {
        if (!validate(value).valid) throw new Error('structured content does not match its schema');
      };
    },
    close: () => client.close(),
  };
}

const text = (result) =>
  (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');

function fail(message) {
  process.stderr.write(`driver.mjs: ${message}\n`);
  process.exit(1);
}

async function main() {
  const [mode, specJson] = process.argv.slice(2);
  const connect = { bare: connectBare, sdk: connectSdk }[mode];
  if (!connect || !specJson) fail('usage: node driver.mjs bare|sdk SPEC_JSON');
  const spec = JSON.parse(specJson);
  const out = { client: mode === 'bare' ? 'bare JSON-RPC (Node)' : 'TypeScript SDK', servers: {}, phases: {} };
  const sessions = {};
  for (const server of spec.servers) {
    const session = await connect(server);
    sessions[server.name] = session;
    out.servers[server.name] = { protocol: session.protocol, serverInfo: session.serverInfo };
  }
  for (const phase of spec.phases) {
    const names = Object.keys(phase.calls);
    const cells = Object.fromEntries(
      names.map((n) => [n, { ms: [], timings: {}, contentItems: null, answerChars: null, sample: null }]),
    );
    const deadline = performance.now() + phase.budget_s * 1000;
    let last = {};
    // Interleaved rounds: each round calls every server once, starting one further along, so
    // that whatever else the machine does lands on all servers alike.
    for (let round = 0; round < phase.warmup + phase.iterations && performance.now() < deadline; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        const call = phase.calls[name];
        const t0 = performance.now();
        const result = await sessions[name].call(call);
        const ms = performance.now() - t0;
        if (result?.isError) fail(`${name} answered ${phase.label} with an error: ${text(result).slice(0, 500)}`);
        last[name] = result;
        if (round < phase.warmup) continue;
        const cell = cells[name];
        cell.ms.push(ms);
        for (const [key, value] of Object.entries(result?.structuredContent?.timings ?? {})) {
          (cell.timings[key] ??= []).push(value);
        }
      }
    }
    for (const name of names) {
      const cell = cells[name];
      const result = last[name];
      cell.contentItems = result?.content?.length ?? 0;
      cell.answerChars = text(result).length;
      cell.sample = text(result).slice(0, 300);
      cell.expectedFound = phase.expect === undefined || text(result).includes(phase.expect);
      const tool = sessions[name].tools.find((t) => t.name === phase.calls[name].tool);
      const compile = sessions[name].validator;
      if (compile && tool?.outputSchema && result?.structuredContent) {
        const validate = compile(tool.outputSchema);
        cell.validateMs = [];
        for (let i = 0; i < 30; i++) {
          const t0 = performance.now();
          validate(result.structuredContent);
          cell.validateMs.push(performance.now() - t0);
        }
      }
    }
    out.phases[phase.label] = cells;
  }
  for (const session of Object.values(sessions)) await session.close();
  // Exit only once the transcript is flushed: a pipe takes 64 KiB at a time, and an exit
  // before the write completes cuts the JSON there.
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
}

main().catch((e) => fail(e?.stack ?? String(e)));
