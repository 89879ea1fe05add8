// End to end through the edge: which responses a shared cache stores (RFC 9111 §3, §3.5, §5.2.2).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

const httpDate = (ms: number): string => new Date(ms).toUTCString();
const LONG_AGO = (): string => httpDate(Date.now() - 10_000_000);

/** An origin answering GET /<status>/<name> with that status and `headersFor(name)`, body "<path> #n". */
async function setup(t: TestContext, headersFor: (name: string) => OutgoingHttpHeaders) {
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    const [, status, name = ''] = req.url!.split('/');
    const extra = headersFor(name);
    res.writeHead(Number(status), { 'content-type': 'text/plain', ...extra });
    res.end(Number(status) === 204 ? undefined : `${req.url} #${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

/** Two identical requests; how many reached the origin, and the second response. */
async function twice(base: string, origin: { count(p?: string): number }, path: string, headers?: Record<string, string>) {
  const first = await send(`${base}${path}`, { headers });
  const second = await send(`${base}${path}`, { headers });
  return { first, second, fetched: origin.count(path) };
}

test('heuristically cacheable status codes are stored without explicit freshness (RFC 9111 §3, §4.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3 ("a status code that is defined as heuristically cacheable")
  // https://www.rfc-editor.org/rfc/rfc9110#section-15.1
  const { origin, edge } = await setup(t, () => ({ 'last-modified': LONG_AGO() }));
  for (const status of [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]) {
    const { second, fetched } = await twice(edge.base, origin, `/${status}/lm`);
    assert.equal(fetched, 1, `${status} + Last-Modified is stored and reused`);
    assert.equal(second.status, status);
    assert.equal(second.headers['cf-cache-status'], 'HIT', `status ${status}`);
  }
});

test('other status codes are stored only with explicit freshness (RFC 9111 §3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3 (public, max-age, s-maxage or Expires)
  const { origin, edge } = await setup(t, (name) => ({
    lm: { 'last-modified': LONG_AGO() },
    maxage: { 'cache-control': 'max-age=600' },
    smaxage: { 'cache-control': 's-maxage=600' },
    expires: { expires: httpDate(Date.now() + 600_000) },
  }[name] ?? {}));
  for (const status of [201, 302, 303, 307, 400, 403, 500, 503]) {
    assert.equal((await twice(edge.base, origin, `/${status}/lm`)).fetched, 2, `${status} without explicit freshness is not reused`);
  }
  for (const status of [302, 307, 403, 500]) {
    for (const how of ['maxage', 'smaxage', 'expires']) {
      const { second, fetched } = await twice(edge.base, origin, `/${status}/${how}`);
      assert.equal(fetched, 1, `${status} with ${how} is stored`);
      assert.equal(second.status, status);
    }
  }
});

test('no-store and unqualified private are never stored (RFC 9111 §5.2.2.5, §5.2.2.7)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5 and #section-5.2.2.7
  const { origin, edge } = await setup(t, (name) => ({
    nostore: { 'cache-control': 'max-age=600, no-store' },
    private: { 'cache-control': 'max-age=600, private' },
    nostoreSM: { 'cache-control': 'no-store, s-maxage=600, public' },
  }[name] ?? {}));
  for (const name of ['nostore', 'private', 'nostoreSM']) {
    const { first, second, fetched } = await twice(edge.base, origin, `/200/${name}`);
    assert.equal(fetched, 2, `${name}: not stored`);
    assert.equal(first.headers['cf-cache-status'], 'BYPASS');
    assert.notEqual(second.body, first.body, 'a new response each time');
  }
});

test('private and no-cache with field names: stored without the named fields (RFC 9111 §5.2.2.7, §5.2.2.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.7 ("MUST NOT store the specified field names")
  const { origin, edge } = await setup(t, (name) => ({
    qp: { 'cache-control': 'max-age=600, private="x-user"', 'x-user': 'alice', 'x-shared': 'yes' },
    qnc: { 'cache-control': 'max-age=600, no-cache="x-session"', 'x-session': 's1', 'x-shared': 'yes' },
  }[name] ?? {}));
  const p = await twice(edge.base, origin, '/200/qp');
  assert.equal(p.fetched, 1);
  assert.equal(p.first.headers['x-user'], 'alice', 'the requesting client still gets it');
  assert.equal(p.second.headers['cf-cache-status'], 'HIT');
  assert.equal(p.second.headers['x-user'], undefined, 'never served from the shared cache');
  assert.equal(p.second.headers['x-shared'], 'yes');
  const nc = await twice(edge.base, origin, '/200/qnc');
  assert.equal(nc.fetched, 1);
  assert.equal(nc.second.headers['x-session'], undefined);
  assert.equal(nc.second.headers['x-shared'], 'yes');
});

test('no-cache is stored but revalidated on every use (RFC 9111 §5.2.2.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4
  let n = 0;
  const origin = await startOrigin(t, (req, res) => {
    n++;
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=600, no-cache' });
      res.end();
      return;
    }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=600, no-cache', 'content-type': 'text/plain' });
    res.end(`full #${n}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  const first = await send(`${edge.base}/nc`);
  assert.equal(first.headers['cf-cache-status'], 'MISS');
  for (let i = 0; i < 2; i++) {
    const again = await send(`${edge.base}/nc`);
    assert.equal(again.headers['cf-cache-status'], 'REVALIDATED');
    assert.equal(again.body, 'full #1', 'the stored body, validated');
  }
  assert.equal(origin.count('/nc'), 3);
  assert.equal(origin.requests[1]!.headers['if-none-match'], '"v1"');
  assert.equal(origin.requests[2]!.headers['if-none-match'], '"v1"');
});

