// Tests for the purge route over real sockets: order of checks, every status/code, body limits, envelopes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTokenChecker } from './auth.js';
import { handlePurge, type PurgeRouteOptions } from './purge-route.js';
import { admitAdminRequest } from './admit.js';
import { sendApiSuccess } from './reply.js';
import { ERROR_CODES } from '../purge/api-errors.js';
import type { PurgeRequest } from '../purge/request.js';
import { RedisTierError } from '../storage/redis-tier-error.js';

const MiB = 1024 * 1024;
const TOKEN = 'shop-token-123';
const ROOT = 'root-token-456';

interface Harness {
  port: number;
  applied: { zoneId: string; req: PurgeRequest }[];
  errors: unknown[];
}

async function startRoute(t: TestContext, overrides: Partial<PurgeRouteOptions> = {}): Promise<Harness> {
  const applied: Harness['applied'] = [];
  const errors: unknown[] = [];
  let n = 0;
  const opts: PurgeRouteOptions = {
    checkToken: createTokenChecker([
      { token: TOKEN, zones: ['shop'] },
      { token: ROOT, zones: ['*'] },
    ]),
    hasZone: (id) => id === 'shop' || id === 'blog',
    maxItems: 500,
    maxBodyBytes: MiB,
    apply: async (zoneId, req) => {
      applied.push({ zoneId, req });
    },
    newId: () => `purge-${++n}`,
    onError: (err) => errors.push(err),
    ...overrides,
  };
  const server = createServer((req, res) => {
    const m = /^\/client\/v4\/zones\/([^/?]+)\/purge_cache(?:\?|$)/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    handlePurge(req, res, decodeURIComponent(m[1] as string), opts);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.after(() => server.closeAllConnections());
  return { port: (server.address() as AddressInfo).port, applied, errors };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  json: { success: boolean; errors: { code: number; message: string }[]; messages: unknown[]; result: unknown };
  text: string;
}

function call(port: number, o: { method?: string; path?: string; token?: string | null; headers?: Record<string, string>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? TOKEN : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (o.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      // Node's client sends no framing for a GET/DELETE/OPTIONS body unless told its length.
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'POST', path: o.path ?? '/client/v4/zones/shop/purge_cache', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text), text });
        } catch (err) {
          reject(new Error(`non-JSON reply ${res.statusCode}: ${text}`, { cause: err }));
        }
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

function assertCfError(r: Reply, status: number, code: number): string {
  assert.equal(r.status, status, r.text);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(r.json).sort(), ['errors', 'messages', 'result', 'success']);
  assert.equal(r.json.success, false);
  assert.equal(r.json.result, null);
  assert.deepEqual(r.json.messages, []);
  assert.equal(r.json.errors.length, 1);
  assert.equal(r.json.errors[0]?.code, code, r.text);
  const message = r.json.errors[0]?.message ?? '';
  assert.ok(message.length > 0);
  return message;
}

test('success: 200 with the Cloudflare envelope and a purge id; apply gets the zone and parsed request', async (t) => {
  const h = await startRoute(t);
  const r = await call(h.port, { body: JSON.stringify({ files: ['https://cdn.example.com/app.js', { url: 'https://cdn.example.com/app.js', headers: { Origin: 'https://a.example' } }] }) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], result: { id: 'purge-1' } });
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.deepEqual(h.applied, [
    {
      zoneId: 'shop',
      req: {
        kind: 'files',
        soft: false,
        files: [
          { host: 'cdn.example.com', path: '/app.js', query: '' },
          { host: 'cdn.example.com', path: '/app.js', query: '', headers: { origin: 'https://a.example' } },
        ],
      },
    },
  ]);
  const everything = await call(h.port, { token: ROOT, path: '/client/v4/zones/blog/purge_cache', body: '{"purge_everything":true,"soft":true}' });
  assert.deepEqual(everything.json.result, { id: 'purge-2' });
  assert.deepEqual(h.applied[1], { zoneId: 'blog', req: { kind: 'everything', soft: true } });
});

test('405 with Allow: POST for every other method, before auth, zone and body checks', async (t) => {
  const h = await startRoute(t);
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    // No token, unknown zone and a bad body: the method is still what is reported.
    const r = await call(h.port, { method, token: null, path: '/client/v4/zones/nope/purge_cache', body: method === 'GET' ? undefined : 'junk' });
    const message = assertCfError(r, 405, ERROR_CODES.methodNotAllowed);
    assert.equal(r.headers.allow, 'POST');
    assert.match(message, new RegExp(`${method}.*POST`));
  }
  assert.deepEqual(h.applied, []);
});

