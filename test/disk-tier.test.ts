// End to end with a disk tier whose memory tier is too small to keep bodies: hits, HEAD, ranges (RFC 9110 §14) and
// If-Range (§13.1.5) answered from the body files, small bodies read whole and large ones streamed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startTestEdge, send } from './helpers/http.js';
import { DiskStore } from '../src/storage/disk.js';

const SMALL = Buffer.from(Array.from({ length: 100 * 1024 }, (_, i) => 97 + (i % 26)));
const LARGE = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 7) & 0xff));

test('disk tier: hits, HEAD, ranges and If-Range from body files that are not in memory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-tier-e2e-'));
  const edges: { close(graceMs?: number): Promise<void> }[] = [];
  t.after(async () => { for (const e of edges) await e.close(1000); await rm(dir, { recursive: true, force: true }); });
  const origin = await startOrigin(t, (req, res) => {
    const body = req.url === '/large.bin' ? LARGE : SMALL;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=300', etag: '"v1"', 'content-length': String(body.length) });
    res.end(body);
  });
  // A memory tier of one byte: every body is demoted once written, so each hit below reads its file.
  const edge = await startTestEdge(t, { origin: origin.url, cache: { disk: { path: dir }, memory: { maxBytes: 1 }, maxObjectBytes: 8 * 1024 * 1024 } });
  edges.push(edge);
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(`${edge.base}${path}`, { method, headers: { host: 'cdn.example.com', ...headers } });

  for (const [path, body] of [['/small.bin', SMALL], ['/large.bin', LARGE]] as const) {
    const miss = await get(path);
    assert.equal(miss.headers['cf-cache-status'], 'MISS');
    await (edge.store as DiskStore).flush();
    const hit = await get(path);
    assert.equal(hit.headers['cf-cache-status'], 'HIT');
    assert.equal(hit.headers['content-length'], String(body.length));
    assert.ok(hit.raw.equals(body), `${path}: the whole body from its file`);
    const head = await get(path, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(body.length));
    assert.equal(head.raw.length, 0);

    const one = await get(path, { range: 'bytes=10-19' });
    assert.equal(one.status, 206);
    assert.equal(one.headers['content-range'], `bytes 10-19/${body.length}`);
    assert.ok(one.raw.equals(body.subarray(10, 20)));
    const suffix = await get(path, { range: 'bytes=-5' });
    assert.ok(suffix.raw.equals(body.subarray(body.length - 5)));

    const multi = await get(path, { range: 'bytes=0-1, 1000-1009' });
    assert.equal(multi.status, 206);
    assert.match(String(multi.headers['content-type']), /^multipart\/byteranges; boundary=/);
    assert.equal(Number(multi.headers['content-length']), multi.raw.length, 'Content-Length counts every part');
    const text = multi.raw.toString('latin1');
    assert.ok(text.includes(`content-range: bytes 0-1/${body.length}\r\n\r\n${body.subarray(0, 2).toString('latin1')}\r\n`));
    assert.ok(text.includes(`content-range: bytes 1000-1009/${body.length}\r\n\r\n${body.subarray(1000, 1010).toString('latin1')}\r\n`));

    // RFC 9110 §14.1.1/§15.5.17: no satisfiable range → 416 with the length; §14.2: invalid syntax is ignored.
    const beyond = await get(path, { range: `bytes=${body.length}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${body.length}`);
    const invalid = await get(path, { range: 'bytes=5-2' });
    assert.equal(invalid.status, 200);
    assert.ok(invalid.raw.equals(body));
    // §13.1.5: If-Range with the stored strong ETag gives the range; another gives the whole body.
    assert.equal((await get(path, { range: 'bytes=0-0', 'if-range': '"v1"' })).status, 206);
    const other = await get(path, { range: 'bytes=0-0', 'if-range': '"v0"' });
    assert.equal(other.status, 200);
    assert.ok(other.raw.equals(body));
  }
  assert.equal(origin.requests.length, 2, 'one origin fetch per URL; everything else from the disk tier');
  assert.ok((edge.store as DiskStore).diskStats().memoryBytes <= 1, 'nothing large stayed in memory');
});
