// End to end through the edge: the zone's defaultTtl for responses without freshness information (RFC 9111 §4.2.2).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** An origin answering GET /<status>/<name> with `cases[name]`; a zone with `defaultTtl` when given. */
async function setup(t: TestContext, cases: Record<string, OutgoingHttpHeaders>, defaultTtl?: number) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    const [, status, name = ''] = req.url!.split('/');
    res.writeHead(Number(status), { 'content-type': 'text/plain', ...cases[name] });
    res.end(`#${n}`);
  });
  const zone = { id: 'z', hosts: ['*'], origin: origin.url, ...(defaultTtl === undefined ? {} : { defaultTtl }) };
  const edge = await startTestEdge(t, { zones: [zone] as never });
  return { origin, edge };
}

async function twice(base: string, path: string, headers?: Record<string, string>) {
  const first = await send(`${base}${path}`, { headers });
  const second = await send(`${base}${path}`, { headers });
  return { first, second, reused: first.body === second.body };
}

const ttlOf = (v: unknown): number => Number(/ttl=(-?\d+)/.exec(String(v))?.[1]);

test('without defaultTtl, a response without freshness information is not reused (RFC 9111 §3, §4.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2 (no explicit freshness, no Last-Modified: no heuristic)
  const { edge } = await setup(t, { bare: {} });
  assert.equal((await twice(edge.base, '/200/bare')).reused, false);
});

test('defaultTtl makes a response without freshness information cacheable for that long (zone setting)', async (t) => {
  // An operator-supplied lifetime in place of a heuristic one (https://www.rfc-editor.org/rfc/rfc9111#section-4.2.2).
  const { edge } = await setup(t, { bare: {}, lm: { 'last-modified': new Date(Date.now() - 864_000_000).toUTCString() } }, 120);
  const bare = await twice(edge.base, '/200/bare');
  assert.ok(bare.reused);
  assert.equal(bare.second.headers['cf-cache-status'], 'HIT');
  const ttl = ttlOf(bare.second.headers['cache-status']);
  assert.ok(ttl > 115 && ttl <= 120, `ttl ${ttl}`);
  // It replaces the Last-Modified heuristic (which would give 1 day here).
  const lm = await twice(edge.base, '/200/lm');
  assert.ok(ttlOf(lm.second.headers['cache-status']) <= 120);
  // Heuristically cacheable statuses only, as for the heuristic.
  assert.ok((await twice(edge.base, '/404/bare')).reused);
  assert.equal((await twice(edge.base, '/503/bare')).reused, false);
});

test('defaultTtl never overrides explicit freshness or storage rules (RFC 9111 §4.2.1, §3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1 (explicit freshness first) and #section-3
  const { edge } = await setup(t, {
    short: { 'cache-control': 'max-age=5' },
    nostore: { 'cache-control': 'no-store' },
    private: { 'cache-control': 'private' },
    zero: { 'cache-control': 'max-age=0' },
  }, 120);
  const short = await twice(edge.base, '/200/short');
  assert.ok(ttlOf(short.second.headers['cache-status']) <= 5);
  assert.equal((await twice(edge.base, '/200/nostore')).reused, false);
  assert.equal((await twice(edge.base, '/200/private')).reused, false);
  assert.equal((await twice(edge.base, '/200/zero')).reused, false);
});

test('defaultTtl never applies to requests with Cookie or Authorization (zone setting)', async (t) => {
  // Personalised answers without cache directives must not be shared (https://www.rfc-editor.org/rfc/rfc9111#section-3.5).
  const { origin, edge } = await setup(t, { bare: {} }, 120);
  assert.equal((await twice(edge.base, '/200/bare', { cookie: 'sid=1' })).reused, false, 'Cookie');
  assert.equal((await twice(edge.base, '/200/bare', { authorization: 'Bearer x' })).reused, false, 'Authorization');
  // And nobody else gets what those requests fetched.
  const anon = await send(`${edge.base}/200/bare`);
  assert.equal(anon.headers['cf-cache-status'], 'MISS');
  assert.equal(origin.count('/200/bare'), 5);
});
