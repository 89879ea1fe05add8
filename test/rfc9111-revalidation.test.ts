// End to end through the edge: validating stale responses with the origin (RFC 9111 §4.3, §3.2, §4.2.4).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

const LAST_MODIFIED = new Date(Date.now() - 86_400_000).toUTCString();

interface Script {
  /** Headers of the full 200 (first fetch). */
  full: OutgoingHttpHeaders;
  /** What to answer a conditional request with: a 304 with these headers, or a new 200. */
  onConditional: { status: 304; headers: OutgoingHttpHeaders } | { status: 200; headers: OutgoingHttpHeaders; body: string } | { status: number };
}

/** An origin serving "version one" first, then answering conditional requests as scripted. */
async function setup(t: TestContext, script: Script) {
  const origin = await startOrigin(t, (req, res) => {
    const conditional = req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
    if (!conditional) {
      res.writeHead(200, { 'content-type': 'text/plain', ...script.full });
      res.end('version one');
      return;
    }
    const c = script.onConditional;
    if (c.status === 304) {
      res.writeHead(304, (c as { headers: OutgoingHttpHeaders }).headers);
      res.end();
    } else if ('body' in c) {
      res.writeHead(200, { 'content-type': 'text/plain', ...c.headers });
      res.end(c.body);
    } else {
      res.writeHead(c.status, { 'content-type': 'text/plain' });
      res.end('origin error');
    }
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

test('a stale response is revalidated with its ETag and Last-Modified (RFC 9111 §4.3.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.1
  const { origin, edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0', etag: '"v1"', 'last-modified': LAST_MODIFIED },
    onConditional: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=0' } },
  });
  await send(`${edge.base}/r`);
  await send(`${edge.base}/r`);
  assert.equal(origin.count('/r'), 2);
  const asked = origin.requests[1]!.headers;
  assert.equal(asked['if-none-match'], '"v1"');
  assert.equal(asked['if-modified-since'], LAST_MODIFIED);
  assert.equal(origin.requests[0]!.headers['if-none-match'], undefined, 'the first fetch is unconditional');
});

test('a 304 updates the stored headers and is served as the stored 200, REVALIDATED (RFC 9111 §4.3.4, §3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4 and #section-3.2
  const { origin, edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0', etag: '"v1"', 'x-version': '1', 'x-untouched': 'kept' },
    onConditional: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=600', 'x-version': '2' } },
  });
  await send(`${edge.base}/u`);
  const revalidated = await send(`${edge.base}/u`);
  assert.equal(revalidated.status, 200);
  assert.equal(revalidated.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(revalidated.body, 'version one');
  assert.equal(revalidated.headers['x-version'], '2', 'updated from the 304');
  assert.equal(revalidated.headers['x-untouched'], 'kept', 'fields absent from the 304 are kept');
  assert.equal(revalidated.headers['cache-control'], 'max-age=600');
  // The new Cache-Control from the 304 makes it fresh: the next request is a HIT with the updated headers.
  const hit = await send(`${edge.base}/u`);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.headers['x-version'], '2');
  assert.equal(hit.body, 'version one');
  assert.equal(origin.count('/u'), 2);
});

test('Content-Length is not taken from a 304 (RFC 9111 §3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.2 ("except ... Content-Length")
  const { edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0', etag: '"v1"' },
    onConditional: { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=600', 'content-length': '999' } },
  });
  await send(`${edge.base}/cl`);
  const revalidated = await send(`${edge.base}/cl`);
  assert.equal(revalidated.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(revalidated.headers['content-length'], String('version one'.length));
  assert.equal(revalidated.body, 'version one');
  const hit = await send(`${edge.base}/cl`);
  assert.equal(hit.headers['content-length'], String('version one'.length));
  assert.equal(hit.body, 'version one');
});

test('a 200 on revalidation replaces the stored response (RFC 9111 §4.3.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.3 ("a full response ... replaces the stored response")
  const { origin, edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0', etag: '"v1"' },
    onConditional: { status: 200, headers: { 'cache-control': 'max-age=600', etag: '"v2"' }, body: 'version two' },
  });
  await send(`${edge.base}/new`);
  const replaced = await send(`${edge.base}/new`);
  assert.equal(replaced.body, 'version two');
  assert.equal(replaced.headers['cf-cache-status'], 'EXPIRED');
  const hit = await send(`${edge.base}/new`);
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.body, 'version two');
  assert.equal(hit.headers.etag, '"v2"');
  assert.equal(origin.count('/new'), 2);
});

