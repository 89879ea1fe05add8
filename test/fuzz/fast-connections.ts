// Property: fast-path connections read into one shared buffer (src/edge/socket-read.ts), so several connections whose
// pipelined requests arrive cut at arbitrary points, interleaved, get each of their answers right and in order: hits,
// misses node:http answers (the connection handed over with what was read) and bodies it reads.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { startOrigin, startTestEdge } from '../helpers/http.js';
import { exchange, tlsExchange, type ParsedResponse } from '../helpers/raw-http.js';
import { createTestPki } from '../helpers/tls.js';
import { params, type RunOptions } from './properties.js';

const PATHS = ['/a', '/bb', '/ccc-0123456789', '/d/e/f', '/nostore/1', '/nostore/two'];
const BODY = (path: string): string => `${path}|`.repeat(1 + ((path.length * 37) % 90));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type Req = { kind: 'get'; path: string } | { kind: 'post'; body: Buffer };

const reqArb: fc.Arbitrary<Req> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PATHS).map((path): Req => ({ kind: 'get', path })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((b): Req => ({ kind: 'post', body: Buffer.from(b) })) },
);

/** One connection: its requests, where its bytes are cut, and the pause between pieces. */
const connArb = fc.record({
  reqs: fc.array(reqArb, { minLength: 1, maxLength: 10 }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
  gapMs: fc.integer({ min: 0, max: 3 }),
});

function bytesOf(reqs: Req[]): Buffer {
  return Buffer.concat(reqs.map((r) => r.kind === 'get'
    ? Buffer.from(`GET ${r.path} HTTP/1.1\r\nHost: x\r\n\r\n`)
    : Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${r.body.length}\r\n\r\n`), r.body])));
}

function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) { pieces.push(bytes.subarray(from, p)); from = p; }
  return pieces;
}

/** `transport` 'tls': the same over HTTP/1.1 on a TLS listener (decrypted pieces read into the shared buffer). */
export async function concurrentConnections(t: TestContext, o: RunOptions, transport: 'plain' | 'tls' = 'plain'): Promise<void> {
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(sha(req.body)); return; }
    const url = req.url ?? '/';
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': url.startsWith('/nostore') ? 'no-store' : 'max-age=600' });
    res.end(BODY(url));
  });
  let send: (pieces: Buffer[], gapMs: number, count: number) => Promise<ParsedResponse[]>;
  if (transport === 'tls') {
    const pki = await createTestPki(t);
    const cert = await pki.issue('a', ['a.test']);
    const edge = await startTestEdge(t, {
      listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] } }],
      zones: [{ id: 'a', hosts: ['x', 'a.test'], origin: origin.url }],
    });
    const port = edge.listeners[0]!.address()!.port;
    send = (pieces, gapMs, count) => tlsExchange(port, pki.ca, { pieces, gapMs, count, waitMs: 5000 });
  } else {
    const edge = await startTestEdge(t, { origin: origin.url });
    const port = edge.edge.port;
    send = async (pieces, gapMs, count) => (await exchange(port, pieces, {
      gapMs, waitMs: 5000, until: (r) => r.responses.filter((x) => x.complete).length === count,
    })).responses;
  }
  const warm = await send([bytesOf(PATHS.map((path): Req => ({ kind: 'get', path })))], 0, PATHS.length);
  assert.equal(warm.length, PATHS.length);

  await fc.assert(fc.asyncProperty(fc.array(connArb, { minLength: 2, maxLength: 4 }), async (conns) => {
    const results = await Promise.all(conns.map((c) => send(cut(bytesOf(c.reqs), c.cuts), c.gapMs, c.reqs.length)));
    results.forEach((responses, k) => {
      const reqs = conns[k]!.reqs;
      assert.equal(responses.length, reqs.length, `connection ${k}: an answer for each request`);
      reqs.forEach((q, i) => {
        const want = q.kind === 'get' ? BODY(q.path) : sha(q.body);
        const got = responses[i]!;
        assert.ok(got.status === 200 && got.body.toString('latin1') === want, `connection ${k}, request ${i} (${q.kind === 'get' ? q.path : 'POST'}): ${got.status} ${got.body.toString('latin1').slice(0, 60)}`);
      });
    });
  }), params(t, o));
}
