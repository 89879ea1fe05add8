// End to end through the edge: selecting stored responses with Vary (RFC 9111 §4.1).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** An origin that sends `Vary: <vary>` (one value or several field lines) and echoes the request fields it names. */
async function setup(t: TestContext, vary: string | string[], echo: string[]) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    res.setHeader('vary', vary); // an array: one field line each
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'application/json' });
    res.end(JSON.stringify({ n, seen: echo.map((h) => req.headers[h] ?? null) }));
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

const get = (base: string, path: string, headers: Record<string, string> = {}) => send(`${base}${path}`, { headers });

test('Vary field names are case-insensitive; each value gets its own stored response (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 ("header field names ... case-insensitive")
  const { origin, edge } = await setup(t, 'X-Flavour', ['x-flavour']);
  const a1 = await get(edge.base, '/v', { 'X-FLAVOUR': 'mint' });
  const b1 = await get(edge.base, '/v', { 'x-flavour': 'lime' });
  const a2 = await get(edge.base, '/v', { 'x-Flavour': 'mint' });
  const b2 = await get(edge.base, '/v', { 'x-flavour': 'lime' });
  assert.deepEqual([a1, b1, a2, b2].map((r) => r.headers['cf-cache-status']), ['MISS', 'MISS', 'HIT', 'HIT']);
  assert.deepEqual(JSON.parse(a2.body).seen, ['mint']);
  assert.deepEqual(JSON.parse(b2.body).seen, ['lime']);
  assert.equal(origin.count('/v'), 2);
});

test('a value differing only in list whitespace selects the same response (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 ("adding or removing whitespace, where allowed")
  const { origin, edge } = await setup(t, 'X-List', ['x-list']);
  await get(edge.base, '/ws', { 'x-list': 'a,b' });
  const r = await get(edge.base, '/ws', { 'x-list': 'a ,  b' });
  assert.equal(r.headers['cf-cache-status'], 'HIT');
  const other = await get(edge.base, '/ws', { 'x-list': 'a, c' });
  assert.equal(other.headers['cf-cache-status'], 'MISS');
  assert.equal(origin.count('/ws'), 2);
});

test('several selecting fields, in one line or in several Vary lines: all must match (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 and https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
  for (const vary of ['X-A, X-B', ['X-A', 'X-B'], 'x-a,x-b,X-A']) {
    const { origin, edge } = await setup(t, vary, ['x-a', 'x-b']);
    const path = '/multi';
    await get(edge.base, path, { 'x-a': '1', 'x-b': '1' });
    assert.equal((await get(edge.base, path, { 'x-a': '1', 'x-b': '1' })).headers['cf-cache-status'], 'HIT', JSON.stringify(vary));
    const changedB = await get(edge.base, path, { 'x-a': '1', 'x-b': '2' });
    assert.equal(changedB.headers['cf-cache-status'], 'MISS');
    const changedA = await get(edge.base, path, { 'x-a': '2', 'x-b': '1' });
    assert.equal(changedA.headers['cf-cache-status'], 'MISS');
    assert.match(String(changedA.headers['cache-status']), /fwd=vary-miss/);
    assert.equal(origin.count(path), 3);
    await origin.close();
  }
});

test('an absent selecting field matches only absent; empty is a value of its own (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 ("absent ... can only match another request if it is also absent")
  const { origin, edge } = await setup(t, 'X-Opt', ['x-opt']);
  await get(edge.base, '/absent');
  const empty = await get(edge.base, '/absent', { 'x-opt': '' });
  assert.equal(empty.headers['cf-cache-status'], 'MISS');
  assert.deepEqual(JSON.parse(empty.body).seen, ['']);
  const absent = await get(edge.base, '/absent');
  const emptyAgain = await get(edge.base, '/absent', { 'x-opt': '' });
  assert.equal(absent.headers['cf-cache-status'], 'HIT');
  assert.deepEqual(JSON.parse(absent.body).seen, [null]);
  assert.equal(emptyAgain.headers['cf-cache-status'], 'HIT');
  assert.deepEqual(JSON.parse(emptyAgain.body).seen, ['']);
  assert.equal(origin.count('/absent'), 2);
});

test('Vary: * is never reused (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 ("A stored response with a Vary header field value containing
  // a member "*" always fails to match")
  for (const vary of ['*', 'X-A, *']) {
    const { origin, edge } = await setup(t, vary, []);
    const first = await get(edge.base, '/star');
    const second = await get(edge.base, '/star');
    assert.notEqual(second.headers['cf-cache-status'], 'HIT');
    assert.notEqual(JSON.parse(second.body).n, JSON.parse(first.body).n);
    assert.equal(origin.count('/star'), 2, `Vary: ${vary}`);
    await origin.close();
  }
});

test('Accept-Encoding values are normalised to the codings the cache tells apart, and forwarded so (RFC 9111 §4.1, RFC 9110 §12.5.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.1 ("normalizing both header field values in a way that is known
  // to have identical semantics"); https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3. The cache keeps br and gzip
  // apart (src/cache/policy/vary.ts normalizeAcceptEncoding): case, order, whitespace, weights above 0 and other
  // codings select the same response.
  const { origin, edge } = await setup(t, 'Accept-Encoding', ['accept-encoding']);
  const first = await get(edge.base, '/ae', { 'accept-encoding': 'gzip, br' });
  assert.deepEqual(JSON.parse(first.body).seen, ['br, gzip'], 'the origin gets the value the key holds');
  for (const ae of ['br, gzip', 'GZIP,br', 'gzip;q=1.0, br', ' br ,gzip ', 'gzip;q=0.5, br', 'gzip, deflate, br, zstd', '*']) {
    const r = await get(edge.base, '/ae', { 'accept-encoding': ae });
    assert.equal(r.headers['cf-cache-status'], 'HIT', `Accept-Encoding: ${ae}`);
  }
  const different = await get(edge.base, '/ae', { 'accept-encoding': 'gzip' });
  assert.equal(different.headers['cf-cache-status'], 'MISS');
  assert.deepEqual(JSON.parse(different.body).seen, ['gzip']);
  const refused = await get(edge.base, '/ae', { 'accept-encoding': 'gzip;q=0, br' });
  assert.equal(refused.headers['cf-cache-status'], 'MISS', 'gzip refused (q=0) is another request');
  assert.deepEqual(JSON.parse(refused.body).seen, ['br']);
  const none = await get(edge.base, '/ae', { 'accept-encoding': 'deflate' });
  assert.deepEqual(JSON.parse(none.body).seen, ['identity']);
  assert.equal(origin.count('/ae'), 4);
});

test('a response without Vary answers every request regardless of its fields (RFC 9111 §4.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4 ("if the stored response contains a Vary header field, the
  // selecting header fields ... match"); none here.
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' });
    res.end('one for all');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  await get(edge.base, '/novary', { 'accept-language': 'fr' });
  const r = await get(edge.base, '/novary', { 'accept-language': 'de', 'x-anything': '1' });
  assert.equal(r.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/novary'), 1);
});
