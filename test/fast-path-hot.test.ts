// What the fast path caches or skips per hit stays per request: the head pieces follow Age, Date, Origin and
// keep-alive; request ids stay distinct (and a trusted proxy's is kept) with no access records; answers are counted
// exactly; the shared timeout sweep never closes a connection early.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../src/edge/clock.js';
import { metric, startOrigin, startTestEdge, sleep } from './helpers/http.js';
import { exchange } from './helpers/raw-http.js';

const A = 'https://a.example';
const B = 'https://b.example';

/** An origin that sends no Date (the edge adds it per second) and a cacheable body. */
async function dateless(t: Parameters<typeof startOrigin>[0]) {
  return startOrigin(t, (req, res) => {
    res.sendDate = false;
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', etag: '"v1"' });
    res.end(req.method === 'HEAD' ? undefined : 'hello hot path');
  });
}

const get = (origin?: string, close = false): string =>
  `GET /x HTTP/1.1\r\nHost: z.example\r\n${origin ? `Origin: ${origin}\r\n` : ''}${close ? 'Connection: close\r\n' : ''}\r\n`;

test('fast hits: Age and ttl follow the clock, CORS follows each Origin, keep-alive and close alternate, ids differ', async (t) => {
  const o = await dateless(t);
  const clock = new ManualClock();
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['z.example'], origin: o.url, cors: { allowOrigins: [A, B] } }] } as never, { clock });
  for (const origin of [A, B, undefined]) await exchange(edge.edge.port, get(origin, true)); // fill each variant
  const before = await metric(edge, 'edgecache_fast_path_answers_total');

  const first = await exchange(edge.edge.port, get(A) + get(B) + get() + get(A) + get(B, true), { waitMs: 3000 });
  const r = first.responses;
  assert.equal(r.length, 5);
  assert.ok(r.every((x) => x.headers['cf-cache-status']?.[0] === 'HIT' && x.body.toString() === 'hello hot path'));
  assert.deepEqual(r.map((x) => x.headers['access-control-allow-origin']?.[0]), [A, B, undefined, A, B]);
  assert.deepEqual(r.map((x) => x.headers.connection?.[0]), ['keep-alive', 'keep-alive', 'keep-alive', 'keep-alive', 'close']);
  assert.equal(new Set(r.map((x) => x.headers['x-request-id']?.[0])).size, 5, 'every answer has its own request id');
  assert.ok(r.every((x) => x.headers.age?.[0] === '0' && /ttl=300\b/.test(x.headers['cache-status']?.[0] ?? '')));
  assert.equal(await metric(edge, 'edgecache_fast_path_answers_total') - before, 5, 'answered on the fast path');

  clock.advance(7_000);
  const later = await exchange(edge.edge.port, get(A) + get(A, true), { waitMs: 3000 });
  assert.deepEqual(later.responses.map((x) => x.headers.age?.[0]), ['7', '7']);
  assert.ok(later.responses.every((x) => /ttl=293\b/.test(x.headers['cache-status']?.[0] ?? '')), 'the ttl moved with Age');
  // A keep-alive answer after a close answer for the same variant still says keep-alive.
  const again = await exchange(edge.edge.port, get(A) + get(A, true), { waitMs: 3000 });
  assert.deepEqual(again.responses.map((x) => x.headers.connection?.[0]), ['keep-alive', 'close']);
});

test('fast hits: the Date the edge adds is the current second, also across a second boundary', async (t) => {
  const o = await dateless(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['z.example'], origin: o.url }] } as never);
  await exchange(edge.edge.port, get(undefined, true));
  const dates = new Set<string>();
  // Over about 2.5 s: every answer's Date is a second between just before the request and just after the answer.
  for (let i = 0; i < 12; i++) {
    const lo = Math.floor(Date.now() / 1000) * 1000;
    const res = await exchange(edge.edge.port, get(undefined, true));
    const hi = Date.now();
    const date = res.responses[0]?.headers.date;
    assert.equal(date?.length, 1, 'one Date line');
    assert.equal(res.responses[0]?.headers['cf-cache-status']?.[0], 'HIT');
    const at = Date.parse(date![0]!);
    assert.ok(at >= lo && at <= hi, `Date ${date![0]} within [${new Date(lo).toUTCString()}, ${new Date(hi).toUTCString()}]`);
    dates.add(date![0]!);
    await sleep(200);
  }
  assert.ok(dates.size >= 2, 'the Date moved on with the clock');
});

