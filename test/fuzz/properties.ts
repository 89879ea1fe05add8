// Property tests for hostile input, shared by the bounded runs in `npm test` (test/property-*.test.ts)
// and the long run in test/fuzz/run.ts. Seeds are printed and replayable: FC_SEED=<seed> [FC_PATH=<path>] [FC_RUNS=<n>];
// FC_DEBUG=1 prints every mutated head of (c) with the answers it got.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { zoneSchema, DEFAULT_STRIP_HEADERS, type ConfigInput } from '../../src/config/schema.js';
import { compileZone, type ZoneRuntime } from '../../src/edge/zones.js';
import { describeSelector, headersOfSelector, keyedHost, primaryKey, selectorOf, type HeaderValues } from '../../src/cache/key.js';
import { normalizeVaryValue, parseVary } from '../../src/cache/policy/index.js';
import { dropConnectionListed, fieldOf, forwardHeaders } from '../../src/http/headers.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { toFieldMap } from '../../src/storage/variant.js';
import type { VariantInput } from '../../src/storage/store.js';
import type { Freshness } from '../../src/cache/policy/types.js';
import { startOrigin, startTestEdge, send } from '../helpers/http.js';
import { exchange, type RawResult } from '../helpers/raw-http.js';

export interface RunOptions { numRuns: number }

/** fast-check parameters: the seed (printed, FC_SEED replays it), FC_PATH to replay one shrunk case, FC_RUNS to scale. */
export function params(t: TestContext, o: RunOptions): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  const numRuns = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : o.numRuns;
  const line = `fast-check seed ${seed}, ${numRuns} runs (replay: FC_SEED=${seed})`;
  t.diagnostic(line);
  console.log(`# ${t.name}: ${line}`);
  return { seed, numRuns, path: process.env.FC_PATH, endOnFailure: true, includeErrorInReport: true };
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries: requests built from the parts attackers vary.

const HOSTS = ['shop.example', 'SHOP.example', 'shop.example:80', 'shop.example:8080', 'other.example'];
const ORIGINS = ['https://a.example', 'https://b.example', 'https://a.example:8443', 'null'];
const SEGMENTS = ['a', 'A', '%61', '.', '..', '%2e%2e', '', 'x.css', 'x%2fy', '%3f', ';p', 'b'];
const PARAM_NAMES = ['a', 'b', 'utm_source', 'cb', 'A', 'a;utm_source'];
const CONNECTION_TOKENS = ['close', 'keep-alive', 'origin', 'x-forwarded-host', 'accept-language', 'user-agent', 'forwarded', 'x-original-url'];

export interface GenRequest {
  path: string;
  query: string | undefined;
  host: string;
  absolute: boolean;
  headers: Record<string, string>;
}

