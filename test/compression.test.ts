// End to end: gzip and br made at the edge for stored identity responses (zone `compress`), chosen by Accept-Encoding,
// with Vary, ETag, Content-Length, conditionals, ranges and HEAD consistent (RFC 9110 §8.4, §8.8.3, §12.5.3, §14).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { startOrigin, startTestEdge, send, sleep, type Res } from './helpers/http.js';

const CSS = Array.from({ length: 300 }, (_, i) => `.rule-${i} { color: #${(i * 4099).toString(16).padStart(6, '0').slice(0, 6)}; margin: ${i}px; }\n`).join('');
const PNG = Buffer.alloc(5000, 7);
const PRE_GZIPPED = gzipSync(Buffer.from(CSS));

async function setup(t: TestContext, compress: Record<string, unknown> | null = {}) {
  let revalidations = 0;
  const origin = await startOrigin(t, (req, res) => {
    const base = { 'cache-control': 'max-age=600', etag: '"v1"' };
    switch (req.url) {
      case '/app.css': res.writeHead(200, { ...base, 'content-type': 'text/css; charset=utf-8' }); res.end(CSS); return;
      case '/vary.css': res.writeHead(200, { ...base, 'content-type': 'text/css', vary: 'Origin' }); res.end(CSS); return;
      case '/small.css': res.writeHead(200, { ...base, 'content-type': 'text/css' }); res.end('a{}'); return;
      case '/img.png': res.writeHead(200, { ...base, 'content-type': 'image/png' }); res.end(PNG); return;
      case '/keep.css': res.writeHead(200, { 'cache-control': 'max-age=600, no-transform', 'content-type': 'text/css' }); res.end(CSS); return;
      case '/page.html': res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/html', etag: '"p1"' }); res.end(CSS); return;
      case '/events': res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/event-stream' }); res.end(`data: ${CSS}\n\n`); return;
      case '/reval.css': {
        // Always revalidated: each 304 refreshes the stored fields (x-seen counts the origin's answers).
        const seen = String(++revalidations);
        if (req.headers['if-none-match'] === '"r1"') { res.writeHead(304, { etag: '"r1"', 'cache-control': 'max-age=0, must-revalidate', 'x-seen': seen }); res.end(); return; }
        res.writeHead(200, { 'cache-control': 'max-age=0, must-revalidate', etag: '"r1"', 'content-type': 'text/css', 'x-seen': seen });
        res.end(CSS);
        return;
      }
      case '/pre.css': res.writeHead(200, { ...base, 'content-type': 'text/css', 'content-encoding': 'gzip', vary: 'Accept-Encoding' }); res.end(PRE_GZIPPED); return;
      default: res.writeHead(404); res.end();
    }
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, ...(compress ? { compress } : {}) }] });
  return { origin, edge };
}

/** Asks until the edge answers with `coding` (the compressed copy is made in the background after the first ask). */
async function until(url: string, headers: Record<string, string>, coding: string): Promise<Res> {
  for (let i = 0; i < 100; i++) {
    const r = await send(url, { headers });
    if (r.headers['content-encoding'] === coding) return r;
    await sleep(20);
  }
  assert.fail(`never answered with ${coding}`);
}

test('gzip and br are made once from the stored identity response and served with their own ETag, length and Vary', async (t) => {
  const { origin, edge } = await setup(t);
  const url = `${edge.base}/app.css`;
  const miss = await send(url, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(miss.headers['cf-cache-status'], 'MISS');
  assert.equal(miss.headers['content-encoding'], undefined, 'the fill goes out as the origin sent it');
  assert.equal(miss.headers.vary, 'Accept-Encoding', 'but says that it varies by coding');
  assert.equal(miss.body, CSS);

  const gz = await until(url, { 'accept-encoding': 'gzip, deflate' }, 'gzip');
  assert.equal(gz.headers['cf-cache-status'], 'HIT');
  assert.equal(gz.headers.etag, '"v1-gzip"');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.equal(gz.headers['content-length'], String(gz.raw.length));
  assert.ok(gz.raw.length < CSS.length / 2, `compressed to ${gz.raw.length} of ${CSS.length}`);
  assert.equal(gunzipSync(gz.raw).toString(), CSS);

  const br = await until(url, { 'accept-encoding': 'gzip, deflate, br' }, 'br');
  assert.equal(br.headers.etag, '"v1-br"');
  assert.equal(br.headers['content-length'], String(br.raw.length));
  assert.equal(brotliDecompressSync(br.raw).toString(), CSS);

  const plain = await send(url, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers.etag, '"v1"');
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  assert.equal(plain.body, CSS);
  const none = await send(url);
  assert.equal(none.body, CSS, 'no Accept-Encoding: identity');

  // However clients spell Accept-Encoding, there are three representations, and the origin was asked once.
  const etags = new Set<string>();
  for (const ae of ['gzip', 'GZIP', 'x-gzip', 'gzip;q=0.5, deflate', 'br', 'br;q=0.9, gzip;q=1', '*', 'gzip, br;q=0', 'deflate', 'identity', 'zstd, br', 'junk;q=x']) {
    const r = await send(url, { headers: { 'accept-encoding': ae } });
    etags.add(String(r.headers.etag));
    const body = r.headers['content-encoding'] === 'br' ? brotliDecompressSync(r.raw) : r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.raw) : r.raw;
    assert.equal(body.toString(), CSS, ae);
  }
  assert.deepEqual([...etags].sort(), ['"v1"', '"v1-br"', '"v1-gzip"']);
  assert.equal(origin.count('/app.css'), 1);
});

