// End to end: soft purges (revalidate with validators → REVALIDATED; a 200 replaces; stale-while-revalidate → UPDATING)
// and purges racing fetches in flight (no resurrection by a slow origin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, sleep, ADMIN_TOKEN, type Res } from './helpers/http.js';

type Edge = Awaited<ReturnType<typeof startTestEdge>>;

async function purgeOk(edge: Edge, body: unknown): Promise<void> {
  const r = await send(`${edge.adminBase}/client/v4/zones/default/purge_cache`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, r.body);
}

const get = (edge: Edge, path: string, headers: Record<string, string> = {}): Promise<Res> =>
  send(`${edge.base}${path}`, { headers: { host: 'cdn.example.com', ...headers } });

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('soft purge: the next request revalidates with If-None-Match; 304 → REVALIDATED, then HIT; a 200 replaces it', async (t) => {
  const doc = { etag: '"v1"', body: 'version 1', lastModified: new Date(Date.now() - 3_600_000).toUTCString() };
  const origin = await startOrigin(t, (req, res) => {
    const h = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', etag: doc.etag, 'last-modified': doc.lastModified };
    if (req.url === '/lm.txt') delete (h as Partial<typeof h>).etag; // only Last-Modified: If-Modified-Since
    const fresh = req.url === '/lm.txt' ? req.headers['if-modified-since'] === doc.lastModified : req.headers['if-none-match'] === doc.etag;
    if (fresh) { res.writeHead(304, h); res.end(); return; }
    res.writeHead(200, h);
    res.end(doc.body);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const url = 'https://cdn.example.com/doc.txt';

  assert.equal((await get(edge, '/doc.txt')).headers['cf-cache-status'], 'MISS');
  assert.equal((await get(edge, '/doc.txt')).headers['cf-cache-status'], 'HIT');
  await purgeOk(edge, { files: [url], soft: true });
  const revalidated = await get(edge, '/doc.txt');
  assert.equal(revalidated.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(revalidated.body, 'version 1');
  assert.equal(origin.requests.at(-1)!.headers['if-none-match'], '"v1"');
  assert.equal(origin.count('/doc.txt'), 2);
  assert.equal((await get(edge, '/doc.txt')).headers['cf-cache-status'], 'HIT', 'the 304 made it fresh again');

  // The origin changed: the conditional request gets a 200, which replaces the stored response.
  doc.etag = '"v2"';
  doc.body = 'version 2';
  await purgeOk(edge, { files: [url], soft: true });
  const replaced = await get(edge, '/doc.txt');
  assert.equal(replaced.body, 'version 2');
  assert.notEqual(replaced.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.requests.at(-1)!.headers['if-none-match'], '"v1"');
  const after = await get(edge, '/doc.txt');
  assert.deepEqual([after.headers['cf-cache-status'], after.body, after.headers.etag], ['HIT', 'version 2', '"v2"']);

  // Only Last-Modified stored: If-Modified-Since. And soft purge_everything / tags / prefixes mark stale too.
  await get(edge, '/lm.txt');
  await purgeOk(edge, { purge_everything: true, soft: true });
  const lm = await get(edge, '/lm.txt');
  assert.equal(lm.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(origin.requests.at(-1)!.headers['if-modified-since'], doc.lastModified);
  assert.equal((await get(edge, '/doc.txt')).headers['cf-cache-status'], 'REVALIDATED');
  await purgeOk(edge, { prefixes: ['cdn.example.com/lm'], soft: true });
  assert.equal((await get(edge, '/lm.txt')).headers['cf-cache-status'], 'REVALIDATED');
  assert.equal((await get(edge, '/doc.txt')).headers['cf-cache-status'], 'HIT');
});

test('soft purge with stale-while-revalidate: the stale copy is served at once (UPDATING) while it revalidates in the background', async (t) => {
  let version = 1;
  const origin = await startOrigin(t, async (req, res) => {
    const h = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300, stale-while-revalidate=60', etag: `"v${version}"` };
    if (req.headers['if-none-match'] === h.etag) { res.writeHead(304, h); res.end(); return; }
    if (origin.count() > 1) await sleep(200); // background fetch is slow: the client must not wait for it
    res.writeHead(200, h);
    res.end(`version ${version}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  assert.equal((await get(edge, '/swr.txt')).headers['cf-cache-status'], 'MISS');
  version = 2;
  await purgeOk(edge, { tags: ['unused-tag'], soft: true }); // matches nothing: still a HIT
  assert.equal((await get(edge, '/swr.txt')).headers['cf-cache-status'], 'HIT');
  await purgeOk(edge, { hosts: ['cdn.example.com'], soft: true });
  const stale = await get(edge, '/swr.txt');
  assert.equal(stale.headers['cf-cache-status'], 'UPDATING');
  assert.equal(stale.body, 'version 1');
  await until(() => origin.count('/swr.txt') === 2, 'the background revalidation');
  assert.equal(origin.requests[1]!.headers['if-none-match'], '"v1"');
  // Once the background fetch has stored version 2, it is a HIT.
  let r: Res;
  const end = Date.now() + 5_000;
  do { await sleep(20); r = await get(edge, '/swr.txt'); } while (r.body !== 'version 2' && Date.now() < end);
  assert.equal(r.body, 'version 2');
  assert.equal(r.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/swr.txt'), 2, 'one background fetch, not one per request');
});

test('a purge racing a fetch in flight: the response is delivered but not stored; the next request goes to the origin', async (t) => {
  // /slow-head: the purge arrives before the origin's headers; /slow-body: between headers and the last byte;
  // /late-tag: purged by a tag the edge only learns from the response it is still fetching.
  let gate: (() => void) | undefined;
  const origin = await startOrigin(t, async (req, res) => {
    const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' };
    const path = req.url!.split('?')[0];
    if (path === '/late-tag') h['cache-tag'] = 'late';
    const wait = new Promise<void>((r) => { gate = r; });
    if (path === '/slow-body') { res.writeHead(200, h); res.write('first half, '); await wait; res.end('second half'); return; }
    await wait;
    res.writeHead(200, h);
    res.end(`answer ${origin.count(req.url)}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });

  const cases: [string, unknown][] = [
    ['/slow-head?1', { files: ['https://cdn.example.com/slow-head?1'] }],
    ['/slow-body?2', { files: ['https://cdn.example.com/slow-body?2'] }],
    ['/late-tag?3', { tags: ['late'] }],
    ['/slow-head?4', { prefixes: ['cdn.example.com/slow'] }],
    ['/slow-body?5', { hosts: ['cdn.example.com'] }],
    ['/late-tag?6', { purge_everything: true }],
  ];
  for (const [path, body] of cases) {
    gate = undefined;
    const inFlight = get(edge, path);
    await until(() => origin.count(path) === 1 && gate !== undefined, `${path} at the origin`);
    await purgeOk(edge, body);
    gate!();
    const first = await inFlight;
    assert.equal(first.status, 200, `${path}: the request in flight is answered`);
    assert.ok(first.body.length > 0);
    // Without a purge this would be a HIT; the purge covered the fetch in flight, so the origin is asked again.
    gate = undefined;
    const next = get(edge, path);
    await until(() => origin.count(path) === 2 && gate !== undefined, `${path} fetched again after ${JSON.stringify(body)}`);
    gate!();
    assert.equal((await next).headers['cf-cache-status'], 'MISS', `${path} after ${JSON.stringify(body)}`);
    assert.equal((await get(edge, path)).headers['cf-cache-status'], 'HIT', `${path} is stored again by a fetch that started after the purge`);
  }
});

test('a request arriving after a purge does not join a fetch that started before it', {}, async (t) => {
  let gate: (() => void) | undefined;
  let version = 1;
  const origin = await startOrigin(t, async (_req, res) => {
    const v = version;
    await new Promise<void>((r) => { gate = r; });
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' });
    res.end(`version ${v}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const early = get(edge, '/joined');
  await until(() => origin.count() === 1 && gate !== undefined, 'the first fetch');
  const firstGate = gate!;
  version = 2;
  await purgeOk(edge, { files: ['https://cdn.example.com/joined'] });
  gate = undefined;
  const late = get(edge, '/joined'); // arrives after the purge answered 200
  await sleep(100);
  firstGate();
  if (origin.count() === 2) { await until(() => gate !== undefined, 'the second fetch'); gate!(); }
  assert.equal((await early).body, 'version 1');
  assert.equal((await late).body, 'version 2', 'content fetched before the purge must not answer a request made after it');
});
