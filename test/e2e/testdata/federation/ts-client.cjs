// The TypeScript MCP SDK client (@modelcontextprotocol/sdk from npm,
// pinned in test/conformance/npm) against a federated route of the real
// gateway, for test/e2e/federation_test.go (TestFederationTSClient).
//
// Environment: GATEWAY_URL (the route's URL), TOKEN (a bearer token).
// It prints one JSON object with what it saw on stdout and exits 0; any
// failure prints the error on stderr and exits 1. The whole run is bounded
// (the Go test bounds it too).
'use strict';

const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const {
  CreateMessageRequestSchema,
  ToolListChangedNotificationSchema,
} = require('@modelcontextprotocol/sdk/types.js');

const deadline = setTimeout(() => {
  console.error('ts-client: timed out');
  process.exit(2);
}, 45000);

function text(res) {
  if (!res || !Array.isArray(res.content) || res.content.length === 0) {
    throw new Error('empty tool result: ' + JSON.stringify(res));
  }
  if (res.isError) {
    throw new Error('tool error: ' + JSON.stringify(res.content));
  }
  return res.content[0].text;
}

async function names(client) {
  const res = await client.listTools({}, { timeout: 10000 });
  return res.tools.map((t) => t.name).sort();
}

async function main() {
  const url = process.env.GATEWAY_URL;
  const token = process.env.TOKEN;
  if (!url || !token) throw new Error('GATEWAY_URL and TOKEN are required');

  const client = new Client({ name: 'ts-sdk-e2e', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const m = req.params.messages;
    if (m.length !== 1 || m[0].content.text !== 'summarize: standup at 9') {
      throw new Error('unexpected sampling request ' + JSON.stringify(m));
    }
    return { role: 'assistant', model: 'ts-model', content: { type: 'text', text: 'a short day' } };
  });
  let onListChanged = null;
  let listChangedCount = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
    listChangedCount++;
    if (onListChanged) onListChanged();
  });

  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: 'Bearer ' + token } },
  });
  await client.connect(transport, { timeout: 10000 });

  const out = { sessionId: transport.sessionId || '' };
  out.tools = await names(client);

  out.forecast = text(await client.callTool({ name: 'weather_get_forecast', arguments: { city: 'Oslo' } }, undefined, { timeout: 10000 }));
  out.events = text(await client.callTool({ name: 'calendar_list_events', arguments: {} }, undefined, { timeout: 10000 }));

  out.progress = [];
  out.slow = text(await client.callTool({ name: 'weather_slow_forecast', arguments: {} }, undefined, {
    timeout: 10000,
    onprogress: (p) => out.progress.push({ progress: p.progress, total: p.total, message: p.message }),
  }));

  out.summary = text(await client.callTool({ name: 'calendar_summarize', arguments: {} }, undefined, { timeout: 10000 }));

  const changed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no notifications/tools/list_changed within 10s')), 10000);
    onListChanged = () => { clearTimeout(timer); resolve(); };
  });
  out.added = text(await client.callTool({ name: 'weather_add_alerts', arguments: {} }, undefined, { timeout: 10000 }));
  await changed;
  out.listChanged = listChangedCount;
  out.toolsAfter = await names(client);
  out.alerts = text(await client.callTool({ name: 'weather_get_alerts', arguments: {} }, undefined, { timeout: 10000 }));

  // A tool of a backend this identity may not use: refused, as an error
  // result or a JSON-RPC error.
  try {
    const res = await client.callTool({ name: 'admin_drop_tables', arguments: {} }, undefined, { timeout: 10000 });
    out.deniedRefused = !!res.isError;
  } catch (e) {
    out.deniedRefused = true;
    out.deniedError = String(e && e.message);
  }

  await transport.terminateSession().catch(() => {});
  await client.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(
  () => { clearTimeout(deadline); process.exit(0); },
  (e) => { console.error('ts-client:', e && e.stack ? e.stack : e); process.exit(1); },
);