test('fast hits without access records: request ids are made, a trusted proxy\'s own id is kept, answers counted exactly', async (t) => {
  const o = await dateless(t);
  const edge = await startTestEdge(t, {
    accessLog: { enabled: false },
    zones: [
      { id: 'z', hosts: ['z.example'], origin: o.url },
      { id: 'trusting', hosts: ['t.example'], origin: o.url, trustedProxies: ['127.0.0.1'] },
    ],
  } as never);
  await exchange(edge.edge.port, get(undefined, true));
  await exchange(edge.edge.port, 'GET /x HTTP/1.1\r\nHost: t.example\r\nConnection: close\r\n\r\n');
  const hits = (n: number): Promise<number> => metric(edge, 'edgecache_requests_total', `zone="z",cache_status="HIT",status_class="2xx"`).then((v) => v - n);
  const base = await hits(0);

  const r = await exchange(edge.edge.port, get().repeat(9) + get(undefined, true), { waitMs: 3000 });
  assert.equal(r.responses.length, 10);
  const ids = r.responses.map((x) => x.headers['x-request-id']?.[0]);
  assert.ok(ids.every((id) => typeof id === 'string' && /^[0-9a-f]{12}-[0-9a-z]+$/.test(id)), 'made ids');
  assert.equal(new Set(ids).size, 10);
  assert.equal(await hits(base), 10, 'each fast hit counted once');

  const theirs = await exchange(edge.edge.port, 'GET /x HTTP/1.1\r\nHost: t.example\r\nX-Request-Id: proxy-id-42\r\nConnection: close\r\n\r\n');
  assert.equal(theirs.responses[0]?.headers['cf-cache-status']?.[0], 'HIT');
  assert.equal(theirs.responses[0]?.headers['x-request-id']?.[0], 'proxy-id-42', 'a trusted proxy\'s id is kept');
  const notTrusted = await exchange(edge.edge.port, 'GET /x HTTP/1.1\r\nHost: z.example\r\nX-Request-Id: proxy-id-42\r\nConnection: close\r\n\r\n');
  assert.notEqual(notTrusted.responses[0]?.headers['x-request-id']?.[0], 'proxy-id-42', 'an untrusted peer\'s id is not');
});

test('fast connections: the timeout sweep closes an idle connection after keepAliveTimeoutMs plus node\'s 1 s, not before', async (t) => {
  const o = await dateless(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['z.example'], origin: o.url }], limits: { keepAliveTimeoutMs: 300, headersTimeoutMs: 800, requestTimeoutMs: 2000 } } as never);
  await exchange(edge.edge.port, get(undefined, true));
  const started = Date.now();
  const idle = await exchange(edge.edge.port, get(), { waitMs: 5000 });
  const closedAfter = Date.now() - started;
  assert.equal(idle.responses[0]?.headers['cf-cache-status']?.[0], 'HIT');
  assert.ok(idle.closed, 'closed by the idle timeout');
  assert.ok(closedAfter >= 1300, `not before 1.3 s (closed after ${closedAfter} ms)`);
  assert.ok(closedAfter < 3500, `within two sweeps of it (closed after ${closedAfter} ms)`);
  // Nothing sent: 408 once headersTimeoutMs has passed, not before.
  const t0 = Date.now();
  const silent = await exchange(edge.edge.port, [], { waitMs: 4000 });
  const after = Date.now() - t0;
  assert.equal(silent.responses[0]?.status, 408);
  assert.ok(after >= 800 && after < 2500, `408 after ${after} ms`);
});

