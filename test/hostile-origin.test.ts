// A hostile origin: bodies cut short, dropped or stalled mid-body (collapsed waiters too), and invalid
// response fields. Clients never see a complete-looking broken response; nothing is stored; the next request goes
// to the origin again.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startTestEdge } from './helpers/http.js';
import { exchange, startRawOrigin, type RawResult } from './helpers/raw-http.js';

const GOOD_BODY = 'g'.repeat(100);
const good = (sock: Socket): void => {
  sock.write(`HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Type: text/plain\r\nContent-Length: ${GOOD_BODY.length}\r\n\r\n${GOOD_BODY}`);
};
const pathOf = (head: string): string => head.split(' ')[1]!;

/**
 * A raw origin: the first request for a path gets `bad[path]` (which may cut, stall or corrupt), later ones a good
 * storable answer. Zone timeouts are short: headers 1 s, body 400 ms.
 */
async function setup(t: TestContext, bad: Record<string, (sock: Socket) => void>) {
  const seen = new Map<string, number>();
  const origin = await startRawOrigin(t, (sock, head) => {
    const path = pathOf(head);
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    if (n === 1 && bad[path]) bad[path](sock); else good(sock);
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, timeouts: { connectMs: 1000, headersMs: 1000, bodyMs: 400 } }] });
  const count = (path: string): number => seen.get(path) ?? 0;
  const get = (path: string, extra = ''): Promise<RawResult> =>
    exchange(edge.edge.port, `GET ${path} HTTP/1.1\r\nHost: a.example\r\n${extra}Connection: close\r\n\r\n`, { waitMs: 5000 });
  return { origin, edge, count, get };
}

/** Never a complete-looking response: an error status, or a body that stops before its declared end. */
function assertBroken(r: RawResult, what: string): void {
  const first = r.responses[0];
  assert.ok(r.closed, `${what}: the connection is closed`);
  if (first === undefined) return; // closed before any answer
  if (first.status >= 500) { assert.ok(first.status === 502 || first.status === 504, `${what}: ${first.status}`); return; }
  assert.equal(first.complete, false, `${what}: a ${first.status} that looks complete (${first.body.length} bytes)`);
}

/** The next request reaches the origin (nothing was stored) and gets the good answer, which is then stored. */
async function assertRecovered(s: Awaited<ReturnType<typeof setup>>, path: string): Promise<void> {
  const before = s.count(path);
  const next = await s.get(path);
  assert.equal(next.responses[0]?.status, 200, `${path}: ${next.text.slice(0, 120)}`);
  assert.equal(next.responses[0]?.body.toString(), GOOD_BODY);
  assert.equal(s.count(path), before + 1, `${path}: nothing was stored, the next request went to the origin`);
  assert.equal((await s.get(path)).responses[0]?.headers['cf-cache-status']?.[0], 'HIT', `${path}: the good answer is stored`);
}

test('a body cut short (Content-Length larger than sent, or no last chunk) is never passed off as complete', async (t) => {
  const s = await setup(t, {
    '/short-cl': (sock) => { sock.end('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 100\r\n\r\nonly-ten!!'); },
    '/short-chunked': (sock) => { sock.end('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\na\r\nonly-ten!!\r\n'); },
    '/short-private': (sock) => { sock.end('HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 100\r\n\r\nonly-ten!!'); },
    '/short-head': (sock) => { sock.end('HTTP/1.1 200 OK\r\nContent-Len'); },
  });
  for (const path of ['/short-cl', '/short-chunked', '/short-private', '/short-head']) {
    assertBroken(await s.get(path), path);
    if (path !== '/short-private') await assertRecovered(s, path);
  }
  const head = await s.get('/short-head2');
  assert.equal(head.responses[0]?.status, 200, 'a healthy origin is still used');
});

test('dropped mid-body with collapsed waiters: none sees a complete-looking response; nothing stored', async (t) => {
  const s = await setup(t, {
    '/drop': (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\n\r\n');
      sock.write('d'.repeat(100));
      setTimeout(() => sock.destroy(), 800);
    },
  });
  const first = s.get('/drop');
  await new Promise((r) => setTimeout(r, 50));
  const waiters = [
    ...Array.from({ length: 5 }, () => s.get('/drop')),
    // A range past the bytes that arrived streams from the fill and is cut with it (one within them is genuine).
    s.get('/drop', 'Range: bytes=0-499\r\n'),
    s.get('/drop', 'If-None-Match: "x"\r\n'),
  ];
  const all = await Promise.all([first, ...waiters]);
  all.forEach((r, i) => assertBroken(r, `client ${i}`));
  assert.equal(s.count('/drop'), 1, 'the waiters were collapsed onto one origin request');
  await assertRecovered(s, '/drop');
});

