// Hostile HTTP/2 clients, frames written by hand over h2c prior knowledge: bounded concurrent streams, header lists and
// HPACK bombs, CONTINUATION floods (CVE-2024-27983), rapid reset (CVE-2023-44487), SETTINGS/PING floods, idle sessions,
// malformed frames. Each closes (or refuses) that connection or stream only: the edge keeps serving others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2Connect } from 'node:http2';
import { startOrigin, startTestEdge, metric, sleep } from './helpers/http.js';
import { ERR, F, frame, getBlock, headers, indexed, indexedLiteral, literal, ping, RawH2, rst, settings, T } from './helpers/h2-frames.js';

async function setup(t: import('node:test').TestContext, limits: Record<string, number> = {}) {
  const origin = await startOrigin(t, async (req, res) => {
    if (req.url!.startsWith('/slow')) await sleep(1500);
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end(`ok ${req.url}`);
  });
  const edge = await startTestEdge(t, { listen: [{ address: '127.0.0.1:0', h2c: true }], origin: origin.url, limits });
  return { origin, edge, port: edge.edge.port };
}

/** A well-behaved request on a new connection: the edge still serves. */
async function healthy(port: number, path = '/fine'): Promise<number> {
  const session = h2Connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<number>((resolve, reject) => {
      const s = session.request({ ':path': path, ':authority': 'a.example' });
      s.on('response', (h) => { s.resume(); resolve(Number(h[':status'])); });
      s.on('error', reject);
      session.on('error', reject);
      s.end();
    });
  } finally { session.close(); }
}

