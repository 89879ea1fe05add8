// The CLI's admin client against real local servers: request shape, envelopes, non-JSON replies, unreachable APIs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_TOKEN, startFakeAdmin, startOrigin, startTestEdge } from '../../test/helpers/http.js';
import { inspectUrl, purgeCache, reportFailure, resolveAdminTarget } from './admin-client.js';
import { CliError } from './run.js';

const TOKEN = 'client-test-token-0123456789';

async function closedPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('purgeCache and inspectUrl POST JSON with bearer auth under the admin base path, zone id percent-encoded', async (t) => {
  const admin = await startFakeAdmin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'p1', url: 'u', variants: [] } }));
  });
  const target = resolveAdminTarget({ admin: `${admin.url}/base`, token: TOKEN, zone: 'my zone' });
  const purged = await purgeCache(target, { tags: ['a'] });
  assert.equal(purged.status, 200);
  assert.equal(purged.envelope?.result.id, 'p1');
  const inspected = await inspectUrl(target, 'https://cdn.example/a.js', { origin: 'https://x.example' });
  assert.deepEqual(inspected.envelope?.result.variants, []);
  assert.deepEqual(admin.requests.map((r) => [r.method, r.url, r.headers.authorization, r.headers['content-type'], JSON.parse(r.body.toString())]), [
    ['POST', '/base/client/v4/zones/my%20zone/purge_cache', `Bearer ${TOKEN}`, 'application/json', { tags: ['a'] }],
    ['POST', '/base/edgecache/v1/zones/my%20zone/inspect', `Bearer ${TOKEN}`, 'application/json', { url: 'https://cdn.example/a.js', headers: { origin: 'https://x.example' } }],
  ]);
});

test('a refusal keeps its status and Cloudflare errors; a non-JSON reply keeps its text; both print escaped', async (t) => {
  let reply = { status: 403, type: 'application/json', body: JSON.stringify({ success: false, errors: [{ code: 10000, message: 'Authentication error\u001b[31m' }], messages: [], result: null }) };
  const admin = await startFakeAdmin(t, (_req, res) => { res.writeHead(reply.status, { 'content-type': reply.type }); res.end(reply.body); });
  const target = resolveAdminTarget({ admin: admin.url, token: TOKEN });
  const refused = await purgeCache(target, { purge_everything: true });
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.envelope?.errors.map((e) => e.code), [10000]);
  const lines: string[] = [];
  reportFailure({ out: (l) => lines.push(l), err: (l) => lines.push(l) }, 'purge', refused);
  assert.deepEqual(lines, ['edgecache: purge failed (HTTP 403)', '  error 10000: Authentication error\\x1b[31m']);

  reply = { status: 502, type: 'text/html', body: '<h1>Bad gateway</h1>' };
  const html = await purgeCache(target, { purge_everything: true });
  assert.equal(html.status, 502);
  assert.equal(html.envelope, undefined);
  assert.equal(html.text, '<h1>Bad gateway</h1>');
});

test('an unreachable admin API, or one that redirects, is a CliError EADMIN (exit 1) naming the address', async (t) => {
  const port = await closedPort();
  const down = resolveAdminTarget({ admin: `http://127.0.0.1:${port}`, token: TOKEN });
  await assert.rejects(purgeCache(down, { tags: ['a'] }), (err: unknown) =>
    err instanceof CliError && err.code === 'EADMIN' && err.exitCode === 1 && err.message.includes(`127.0.0.1:${port}`) && !err.message.includes(TOKEN));
  const redirecting = await startOrigin(t, (_req, res) => { res.writeHead(307, { location: 'http://127.0.0.1:9/' }); res.end(); });
  await assert.rejects(purgeCache(resolveAdminTarget({ admin: redirecting.url, token: TOKEN }), { tags: ['a'] }),
    (err: unknown) => err instanceof CliError && err.code === 'EADMIN', 'a redirect is not followed (it would carry the token elsewhere)');
});

test('an admin API that refuses the --admin host name (421, code 1021) is reported as such, and the token is not sent', async (t) => {
  const admin = await startOrigin(t, (_req, res) => {
    res.writeHead(421, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: false, errors: [{ code: 1021, message: 'Misdirected request' }], messages: [], result: null }));
  });
  await assert.rejects(purgeCache(resolveAdminTarget({ admin: admin.url, token: TOKEN }), { tags: ['a'] }), (err: unknown) =>
    err instanceof CliError && err.code === 'EADMIN' && /does not answer to the host name/.test(err.message) && /admin\.hosts/.test(err.message));
  // (fetch retries a 421 once on a new connection, as RFC 9110 §15.5.20 allows: two probes.)
  assert.ok(admin.requests.length >= 1);
  for (const r of admin.requests) {
    assert.equal(`${r.method} ${r.url}`, 'GET /healthz', 'only the probe');
    assert.equal(r.headers.authorization, undefined, 'without credentials');
  }
});

test('against a real admin listener, the CLI addressed by localhost passes the Host check', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200); res.end(); });
  const edge = await startTestEdge(t, { origin: origin.url });
  const target = resolveAdminTarget({ admin: `http://localhost:${edge.admin.port}`, token: ADMIN_TOKEN, zone: 'default' });
  const r = await purgeCache(target, { tags: ['a'] });
  assert.equal(r.status, 200, r.text);
});