const pathArb = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);
const queryArb = fc.option(fc.array(fc.tuple(fc.constantFrom(...PARAM_NAMES), fc.option(fc.constantFrom('1', '2', 'x;y', ''), { nil: undefined })), { maxLength: 4 })
  .map((ps) => ps.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&')), { nil: undefined });
const headersArb = fc.record({
  origin: fc.option(fc.constantFrom(...ORIGINS), { nil: undefined }),
  'accept-language': fc.option(fc.constantFrom('en', 'fr, en;q=0.5', 'EN'), { nil: undefined }),
  'user-agent': fc.option(fc.constantFrom('ua1', 'ua2'), { nil: undefined }),
  connection: fc.option(fc.subarray(CONNECTION_TOKENS, { minLength: 1, maxLength: 3 }).map((a) => a.join(', ')), { nil: undefined }),
  strip: fc.subarray([...DEFAULT_STRIP_HEADERS], { maxLength: 3 }),
}, { requiredKeys: ['strip'] }).map(({ strip, ...rest }) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  for (const s of strip) out[s] = 'evil.example';
  return out;
});
/** Changes that should never change the answer: unkeyed forwarding fields, hop-by-hop tokens, another User-Agent. */
const unkeyedChangeArb = fc.record({
  strip: fc.subarray([...DEFAULT_STRIP_HEADERS], { maxLength: 3 }),
  ua: fc.option(fc.constantFrom('ua3', 'ua4'), { nil: undefined }),
  connection: fc.option(fc.constantFrom('close', 'keep-alive', 'keep-alive, user-agent'), { nil: undefined }),
}).map(({ strip, ua, connection }) => {
  const out: Record<string, string> = {};
  for (const n of strip) out[n] = 'attacker.example';
  if (ua) out['user-agent'] = ua;
  if (connection) out.connection = connection;
  return out;
});
export const requestArb: fc.Arbitrary<GenRequest> = fc.record({
  path: pathArb, query: queryArb, host: fc.constantFrom(...HOSTS), absolute: fc.boolean(), headers: headersArb,
});

/** A second request like `a`, changed in ways that may or may not change its key (so equal keys are common). */
export function mutantArb(a: GenRequest): fc.Arbitrary<GenRequest> {
  return fc.record({
    host: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(a.host, a.host.toUpperCase(), `${keyedHost(a.host)}:80`) }, { weight: 1, arbitrary: fc.constantFrom(...HOSTS) }),
    absolute: fc.boolean(),
    reorder: fc.boolean(),
    extraParam: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom('utm_source=evil', 'cb=2', 'b=2', 'a=1') }),
    headers: fc.oneof(
      { weight: 4, arbitrary: unkeyedChangeArb.map((h) => ({ ...a.headers, ...h })) },
      { weight: 1, arbitrary: headersArb },
      { weight: 1, arbitrary: headersArb.map((h) => ({ ...a.headers, ...h })) },
    ),
  }).map((m) => {
    let query = a.query;
    if (m.reorder && query) query = query.split('&').reverse().join('&');
    if (m.extraParam) query = query ? `${query}&${m.extraParam}` : m.extraParam;
    return { path: a.path, query, host: m.host, absolute: m.absolute, headers: m.headers };
  });
}

const zoneArb = fc.record({
  query: fc.constantFrom<unknown>('all', 'sorted', 'none', { include: ['a', 'b'] }, { exclude: ['utm_source', 'cb'] }),
  headers: fc.subarray(['origin', 'accept-language', 'x-forwarded-host', 'x-original-url']),
});

// ---------------------------------------------------------------------------------------------------------------
// (a) Key and forward builders agree.

/** What the edge keys and forwards for a request (the handler's steps: listener, absolute-form, Host, query, key). */
export function keyAndForward(zone: ZoneRuntime, r: GenRequest): { key: string; target: string; headers: Record<string, string | string[]> } {
  const headers: Record<string, string> = { ...r.headers, host: r.host };
  dropConnectionListed(headers);
  const host = keyedHost(r.host);
  const raw = r.query ?? '';
  const query = zone.normalizeQuery(raw);
  const target = query === '' ? r.path : `${r.path}?${query}`;
  const key = `${primaryKey(zone.id, host, r.path, query)}\u0000${selectorOf(zone.keyHeaders, headers, normalizeVaryValue)}`;
  const fwd = forwardHeaders(headers, { strip: zone.strip, keyed: zone.keyHeaders, normalize: normalizeVaryValue, host, proto: 'http', peer: '127.0.0.1', trustPeer: false });
  // Fields neither keyed nor stripped (User-Agent, Accept-Language when unkeyed …) are forwarded by design and may
  // differ under one key; what must agree is the target, Host, the edge's forwarding fields, strip and key fields.
  const compared = new Set<string>([...DEFAULT_STRIP_HEADERS, ...zone.keyHeaders, 'host', 'x-forwarded-for', 'via']);
  const kept: Record<string, string | string[]> = {};
  for (const [n, v] of Object.entries(fwd)) if (compared.has(n)) kept[n] = v;
  return { key, target, headers: kept };
}

