// End to end through the real admin API: every purge kind, the CORS-change pitfall fixed, error codes, refusals purge nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, ADMIN_TOKEN, type Res } from './helpers/http.js';

type Edge = Awaited<ReturnType<typeof startTestEdge>>;

/** POSTs a purge body (object → JSON, string → as is) to the admin API. */
function purge(edge: Edge, body: unknown, opts: { token?: string | null; zone?: string; method?: string; query?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? ADMIN_TOKEN}`;
  return send(`${edge.adminBase}/client/v4/zones/${opts.zone ?? 'default'}/purge_cache${opts.query ?? ''}`, {
    method: opts.method ?? 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A successful purge; `messages` is what its envelope must carry (none unless said). */
async function purgeOk(edge: Edge, body: unknown, messages: unknown[] = []): Promise<void> {
  const r = await purge(edge, body);
  assert.equal(r.status, 200, r.body);
  const j = JSON.parse(r.body) as { success: boolean; errors: unknown[]; messages: unknown[]; result: { id: unknown } };
  assert.equal(j.success, true);
  assert.deepEqual([j.errors, j.messages], [[], messages]);
  assert.equal(typeof j.result.id, 'string');
}

const NOTHING_MATCHED = { code: 1100, message: 'Nothing matched: no cached entry of zone default matched this purge' };

const A = 'https://a.example';
const B = 'https://b.example';

/**
 * A CORS origin: reflects the allowed Origins in ACAO with Vary: Origin; /vary/* also varies on Accept-Language;
 * /tagged/* carry Cache-Tag. `policy.allowed` and `policy.version` can change between requests.
 */
async function corsOrigin(t: TestContext) {
  const policy = { allowed: new Set([A, B]), version: 1 };
  const origin = await startOrigin(t, (req, res) => {
    const o = req.headers.origin as string | undefined;
    const path = req.url!.split('?')[0]!;
    const h: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', vary: 'Origin' };
    if (o && policy.allowed.has(o)) h['access-control-allow-origin'] = o;
    if (path.startsWith('/vary/')) h.vary = 'Origin, Accept-Language';
    if (path === '/tagged/a.js') h['cache-tag'] = 'Product-1, Common';
    if (path === '/tagged/b.js') h['cache-tag'] = 'common';
    res.writeHead(200, h);
    res.end(JSON.stringify({ url: req.url, origin: o ?? null, v: policy.version }));
  });
  return { origin, policy };
}

/** The cf-cache-status of one request (Host cdn.example.com unless given). */
async function status(edge: Edge, path: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await send(`${edge.base}${path}`, { headers: { host: 'cdn.example.com', ...headers } });
  assert.equal(r.status, 200);
  return String(r.headers['cf-cache-status']);
}

/** Requests each case twice, so that all are stored; returns nothing. */
async function fill(edge: Edge, cases: [string, Record<string, string>][]): Promise<void> {
  for (const [p, h] of cases) await status(edge, p, h);
  for (const [p, h] of cases) assert.equal(await status(edge, p, h), 'HIT', `${p} ${JSON.stringify(h)} stored`);
}

async function statuses(edge: Edge, cases: [string, Record<string, string>][]): Promise<string[]> {
  const out: string[] = [];
  for (const [p, h] of cases) out.push(await status(edge, p, h));
  return out;
}

test('files: a URL removes every variant (all Origins, no Origin, every Vary value); scheme and default port do not matter', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const cases: [string, Record<string, string>][] = [
    ['/app.js', { origin: A }], ['/app.js', { origin: B }], ['/app.js', {}],
    ['/vary/v.json', { origin: A, 'accept-language': 'en' }], ['/vary/v.json', { origin: A, 'accept-language': 'fr' }],
    ['/app.js?v=2', {}], ['/other.js', { origin: A }],
  ];
  await fill(edge, cases);
  await purgeOk(edge, { files: ['https://cdn.example.com/app.js', 'http://CDN.example.com:443/vary/v.json'] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'MISS', 'MISS', 'MISS', 'HIT', 'HIT']);
  assert.equal(origin.count('/app.js'), 6, 'the origin saw each purged variant again');
});

test('files with headers: exactly the variant those headers select (names case-insensitive, unkeyed headers ignored, absent Origin = the no-Origin variant)', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const url = 'https://cdn.example.com/app.js';
  const cases: [string, Record<string, string>][] = [['/app.js', { origin: A }], ['/app.js', { origin: B }], ['/app.js', {}]];
  await fill(edge, cases);

  await purgeOk(edge, { files: [{ url, headers: { oRiGiN: A } }] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'HIT', 'HIT']);
  await purgeOk(edge, { files: [{ url, headers: { Origin: B, 'X-Not-Keyed': 'anything' } }] });
  assert.deepEqual(await statuses(edge, cases), ['HIT', 'MISS', 'HIT']);
  await purgeOk(edge, { files: [{ url, headers: { Accept: 'text/html' } }] });
  assert.deepEqual(await statuses(edge, cases), ['HIT', 'HIT', 'MISS']);
  await purgeOk(edge, { files: [{ url, headers: { Origin: 'https://never-seen.example' } }] }, [NOTHING_MATCHED]);
  assert.deepEqual(await statuses(edge, cases), ['HIT', 'HIT', 'HIT']);

  // A header the response's Vary names does count.
  const vary: [string, Record<string, string>][] = [['/vary/v.json', { origin: A, 'accept-language': 'en' }], ['/vary/v.json', { origin: A, 'accept-language': 'fr' }]];
  await fill(edge, vary);
  await purgeOk(edge, { files: [{ url: 'https://cdn.example.com/vary/v.json', headers: { Origin: A, 'Accept-Language': 'fr' } }] });
  assert.deepEqual(await statuses(edge, vary), ['HIT', 'MISS']);
});

test('purge by URL after the origin changed its CORS policy: each Origin then gets the new answer', async (t) => {
  const { origin, policy } = await corsOrigin(t);
  policy.allowed = new Set([A]); // v1: only A is allowed
  const edge = await startTestEdge(t, { origin: origin.url });
  const acao = async (o?: string) => {
    const r = await send(`${edge.base}/font.woff2`, { headers: { host: 'cdn.example.com', ...(o ? { origin: o } : {}) } });
    return { status: r.headers['cf-cache-status'], acao: r.headers['access-control-allow-origin'], v: (JSON.parse(r.body) as { v: number }).v };
  };
  assert.deepEqual(await acao(A), { status: 'MISS', acao: A, v: 1 });
  assert.deepEqual(await acao(B), { status: 'MISS', acao: undefined, v: 1 });
  assert.deepEqual(await acao(), { status: 'MISS', acao: undefined, v: 1 });

  policy.allowed = new Set([A, B]); // v2: B is allowed too
  policy.version = 2;
  assert.deepEqual(await acao(B), { status: 'HIT', acao: undefined, v: 1 }, 'the cache still holds the old answer');

  await purgeOk(edge, { files: ['https://cdn.example.com/font.woff2'] });
  assert.deepEqual(await acao(B), { status: 'MISS', acao: B, v: 2 });
  assert.deepEqual(await acao(A), { status: 'MISS', acao: A, v: 2 });
  assert.deepEqual(await acao(), { status: 'MISS', acao: undefined, v: 2 });
  assert.deepEqual(await acao(B), { status: 'HIT', acao: B, v: 2 });
});

test('tags: Cache-Tag is case-insensitive, trimmed, comma-separated, and never reaches clients', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const cases: [string, Record<string, string>][] = [['/tagged/a.js', { origin: A }], ['/tagged/a.js', {}], ['/tagged/b.js', {}], ['/untagged.js', {}]];
  const first = await send(`${edge.base}/tagged/a.js`, { headers: { host: 'cdn.example.com' } });
  assert.equal(first.headers['cache-tag'], undefined);
  await fill(edge, cases);
  const hit = await send(`${edge.base}/tagged/a.js`, { headers: { host: 'cdn.example.com' } });
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  assert.equal(hit.headers['cache-tag'], undefined, 'not on a HIT either');

  await purgeOk(edge, { tags: ['PRODUCT-1'] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'HIT', 'HIT']);
  await purgeOk(edge, { tags: [' common '] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'MISS', 'HIT']);
});

test('hosts: a host with a port names that port only; without one, the host on every port; other hosts stay', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const on = (host: string): [string, Record<string, string>] => ['/x.js', { host }];
  const cases = [on('cdn.example.com'), on('cdn.example.com:8080'), on('other.example.com')];
  await fill(edge, cases);
  await purgeOk(edge, { hosts: ['cdn.example.com:8080'] });
  assert.deepEqual(await statuses(edge, cases), ['HIT', 'MISS', 'HIT']);
  await purgeOk(edge, { hosts: ['CDN.example.com'] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'HIT']);
});

test('prefixes: host plus a plain string prefix of the path, any query', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const cases: [string, Record<string, string>][] = [
    ['/assets/a.js', { origin: A }], ['/assets/b.js?v=1', {}], ['/assets/deep/c.js', {}], ['/assetsX/d.js', {}], ['/other.js', {}],
    ['/assets/a.js', { host: 'other.example.com' }],
  ];
  await fill(edge, cases);
  await purgeOk(edge, { prefixes: ['cdn.example.com/assets/'] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'MISS', 'HIT', 'HIT', 'HIT']);
  await purgeOk(edge, { prefixes: ['cdn.example.com/assets'] });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'MISS', 'MISS', 'HIT', 'HIT']);
});

test('purge_everything empties that zone only', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, {
    zones: [{ id: 'default', hosts: ['*'], origin: origin.url }, { id: 'second', hosts: ['second.example'], origin: origin.url }],
  });
  const cases: [string, Record<string, string>][] = [['/a.js', { origin: A }], ['/b.js', {}], ['/a.js', { host: 'second.example' }]];
  await fill(edge, cases);
  await purgeOk(edge, { purge_everything: true });
  assert.deepEqual(await statuses(edge, cases), ['MISS', 'MISS', 'HIT']);
  assert.deepEqual(await statuses(edge, cases), ['HIT', 'HIT', 'HIT']);
});

test('every error code, in the order auth → zone → body, with Cloudflare envelopes; refused requests purge nothing', async (t) => {
  const { origin } = await corsOrigin(t);
  const zoneToken = 'second-zone-only-token-0123';
  const edge = await startTestEdge(t, {
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }, { token: zoneToken, zones: ['second'] }] },
    zones: [{ id: 'default', hosts: ['*'], origin: origin.url }, { id: 'second', hosts: ['second.example'], origin: origin.url }],
  });
  const keep: [string, Record<string, string>][] = [['/keep.js', { origin: A }], ['/keep.js', {}]];
  await fill(edge, keep);
  const url = 'https://cdn.example.com/keep.js';
  const fetchesBefore = origin.count('/keep.js');

  const expectError = async (r: Res, httpStatus: number, code: number, message?: RegExp): Promise<void> => {
    assert.equal(r.status, httpStatus, r.body);
    const j = JSON.parse(r.body) as { success: boolean; errors: { code: number; message: string }[]; messages: unknown[]; result: unknown };
    assert.equal(j.success, false);
    assert.equal(j.errors.length, 1);
    assert.equal(j.errors[0]!.code, code, r.body);
    assert.ok(j.errors[0]!.message.length > 0);
    if (message) assert.match(j.errors[0]!.message, message);
    assert.deepEqual(j.messages, []);
    assert.equal(j.result, null);
  };
  const everything = { purge_everything: true };

  const get = await purge(edge, everything, { method: 'GET' });
  await expectError(get, 405, 7001);
  assert.equal(get.headers.allow, 'POST');
  await expectError(await purge(edge, everything, { token: null }), 401, 10001);
  await expectError(await send(`${edge.adminBase}/client/v4/zones/default/purge_cache`, { method: 'POST', headers: { authorization: 'Basic YTpi' }, body: '{"purge_everything":true}' }), 401, 10001);
  await expectError(await purge(edge, everything, { token: 'not-a-valid-token-0123456789' }), 401, 10001);
  await expectError(await purge(edge, everything, { token: null, query: `?token=${ADMIN_TOKEN}` }), 401, 10001);
  await expectError(await purge(edge, everything, { token: zoneToken }), 403, 10000);
  await expectError(await purge(edge, everything, { zone: 'nope' }), 404, 7003);
  // Order: auth before zone, zone before body.
  await expectError(await purge(edge, everything, { zone: 'nope', token: null }), 401, 10001);
  await expectError(await purge(edge, 'not json', { zone: 'nope' }), 404, 7003);

  await expectError(await purge(edge, '{"files": ['), 400, 6007);
  await expectError(await purge(edge, {}), 400, 1012);
  await expectError(await purge(edge, { files: [url], tags: ['x'] }), 400, 1012);
  await expectError(await purge(edge, { files: url }), 400, 1014);
  await expectError(await purge(edge, { tags: 'a-tag' }), 400, 1014);
  await expectError(await purge(edge, { files: [url, 'cdn.example.com/keep.js'] }), 400, 1013, /files\[1\].*cdn\.example\.com\/keep\.js/);
  await expectError(await purge(edge, { files: [{ url, headers: { 'Bad Header': 'x' } }] }), 400, 1013, /Bad Header/);
  await expectError(await purge(edge, { files: Array.from({ length: 501 }, (_, i) => `${url}?n=${i}`) }), 400, 1015, /500/);
  const huge = JSON.stringify({ files: [url], padding: 'x'.repeat(1024 * 1024 + 10) });
  await expectError(await purge(edge, huge), 413, 1017);

  assert.deepEqual(await statuses(edge, keep), ['HIT', 'HIT'], 'no refused request purged anything');
  assert.equal(origin.count('/keep.js'), fetchesBefore);
  await purgeOk(edge, { files: [url] }); // and the same body, accepted, does
  assert.deepEqual(await statuses(edge, keep), ['MISS', 'MISS']);
});

test('a purge that matched nothing says so in messages; one that matched, or a whole-zone purge (not counted), does not', async (t) => {
  const { origin } = await corsOrigin(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  await purgeOk(edge, { tags: ['common'] }, [NOTHING_MATCHED]);
  await purgeOk(edge, { hosts: ['cdn.example.com'] }, [NOTHING_MATCHED]);
  await purgeOk(edge, { prefixes: ['cdn.example.com/tagged/'], soft: true }, [NOTHING_MATCHED]);
  await purgeOk(edge, { purge_everything: true });
  await fill(edge, [['/tagged/a.js', {}]]);
  await purgeOk(edge, { tags: ['common'] });
  await purgeOk(edge, { tags: ['common'] }, [NOTHING_MATCHED]);
});
