// Drives an MCP server over stdio with the official TypeScript SDK, as Claude Desktop, Cursor
// and the MCP Inspector do, and prints one JSON transcript (see tests/e2e/interop.rs).
//
// usage: node client.mjs SCENARIO.json
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const scenario = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const transcript = { protocolVersion: null, serverInfo: null, tools: null, calls: [], resources: null, reads: [] };

// What the SDK threw, recorded in place of an answer.
async function attempt(step) {
  try {
    return await step();
  } catch (error) {
    return { exception: String(error) };
  }
}

const transport = new StdioClientTransport({
  command: scenario.command,
  args: scenario.args,
  env: { ...process.env, ...scenario.env },
  stderr: 'inherit',
});
// The SDK always offers its newest revision; an older client offers an older one.
const send = transport.send.bind(transport);
transport.send = (message, options) => {
  if (message.method === 'initialize' && scenario.protocolVersion) {
    message = { ...message, params: { ...message.params, protocolVersion: scenario.protocolVersion } };
  }
  return send(message, options);
};
// The transport hook through which the client hands on the negotiated version.
transport.setProtocolVersion = (version) => {
  transcript.protocolVersion = version;
};

const client = new Client({ name: 'interop-typescript', version: '1.0.0' });
try {
  await client.connect(transport);
  transcript.serverInfo = client.getServerVersion();
  transcript.tools = await attempt(async () => (await client.listTools()).tools);
  for (const call of scenario.calls) {
    transcript.calls.push(
      await attempt(async () => {
        const result = await client.callTool({ name: call.name, arguments: call.arguments });
        return {
          isError: result.isError ?? false,
          text: result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n'),
          structuredContent: result.structuredContent ?? null,
        };
      }),
    );
  }
  transcript.resources = await attempt(async () => (await client.listResources()).resources);
  for (const resource of Array.isArray(transcript.resources) ? transcript.resources : []) {
    transcript.reads.push(
      await attempt(async () => {
        const read = await client.readResource({ uri: resource.uri });
        return { uri: resource.uri, text: read.contents.map((c) => c.text ?? '').join('\n') };
      }),
    );
  }
} catch (error) {
  transcript.exception = String(error);
} finally {
  await client.close().catch(() => {});
}
process.stdout.write(JSON.stringify(transcript) + '\n');