test('a stale response may be served when allowed, but not with must-revalidate, proxy-revalidate or s-maxage (RFC 9111 §4.2.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4, #section-5.2.2.2, #section-5.2.2.8, #section-5.2.2.10
  const cases: Record<string, string> = {
    '/plain': 'max-age=0',
    '/must': 'max-age=0, must-revalidate',
    '/proxy': 'max-age=0, proxy-revalidate',
    '/smax': 's-maxage=0, max-age=600',
  };
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': cases[req.url!]!, etag: '"e"', 'content-type': 'text/plain' });
    res.end(`for ${req.url}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const maxStale = { 'cache-control': 'max-stale=3600' };
  for (const path of Object.keys(cases)) {
    await send(`${edge.base}${path}`);
    const r = await send(`${edge.base}${path}`, { headers: maxStale });
    if (path === '/plain') {
      assert.equal(origin.count(path), 1, 'max-stale lets a plain stale response be served');
      assert.equal(r.headers['cf-cache-status'], 'HIT');
    } else {
      assert.equal(origin.count(path), 2, `${cases[path]} forbids serving it stale even with max-stale`);
      assert.equal(origin.requests.at(-1)!.headers['if-none-match'], '"e"');
    }
  }
});

test('must-revalidate: an origin error during revalidation is passed on, not the stale response (RFC 9111 §5.2.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2 ("MUST generate an error response rather than reuse")
  const { edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0, must-revalidate, stale-if-error=600', etag: '"v1"' },
    onConditional: { status: 503 },
  });
  await send(`${edge.base}/mr`);
  const r = await send(`${edge.base}/mr`);
  assert.equal(r.status, 503);
  assert.equal(r.body, 'origin error');
});

test('a 304 with a different strong ETag does not update the stored response (RFC 9111 §4.3.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4 ("MUST NOT use the new response to update any stored responses")
  const { edge } = await setup(t, {
    full: { 'cache-control': 'max-age=0', etag: '"v1"', 'x-version': '1' },
    onConditional: { status: 304, headers: { etag: '"other"', 'cache-control': 'max-age=600', 'x-version': '2' } },
  });
  await send(`${edge.base}/mismatch`);
  const r = await send(`${edge.base}/mismatch`);
  const hit = await send(`${edge.base}/mismatch`);
  assert.notEqual(hit.headers['x-version'], '2', `the 304 for another representation must not freshen ours (got ${r.status})`);
});

/**
 * /r stored, then revalidated while a PUT to `putPath` (an unsafe method: it invalidates its target, RFC 9111 §4.4)
 * runs before the origin lets its 304 go: what happens at the edge when a purge lands during a revalidation.
 */
async function revalidateAcrossPut(t: TestContext, putPath: string) {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let asked!: () => void;
  const conditionalArrived = new Promise<void>((r) => { asked = r; });
  const origin = await startOrigin(t, async (req, res) => {
    if (req.method !== 'GET') { res.writeHead(204); res.end(); return; }
    if (req.headers['if-none-match'] === '"v1"') {
      asked();
      await released;
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=600' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=0', etag: '"v1"' });
    res.end('version one');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  await send(`${edge.base}/r`);
  const revalidated = send(`${edge.base}/r`);
  await conditionalArrived;
  assert.equal((await send(`${edge.base}${putPath}`, { method: 'PUT', body: 'x' })).status, 204);
  release();
  return { origin, edge, r: await revalidated };
}

const gets = (origin: { requests: { method: string; url: string; headers: Record<string, unknown> }[] }, path: string) =>
  origin.requests.filter((r) => r.method === 'GET' && r.url === path);

test('a purge of another URL during a revalidation leaves it alone: the 304 freshens the stored response (RFC 9111 §4.3.4)', async (t) => {
  // An unsafe method invalidates its own target (RFC 9111 §4.4), here /other: the revalidation of /r is not concerned.
  const { origin, edge, r } = await revalidateAcrossPut(t, '/other');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'version one');
  assert.equal(r.headers['cf-cache-status'], 'REVALIDATED');
  assert.deepEqual(gets(origin, '/r').map((q) => q.headers['if-none-match']), [undefined, '"v1"'], 'no unconditional refetch after the 304');
  assert.equal((await send(`${edge.base}/r`)).headers['cf-cache-status'], 'HIT', 'the 304 freshened it (max-age=600)');
});

test('a purge of the same URL during a revalidation: its 304 does not freshen what was purged; it is fetched in full', async (t) => {
  const { origin, r } = await revalidateAcrossPut(t, '/r');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'version one');
  assert.deepEqual(gets(origin, '/r').map((q) => q.headers['if-none-match']), [undefined, '"v1"', undefined], 'refetched without validators');
});
