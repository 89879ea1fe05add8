// End to end: the access log written to its own file (one record per request, refusals and aborted requests included,
// HTTP/2 too), request ids (made, sent to the origin and the client, kept from trusted proxies) and traceparent.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as h2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpRequest } from 'node:http';
import { startOrigin, startTestEdge, send, sleep } from './helpers/http.js';
import { exchange } from './helpers/raw-http.js';
import { captureLogs } from './helpers/capture-logger.js';

type Line = Record<string, unknown> & { msg?: string; level: number };

async function tempLog(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-access-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'logs', 'access.log');
}

async function readLines(path: string): Promise<Line[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
}

/** Waits until the file holds a record that matches (the destination writes asynchronously). */
async function lineWhere(path: string, pred: (l: Line) => boolean, ms = 3000): Promise<Line> {
  const until = Date.now() + ms;
  for (;;) {
    const hit = (await readLines(path)).find(pred);
    if (hit) return hit;
    if (Date.now() > until) assert.fail(`no access record matched in ${path}:\n${(await readLines(path)).map((l) => JSON.stringify(l)).join('\n')}`);
    await sleep(20);
  }
}

/** An application logger whose parsed lines land in `lines`. */
const captureLogger = () => captureLogs<Line>('info');

async function setup(t: TestContext, extra: Record<string, unknown> = {}) {
  const origin = await startOrigin(t, async (req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.write('first part ');
      await sleep(2000);
      res.end('late');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
    res.end(`asset ${req.url}`);
  });
  const path = await tempLog(t);
  const app = captureLogger();
  const edge = await startTestEdge(t, {
    accessLog: { enabled: true, path },
    listen: [{ address: '127.0.0.1:0', h2c: true }],
    limits: { maxHeaderBytes: 2048 },
    zones: [{ id: 'site', hosts: ['a.example'], origin: origin.url, trustedProxies: ['10.9.9.9/32'] }],
    ...extra,
  }, { logger: app.logger });
  return { origin, edge, path, app };
}

test('a miss and a hit are logged once each with the fields an operator reads', async (t) => {
  const { origin, edge, path, app } = await setup(t);
  const headers = { host: 'a.example', 'user-agent': 'probe/1.0', referer: 'https://ref.example/page' };
  const miss = await send(`${edge.base}/one.css?x=1`, { headers });
  const hit = await send(`${edge.base}/one.css?x=1`, { headers });
  assert.equal(hit.headers['cf-cache-status'], 'HIT');
  const missId = String(miss.headers['x-request-id']);
  const hitId = String(hit.headers['x-request-id']);
  assert.match(missId, /^[0-9a-f]{12}-[0-9a-z]+$/);
  assert.notEqual(missId, hitId, 'every request has its own id');
  assert.equal(origin.requests[0]!.headers['x-request-id'], missId, 'the origin saw the id of the request that fetched');

  const m = await lineWhere(path, (l) => l.requestId === missId);
  assert.equal(m.level, 30, 'info');
  assert.equal(m.msg, 'request');
  assert.equal(m.client, '127.0.0.1');
  assert.equal(m.zone, 'site');
  assert.equal(m.method, 'GET');
  assert.equal(m.host, 'a.example');
  assert.equal(m.target, '/one.css?x=1');
  assert.equal(m.status, 200);
  assert.equal(m.cache, 'MISS');
  assert.equal(m.originStatus, 200);
  assert.equal(typeof m.originMs, 'number');
  assert.equal(typeof m.ms, 'number');
  assert.ok((m.ms as number) >= (m.originMs as number), 'the total includes the origin time');
  assert.equal(m.userAgent, 'probe/1.0');
  assert.equal(m.referer, 'https://ref.example/page');
  assert.equal(m.http, '1.1');
  assert.ok((m.bytes as number) > miss.raw.length, `bytes ${m.bytes} count the head and the ${miss.raw.length}-byte body`);
  assert.equal(m.forwardedFor, undefined, 'no forwarded chain from an untrusted peer');

  const h = await lineWhere(path, (l) => l.requestId === hitId);
  assert.equal(h.cache, 'HIT');
  assert.equal(h.originStatus, undefined, 'a hit asked no origin');
  assert.equal(h.originMs, undefined);
  assert.equal((await readLines(path)).filter((l) => l.requestId === missId || l.requestId === hitId).length, 2, 'one record per request');
  assert.equal(app.lines.filter((l) => l.msg === 'request').length, 0, 'with a file of its own, the process log has no access records');
  await edge.reload(); // reopens the access log file (logrotate) and logs 'reloaded' to the process log
  assert.ok(app.lines.some((l) => l.msg === 'reloaded'), 'application records stay in the process log');
  const again = await send(`${edge.base}/one.css?x=1`, { headers });
  await lineWhere(path, (l) => l.requestId === again.headers['x-request-id']);
  assert.ok((await readLines(path)).every((l) => l.msg === 'request'), 'the file holds access records only');
});

