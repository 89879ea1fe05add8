// HTTP/1.1 over TLS on the fast path: connections read into the shared buffer, answers cut from the reused slab
// (free again once the TLS layer took them, src/edge/fast-listener.ts). Several TLS connections pipelining hits at
// once, one of them not reading for a while (its answers wait in the socket), and a body handed to node:http: every
// answer is the one asked for, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { metric, startOrigin, startTestEdge } from './helpers/http.js';
import { tlsExchange } from './helpers/raw-http.js';
import { createTestPki } from './helpers/tls.js';
import { concurrentConnections } from './fuzz/fast-connections.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Each path its own body of about 2 KiB (copied into the slab with its head): an answer cut from bytes another answer overwrote would not match. */
const BODY = (path: string): string => `${path}:`.repeat(Math.ceil(2000 / (path.length + 1)));

test('fast path over TLS: pipelined hits on several connections, one stalled, and a body handed over, all byte for byte', async (t) => {
  const pki = await createTestPki(t);
  const cert = await pki.issue('a', ['a.test']);
  const o = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') { res.writeHead(200); res.end(sha(req.body)); return; }
    res.writeHead(200, { 'cache-control': 'max-age=300', 'content-type': 'text/plain' });
    res.end(BODY(req.url ?? '/'));
  });
  const edge = await startTestEdge(t, {
    listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] } }],
    zones: [{ id: 'a', hosts: ['a.test'], origin: o.url }],
  } as never);
  const port = edge.listeners[0]!.address()!.port;
  const hit = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: a.test\r\n\r\n`;
  const PATHS = Array.from({ length: 12 }, (_, i) => `/p/${i}${'x'.repeat(i * 7)}`);
  const warm = await tlsExchange(port, pki.ca, { pieces: [PATHS.map(hit).join('')], count: PATHS.length });
  assert.equal(warm.filter((r) => r.status === 200).length, PATHS.length);
  const before = await metric(edge, 'edgecache_fast_path_answers_total');

  // Per connection: 40 pieces of 10 pipelined hits over about 300 ms, each connection its own order of paths. The
  // first asks for its 400 answers in pieces of 50 and reads nothing for 200 ms.
  const orders = [0, 1, 2, 3].map((k) => Array.from({ length: 400 }, (_, i) => PATHS[(i * (k + 1) + k) % PATHS.length]!));
  const pieces = (order: string[], per: number): string[] => Array.from({ length: order.length / per }, (_, i) => order.slice(i * per, i * per + per).map(hit).join(''));
  const runs = orders.map((order, k) => tlsExchange(port, pki.ca, k === 0
    ? { pieces: pieces(order, 50), gapMs: 3, stallMs: 200, count: order.length }
    : { pieces: pieces(order, 10), gapMs: 8, count: order.length }));
  // A hit, then a POST whose body starts in the same piece: handed to node:http with what the fast path read.
  const body = randomBytes(200_000);
  const postPieces: Buffer[] = [Buffer.concat([Buffer.from(`${hit(PATHS[0]!)}POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${body.length}\r\n\r\n`), body.subarray(0, 10_000)])];
  for (let at = 10_000; at < body.length; at += 10_000) postPieces.push(body.subarray(at, at + 10_000));
  const post = tlsExchange(port, pki.ca, { pieces: postPieces, gapMs: 2, count: 2 });

  const [results, p] = await Promise.all([Promise.all(runs), post]);
  results.forEach((answers, k) => {
    const want = orders[k]!;
    assert.equal(answers.length, want.length, `connection ${k}: every answer`);
    answers.forEach((r, i) => assert.ok(r.status === 200 && r.body.toString() === BODY(want[i]!), `connection ${k}, answer ${i}: the body of ${want[i]}`));
  });
  assert.deepEqual(p.map((r) => r.status), [200, 200]);
  assert.equal(p[0]!.body.toString(), BODY(PATHS[0]!));
  assert.equal(p[1]!.body.toString(), sha(body), 'the origin got the body byte for byte');
  const answered = await metric(edge, 'edgecache_fast_path_answers_total') - before;
  assert.ok(answered >= 1600, `the hits were the fast path's (${answered})`);
});

test('fast path over TLS, generated: several connections, requests cut anywhere and interleaved, every answer right (long run: npm run fuzz)', async (t) => {
  await concurrentConnections(t, { numRuns: 10 }, 'tls');
});