test('conditionals, ranges and HEAD stay consistent with the representation', async (t) => {
  const { edge } = await setup(t);
  const url = `${edge.base}/app.css`;
  await send(url);
  const gz = await until(url, { 'accept-encoding': 'gzip' }, 'gzip');

  const nm = await send(url, { headers: { 'accept-encoding': 'gzip', 'if-none-match': '"v1-gzip"' } });
  assert.equal(nm.status, 304, 'the compressed ETag validates the compressed representation');
  assert.equal(nm.headers.etag, '"v1-gzip"');
  const other = await send(url, { headers: { 'accept-encoding': 'gzip', 'if-none-match': '"v1"' } });
  assert.equal(other.status, 200, 'the identity ETag does not validate the gzip representation');

  const range = await send(url, { headers: { 'accept-encoding': 'gzip', range: 'bytes=0-9' } });
  assert.equal(range.status, 206);
  assert.equal(range.headers['content-encoding'], undefined, 'ranges are of the identity representation');
  assert.equal(range.body, CSS.slice(0, 10));
  assert.equal(range.headers.vary, 'Accept-Encoding');

  const head = await send(url, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(head.headers['content-encoding'], 'gzip');
  assert.equal(head.headers['content-length'], String(gz.raw.length));
  assert.equal(head.raw.length, 0);
});

test('an existing Vary is extended, not repeated', async (t) => {
  const { edge } = await setup(t);
  const url = `${edge.base}/vary.css`;
  await send(url);
  const gz = await until(url, { 'accept-encoding': 'gzip' }, 'gzip');
  assert.equal(gz.headers.vary, 'Origin, Accept-Encoding');
});

test('not compressed: other types, small bodies, no-transform, bodies the origin coded; zones without compress', async (t) => {
  const { edge } = await setup(t);
  for (const path of ['/img.png', '/small.css', '/keep.css']) {
    await send(`${edge.base}${path}`, { headers: { 'accept-encoding': 'gzip' } });
    await sleep(50);
    const r = await send(`${edge.base}${path}`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(r.headers['cf-cache-status'], 'HIT', path);
    assert.equal(r.headers['content-encoding'], undefined, path);
    assert.equal(r.headers.vary, undefined, `${path}: ${JSON.stringify(r.headers)}`);
  }
  await send(`${edge.base}/pre.css`, { headers: { 'accept-encoding': 'gzip' } });
  const pre = await send(`${edge.base}/pre.css`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(pre.headers['content-encoding'], 'gzip');
  assert.deepEqual(pre.raw, PRE_GZIPPED, 'the origin\'s gzip is passed on as it is');

  const { edge: off } = await setup(t, null);
  await send(`${off.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } });
  await sleep(50);
  const r = await send(`${off.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.headers.vary, undefined);
  const { edge: disabled } = await setup(t, { enabled: false });
  await send(`${disabled.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } });
  await sleep(50);
  assert.equal((await send(`${disabled.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined);
});

test('compress.types and minBytes are the zone\'s', async (t) => {
  const { edge } = await setup(t, { types: ['image/png'], minBytes: 10 });
  await send(`${edge.base}/img.png`, { headers: { 'accept-encoding': 'gzip' } });
  const png = await until(`${edge.base}/img.png`, { 'accept-encoding': 'gzip' }, 'gzip');
  assert.deepEqual(gunzipSync(png.raw), PNG);
  await send(`${edge.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } });
  await sleep(50);
  assert.equal((await send(`${edge.base}/app.css`, { headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined, 'text/css is not in the list');
});

test('answers relayed uncached (no-store) are compressed on the way; event streams are not', async (t) => {
  const { origin, edge } = await setup(t);
  const gz = await send(`${edge.base}/page.html`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(gz.headers['cf-cache-status'], 'BYPASS');
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers['content-length'], undefined, 'the coded length is not known up front');
  assert.equal(gz.headers.etag, '"p1-gzip"');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.equal(gunzipSync(gz.raw).toString(), CSS);
  const br = await send(`${edge.base}/page.html`, { headers: { 'accept-encoding': 'br, gzip' } });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(brotliDecompressSync(br.raw).toString(), CSS);
  const plain = await send(`${edge.base}/page.html`);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  const head = await send(`${edge.base}/page.html`, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(head.headers['content-encoding'], 'gzip', 'HEAD gets the fields a GET would');
  assert.equal(head.raw.length, 0);
  const ev = await send(`${edge.base}/events`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(ev.headers['content-encoding'], undefined);
  assert.equal(ev.body, `data: ${CSS}\n\n`);
  assert.equal(origin.count('/page.html'), 4);
});

test('a 304 that refreshes the stored fields keeps the compressed copy, served with the new fields', async (t) => {
  const { origin, edge } = await setup(t);
  const url = `${edge.base}/reval.css`;
  await send(url);
  const gz = await until(url, { 'accept-encoding': 'gzip' }, 'gzip');
  assert.equal(gz.headers['cf-cache-status'], 'REVALIDATED');
  assert.equal(gz.headers['x-seen'], String(origin.count('/reval.css')), 'the fields are those of the latest 304');
  assert.equal(gunzipSync(gz.raw).toString(), CSS);
  const again = await send(url, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(again.headers['content-encoding'], 'gzip', 'made once: served at once after the next refresh');
  assert.equal(again.headers['x-seen'], String(origin.count('/reval.css')));
  assert.equal(again.headers.etag, '"r1-gzip"');
});