test('must-understand: stored when the status is understood, even with no-store (RFC 9111 §5.2.2.3)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.3
  const { origin, edge } = await setup(t, () => ({ 'cache-control': 'must-understand, no-store, max-age=600' }));
  const understood = await twice(edge.base, origin, '/200/mu');
  assert.equal(understood.fetched, 1, '200 is understood: no-store is ignored');
  assert.equal(understood.second.headers['cf-cache-status'], 'HIT');
  const unknown = await twice(edge.base, origin, '/299/mu');
  assert.equal(unknown.fetched, 2, 'an unknown status with must-understand is not stored');
});

test('requests with Authorization: stored only with public, s-maxage or must-revalidate (RFC 9111 §3.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.5
  const { origin, edge } = await setup(t, (name) => ({
    plain: { 'cache-control': 'max-age=600' },
    public: { 'cache-control': 'public, max-age=600' },
    smaxage: { 'cache-control': 's-maxage=600' },
    mustrevalidate: { 'cache-control': 'max-age=600, must-revalidate' },
  }[name] ?? {}));
  const auth = { authorization: 'Bearer secret' };
  const plain = await twice(edge.base, origin, '/200/plain', auth);
  assert.equal(plain.fetched, 2, 'max-age alone does not allow storing an authenticated response');
  // Nor may another client get it later.
  await send(`${edge.base}/200/plain`);
  assert.equal(origin.count('/200/plain'), 3);
  for (const name of ['public', 'smaxage', 'mustrevalidate']) {
    const r = await twice(edge.base, origin, `/200/${name}`, auth);
    assert.equal(r.fetched, 1, `${name} allows storing`);
    assert.equal(r.second.headers['cf-cache-status'], 'HIT');
  }
});

test('a request with no-store is not stored (RFC 9111 §5.2.1.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.5
  const { origin, edge } = await setup(t, () => ({ 'cache-control': 'max-age=600' }));
  await send(`${edge.base}/200/rns`, { headers: { 'cache-control': 'no-store' } });
  const next = await send(`${edge.base}/200/rns`);
  assert.equal(origin.count('/200/rns'), 2);
  assert.equal(next.headers['cf-cache-status'], 'MISS');
});

test('a response that sets a cookie is not stored (product rule; RFC 9111 §7.3 allows it)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-7.3 (Cloudflare's rule: Set-Cookie responses are not cached)
  const { origin, edge } = await setup(t, () => ({ 'cache-control': 'public, max-age=600', 'set-cookie': 'sid=1' }));
  const r = await twice(edge.base, origin, '/200/cookie');
  assert.equal(r.fetched, 2);
  assert.equal(r.second.headers['set-cookie']?.[0], 'sid=1');
  assert.equal(r.second.headers['cf-cache-status'], 'BYPASS');
});

test('hop-by-hop and Connection-listed fields are not stored (RFC 9111 §3.1)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.1
  const { origin, edge } = await setup(t, () => ({
    'cache-control': 'max-age=600', connection: 'x-hop', 'x-hop': 'one-hop', 'x-kept': 'kept',
  }));
  const r = await twice(edge.base, origin, '/200/hop');
  assert.equal(r.fetched, 1);
  assert.equal(r.second.headers['x-hop'], undefined);
  assert.equal(r.second.headers['x-kept'], 'kept');
});