test('refused requests are logged at info: the request guard, no zone, a malformed head, a head too large', async (t) => {
  const { edge, path, app } = await setup(t);
  const port = edge.edge.port;
  const twoHosts = await exchange(port, 'GET /a HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
  assert.equal(twoHosts.responses[0]?.status, 400);
  const guardId = twoHosts.responses[0]!.headers['x-request-id']?.[0];
  assert.ok(guardId, 'a refusal carries its request id');
  const g = await lineWhere(path, (l) => l.requestId === guardId);
  assert.equal(g.status, 400);
  assert.equal(g.level, 30);
  assert.equal(g.refused, 'REPEATED_HOST');

  const noZone = await send(`${edge.base}/x`, { headers: { host: 'nobody.example' } });
  assert.equal(noZone.status, 421);
  const z = await lineWhere(path, (l) => l.requestId === noZone.headers['x-request-id']);
  assert.deepEqual([z.status, z.refused, z.host], [421, 'NO_ZONE', 'nobody.example']);

  const malformed = await exchange(port, 'GET /a HTTP/1.1\r\nHost: a.example\r\nBad Field: x\r\n\r\n');
  assert.equal(malformed.responses[0]?.status, 400);
  await lineWhere(path, (l) => l.status === 400 && typeof l.refused === 'string' && (l.refused as string).startsWith('HPE_'));

  const huge = await exchange(port, `GET /a HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'x'.repeat(4000)}\r\n\r\n`);
  assert.equal(huge.responses[0]?.status, 431);
  await lineWhere(path, (l) => l.status === 431 && l.refused === 'HPE_HEADER_OVERFLOW' && l.client === '127.0.0.1');
  assert.equal(app.lines.filter((l) => l.msg === 'request').length, 0);
});

test('a client that closes before the answer is complete is logged with status 499', async (t) => {
  const { edge, path } = await setup(t);
  const id = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(`${edge.base}/slow`, { headers: { host: 'a.example' }, agent: false }, (res) => {
      res.once('data', () => { resolve(String(res.headers['x-request-id'])); req.destroy(); });
    });
    req.on('error', () => {});
    req.on('close', () => {});
    req.end();
    setTimeout(() => reject(new Error('no answer')), 3000).unref();
  });
  const l = await lineWhere(path, (x) => x.requestId === id);
  assert.equal(l.status, 499);
  assert.equal(l.cache, 'BYPASS', 'no-store: not stored');
  assert.equal(l.originStatus, 200);
});

test('HTTP/2 requests are logged too, with their body bytes', async (t) => {
  const { edge, path } = await setup(t);
  const session: ClientHttp2Session = h2Connect(`http://127.0.0.1:${edge.edge.port}`);
  t.after(() => session.close());
  const got = await new Promise<{ headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const s = session.request({ ':path': '/h2.js', ':authority': 'a.example', 'user-agent': 'h2-probe' });
    let body = '';
    let headers: IncomingHttpHeaders = {};
    s.on('response', (h) => { headers = h; });
    s.setEncoding('utf8');
    s.on('data', (d: string) => { body += d; });
    s.on('end', () => resolve({ headers, body }));
    s.on('error', reject);
    s.end();
  });
  const l = await lineWhere(path, (x) => x.requestId === got.headers['x-request-id']);
  assert.deepEqual([l.http, l.status, l.cache, l.host, l.target, l.userAgent], ['2.0', 200, 'MISS', 'a.example', '/h2.js', 'h2-probe']);
  assert.equal(l.bytes, Buffer.byteLength(got.body));
});

