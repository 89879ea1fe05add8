// Tests for the miss path on real sockets: collapsing, what a Flight returns, and a stale answer for an unreachable origin.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createServer, request, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateConfig } from '../config/load.js';
import { RequestKey } from '../cache/key.js';
import { normalizeVaryValue } from '../cache/policy/index.js';
import { MemoryStore } from '../storage/memory.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { compileZones } from './zones.js';
import { resolveTarget } from './target.js';
import { createAnswers } from './answers.js';
import { createDiagnose } from './origin-fields.js';
import { createPass } from './pass.js';
import { createMissPath, type FetchPlan } from './miss.js';
import { Flight, type FlightEnv } from './flight.js';
import { ManualClock } from './clock.js';
import type { EdgeKey } from './context.js';

type OriginAnswer = (path: string, res: ServerResponse) => void;

async function listen(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return (server.address() as AddressInfo).port;
}

/** A real origin, zones in front of it, and an edge server whose every request goes down the miss path with `plan`. */
async function setup(t: TestContext, answer: OriginAnswer) {
  const seen: string[] = [];
  const originPort = await listen(t, (req, res) => { seen.push(req.url!); answer(req.url!, res); });
  const router = compileZones(validateConfig({ zones: [{ id: 'z', hosts: ['*'], origin: `http://127.0.0.1:${originPort}` }] }, 'test'));
  t.after(() => router.close());
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  const metrics = createMetrics(() => store.stats());
  const clock = new ManualClock();
  const ctx = { router, store, metrics, logger: createLogger('silent'), maxObjectBytes: 1 << 20, clock };
  const env: FlightEnv = { store, clock, maxObjectBytes: 1 << 20 };
  const answers = createAnswers(ctx);
  const diagnose = createDiagnose(ctx);
  const miss = createMissPath(ctx, env, answers, createPass(ctx, store, answers, diagnose), diagnose);
  let plan: FetchPlan = { staleIfError: false, fwd: 'uri-miss' };
  const keyOf = (url: string): EdgeKey => { const k = resolveTarget(url, 'cdn.example', router); assert.ok(k instanceof RequestKey); return k; };
  const edgePort = await listen(t, (req, res) => { void miss.fetchAndServe(req, res, keyOf(req.url!), plan); });
  const get = (path: string, headers: Record<string, string> = {}) => new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: edgePort, path, headers: { host: 'cdn.example', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    }).on('error', reject).end();
  });
  return { seen, store, metrics, env, keyOf, get, setPlan: (p: FetchPlan) => { plan = p; } };
}

test('identical misses collapse onto one origin fetch; each answer says whether it joined (RFC 9211 collapsed)', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const { seen, get } = await setup(t, (_path, res) => {
    void gate.then(() => { res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }); res.end('one body'); });
  });
  const first = get('/c', { origin: 'https://a.example' });
  while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
  const second = get('/c', { origin: 'https://a.example' });
  await new Promise((r) => setTimeout(r, 50));
  release();
  const [a, b] = await Promise.all([first, second]);
  assert.equal(seen.length, 1, 'one origin fetch');
  assert.deepEqual([a.body, b.body], ['one body', 'one body']);
  assert.deepEqual([a.headers['cf-cache-status'], b.headers['cf-cache-status']], ['MISS', 'MISS']);
  assert.equal(a.headers['cache-status'], 'edgecache; fwd=uri-miss; fwd-status=200; stored');
  assert.equal(b.headers['cache-status'], 'edgecache; fwd=uri-miss; fwd-status=200; stored; collapsed');
});

test('a Flight returns what the origin said (no callbacks): shared and stored, or private with its reason', async (t) => {
  const { env, keyOf } = await setup(t, (path, res) => {
    res.writeHead(200, { 'cache-control': path === '/nostore' ? 'no-store' : 'max-age=60', vary: 'accept-language', 'x-o': '1' });
    res.end(`body of ${path}`);
  });
  const headers = { 'accept-language': 'fr', origin: 'https://a.example' };
  const shared = new Flight(env, { key: keyOf('/s'), headers: {}, clientHeaders: headers });
  const head = await shared.head;
  assert.equal(head.kind, 'shared');
  assert.ok(head.kind === 'shared');
  assert.deepEqual(head.keyNames, ['origin', 'accept-language'], 'the zone key headers, then the response\'s Vary');
  assert.equal(shared.originHeaders?.['x-o'], '1', 'the origin\'s fields, for the diagnostics of the request that started it');
  const stored = await new Promise((resolve, reject) => shared.body.subscribe({ write: () => true, onDrain() {}, end: resolve, fail: reject }));
  assert.ok(stored, 'stored once the body ended');
  assert.equal(env.store.lookup(keyOf('/s').objectKey, headers)?.body?.toString(), 'body of /s');
  const priv = await new Flight(env, { key: keyOf('/nostore'), headers: {}, clientHeaders: headers }).head;
  assert.equal(priv.kind, 'private');
  assert.ok(priv.kind === 'private');
  assert.equal(priv.reason, 'no-store');
  priv.body.resume();
});

test('a revalidation the origin cannot answer serves the stale response (RFC 9111 §4.2.4) and counts the origin error once', async (t) => {
  let up = true;
  const { get, setPlan, store, keyOf, metrics } = await setup(t, (_path, res) => {
    if (!up) { res.socket?.destroy(); return; }
    res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"a"' });
    res.end('stale one');
  });
  assert.equal((await get('/r')).body, 'stale one');
  const v = store.lookup(keyOf('/r').objectKey, {});
  assert.ok(v, 'stored');
  up = false;
  setPlan({ stale: v, staleIfError: false, fwd: 'stale' });
  const r = await get('/r');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'stale one');
  assert.equal(r.headers['cf-cache-status'], 'STALE');
  assert.equal(r.headers['cache-status'], 'edgecache; hit; fwd=stale; detail=origin-unreachable');
  const errors = (await metrics.originErrors.get()).values.reduce((n, s) => n + s.value, 0);
  assert.equal(errors, 1);
});