export function keyForwardAgreement(t: TestContext, o: RunOptions): void {
  const zones = new Map<string, ZoneRuntime>();
  const zoneFor = (z: { query: unknown; headers: string[] }): ZoneRuntime => {
    const id = JSON.stringify(z);
    let zone = zones.get(id);
    if (!zone) {
      zone = compileZone(zoneSchema.parse({ id: 'z', origin: 'http://127.0.0.1:9', cacheKey: { query: z.query, headers: z.headers } }));
      zones.set(id, zone);
    }
    return zone;
  };
  let equalKeys = 0;
  try {
    fc.assert(fc.property(zoneArb, requestArb.chain((a) => fc.tuple(fc.constant(a), mutantArb(a))), (z, [a, b]) => {
      const zone = zoneFor(z);
      const fa = keyAndForward(zone, a);
      const fb = keyAndForward(zone, b);
      if (fa.key !== fb.key) return;
      equalKeys++;
      assert.equal(fb.target, fa.target, 'same key, same target');
      assert.deepEqual(fb.headers, fa.headers, 'same key, same Host and forwarded fields');
      for (const s of zone.strip) assert.ok(fa.headers[s] !== 'evil.example' && fa.headers[s] !== 'attacker.example', `unkeyed ${s} forwarded`);
    }), params(t, o));
  } finally {
    for (const z of zones.values()) void z.origin.close();
  }
  t.diagnostic(`${equalKeys} pairs shared a key`);
  assert.ok(equalKeys > 0, 'the property was exercised');
}

