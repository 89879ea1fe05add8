// End to end: one stored body for byte-identical variants — 50 Origins, one 1 MiB asset, purge and eviction.
// Variants per Vary: https://www.rfc-editor.org/rfc/rfc9111#section-4.1 — each Origin variant keeps its own headers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { metric, purge, startOrigin, startTestEdge } from './helpers/http.js';

const MiB = 1024 * 1024;

/** A deterministic 1 MiB body per name (not compressible, not all zeros). */
function bodyFor(name: string): Buffer {
  const out = Buffer.alloc(MiB);
  let block = createHash('sha256').update(name).digest();
  for (let i = 0; i < MiB; i += block.length) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function setup(t: TestContext, maxBytes?: number) {
  const bodies = new Map<string, Buffer>([['/big.bin', bodyFor('big')], ['/other.bin', bodyFor('other')]]);
  // The origin owns CORS: reflects every Origin with Vary: Origin, so the edge keeps one variant per Origin.
  const origin = await startOrigin(t, (req, res) => {
    const body = bodies.get(req.url ?? '');
    if (!body) { res.writeHead(404); res.end(); return; }
    const h: Record<string, string> = {
      'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', vary: 'Origin', etag: `"${sha(body).slice(0, 16)}"`,
    };
    if (typeof req.headers.origin === 'string') h['access-control-allow-origin'] = req.headers.origin;
    res.writeHead(200, h);
    res.end(body);
  });
  // A body as large as the store, explicitly (by default a memory store takes objects up to an eighth of maxBytes).
  const edge = await startTestEdge(t, { origin: origin.url, ...(maxBytes ? { cache: { maxBytes, maxObjectBytes: maxBytes } } : {}) });
  return { origin, edge, bodies };
}

const appOrigin = (i: number): string => `https://app${i}.example`;
interface RawRes { status: number; headers: IncomingHttpHeaders; raw: Buffer }

/** A GET whose body stays bytes (helpers' send() also decodes it as UTF-8: seconds of CPU for 50 MiB of binary). */
function get(base: string, path: string, o?: string): Promise<RawRes> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: o ? { origin: o } : {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Fetches path for each Origin, a few at a time; checks every body byte for byte and its own ACAO. */
async function fetchAll(base: string, path: string, origins: string[], want: Buffer): Promise<RawRes[]> {
  const out: RawRes[] = [];
  for (let i = 0; i < origins.length; i += 10) {
    const batch = await Promise.all(origins.slice(i, i + 10).map((o) => get(base, path, o)));
    for (const [j, r] of batch.entries()) {
      assert.equal(r.status, 200);
      assert.equal(r.raw.length, want.length, `full body for ${origins[i + j]}`);
      assert.ok(r.raw.equals(want), `correct body for ${origins[i + j]}`);
      assert.equal(r.headers['access-control-allow-origin'], origins[i + j], 'each variant keeps its own ACAO');
    }
    out.push(...batch);
  }
  return out;
}

test('50 Origins fetching one 1 MiB asset hold one body (≤ 1.1 MiB); purges never free a body still in use, nor leak one', async (t) => {
  const { origin, edge, bodies } = await setup(t);
  const big = bodies.get('/big.bin')!;
  const origins = Array.from({ length: 50 }, (_, i) => appOrigin(i));

  const first = await fetchAll(edge.base, '/big.bin', origins, big);
  assert.ok(first.every((r) => r.headers['cf-cache-status'] === 'MISS'));
  assert.equal(origin.count('/big.bin'), 50, 'one origin fetch per Origin variant (the origin said Vary: Origin)');
  let s = edge.store.stats();
  assert.deepEqual([s.variants, s.bodies, s.bodyBytes], [50, 1, MiB]);
  const storeBytes = await metric(edge, 'edgecache_store_bytes');
  assert.ok(storeBytes <= 1.1 * MiB, `edgecache_store_bytes ${storeBytes} ≤ 1.1 MiB`);
  assert.equal(storeBytes, MiB);
  assert.equal(await metric(edge, 'edgecache_store_bodies'), 1);
  assert.equal(await metric(edge, 'edgecache_variants'), 50);

  // Purge one variant (URL + the Origin it was stored for): the body stays for the 49 others.
  const one = await purge(edge, 'default', { files: [{ url: `${edge.base}/big.bin`, headers: { Origin: origins[7]! } }] });
  assert.equal(one.json.success, true);
  s = edge.store.stats();
  assert.deepEqual([s.variants, s.bodies, s.bodyBytes], [49, 1, MiB]);
  const hits = await fetchAll(edge.base, '/big.bin', origins.filter((_, i) => i % 5 === 3), big); // a sample (7 is not in it)
  assert.ok(hits.every((r) => r.headers['cf-cache-status'] === 'HIT'), 'the others are still served from the shared body');
  // The purged Origin is fetched again; its new copy joins the body already held.
  const again = await fetchAll(edge.base, '/big.bin', [origins[7]!], big);
  assert.equal(again[0]!.headers['cf-cache-status'], 'MISS');
  s = edge.store.stats();
  assert.deepEqual([s.variants, s.bodies, s.bodyBytes], [50, 1, MiB]);

  // Remove variants one by one: the body is held while any variant uses it.
  const host = new URL(edge.base).host;
  for (const [i, o] of origins.slice(0, 48).entries()) {
    edge.store.purge({ kind: 'variant', zoneId: 'default', host, path: '/big.bin', query: '', headers: { origin: o } }, false);
    s = edge.store.stats();
    assert.deepEqual([s.variants, s.bodyBytes], [49 - i, MiB], `after ${i + 1} purged`);
  }
  const last = await fetchAll(edge.base, '/big.bin', origins.slice(48), big);
  assert.ok(last.every((r) => r.headers['cf-cache-status'] === 'HIT'));

  // A purge by URL (admin API) takes the last two; the body goes with them.
  const all = await purge(edge, 'default', { files: [`${edge.base}/big.bin`] });
  assert.equal(all.json.success, true);
  s = edge.store.stats();
  assert.deepEqual([s.objects, s.variants, s.bodies, s.bodyBytes], [0, 0, 0, 0]);
  assert.equal(await metric(edge, 'edgecache_store_bytes'), 0);
});

test('eviction by the byte bound drops variants but never a body another variant uses; the last one frees it', async (t) => {
  // Room for one 1 MiB body plus about a dozen variants' metadata, not for two bodies.
  const { origin, edge, bodies } = await setup(t, MiB + 8 * 1024);
  const big = bodies.get('/big.bin')!;
  const origins = Array.from({ length: 20 }, (_, i) => appOrigin(i));

  await fetchAll(edge.base, '/big.bin', origins, big);
  let s = edge.store.stats();
  assert.ok(s.evictions > 0, 'the metadata of 20 variants does not fit: some were evicted');
  assert.ok(s.variants < 20 && s.variants > 1, `variants kept: ${s.variants}`);
  assert.deepEqual([s.bodies, s.bodyBytes], [1, MiB], 'evicting variants kept the body the others use');

  // Every Origin still gets the full, correct body: the kept ones from the shared body, the evicted ones refetched.
  const before = origin.count('/big.bin');
  const second = await fetchAll(edge.base, '/big.bin', origins.slice().reverse(), big);
  const hits = second.filter((r) => r.headers['cf-cache-status'] === 'HIT').length;
  assert.ok(hits > 0, 'some variants were still held');
  assert.equal(origin.count('/big.bin') - before, 20 - hits, 'only the evicted variants were refetched');
  s = edge.store.stats();
  assert.deepEqual([s.bodies, s.bodyBytes], [1, MiB]);

  // Another 1 MiB body does not fit beside the first: every variant of the first goes, and its body with the last.
  const evictionsBefore = s.evictions;
  await fetchAll(edge.base, '/other.bin', [origins[0]!], bodies.get('/other.bin')!);
  s = edge.store.stats();
  assert.ok(s.evictions > evictionsBefore);
  assert.deepEqual([s.variants, s.bodies, s.bodyBytes], [1, 1, MiB], 'only /other.bin\'s variant and body are left');
  assert.equal(await metric(edge, 'edgecache_store_bytes'), MiB);
  assert.equal((await get(edge.base, '/other.bin', origins[0])).headers['cf-cache-status'], 'HIT');
});