test('accessLog.enabled false writes no records; application logs still go to the process log', async (t) => {
  const path = await tempLog(t);
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('x'); });
  const app = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url, accessLog: { enabled: false, path } }, { logger: app.logger });
  const r = await send(`${edge.base}/a`);
  assert.ok(r.headers['x-request-id'], 'request ids do not depend on the access log');
  await edge.reload();
  await sleep(100);
  assert.ok(app.lines.some((l) => l.msg === 'reloaded'), 'application records still reach the process log');
  assert.equal(existsSync(path), false, 'no file is opened');
  assert.equal(app.lines.filter((l) => l.msg === 'request').length, 0);
});

test('without a path, access records go to the process log at info', async (t) => {
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('x'); });
  const app = captureLogger();
  const edge = await startTestEdge(t, { origin: origin.url }, { logger: app.logger });
  const r = await send(`${edge.base}/a`);
  await sleep(50);
  const l = app.lines.find((x) => x.msg === 'request' && x.requestId === r.headers['x-request-id']);
  assert.ok(l, 'the record is in the process log');
  assert.equal(l.level, 30);
  assert.equal(l.status, 200);
});

test('a trusted proxy: its x-request-id (when sane) is kept and its X-Forwarded-For logged; an untrusted one is not', async (t) => {
  const o = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('x'); });
  const logPath = await tempLog(t);
  const e = await startTestEdge(t, {
    accessLog: { path: logPath },
    zones: [
      { id: 'trusting', hosts: ['t.example'], origin: o.url, trustedProxies: ['127.0.0.1'] },
      { id: 'plain', hosts: ['u.example'], origin: o.url },
    ],
  });
  const fwd = { 'x-forwarded-for': '203.0.113.7, 198.51.100.2', 'x-request-id': 'lb-abc-123' };
  const trusted = await send(`${e.base}/p`, { headers: { host: 't.example', ...fwd } });
  assert.equal(trusted.headers['x-request-id'], 'lb-abc-123', 'the proxy\'s id answers');
  assert.equal(o.requests.at(-1)!.headers['x-request-id'], 'lb-abc-123', 'and goes to the origin');
  const tl = await lineWhere(logPath, (l) => l.requestId === 'lb-abc-123');
  assert.equal(tl.forwardedFor, '203.0.113.7, 198.51.100.2');
  assert.equal(tl.client, '127.0.0.1');

  const insane = await send(`${e.base}/p`, { headers: { host: 't.example', 'x-request-id': `${'a'.repeat(200)}` } });
  assert.notEqual(insane.headers['x-request-id'], 'a'.repeat(200), 'an overlong id is replaced');
  assert.match(String(insane.headers['x-request-id']), /^[0-9a-f]{12}-/);

  const untrusted = await send(`${e.base}/p`, { headers: { host: 'u.example', ...fwd } });
  assert.notEqual(untrusted.headers['x-request-id'], 'lb-abc-123', 'an untrusted peer cannot choose the id');
  assert.equal(o.requests.at(-1)!.headers['x-request-id'], untrusted.headers['x-request-id']);
  const ul = await lineWhere(logPath, (l) => l.requestId === untrusted.headers['x-request-id']);
  assert.equal(ul.forwardedFor, undefined);
  assert.equal(ul.zone, 'plain');
});

test('traceparent passes to the origin unchanged when valid; an invalid one is dropped with its tracestate', async (t) => {
  const o = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'no-store' }); res.end('x'); });
  const e = await startTestEdge(t, { origin: o.url });
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await send(`${e.base}/a`, { headers: { traceparent: valid, tracestate: 'vendor=1' } });
  assert.equal(o.requests.at(-1)!.headers.traceparent, valid);
  assert.equal(o.requests.at(-1)!.headers.tracestate, 'vendor=1');
  for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', 'junk']) {
    await send(`${e.base}/a`, { headers: { traceparent: bad, tracestate: 'vendor=1' } });
    assert.equal(o.requests.at(-1)!.headers.traceparent, undefined, bad);
    assert.equal(o.requests.at(-1)!.headers.tracestate, undefined, bad);
  }
});