test('an origin stalling past timeouts.bodyMs mid-body: clients see the close; before the head: 504', async (t) => {
  const held: Socket[] = [];
  t.after(() => { for (const h of held) h.destroy(); });
  const s = await setup(t, {
    '/stall': (sock) => { held.push(sock); sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\n\r\nstarted'); },
    '/stall-chunked': (sock) => { held.push(sock); sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nstarted\r\n'); },
    '/stall-head': (sock) => { held.push(sock); },
  });
  const [a, b] = await Promise.all([s.get('/stall'), s.get('/stall')]);
  assertBroken(a!, 'stall client 1');
  assertBroken(b!, 'stall client 2');
  assertBroken(await s.get('/stall-chunked'), 'stall chunked');
  const head = await s.get('/stall-head');
  assert.equal(head.responses[0]?.status, 504);
  for (const p of ['/stall', '/stall-chunked', '/stall-head']) await assertRecovered(s, p);
});

test('invalid response fields or framing: 502, nothing stored, no byte of them reaches the client', async (t) => {
  const bad: Record<string, string> = {
    '/nul': 'HTTP/1.1 200 OK\r\nX-Poison: a\u0000POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/ctl': 'HTTP/1.1 200 OK\r\nX-Poison: a\u0001POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/bare-cr': 'HTTP/1.1 200 OK\r\nX-Poison: a\rSet-Cookie: POISON=1\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/bare-lf': 'HTTP/1.1 200 OK\r\nX-Poison: a\nSet-Cookie: POISON=1\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/bad-name': 'HTTP/1.1 200 OK\r\nX Poison: POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/space-colon': 'HTTP/1.1 200 OK\r\nX-Poison : POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/obs-fold': 'HTTP/1.1 200 OK\r\nX-Poison: a\r\n POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/cl-te': 'HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nPOISON\r\n0\r\n\r\n',
    '/two-cl': 'HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nPOISON!',
    '/bad-cl': 'HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 6x\r\n\r\nPOISON',
    '/te-gzip': 'HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: gzip\r\n\r\nPOISON',
    '/bad-chunk': 'HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nPOISON\r\n0\r\n\r\n',
    '/status-2000': 'HTTP/1.1 2000 OK\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/status-600': 'HTTP/1.1 600 POISON\r\nCache-Control: max-age=600\r\nContent-Length: 6\r\n\r\nPOISON',
    '/garbage': 'POISON POISON POISON\r\n\r\n',
  };
  const s = await setup(t, Object.fromEntries(Object.entries(bad).map(([p, raw]) => [p, (sock: Socket) => { sock.end(raw, 'latin1'); }])));
  for (const path of Object.keys(bad)) {
    const r = await s.get(path);
    const first = r.responses[0];
    // A chunk error after a valid head: the close is the only signal (see the todo test below for the 502).
    if (path === '/bad-chunk') assertBroken(r, path);
    else assert.equal(first?.status, 502, `${path}: ${JSON.stringify(r.text.slice(0, 160))}`);
    assert.ok(!r.text.includes('POISON'), `${path}: bytes of the invalid response reached the client`);
    await assertRecovered(s, path);
  }
});

test('a client that has no head yet when the origin body fails gets 502, not a bare close', {
}, async (t) => {
  const s = await setup(t, { '/bad-chunk': (sock) => { sock.end('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nPOISON\r\n0\r\n\r\n'); } });
  const r = await s.get('/bad-chunk');
  assert.equal(r.responses[0]?.status, 502, JSON.stringify(r.text));
});

test('a waiter answered from the whole body (Range on a fill of unknown length) gets 504 when the origin stalls mid-body', async (t) => {
  const held: Socket[] = [];
  t.after(() => { for (const h of held) h.destroy(); });
  const s = await setup(t, {
    '/stall-range': (sock) => { held.push(sock); sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nstarted\r\n'); },
    '/stall-streamed': (sock) => { held.push(sock); sock.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\n\r\nstarted'); },
  });
  const r = await s.get('/stall-range', 'Range: bytes=0-3\r\n');
  assert.equal(r.responses[0]?.status, 504, JSON.stringify(r.text.slice(0, 200)));
  // With a declared length the range streams from the fill: one within the bytes that arrived is answered whole and
  // true; one reaching past them is cut when the origin stalls, never passed off as complete.
  const within = await s.get('/stall-streamed', 'Range: bytes=0-3\r\n');
  assert.equal(within.responses[0]?.status, 206);
  assert.equal(within.responses[0]?.body.toString(), 'star');
  assertBroken(await s.get('/stall-streamed', 'Range: bytes=0-99\r\n'), 'a range past the stall');
});