test('401 for a missing, malformed or unknown token, before the zone and body checks', async (t) => {
  const h = await startRoute(t);
  const cases: [string | null, Record<string, string> | undefined][] = [
    [null, undefined],
    ['wrong-token', undefined],
    [null, { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
    [null, { authorization: TOKEN }],
    [null, { 'x-auth-key': TOKEN }],
  ];
  for (const [token, headers] of cases) {
    const r = await call(h.port, { token, headers, path: '/client/v4/zones/nope/purge_cache', body: 'junk' });
    const message = assertCfError(r, 401, ERROR_CODES.unauthenticated);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    assert.ok(!message.includes(TOKEN), 'never echo a token');
    assert.ok(!r.text.includes('wrong-token'), 'never echo a token');
  }
  const missing = await call(h.port, { token: null, body: '{}' });
  assert.match(missing.json.errors[0]?.message ?? '', /Authorization: Bearer/);
  assert.deepEqual(h.applied, []);
});

test('401 for a token in the query string, even next to a valid header, and it is not echoed', async (t) => {
  const h = await startRoute(t);
  for (const q of [`token=${TOKEN}`, `access_token=${TOKEN}`, `API_KEY=${TOKEN}`, `x=1&apikey=${TOKEN}`]) {
    const r = await call(h.port, { path: `/client/v4/zones/shop/purge_cache?${q}`, body: '{"purge_everything":true}' });
    const message = assertCfError(r, 401, ERROR_CODES.unauthenticated);
    assert.match(message, /query string/);
    assert.match(message, /Authorization: Bearer/);
    assert.ok(!r.text.includes(TOKEN));
  }
  // An unrelated query parameter is fine.
  const r = await call(h.port, { path: '/client/v4/zones/shop/purge_cache?trace=1', body: '{"purge_everything":true}' });
  assert.equal(r.status, 200);
  assert.equal(h.applied.length, 1);
});

test('403 for a valid token used on a zone it does not cover (checked before the zone exists)', async (t) => {
  const h = await startRoute(t);
  const r = await call(h.port, { path: '/client/v4/zones/blog/purge_cache', body: '{"purge_everything":true}' });
  const message = assertCfError(r, 403, ERROR_CODES.forbidden);
  assert.match(message, /"blog"/);
  const unknown = await call(h.port, { path: '/client/v4/zones/nope/purge_cache', body: 'junk' });
  assertCfError(unknown, 403, ERROR_CODES.forbidden);
  assert.deepEqual(h.applied, []);
});

test('404 for an unknown zone, before the body is looked at', async (t) => {
  const h = await startRoute(t);
  const r = await call(h.port, { token: ROOT, path: '/client/v4/zones/nope/purge_cache', body: 'junk' });
  const message = assertCfError(r, 404, ERROR_CODES.zoneNotFound);
  assert.match(message, /"nope"/);
  const big = await call(h.port, { token: ROOT, path: '/client/v4/zones/nope/purge_cache', body: Buffer.alloc(2 * MiB, 0x20) });
  assertCfError(big, 404, ERROR_CODES.zoneNotFound);
  assert.deepEqual(h.applied, []);
});

test('400s from the body parser carry their Cloudflare codes', async (t) => {
  const h = await startRoute(t, { maxItems: 2 });
  const cases: [string, number, RegExp][] = [
    ['{}', 1012, /must contain one of/],
    ['{"files":["https://x.example/"],"tags":["a"]}', 1012, /exactly one/],
    ['{"purge_everything":false}', 1012, /must be true/],
    ['{"files":"https://x.example/"}', 1014, /must be a list/],
    ['{"files":["cdn.example.com/app.js"]}', 1013, /files\[0\] "cdn\.example\.com\/app\.js" is not an absolute/],
    ['{"files":[{"url":"https://x.example/","headers":{"Origin":1}}]}', 1013, /files\[0\]\.headers\["Origin"\]/],
    ['{"tags":["a","b","c"]}', 1015, /limit is 2/],
    ['{"tags":["a"],"soft":"yes"}', 1016, /soft/],
    ['{"files": [', 6007, /Malformed JSON/],
    ['', 6007, /empty/],
  ];
  for (const [body, code, re] of cases) {
    const message = assertCfError(await call(h.port, { body }), 400, code);
    assert.match(message, re);
  }
  assert.deepEqual(h.applied, []);
});

test('body limit: exactly maxBodyBytes is read; one byte more is 413 (declared or streamed)', async (t) => {
  const h = await startRoute(t);
  const json = '{"purge_everything":true}';
  const exact = Buffer.alloc(MiB, 0x20);
  exact.write(json, 0);
  const r = await call(h.port, { body: exact });
  assert.equal(r.status, 200, r.text);

  const over = Buffer.alloc(MiB + 1, 0x20);
  over.write(json, 0);
  const declared = await call(h.port, { body: over });
  const message = assertCfError(declared, 413, ERROR_CODES.bodyTooLarge);
  assert.match(message, /1048576 bytes/);
  assert.equal(declared.headers.connection, 'close');

  // Chunked (no Content-Length): the server stops once past the limit and answers while the client is still sending.
  const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/client/v4/zones/shop/purge_cache', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => {}); // EPIPE once the server hangs up on the unread rest is expected
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      // 64 MiB in total: far more than the server may buffer, and more than fits in socket buffers.
      while (sent < 64 * MiB && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    req.once('socket', (s) => s.once('connect', pump));
    setTimeout(() => reject(new Error('no 413 reply')), 20_000).unref();
  });
  assert.equal(streamed.status, 413);
  assert.equal(JSON.parse(streamed.body).errors[0].code, ERROR_CODES.bodyTooLarge);
  assert.equal(h.applied.length, 1, 'only the exact-size request purged');
});

test('503 with a clear error when the cluster bus is unavailable', async (t) => {
  const h = await startRoute(t, {
    apply: async () => {
      throw Object.assign(new Error('redis: connect ECONNREFUSED'), { code: 'EBUSUNAVAILABLE' });
    },
  });
  const r = await call(h.port, { body: '{"tags":["a"]}' });
  const message = assertCfError(r, 503, ERROR_CODES.clusterUnavailable);
  assert.match(message, /cluster/i);
  assert.deepEqual(h.errors, []);
});

test('503 too when the shared tier cannot take the strict purge that precedes publishing; a corrupt tier is a 500', async (t) => {
  for (const code of ['TIER_UNAVAILABLE', 'TIER_TIMEOUT'] as const) {
    const h = await startRoute(t, { apply: async () => { throw new RedisTierError(code, 'Redis is unreachable'); } });
    const message = assertCfError(await call(h.port, { body: '{"tags":["a"]}' }), 503, ERROR_CODES.clusterUnavailable);
    assert.match(message, /cluster unavailable/i);
    assert.match(message, /retry/i);
    assert.deepEqual(h.errors, []);
  }
  const h = await startRoute(t, { apply: async () => { throw new RedisTierError('TIER_CORRUPT', 'unreadable variant metadata'); } });
  assertCfError(await call(h.port, { body: '{"tags":["a"]}' }), 500, ERROR_CODES.internal);
  assert.equal(h.errors.length, 1, 'an unexpected tier failure is logged');
});

test('500 for any other apply failure, without leaking its message; the error goes to onError', async (t) => {
  const h = await startRoute(t, {
    apply: async () => {
      throw new Error('disk store exploded at /var/secret/path');
    },
  });
  const r = await call(h.port, { body: '{"hosts":["cdn.example.com"]}' });
  assertCfError(r, 500, ERROR_CODES.internal);
  assert.ok(!r.text.includes('/var/secret/path'));
  assert.equal(h.errors.length, 1);
  assert.match(String((h.errors[0] as Error).message), /exploded/);
});

test('a client that disconnects mid-body purges nothing', async (t) => {
  let resolveSeen!: () => void;
  const seen = new Promise<void>((r) => (resolveSeen = r));
  const h = await startRoute(t, {
    checkToken: (header, zone) => {
      resolveSeen();
      return createTokenChecker([{ token: TOKEN, zones: ['*'] }])(header, zone);
    },
  });
  const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/client/v4/zones/shop/purge_cache', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': '100' } });
  req.on('error', () => {});
  req.write('{"purge_everything":');
  await seen;
  req.destroy();
  // A follow-up request on a new connection is answered, and only it purges.
  const r = await call(h.port, { body: '{"tags":["x"]}' });
  assert.equal(r.status, 200);
  assert.deepEqual(h.applied.map((a) => a.req.kind), ['tags']);
});

test('admitAdminRequest: the shared checks, reusable by other zone-scoped admin routes', async (t) => {
  const checkToken = createTokenChecker([{ token: TOKEN, zones: ['shop'] }]);
  const server = createServer((req, res) => {
    if (admitAdminRequest(req, res, 'shop', { checkToken, hasZone: () => false }, 'the inspect API')) sendApiSuccess(res, 'admitted');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  assert.match(assertCfError(await call(port, { method: 'GET' }), 405, 7001), /the inspect API/);
  assertCfError(await call(port, { token: 'nope', body: '{}' }), 401, 10001);
  assertCfError(await call(port, { body: '{}' }), 404, 7003);
});
