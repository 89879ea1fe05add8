// The fast path reads every connection into one shared buffer (src/edge/socket-read.ts): what a connection keeps past
// a read (a head split over reads, a pipelined tail, what node:http takes over) must survive other connections'
// reads overwriting that buffer. Several connections at once, in small pieces, so that their reads interleave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { metric, send, sleep, startOrigin, startTestEdge } from './helpers/http.js';
import { exchange, parseResponses } from './helpers/raw-http.js';
import { concurrentConnections } from './fuzz/fast-connections.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** A GET for `p` on Host x, as every test here sends. */
const hit = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
const BODY = (path: string): string => `body of ${path} `.repeat(60);


test('shared reads: split heads, pipelined tails and bodies handed to node:http stay intact while other connections read', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') {
      // A slow answer: node:http holds the requests pipelined behind it (the fast path feeds them later).
      setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(sha(req.body)); }, req.url === '/slow' ? 80 : 0);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300' });
    res.end(BODY(req.url ?? '/'));
  });
  const edge = await startTestEdge(t, { origin: o.url } as never);
  const port = edge.edge.port;
  // Noise: hits pipelined in small pieces on two connections, for the whole test; their heads differ from the
  // others' at every byte after 'GET /', so a kept view they overwrite would not parse as it did.
  const NOISE = ['/noise-one-0123456789', '/noise-two-0123456789'];
  const warm = await exchange(port, ['/a', '/b', ...NOISE].map(hit), { until: (r) => r.responses.length === 4 });
  assert.deepEqual(warm.responses.map((r) => r.status), [200, 200, 200, 200]);
  // Ten heads a piece, each connection its own URL: a read overwrites the first 470 bytes of the shared buffer, and
  // a head of one read where the other's was answers the other's URL.
  const noise = NOISE.map((url) => exchange(port, Array.from({ length: 40 }, () => hit(url).repeat(10)), { gapMs: 5, waitMs: 5000, until: (r) => r.responses.length === 400 }));

  // Heads cut in the middle of a line, and a pipelined tail cut inside the next head.
  const split = exchange(port, ['GET /a HTTP/1.1\r\nHo', 'st: x\r\n\r\nGET /b HT', 'TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { gapMs: 40 });

  // A hit, then a POST whose 300 KB body arrives in pieces: the first with the head, read by the fast path and handed
  // to node:http; the rest read by node:http itself.
  const body = randomBytes(300_000);
  const pieces: Buffer[] = [Buffer.concat([Buffer.from(`${hit('/a')}POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body.subarray(0, 16_000)])];
  for (let at = 16_000; at < body.length; at += 16_000) pieces.push(body.subarray(at, at + 16_000));
  const post = exchange(port, pieces, { gapMs: 2, waitMs: 5000 });

  // Requests read together and handed over behind a slow one: node:http is fed them one at a time, later.
  const fed = exchange(port, `${hit('/a')}POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello${hit('/b')}${hit('/a')}`, { until: (r) => r.responses.length === 4 });

  const [s, p, f, ...n] = await Promise.all([split, post, fed, ...noise]);
  assert.deepEqual(f.responses.map((r) => r.body.toString()), [BODY('/a'), sha(Buffer.from('hello')), BODY('/b'), BODY('/a')]);

  assert.deepEqual(s.responses.map((r) => [r.status, r.body.toString()]), [[200, BODY('/a')], [200, BODY('/b')]]);
  assert.deepEqual(p.responses.map((r) => r.status), [200, 200]);
  assert.equal(p.responses[0]!.body.toString(), BODY('/a'));
  assert.equal(p.responses[1]!.body.toString(), sha(body), 'the origin got the body byte for byte');
  n.forEach((r, k) => {
    assert.equal(r.responses.length, 400);
    for (const x of r.responses) assert.equal(x.body.toString(), BODY(NOISE[k]!));
  });
  const answered = await metric(edge, 'edgecache_fast_path_answers_total');
  assert.ok(answered >= 800, `the hits were the fast path's (${answered})`);
});

test('shared reads: a reset while node:http reads a handed-over connection leaves the edge serving', async (t) => {
  const o = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=300' }); res.end('x'); });
  const edge = await startTestEdge(t, { origin: o.url } as never);
  const port = edge.edge.port;
  const warm = await exchange(port, hit('/a'), { until: (r) => r.responses.length === 1 });
  assert.equal(warm.responses[0]?.status, 200);
  const before = await metric(edge, 'edgecache_fast_path_handovers_total');
  for (let i = 0; i < 3; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => undefined);
    c.write(`${hit('/a')}POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n12345`);
    await sleep(50);
    c.resetAndDestroy();
  }
  await sleep(50);
  assert.equal(await metric(edge, 'edgecache_fast_path_handovers_total') - before, 3, 'each connection went to node:http after a hit');
  const after = await send(`http://127.0.0.1:${port}/a`);
  assert.equal(after.status, 200);
  assert.equal(after.body, 'x');
});

test('shared reads: heads read with the first, kept while their client reads no answers, survive reads meanwhile', async (t) => {
  const big = randomBytes(1024 * 1024);
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=300' });
    res.end(req.url === '/big' ? big : BODY(req.url ?? '/'));
  });
  const edge = await startTestEdge(t, { origin: o.url } as never);
  const port = edge.edge.port;
  const warm = await exchange(port, hit('/big') + hit('/other-path'), { until: (r) => r.responses.length === 2 });
  assert.deepEqual(warm.responses.map((r) => r.status), [200, 200]);

  // 30 heads in one read; 30 MiB of answers fill the socket's buffers long before the last is written, so the fast
  // path waits for the client with the rest of the heads kept.
  const chunks: Buffer[] = [];
  const c = net.connect(port, '127.0.0.1');
  t.after(() => c.destroy());
  c.on('error', () => undefined);
  c.pause();
  c.write(hit('/big').repeat(30));
  await sleep(100);
  // Meanwhile another connection's read fills the shared buffer with other heads (longer than all 30).
  const other = await exchange(port, hit('/other-path').repeat(30), { until: (r) => r.responses.length === 30 });
  assert.equal(other.responses.filter((r) => r.body.toString() === BODY('/other-path')).length, 30);
  const answers = await new Promise<ReturnType<typeof parseResponses>>((resolve) => {
    const done = (): void => { clearTimeout(timer); resolve(parseResponses(Buffer.concat(chunks), false)); };
    const timer = setTimeout(done, 10_000);
    let bytes = 0;
    c.on('data', (b: Buffer) => { chunks.push(b); bytes += b.length; if (bytes >= 30 * big.length) setImmediate(done); });
    c.resume();
  });
  assert.equal(answers.length, 30);
  answers.forEach((r, i) => assert.ok(r.status === 200 && r.body.equals(big), `answer ${i}: the /big it asked for`));
});

test('pipelined requests handed to node:http in pieces: the last byte, read while they are fed, waits its turn', async (t) => {
  const o = await startOrigin(t, (req, res) => {
    const url = req.url ?? '/';
    res.writeHead(200, { 'cache-control': url.startsWith('/nostore') ? 'no-store' : 'max-age=600' });
    res.end(`body ${url}`);
  });
  const edge = await startTestEdge(t, { origin: o.url } as never);
  const port = edge.edge.port;
  // Two hits, a miss that hands the connection over, then five more requests behind it.
  const paths = ['/a', '/a', '/nostore/1', '/b', '/c', '/a', '/b', '/nostore/2'];
  const warm = await exchange(port, ['/a', '/b', '/c'].map(hit).join(''), { until: (r) => r.responses.length === 3 });
  assert.equal(warm.responses.length, 3);
  const bytes = Buffer.from(paths.map(hit).join(''));
  const short: number[] = [];
  for (let i = 0; i < 60; i++) {
    // All but the last byte, then the last byte while node:http is being fed the requests behind the miss.
    const r = await exchange(port, [bytes.subarray(0, bytes.length - 1), bytes.subarray(bytes.length - 1)], {
      gapMs: 1 + (i % 3), waitMs: 2000, until: (x) => x.responses.filter((y) => y.complete).length === paths.length,
    });
    if (r.responses.map((x) => x.body.toString()).join() !== paths.map((p) => `body ${p}`).join()) short.push(i);
  }
  assert.deepEqual(short, [], 'every round answered all eight, in order');
});

test('shared reads, generated: several connections, requests cut anywhere and interleaved, every answer right (long run: npm run fuzz)', async (t) => {
  await concurrentConnections(t, { numRuns: 15 });
});
