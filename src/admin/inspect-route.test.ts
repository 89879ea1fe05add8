// The inspect API through the real admin server: the purge API's URL grammar, the shared body limit, catalogue codes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '../storage/memory.js';
import { primaryKey, selectorOf } from '../cache/key.js';
import { normalizeVaryValue } from '../cache/policy/vary.js';
import type { Freshness } from '../cache/policy/types.js';
import { compileZoneKeyRules } from '../cache/zone-keys.js';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { ERROR_CODES } from '../purge/api-errors.js';
import { MAX_INSPECT_BODY_BYTES } from './body.js';
import { inspectVariants } from './inspect-route.js';
import { createAdminServer } from './server.js';

const TOKEN = 'inspect-test-token-0123456789';
const FRESH: Freshness = {
  lifetime: 3600, correctedInitialAge: 0, responseTime: Date.now(), staleWhileRevalidate: 0, staleIfError: 0,
  noStaleServing: false, alwaysRevalidate: false, heuristic: false, lifetimeSource: 'max-age', directivesSource: 'cache-control',
};

/** An admin server over a memory store holding two Origin variants of https://cdn.example/a.js?a=1&b=2 (sorted queries). */
async function start(t: TestContext): Promise<string> {
  const config = configSchema.parse({
    admin: { tokens: [{ token: TOKEN }] },
    zones: [{ id: 'shop', origin: 'http://127.0.0.1:9', hosts: ['cdn.example'], cacheKey: { query: 'sorted', headers: ['origin'] } }],
  });
  const zones = compileZoneKeyRules(config);
  const store = new MemoryStore({ maxBytes: 1 << 20, normalize: normalizeVaryValue });
  for (const origin of ['https://a.example', 'https://b.example']) {
    store.insert({
      zoneId: 'shop', host: 'cdn.example', path: '/a.js', query: 'a=1&b=2', objectKey: primaryKey('shop', 'cdn.example', '/a.js', 'a=1&b=2'),
      keyNames: ['origin'], selector: selectorOf(['origin'], { origin }, normalizeVaryValue), status: 200,
      headers: [['content-type', 'text/javascript']], body: Buffer.from(origin), freshness: FRESH, tags: ['js'],
    });
  }
  const server = createAdminServer({
    tokens: config.admin.tokens, zoneIds: ['shop'], logger: createLogger('silent'), maxItems: 10,
    applyPurge: async () => ({ matched: undefined, cluster: false }),
    metrics: async () => ({ contentType: 'text/plain', text: '' }),
    health: () => ({}),
    inspect: async (zoneId, url, headers) => inspectVariants(store, zones, zoneId, url, headers),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/edgecache/v1/zones/shop/inspect`;
}

interface Envelope { success: boolean; errors: { code: number; message: string }[]; result: { url: string; variants: { selector: Record<string, string | null>; selected: boolean; bytes: number }[] } | null }

async function inspect(url: string, body: string): Promise<{ status: number; json: Envelope; connection: string | null }> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as Envelope, connection: res.headers.get('connection') };
}

test('the URL is read as the purge API reads it: host case, default port and query order do not matter', async (t) => {
  const url = await start(t);
  const r = await inspect(url, JSON.stringify({ url: 'https://CDN.example:443/a.js?b=2&a=1#frag', headers: { Origin: 'https://b.example' } }));
  assert.equal(r.status, 200);
  assert.equal(r.json.success, true);
  const variants = r.json.result!.variants;
  assert.deepEqual(variants.map((v) => [v.selector.origin, v.selected, v.bytes]).sort(), [
    ['https://a.example', false, 17], ['https://b.example', true, 17],
  ]);
  assert.equal(r.json.result!.url, 'https://CDN.example:443/a.js?b=2&a=1#frag', 'the URL is echoed as given');
});

test('bad bodies get the catalogue codes: malformed JSON 6007, a URL the purge API would refuse 1013, bad headers 1013', async (t) => {
  const url = await start(t);
  const cases: [string, number, RegExp][] = [
    ['{"url":', ERROR_CODES.malformedJson, /Malformed JSON/],
    ['["https://cdn.example/a.js"]', ERROR_CODES.malformedJson, /expected a JSON object, got an array/],
    [`{"url":"https://cdn.example/","headers":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`, ERROR_CODES.malformedJson, /nested deeper than 32 levels/],
    ['{}', ERROR_CODES.invalidItem, /url must be an absolute URL string/],
    ['{"url":"cdn.example/a.js"}', ERROR_CODES.invalidItem, /not an absolute http\(s\) URL/],
    ['{"url":"ftp://cdn.example/a.js"}', ERROR_CODES.invalidItem, /not an absolute http\(s\) URL/],
    ['{"url":"https://user@cdn.example/a.js"}', ERROR_CODES.invalidItem, /credentials/],
    ['{"url":"https://cdn.example/a b"}', ERROR_CODES.invalidItem, /space, control or non-ASCII/],
    ['{"url":"https://cdn.example/","headers":[]}', ERROR_CODES.invalidItem, /headers must be an object/],
    ['{"url":"https://cdn.example/","headers":{"Origin":1}}', ERROR_CODES.invalidItem, /"Origin" must be a string/],
  ];
  for (const [body, code, re] of cases) {
    const r = await inspect(url, body);
    assert.equal(r.status, 400, body);
    assert.equal(r.json.success, false);
    assert.equal(r.json.errors[0]!.code, code, body);
    assert.match(r.json.errors[0]!.message, re, body);
  }
});

test('the body limit is the shared reader\'s: one byte over is 413 with Connection: close', async (t) => {
  const url = await start(t);
  const fits = JSON.stringify({ url: 'https://cdn.example/a.js', headers: { 'x-pad': '' } });
  const pad = (n: number): string => fits.replace('"x-pad":""', `"x-pad":"${'p'.repeat(n)}"`);
  const exact = pad(MAX_INSPECT_BODY_BYTES - fits.length);
  assert.equal(Buffer.byteLength(exact), MAX_INSPECT_BODY_BYTES);
  assert.equal((await inspect(url, exact)).status, 200, 'exactly the limit is read');
  const over = await inspect(url, pad(MAX_INSPECT_BODY_BYTES - fits.length + 1));
  assert.equal(over.status, 413);
  assert.equal(over.json.errors[0]!.code, ERROR_CODES.bodyTooLarge);
  assert.match(over.json.errors[0]!.message, new RegExp(`${MAX_INSPECT_BODY_BYTES} bytes`));
  assert.equal(over.connection, 'close');
});