test('the server advertises its bounds; a client opening streams past SETTINGS_MAX_CONCURRENT_STREAMS loses the connection', async (t) => {
  const { port } = await setup(t);
  const c = await RawH2.open(port);
  t.after(() => c.close());
  await c.wait(() => c.frames.some((f) => f.type === T.SETTINGS && !(f.flags & F.ACK)));
  const s = c.frames.find((f) => f.type === T.SETTINGS && !(f.flags & F.ACK))!;
  const advertised = new Map<number, number>();
  for (let i = 0; i < s.payload.length; i += 6) advertised.set(s.payload.readUInt16BE(i), s.payload.readUInt32BE(i + 2));
  assert.equal(advertised.get(0x3), 128, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  assert.equal(advertised.get(0x6), 16 * 1024, 'SETTINGS_MAX_HEADER_LIST_SIZE is limits.maxHeaderBytes');
  assert.equal(advertised.get(0x2), 0, 'no server push');
  c.write(settings([], true));
  await sleep(50);
  // RFC 9113 §5.1.2: a stream over the limit is a protocol error; node ends the whole session for it.
  const n = 200;
  c.write(Buffer.concat(Array.from({ length: n }, (_, i) => headers(1 + 2 * i, getBlock('/slow', 'a.example')))));
  assert.ok(await c.wait(() => c.closed, 5000), 'the connection is closed');
  const g = c.goaway();
  assert.ok(g && g.code !== ERR.NO_ERROR, 'with an error GOAWAY');
  assert.ok(g.lastStream <= 1 + 2 * 127, `no stream past the 128th was taken (last ${g.lastStream})`);
  assert.equal(await healthy(port), 200);
});

test('a header list over the limit, and an HPACK bomb (one table entry referenced many times), are refused', async (t) => {
  const { port } = await setup(t);
  const c = await RawH2.open(port);
  t.after(() => c.close());
  // 20 kB of fields in HEADERS + CONTINUATION frames (each within the 16 kB frame size).
  const block = getBlock('/big', 'a.example', [['x-big', 'a'.repeat(20_000)]]);
  c.write(Buffer.concat([headers(1, block.subarray(0, 10_000), F.END_STREAM), frame(T.CONTINUATION, F.END_HEADERS, 1, block.subarray(10_000))]));
  assert.ok(await c.wait(() => c.status(1) !== undefined || c.resets().some((f) => f.stream === 1) || c.goaway() !== undefined, 5000), 'answered');
  assert.notEqual(c.status(1), 200, 'a 20 kB header list is not served');

  const bomb = await RawH2.open(port);
  t.after(() => bomb.close());
  // 4 kB into the dynamic table once (a whole request within the limit), then 1,000 one-byte references to it: 4 MB decoded.
  bomb.write(headers(1, Buffer.concat([getBlock('/seed', 'a.example'), indexedLiteral('x-seed', 'b'.repeat(4000))])));
  await bomb.wait(() => bomb.status(1) !== undefined || bomb.closed, 5000);
  const refs = Buffer.concat(Array.from({ length: 1000 }, () => indexed(62)));
  bomb.write(headers(3, Buffer.concat([getBlock('/bomb', 'a.example'), refs])));
  await bomb.wait(() => bomb.status(3) !== undefined || bomb.resets().some((f) => f.stream === 3) || bomb.goaway() !== undefined || bomb.closed, 5000);
  assert.equal(bomb.status(1), 200, 'the seed request was within the limit');
  assert.notEqual(bomb.status(3), 200, 'the decoded list is over the limit: refused');
  assert.ok(bomb.resets().some((f) => f.stream === 3) || bomb.goaway() !== undefined, 'by a reset (or GOAWAY)');
  assert.equal(await healthy(port), 200);
});

test('CVE-2024-27983: HEADERS followed by CONTINUATION frames without end closes the connection', async (t) => {
  const { port } = await setup(t);
  const c = await RawH2.open(port);
  t.after(() => c.close());
  c.write(headers(1, getBlock('/cont', 'a.example'), F.END_STREAM)); // no END_HEADERS
  let sent = 0;
  for (; sent < 20_000 && !c.closed; sent++) {
    c.write(frame(T.CONTINUATION, 0, 1, literal(`x-c${sent}`, 'v')));
    if (sent % 500 === 0) await sleep(1);
  }
  assert.ok(await c.wait(() => c.closed || c.goaway() !== undefined, 5000), `the connection is closed (after ${sent} CONTINUATION frames)`);
  assert.ok(c.goaway() === undefined || c.goaway()!.code !== ERR.NO_ERROR, 'with an error code');
  assert.equal(await healthy(port), 200);
});

test('CVE-2023-44487: a client opening and resetting streams in a loop gets GOAWAY, is disconnected and counted', async (t) => {
  const { edge, port } = await setup(t);
  const c = await RawH2.open(port);
  t.after(() => c.close());
  const before = await metric(edge, 'edgecache_h2_rapid_reset_total');
  let stream = 1;
  for (let round = 0; round < 50 && !c.closed; round++) {
    const burst: Buffer[] = [];
    for (let i = 0; i < 20; i++, stream += 2) burst.push(headers(stream, getBlock('/slow-reset', 'a.example')), rst(stream, ERR.CANCEL));
    c.write(Buffer.concat(burst));
    await sleep(2);
  }
  assert.ok(await c.wait(() => c.closed, 5000), 'disconnected');
  assert.equal(c.goaway()?.code, ERR.ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.equal(await metric(edge, 'edgecache_h2_rapid_reset_total'), before + 1);
  assert.equal(await healthy(port), 200);
});

test('SETTINGS and PING floods from a client that never reads are cut off, not buffered without end', async (t) => {
  const { port } = await setup(t);
  const c = await RawH2.open(port);
  t.after(() => c.close());
  c.socket.pause(); // never read the ACKs
  const flood = Buffer.concat(Array.from({ length: 1000 }, (_, i) => (i % 2 ? ping() : settings())));
  let rounds = 0;
  for (; rounds < 200 && !c.closed; rounds++) {
    if (!c.write(flood)) await new Promise<void>((r) => { const t2 = setTimeout(r, 200); c.socket.once('drain', () => { clearTimeout(t2); r(); }); });
  }
  c.socket.resume();
  assert.ok(await c.wait(() => c.closed, 10_000), `the flooding connection is closed (after ${rounds * 1000} frames)`);
  assert.equal(await healthy(port), 200);

  // A SETTINGS frame with more entries than maxSettings allows is a connection error too.
  const many = await RawH2.open(port);
  t.after(() => many.close());
  many.write(settings(Array.from({ length: 100 }, () => [0x4, 65535] as [number, number])));
  assert.ok(await many.wait(() => many.closed || many.goaway() !== undefined, 5000), 'too many settings in one frame');
});

test('an idle session is closed after keepAliveTimeoutMs; one that never sends the preface after headersTimeoutMs', async (t) => {
  const { port } = await setup(t, { keepAliveTimeoutMs: 300, headersTimeoutMs: 400 });
  const c = await RawH2.open(port);
  t.after(() => c.close());
  c.write(headers(1, getBlock('/idle', 'a.example')));
  await c.wait(() => c.status(1) !== undefined);
  const started = Date.now();
  assert.ok(await c.wait(() => c.closed, 3000), 'closed when idle');
  assert.equal(c.goaway()?.code, ERR.NO_ERROR, 'with a graceful GOAWAY');
  assert.ok(Date.now() - started >= 200, 'not before the idle time');

  const silent = await RawH2.open(port, { settings: false });
  t.after(() => silent.close());
  assert.ok(await silent.wait(() => silent.closed, 3000), 'a connection that sends nothing is closed');
});

test('a stream open longer than keepAliveTimeoutMs keeps its session; the idle time counts from its close', async (t) => {
  const { port } = await setup(t, { keepAliveTimeoutMs: 300 });
  const c = await RawH2.open(port);
  t.after(() => c.close());
  c.write(headers(1, getBlock('/slow-long', 'a.example')));
  // The origin takes 1500 ms: five idle times pass with the stream open.
  assert.ok(await c.wait(() => c.status(1) !== undefined, 5000), 'the slow answer arrives');
  assert.equal(c.status(1), 200);
  assert.equal(c.closed, false, 'not closed while its stream was open');
  const answered = Date.now();
  assert.ok(await c.wait(() => c.closed, 3000), 'closed once idle after it');
  assert.equal(c.goaway()?.code, ERR.NO_ERROR, 'with a graceful GOAWAY');
  assert.ok(Date.now() - answered >= 200, 'not before the idle time from the stream\'s close');
});

test('a malformed frame closes that connection only: a request in flight on another finishes', async (t) => {
  const { port } = await setup(t);
  const session = h2Connect(`http://127.0.0.1:${port}`);
  t.after(() => session.close());
  const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const s = session.request({ ':path': '/slow-inflight', ':authority': 'a.example' });
    let status = 0; let body = '';
    s.on('response', (h) => { status = Number(h[':status']); });
    s.on('data', (d: Buffer) => { body += d.toString(); });
    s.on('end', () => resolve({ status, body }));
    s.on('error', reject);
    s.end();
  });
  await sleep(100);
  for (const bad of [
    frame(T.HEADERS, F.END_HEADERS, 0, getBlock('/', 'a.example')), // HEADERS on stream 0
    frame(T.DATA, 0, 0, Buffer.from('x')), // DATA on stream 0
    frame(T.SETTINGS, 0, 0, Buffer.alloc(5)), // SETTINGS length not a multiple of 6
    frame(T.PING, 0, 0, Buffer.alloc(3)), // PING that is not 8 bytes
    headers(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), // an HPACK index far past the table
  ]) {
    const c = await RawH2.open(port);
    c.write(bad);
    assert.ok(await c.wait(() => c.closed || c.goaway() !== undefined, 5000), `closed for ${bad.subarray(0, 9).toString('hex')}`);
    assert.notEqual(c.goaway()?.code, ERR.NO_ERROR);
    c.close();
  }
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok /slow-inflight');
});