/** Raw request bytes for a generated request (absolute-form keeps a decoy Host field). */
export function rawRequest(r: GenRequest, prefix: string, method = 'GET'): string {
  const target = `${prefix}${r.path}${r.query === undefined ? '' : `?${r.query}`}`;
  const head = r.absolute ? `${method} http://${r.host}${target} HTTP/1.1\r\nHost: decoy.example\r\n` : `${method} ${target} HTTP/1.1\r\nHost: ${r.host}\r\n`;
  return `${head}${Object.entries(r.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/**
 * (a, end to end) Whatever a cache hit serves equals what the origin would have answered that request: edge 1 gets
 * A then B; when B is a HIT, a fresh edge 2 answers B alone, and both bodies (the origin's description of the
 * forwarded target, Host and fields that may change an answer) must be equal.
 */
export async function keyForwardEndToEnd(t: TestContext, o: RunOptions): Promise<void> {
  const origin = await startOrigin(t, (req, res) => {
    // Only what may change an answer without a Vary: target, Host, forwarding and strip fields, the zone's key fields.
    const keyed = req.headers.host === 'other.example' ? ['origin', 'accept-language'] : ['origin', 'x-original-url'];
    const seen: Record<string, unknown> = { url: req.url, host: req.headers.host };
    for (const n of [...DEFAULT_STRIP_HEADERS, ...keyed, 'x-forwarded-proto']) seen[n] = req.headers[n];
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
    res.end(JSON.stringify(seen));
  });
  const zones: NonNullable<ConfigInput['zones']> = [
    { id: 'sorted', hosts: ['shop.example'], origin: origin.url, cacheKey: { query: 'sorted', headers: ['origin', 'x-original-url'] } },
    { id: 'excl', hosts: ['other.example'], origin: origin.url, cacheKey: { query: { exclude: ['utm_source', 'cb'] }, headers: ['origin', 'accept-language'] } },
  ];
  const edge1 = await startTestEdge(t, { zones });
  const edge2 = await startTestEdge(t, { zones });
  let run = 0;
  let hits = 0;
  const close = (s: string): string => s.replace(/\r\n\r\n$/, '\r\nConnection: close\r\n\r\n');
  await fc.assert(fc.asyncProperty(requestArb.chain((a) => fc.tuple(fc.constant(a), mutantArb(a))), async ([a, b]) => {
    const prefix = `/r${run++}`;
    await exchange(edge1.edge.port, close(rawRequest(a, prefix)));
    const b1 = await exchange(edge1.edge.port, close(rawRequest(b, prefix)));
    if (b1.responses[0]?.headers['cf-cache-status']?.[0] !== 'HIT') return;
    hits++;
    const b2 = await exchange(edge2.edge.port, close(rawRequest(b, prefix)));
    assert.equal(b1.responses[0]!.body.toString(), b2.responses[0]?.body.toString(), 'a hit served another request\'s answer');
  }), params(t, o));
  t.diagnostic(`${hits} second requests were hits`);
}

// ---------------------------------------------------------------------------------------------------------------
// (b) Arbitrary request sequences, origin reflecting Origin without Vary: no foreign ACAO, no 5xx.

const extraArb = fc.record({
  cookie: fc.option(fc.constant('s=1'), { nil: undefined }),
  'cache-control': fc.option(fc.constantFrom('no-cache', 'max-age=0', 'no-store'), { nil: undefined }),
  range: fc.option(fc.constantFrom('bytes=0-3', 'bytes=5-', 'bytes=x'), { nil: undefined }),
  'if-none-match': fc.option(fc.constantFrom('"v1"', '*'), { nil: undefined }),
  'access-control-request-method': fc.option(fc.constantFrom('PUT', 'GET'), { nil: undefined }),
});
const stepArb = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS'),
  req: requestArb,
  extra: extraArb,
});

export async function noForeignAcao(t: TestContext, o: RunOptions): Promise<void> {
  const origin = await startOrigin(t, (req, res) => {
    const h: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'max-age=600', etag: '"v1"' };
    if (typeof req.headers.origin === 'string') h['access-control-allow-origin'] = req.headers.origin; // no Vary
    res.writeHead(200, h);
    res.end(req.method === 'HEAD' ? undefined : `body of ${req.url}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  let run = 0;
  await fc.assert(fc.asyncProperty(fc.array(fc.array(stepArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }), async (batches) => {
    const prefix = `/r${run++}`;
    for (const batch of batches) {
      await Promise.all(batch.map(async (step) => {
        const headers = { ...step.req.headers };
        for (const [k, v] of Object.entries(step.extra)) if (v !== undefined) headers[k] = v;
        const body = step.method === 'POST' ? 'content' : '';
        if (body) headers['content-length'] = String(body.length);
        const raw = rawRequest({ ...step.req, headers: { ...headers, connection: `${headers.connection ? `${headers.connection}, ` : ''}close` } }, prefix, step.method);
        const r: RawResult = await exchange(edge.edge.port, raw + body, { headAt: () => step.method === 'HEAD' });
        const final = r.responses.find((x) => x.status >= 200);
        assert.ok(final, `no answer: ${JSON.stringify(r.text.slice(0, 200))}`);
        assert.ok(final.status < 500, `${final.status} with a healthy origin: ${final.body.toString().slice(0, 200)}`);
        const conn = (headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
        const own = conn.includes('origin') ? undefined : headers.origin;
        const acao = final.headers['access-control-allow-origin'];
        if (acao !== undefined) {
          assert.equal(acao.length, 1);
          assert.ok(acao[0] === '*' || acao[0] === own, `ACAO ${acao[0]} for a request with Origin ${own}`);
        }
      }));
    }
  }), params(t, o));
}

// ---------------------------------------------------------------------------------------------------------------
// (c) Mutated request heads never crash the edge: 400/413/414/431/501/505 or a normal answer.

const BASES = [
  'GET /m?a=1 HTTP/1.1\r\nHost: shop.example\r\nOrigin: https://a.example\r\nAccept: */*\r\n\r\n',
  'POST /m HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'POST /m HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET http://shop.example/m HTTP/1.1\r\nHost: shop.example\r\n\r\nGET /m2 HTTP/1.1\r\nHost: shop.example\r\n\r\n',
  'GET /m HTTP/1.0\r\nHost: shop.example\r\nConnection: keep-alive\r\n\r\n',
];
const PIECES = ['\r', '\n', '\r\n', '\u0000', ' ', '\t', ':', ',', ';', '\u007f', '\u00ff', '0', '9', 'f', '-', '/', '?', '#', '%', '@',
  'Host: x\r\n', 'Content-Length: 3\r\n', 'Content-Length: 99999\r\n', 'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip\r\n',
  'Connection: close\r\n', 'Expect: 100-continue\r\n', 'Host: shop.example\r\n', 'X-A: b\r\n', 'X-A : b\r\n', ' folded\r\n',
  'Transfer-Encoding: chunked, gzip\r\n', 'Content-Length: 0\r\n', 'Origin: https://b.example\r\n', 'Connection: origin\r\n', ' HTTP/1.1', 'HTTP/1.0', 'GET / HTTP/1.1\r\n', '\r\n\r\n', 'x'.repeat(300)];
const opArb = fc.record({
  at: fc.noBias(fc.integer({ min: 0, max: 1000 })).map((n) => n / 1000),
  kind: fc.constantFrom('line', 'line', 'insert', 'delete', 'replace', 'repeat'),
  piece: fc.constantFrom(...PIECES),
  len: fc.integer({ min: 1, max: 8 }),
});

export function mutate(base: string, ops: { at: number; kind: string; piece: string; len: number }[]): string {
  let s = base;
  for (const op of ops) {
    const i = Math.min(s.length, Math.floor(op.at * s.length));
    if (op.kind === 'line') {
      // At a line boundary: whole field lines, line ends and request lines, the way smuggling payloads are built.
      const eol = s.indexOf('\r\n', i);
      const at = eol === -1 ? s.length : eol + 2;
      s = s.slice(0, at) + op.piece + s.slice(at);
    } else if (op.kind === 'insert') s = s.slice(0, i) + op.piece + s.slice(i);
    else if (op.kind === 'delete') s = s.slice(0, i) + s.slice(i + op.len);
    else if (op.kind === 'replace') s = s.slice(0, i) + op.piece + s.slice(i + op.piece.length);
    else s = s.slice(0, i) + s.slice(i, i + op.len * 4).repeat(op.len) + s.slice(i + op.len * 4);
  }
  return s;
}

export async function mutatedHeads(t: TestContext, o: RunOptions): Promise<void> {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
    res.end(`${req.method} ${req.url}`);
  });
  const edge = await startTestEdge(t, { origin: origin.url, limits: { maxHeaderBytes: 2048, maxUrlBytes: 512, headersTimeoutMs: 2000 } });
  const allowed = (s: number): boolean => s < 500 || s === 501 || s === 505;
  const seen = new Map<string, number>();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...BASES), fc.array(opArb, { minLength: 1, maxLength: 3 }), async (base, ops) => {
    const raw = mutate(base, ops);
    const r = await exchange(edge.edge.port, Buffer.from(raw, 'latin1'), { endWhenIdleMs: 150, waitMs: 4000 });
    assert.ok(r.closed, `the connection stayed open: ${JSON.stringify(raw)}`);
    const statuses = r.responses.map((x) => x.status).join(',') || 'closed';
    seen.set(statuses, (seen.get(statuses) ?? 0) + 1);
    if (process.env.FC_DEBUG) console.log(`DEBUG ${statuses} ${JSON.stringify(raw)}`);
    for (const x of r.responses) assert.ok(allowed(x.status), `${x.status} for ${JSON.stringify(raw)}`);
    const ok = await exchange(edge.edge.port, 'GET /alive HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n');
    assert.equal(ok.responses[0]?.status, 200, 'the edge still answers');
  }), params(t, o));
  t.diagnostic(`answers: ${[...seen].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${n}`).join(' ')}`);
  assert.equal((await send(`${edge.adminBase}/healthz`)).status, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// (d) Header names from outside (Vary members, key headers, purge headers, Connection tokens) are ordinary names:
// Object.prototype keys, underscores and case never reach a prototype, never throw, never alias another field.

/** Every Object.prototype key, in its own case and lowercased (Node lowercases request field names; Vary is lowercased). */
export const PROTOTYPE_NAMES: readonly string[] = [...new Set(['prototype', ...Object.getOwnPropertyNames(Object.prototype)].flatMap((n) => [n, n.toLowerCase()]))];

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  { weight: 2, arbitrary: fc.constantFrom('origin', 'accept-encoding', 'accept-language', 'x_forwarded_host', 'x-forwarded-host', 'X_Forwarded_For', 'cookie') },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,10}$/) },
);
const valueArb = fc.oneof(fc.constantFrom('a', 'gzip, br', '', ' x ', 'https://a.example'), fc.array(fc.constantFrom('a', 'b;q=0.5', 'br'), { minLength: 1, maxLength: 3 }));

const FRESH: Freshness = {
  lifetime: 3600, correctedInitialAge: 0, responseTime: Date.now(), staleWhileRevalidate: 0, staleIfError: 0,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
};

/** A store input for `path` selected by `keyNames` over `headers`. */
function storeInput(path: string, keyNames: readonly string[], headers: HeaderValues, body = Buffer.from(path)): VariantInput {
  return {
    zoneId: 'z', host: 'h.example', path, query: '', objectKey: primaryKey('z', 'h.example', path, ''), keyNames,
    selector: selectorOf(keyNames, headers, normalizeVaryValue), status: 200, headers: [['content-type', 'text/plain']], body, freshness: FRESH, tags: [],
  };
}

export function headerNames(t: TestContext, o: RunOptions): void {
  let prototypeNames = 0;
  fc.assert(fc.property(
    fc.uniqueArray(nameArb, { minLength: 1, maxLength: 5 }),
    fc.array(fc.tuple(nameArb, valueArb), { maxLength: 5 }),
    (rawNames, sent) => {
      // A request's fields as Node hands them over: a plain object (Object.prototype and all), names lowercased.
      const headers: Record<string, string | string[]> = {};
      for (const [n, v] of sent) if (n.toLowerCase() !== '__proto__') headers[n.toLowerCase()] = v;
      const own = Object.assign(Object.create(null) as HeaderValues, headers);
      const vary = parseVary(rawNames.join(', '));
      assert.ok(Array.isArray(vary));
      const names = vary as string[];
      if (names.some((n) => PROTOTYPE_NAMES.includes(n))) prototypeNames++;
      // Only own fields select: a plain map and a prototype-free copy give one selector.
      const selector = selectorOf(names, headers, normalizeVaryValue);
      assert.equal(selector, selectorOf(names, own, normalizeVaryValue));
      assert.equal(selectorOf(names, headersOfSelector(names, selector), normalizeVaryValue), selector, 'a selector round-trips');
      const described = describeSelector(names, selector);
      for (const n of names) {
        assert.ok(Object.hasOwn(described, n), `describeSelector names ${n}`);
        assert.equal(described[n] === null, fieldOf(headers, n) === undefined || (Array.isArray(headers[n]) && headers[n]!.length === 0));
      }
      // Forwarding: keyed names are forwarded when sent (as the key holds them), never invented; unkeyed underscore
      // names are dropped.
      const fwd = forwardHeaders(headers, { strip: new Set(), keyed: names, normalize: normalizeVaryValue, host: 'h.example', proto: 'http', peer: '127.0.0.1', trustPeer: false, dropForCacheFetch: new Set() });
      for (const n of Object.keys(fwd)) {
        if (['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via'].includes(n)) continue;
        assert.ok(Object.hasOwn(headers, n), `${n} was forwarded but never sent`);
        if (n.includes('_')) assert.ok(names.includes(n), `${n} has an underscore and is not keyed`);
      }
      for (const n of names) if (!Object.hasOwn(headers, n) && !['host', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'x-forwarded-for'].includes(n)) assert.equal(Object.hasOwn(fwd, n), false, `${n} invented`);
      // Response fields by those names are read back as themselves.
      const fieldMap = toFieldMap(names.flatMap((n) => [n, `v-${n}`]));
      for (const n of names) assert.equal(fieldOf(fieldMap, n), `v-${n}`);
      // A store selecting by those names finds what it stored for these fields, and nothing for other values.
      const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
      const v = store.insert(storeInput('/p', names, headers));
      assert.ok(v);
      assert.equal(store.lookup(v.objectKey, headers)?.id, v.id);
      assert.equal(store.lookup(v.objectKey, own)?.id, v.id);
      const other = selectorOf(names, {}, normalizeVaryValue) === selector ? undefined : store.lookup(v.objectKey, {});
      assert.equal(other, undefined);
    }), params(t, o));
  t.diagnostic(`${prototypeNames} cases had an Object.prototype key among the names`);
  assert.ok(prototypeNames > 0, 'the property was exercised with prototype keys');
}

// ---------------------------------------------------------------------------------------------------------------
// (e) Variant floods: whatever values clients send, a URL keeps at most maxVariants variants (at most five for
// Accept-Encoding alone), the store stays within its bytes, and other URLs are not evicted by the flood.

const floodStepArb = fc.record({
  url: fc.nat({ max: 2 }),
  origin: fc.oneof(fc.nat({ max: 5_000 }).map((i) => `https://o${i}.example`), fc.constantFrom(...PROTOTYPE_NAMES)),
  ae: fc.oneof(fc.constantFrom('gzip', 'br, gzip', 'deflate', '*', 'gzip;q=0', 'x-gzip'), fc.string({ maxLength: 12 })),
  look: fc.boolean(),
});
/** Each flooded URL's Vary (one per URL: an origin that changes a URL's Vary keeps older groups selectable, RFC 9111 §4.1). */
const varyArb = fc.constantFrom(['origin'], ['accept-encoding'], ['origin', 'accept-encoding']);

