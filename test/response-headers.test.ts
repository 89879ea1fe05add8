// Per-zone response header control (responseHeaders: hide, add) and one Vary: Origin when edge CORS meets an origin
// that already sends it. Vary: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { send, startOrigin, startTestEdge } from './helpers/http.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { compileClientFields } from '../src/origin/response-fields.js';

const RULES = {
  hide: ['Server', 'x-powered-by'],
  add: { 'X-Frame-Options': 'DENY', 'strict-transport-security': 'max-age=31536000', 'x-served-by': 'edge-1' },
};

test('responseHeaders: hidden origin fields never reach clients (miss, hit, 304, pass); added fields replace the origin\'s', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const h = { server: 'Apache/2.4.1', 'x-powered-by': 'PHP/5.6', 'x-served-by': 'origin-7', etag: '"v1"', 'cache-control': 'max-age=600', 'content-type': 'text/plain' };
    if (req.headers['if-none-match'] === '"v1"') { res.writeHead(304, h); res.end(); return; }
    res.writeHead(200, h);
    res.end(req.method === 'POST' ? 'posted' : 'page');
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, responseHeaders: RULES }] });
  const answers = [
    await send(`${edge.base}/a`),
    await send(`${edge.base}/a`),
    await send(`${edge.base}/a`, { headers: { 'if-none-match': '"v1"' } }),
    await send(`${edge.base}/a`, { method: 'POST', body: 'x' }),
  ];
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 304, 200]);
  assert.equal(answers[1]!.headers['cf-cache-status'], 'HIT');
  for (const [i, r] of answers.entries()) {
    assert.equal(r.headers.server, undefined, `answer ${i}`);
    assert.equal(r.headers['x-powered-by'], undefined, `answer ${i}`);
    if (r.status === 304) continue;
    assert.equal(r.headers['x-frame-options'], 'DENY', `answer ${i}`);
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000', `answer ${i}`);
    assert.equal(r.headers['x-served-by'], 'edge-1', `answer ${i}: replaced, not doubled`);
  }
  // A zone without rules passes them on.
  const plain = await startTestEdge(t, { origin: origin.url });
  assert.equal((await send(`${plain.base}/a`)).headers.server, 'Apache/2.4.1');
});

test('responseHeaders are applied before storing: the stored fields are the rewritten ones', () => {
  const fields = compileClientFields({ drop: ['cache-tag'], edgeCors: false, edgeVaryOrigin: false, rules: RULES })({
    server: 'nginx', 'x-powered-by': 'Express', 'x-served-by': ['a', 'b'], 'cache-tag': 't', connection: 'close', etag: '"e"',
  });
  assert.deepEqual(fields, [['etag', '"e"'], ['x-frame-options', 'DENY'], ['strict-transport-security', 'max-age=31536000'], ['x-served-by', 'edge-1']]);
});

test('edge CORS and an origin that already sends Vary: Origin: one Vary: Origin on miss, hit and 304', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const h = { vary: 'Origin, Accept-Encoding', etag: '"v1"', 'cache-control': 'max-age=600', 'access-control-allow-origin': '*' };
    if (req.headers['if-none-match'] === '"v1"') { res.writeHead(304, h); res.end(); return; }
    res.writeHead(200, h);
    res.end('x');
  });
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cors: { allowOrigins: ['https://app.example'] } }] });
  const o = { origin: 'https://app.example' };
  const answers = [
    await send(`${edge.base}/v`, { headers: o }),
    await send(`${edge.base}/v`, { headers: o }),
    await send(`${edge.base}/v`, { headers: { ...o, 'if-none-match': '"v1"' } }),
  ];
  assert.equal(answers[1]!.headers['cf-cache-status'], 'HIT');
  for (const [i, r] of answers.entries()) {
    const members = String(r.headers.vary).split(',').map((s) => s.trim().toLowerCase());
    assert.equal(members.filter((m) => m === 'origin').length, 1, `answer ${i}: ${r.headers.vary}`);
    assert.ok(members.includes('accept-encoding'), `answer ${i}: the origin's other Vary members stay`);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example', `answer ${i}`);
  }
  // Origin-owned CORS: the origin's Vary is passed on as it is.
  const own = await startTestEdge(t, { origin: origin.url });
  assert.equal((await send(`${own.base}/v`, { headers: o })).headers.vary, 'Origin, Accept-Encoding');
});

test('responseHeaders refuses framing, Age, cache status, Vary and (add) Access-Control-* fields, and bad values', () => {
  const bad = [
    { hide: ['content-length'] }, { hide: ['Transfer-Encoding'] }, { hide: ['vary'] }, { hide: ['cf-cache-status'] },
    { add: { age: '1' } }, { add: { 'access-control-allow-origin': '*' } }, { add: { 'x-a': 'a\r\nset-cookie: x=1' } },
    { add: { 'bad name': 'x' } }, { add: { 'x-a': ' padded' } }, { drop: ['x'] },
  ];
  for (const responseHeaders of bad) {
    assert.throws(() => validateConfig({ zones: [{ id: 'z', origin: 'http://127.0.0.1:9', responseHeaders }] } as never, 't'),
      (e: Error) => e instanceof ConfigError && /responseHeaders/.test(e.message), JSON.stringify(responseHeaders));
  }
  const ok = validateConfig({ zones: [{ id: 'z', origin: 'http://127.0.0.1:9', responseHeaders: { hide: ['server'] } }] }, 't');
  assert.deepEqual(ok.zones[0]!.responseHeaders, { hide: ['server'], add: {} });
});
