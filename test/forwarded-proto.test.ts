// The scheme the origin sees (X-Forwarded-Proto, Forwarded's proto=): a trusted proxy's, or the edge's own listener's.
// RFC 7239 §4-§5.4: https://www.rfc-editor.org/rfc/rfc7239#section-4
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

async function setup(t: import('node:test').TestContext, trustedProxies: string[]) {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('ok'); });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, trustedProxies }] });
  return { origin, edge };
}

test('from a trusted proxy (nginx terminating TLS), its X-Forwarded-Proto and Forwarded proto= reach the origin', async (t) => {
  const { origin, edge } = await setup(t, ['127.0.0.0/8']);
  await send(`${edge.base}/a`, { headers: { host: 'shop.example', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } });
  let seen = origin.requests.at(-1)!.headers;
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.equal(seen.forwarded, 'for=127.0.0.1;host=shop.example;proto=https', 'no Forwarded from the proxy: ours carries its scheme');
  assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  // Forwarded alone: the first element's proto=, its elements kept and ours appended (our own hop was plain HTTP).
  await send(`${edge.base}/b`, { headers: { host: 'shop.example', forwarded: 'for=203.0.113.9;proto=https' } });
  seen = origin.requests.at(-1)!.headers;
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.equal(seen.forwarded, 'for=203.0.113.9;proto=https, for=127.0.0.1;host=shop.example;proto=http');
  // A scheme that is neither http nor https is not believed; nothing sent: the listener's scheme.
  await send(`${edge.base}/c`, { headers: { 'x-forwarded-proto': 'gopher' } });
  assert.equal(origin.requests.at(-1)!.headers['x-forwarded-proto'], 'http');
  await send(`${edge.base}/d`);
  assert.equal(origin.requests.at(-1)!.headers['x-forwarded-proto'], 'http');
});

test('from an untrusted peer, the edge sets its own scheme and drops the client\'s Forwarded', async (t) => {
  const { origin, edge } = await setup(t, ['10.0.0.0/8']);
  await send(`${edge.base}/a`, { headers: { host: 'shop.example', 'x-forwarded-proto': 'https', forwarded: 'for=6.6.6.6;proto=https' } });
  const seen = origin.requests.at(-1)!.headers;
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen.forwarded, 'for=127.0.0.1;host=shop.example;proto=http');
});