export function variantFloods(t: TestContext, o: RunOptions): void {
  let bitten = 0;
  fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.tuple(varyArb, varyArb, varyArb), fc.array(floodStepArb, { minLength: 1, maxLength: 150 }), (maxVariants, varies, steps) => {
    // Room for every flooded URL at its bound and the pinned object, so a flood may only churn its own URL.
    const store = new MemoryStore({ maxBytes: 4 * 1024 * 1024, normalize: normalizeVaryValue, maxVariants });
    const pinned = store.insert(storeInput('/pinned', ['origin'], { origin: 'https://app.example' }));
    assert.ok(pinned);
    const urls = ['/flood/0', '/flood/1', '/flood/2'];
    const aeSeen = new Map<string, Set<string>>();
    for (const step of steps) {
      const headers: HeaderValues = { origin: step.origin, 'accept-encoding': step.ae };
      const vary = varies[step.url]!;
      const input = storeInput(urls[step.url]!, vary, headers);
      const v = store.insert(input);
      assert.ok(v, 'stored');
      assert.equal(store.lookup(input.objectKey, headers)?.id, v.id, 'the newest variant is found');
      if (step.look) assert.equal(store.lookup(pinned.objectKey, { origin: 'https://app.example' })?.id, pinned.id);
      if (vary.length === 1 && vary[0] === 'accept-encoding') {
        const set = aeSeen.get(input.objectKey) ?? new Set();
        set.add(input.selector);
        aeSeen.set(input.objectKey, set);
      }
      for (const u of urls) {
        const key = primaryKey('z', 'h.example', u, '');
        const n = store.variantsOf(key).length;
        assert.ok(n <= maxVariants, `${u} holds ${n} variants, bound ${maxVariants}`);
        assert.equal(store.hasVariants(key), n > 0);
      }
      assert.ok(store.chargedBytes() <= 4 * 1024 * 1024);
    }
    for (const set of aeSeen.values()) assert.ok(set.size <= 5, `Accept-Encoding made ${set.size} selectors`);
    assert.equal(store.lookup(pinned.objectKey, { origin: 'https://app.example' })?.id, pinned.id, 'the unrelated object survived the flood');
    assert.equal(store.stats().evictions, 0);
    if (store.stats().variantEvictions > 0) bitten++;
  }), params(t, o));
  t.diagnostic(`${bitten} runs reached the variant bound`);
  assert.ok(bitten > 0, 'the bound was exercised');
}

