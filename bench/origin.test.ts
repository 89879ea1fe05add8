// Tests for bench/origin.ts: cacheable headers with reflected ACAO, per-URL and per-prefix counters, slow paths.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { makeOriginHandler, type OriginCounters } from './origin.js';
import { httpRequest } from './proc.js';

async function withOrigin(t: { after: (fn: () => void) => void }): Promise<{ url: string; counters: OriginCounters }> {
  const counters: OriginCounters = { total: 0, byPrefix: new Map(), byPath: new Map() };
  const server = createServer(makeOriginHandler(counters));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, counters };
}

test('assets are cacheable, Vary: Origin, and reflect the Origin in ACAO', async (t) => {
  const { url } = await withOrigin(t);
  const r = await httpRequest(`${url}/asset/1k`, { headers: { origin: 'https://a.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 1024);
  assert.equal(r.headers['cache-control'], 'public, max-age=3600');
  assert.equal(r.headers.vary, 'Origin');
  assert.equal(r.headers['access-control-allow-origin'], 'https://a.example');
  const plain = await httpRequest(`${url}/asset/100k`);
  assert.equal(plain.body.length, 100 * 1024);
  assert.equal(plain.headers['access-control-allow-origin'], undefined);
  assert.equal((await httpRequest(`${url}/asset/nope`)).status, 404);
});

test('/__count reports totals, per-prefix counts and one URL, and does not count itself', async (t) => {
  const { url } = await withOrigin(t);
  await httpRequest(`${url}/asset/1k?v=1`);
  await httpRequest(`${url}/asset/1k?v=1`);
  const u1 = await httpRequest(`${url}/unique/a`);
  const u2 = await httpRequest(`${url}/unique/b`);
  assert.notDeepEqual(u1.body, u2.body, 'unique URLs have distinct bodies');
  const c = JSON.parse((await httpRequest(`${url}/__count?path=${encodeURIComponent('/asset/1k?v=1')}`)).body.toString()) as { total: number; byPrefix: Record<string, number>; path: number };
  assert.equal(c.total, 4);
  assert.deepEqual(c.byPrefix, { '/asset': 2, '/unique': 2 });
  assert.equal(c.path, 2);
});

test('/slow answers after the delay it is given', async (t) => {
  const { url } = await withOrigin(t);
  const t0 = Date.now();
  const r = await httpRequest(`${url}/slow/x?delay=120`);
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 >= 110, 'waited for the delay');
});

test('/large/<bytes> generates a body of exactly that size (not one repeated byte), counted per URL; a bad size is 404', async (t) => {
  const { url, counters } = await withOrigin(t);
  const size = 3 * 1024 * 1024 + 17;
  const r = await httpRequest(`${url}/large/${size}?n=1`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(size));
  assert.equal(r.body.length, size);
  assert.notEqual(r.body[1], r.body[0]);
  assert.ok(r.body.subarray(1024 * 1024, 1024 * 1024 + 4096).equals(r.body.subarray(0, 4096)), 'the 1 MiB pattern repeats');
  assert.equal(counters.byPath.get(`/large/${size}?n=1`), 1);
  for (const bad of ['x', '-1', '1.5', String(2 ** 60)]) assert.equal((await httpRequest(`${url}/large/${bad}`)).status, 404, bad);
});