test('fast hits: an answer a write still holds (a client not reading) keeps its bytes while other connections are answered', async (t) => {
  // Bodies of 15 KiB (copied behind the head, cut from the answer slab), one per path, each byte saying which.
  const size = 15 * 1024;
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300' });
    res.end(Buffer.alloc(size, req.url === '/a' ? 'a' : 'b'));
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['z.example'], origin: o.url }] } as never);
  const head = (path: string, close = false): string => `GET ${path} HTTP/1.1\r\nHost: z.example\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  for (const p of ['/a', '/b']) await exchange(edge.edge.port, head(p, true));

  // A: 600 pipelined hits (about 9 MiB of answers), not read for now: the edge's writes to it stay pending.
  const net = await import('node:net');
  const a = net.connect(edge.edge.port, '127.0.0.1');
  const got: Buffer[] = [];
  a.pause();
  a.on('data', (c: Buffer) => got.push(c));
  const ended = new Promise<void>((res) => a.once('end', () => res()));
  a.write(head('/a').repeat(599) + head('/a', true));
  await sleep(300);
  // Meanwhile other connections are answered from the cache (their answers made after A's).
  for (let i = 0; i < 20; i++) {
    const b = await exchange(edge.edge.port, head('/b').repeat(4) + head('/b', true));
    assert.equal(b.responses.length, 5);
    assert.ok(b.responses.every((x) => x.body.equals(Buffer.alloc(size, 'b'))));
  }
  a.resume();
  await ended;
  const { parseResponses } = await import('./helpers/raw-http.js');
  const answers = parseResponses(Buffer.concat(got), true);
  assert.equal(answers.length, 600);
  const bad = answers.findIndex((x) => x.status !== 200 || !x.body.equals(Buffer.alloc(size, 'a')) || x.headers['cf-cache-status']?.[0] !== 'HIT');
  assert.equal(bad, -1, `answer ${bad} to the client that read late is intact`);
});

test('fast hits: after a reload moves a host to another zone, its targets are looked up in the new zone (keys are not kept across zones)', async (t) => {
  const one = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=300' }); res.end('from one'); });
  const two = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=300' }); res.end('from two'); });
  // Zone one (*.example) stays as it is, its cached objects too; zone two takes a.example over by name.
  const zonesFor = (aTo: 'one' | 'two') => [
    { id: 'one', hosts: ['*.example'], origin: one.url },
    { id: 'two', hosts: aTo === 'one' ? ['b.test'] : ['b.test', 'a.example'], origin: two.url },
  ];
  const edge = await startTestEdge(t, { zones: zonesFor('one') } as never);
  const req = (close: boolean): string => `GET /x HTTP/1.1\r\nHost: a.example\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  await exchange(edge.edge.port, req(true));
  const before = await exchange(edge.edge.port, req(false) + req(true));
  assert.deepEqual(before.responses.map((r) => [r.headers['cf-cache-status']?.[0], r.body.toString()]), [['HIT', 'from one'], ['HIT', 'from one']]);

  const { validateConfig } = await import('../src/config/load.js');
  const next = validateConfig({
    listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0', tokens: [{ token: 'a'.repeat(32), zones: ['*'] }] }, logLevel: 'silent', zones: zonesFor('two'),
  } as never, 'test');
  await edge.reload({ ...next, listen: edge.config.listen, admin: edge.config.admin } as never);
  const miss = await exchange(edge.edge.port, req(true));
  assert.deepEqual([miss.responses[0]?.headers['cf-cache-status']?.[0], miss.responses[0]?.body.toString()], ['MISS', 'from two'], 'zone two answers for a.example');
  const hits = await exchange(edge.edge.port, req(false) + req(true));
  assert.deepEqual(hits.responses.map((r) => [r.headers['cf-cache-status']?.[0], r.body.toString()]), [['HIT', 'from two'], ['HIT', 'from two']]);
});