/**
 * (d, end to end) An origin that varies on names drawn from the same set, through a real edge: never a 5xx, and the
 * same request again is a hit.
 */
export async function varyNamesEndToEnd(t: TestContext, o: RunOptions): Promise<void> {
  const origin = await startOrigin(t, (req, res) => {
    const vary = decodeURIComponent(new URL(req.url!, 'http://x').searchParams.get('vary') ?? '');
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600', vary });
    res.end(`varies on ${vary}`);
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { headers: ['origin', 'constructor', '__proto__'] } }] });
  let run = 0;
  await fc.assert(fc.asyncProperty(
    fc.uniqueArray(nameArb, { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(nameArb.filter((n) => /^[A-Za-z0-9_-]+$/.test(n) && n.toLowerCase() !== '__proto__'), fc.constantFrom('a', 'gzip', 'x y')), { maxLength: 4 }),
    async (names, sent) => {
      const path = `/v${run++}?vary=${encodeURIComponent(names.join(', '))}`;
      const headers = Object.fromEntries(sent);
      const first = await send(`${edge.base}${path}`, { headers });
      assert.ok(first.status < 500, `${first.status} for Vary: ${names.join(', ')}: ${first.body}`);
      const again = await send(`${edge.base}${path}`, { headers });
      assert.equal(again.status, 200);
      assert.equal(again.headers['cf-cache-status'], 'HIT', `Vary: ${names.join(', ')}, fields ${JSON.stringify(headers)}`);
    }), params(t, o));
}
