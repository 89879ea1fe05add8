// Cache poisoning and deception: what is not keyed never reaches the origin, so an attacker's request
// cannot change the answer stored for a victim's; paths are keyed and forwarded byte for byte; nothing is stored
// because of its extension. Each test: attacker request, then a clean victim request that must not get its answer.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send, type Res } from './helpers/http.js';
import { exchange } from './helpers/raw-http.js';
import { DEFAULT_STRIP_HEADERS } from '../src/config/schema.js';

interface Seen { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }

/** An origin that describes what it received (JSON) with a storable answer, reflecting Origin into ACAO. */
async function reflecting(t: TestContext, cacheControl = 'max-age=600') {
  return startOrigin(t, (req, res) => {
    const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: req.body.toString('latin1') };
    const h: Record<string, string> = { 'content-type': 'application/json', 'cache-control': cacheControl };
    if (typeof req.headers.origin === 'string') h['access-control-allow-origin'] = req.headers.origin;
    res.writeHead(200, h);
    res.end(JSON.stringify(seen));
  });
}
const seenOf = (r: Res): Seen => JSON.parse(r.body) as Seen;

test('each default stripHeaders entry is removed before forwarding; the victim gets a clean answer', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  for (const name of DEFAULT_STRIP_HEADERS) {
    const path = `/strip/${name}`;
    const attack = await send(`${edge.base}${path}`, { headers: { host: 'shop.example', [name]: 'evil.example' } });
    assert.equal(attack.status, 200);
    const atOrigin = origin.requests.at(-1)!;
    assert.equal(atOrigin.url, path);
    assert.notEqual(atOrigin.headers[name], 'evil.example', `${name} reached the origin`);
    const victim = await send(`${edge.base}${path}`, { headers: { host: 'shop.example' } });
    assert.ok(!victim.body.includes('evil'), `${name}: the victim got the attacker's answer`);
  }
  // The edge's own forwarding fields replace client values.
  const own = seenOf(await send(`${edge.base}/own`, { headers: { host: 'shop.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'gopher', 'x-forwarded-for': '6.6.6.6' } }));
  assert.equal(own.headers['x-forwarded-host'], 'shop.example');
  assert.equal(own.headers['x-forwarded-proto'], 'http');
  assert.equal(own.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted peer: X-Forwarded-For is replaced');
});

test('X-Forwarded-For is appended to only for a trusted proxy', async (t) => {
  const origin = await reflecting(t, 'no-store');
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, trustedProxies: ['127.0.0.1'] }] });
  const r = seenOf(await send(`${edge.base}/xff`, { headers: { 'x-forwarded-for': '203.0.113.7' } }));
  assert.equal(r.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
});

test('a stripHeaders entry listed in cacheKey.headers is keyed and forwarded', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { headers: ['origin', 'x-original-url'] } }] });
  const attack = seenOf(await send(`${edge.base}/keyed`, { headers: { 'x-original-url': '/admin' } }));
  assert.equal(attack.headers['x-original-url'], '/admin', 'keyed, so forwarded');
  const victim = await send(`${edge.base}/keyed`);
  assert.equal(victim.headers['cf-cache-status'], 'MISS', 'another key');
  assert.equal(seenOf(victim).headers['x-original-url'], undefined);
  const again = await send(`${edge.base}/keyed`, { headers: { 'x-original-url': '/admin' } });
  assert.equal(again.headers['cf-cache-status'], 'HIT');
});

test('a keyed X-Forwarded-Host is forwarded as the client sent it', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: origin.url, cacheKey: { headers: ['x-forwarded-host'] } }] });
  const r = seenOf(await send(`${edge.base}/xfh`, { headers: { host: 'shop.example', 'x-forwarded-host': 'www.shop.example' } }));
  assert.equal(r.headers['x-forwarded-host'], 'www.shop.example');
  const victim = await send(`${edge.base}/xfh`, { headers: { host: 'shop.example' } });
  assert.equal(seenOf(victim).headers['x-forwarded-host'], 'shop.example');
});

test('a keyed field named in Connection is dropped for key and forwarding alike (no variant keyed on what the origin never saw)', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const attack = await send(`${edge.base}/conn`, { headers: { origin: 'https://victim.example', connection: 'origin' } });
  assert.equal(seenOf(attack).headers.origin, undefined);
  const victim = await send(`${edge.base}/conn`, { headers: { origin: 'https://victim.example' } });
  assert.equal(victim.headers['access-control-allow-origin'], 'https://victim.example', 'the victim is not served the Origin-less answer');
  assert.equal(origin.count('/conn'), 2);
});

test('GET and HEAD with content are forwarded with it and never answered from or stored in the cache (DYNAMIC)', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const primed = await send(`${edge.base}/content`);
  assert.equal(primed.headers['cf-cache-status'], 'MISS');

  const withBody = { 'content-type': 'text/plain', 'content-length': '9' };
  const attack = await send(`${edge.base}/content`, { headers: withBody, body: 'evil-body' });
  assert.equal(attack.headers['cf-cache-status'], 'DYNAMIC', 'not answered from the cache');
  assert.equal(seenOf(attack).body, 'evil-body', 'forwarded with its content');
  const chunked = await exchange(edge.edge.port, 'GET /content HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n9\r\nevil-body\r\n0\r\n\r\n');
  assert.equal(chunked.responses[0]?.headers['cf-cache-status']?.[0], 'DYNAMIC');
  assert.equal((JSON.parse(chunked.responses[0]!.body.toString()) as Seen).body, 'evil-body');

  const victim = await send(`${edge.base}/content`);
  assert.equal(victim.headers['cf-cache-status'], 'HIT');
  assert.equal(seenOf(victim).body, '', 'the stored answer is the clean one');

  const fresh = await send(`${edge.base}/content-new`, { body: 'evil-body', headers: withBody });
  assert.equal(fresh.headers['cf-cache-status'], 'DYNAMIC');
  const after = await send(`${edge.base}/content-new`);
  assert.equal(after.headers['cf-cache-status'], 'MISS', 'the answer to a GET with content was not stored');
  assert.equal(seenOf(after).body, '');

  const head = await exchange(edge.edge.port, 'HEAD /content-head HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nevil', { headAt: () => true });
  assert.equal(head.responses[0]?.status, 200);
  assert.equal(head.responses[0]?.headers['cf-cache-status']?.[0], 'DYNAMIC');
  assert.equal(origin.requests.find((r) => r.url === '/content-head')?.body.toString(), 'evil');
  const headVictim = await send(`${edge.base}/content-head`);
  assert.equal(headVictim.headers['cf-cache-status'], 'MISS');
});

test('query: parameters left out of the key are not forwarded; ";" is part of a value; sorted forwards the sorted query', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { zones: [
    { id: 'ex', hosts: ['ex.example'], origin: origin.url, cacheKey: { query: { exclude: ['utm_source', 'cb'] } } },
    { id: 'in', hosts: ['in.example'], origin: origin.url, cacheKey: { query: { include: ['a'] } } },
    { id: 'no', hosts: ['no.example'], origin: origin.url, cacheKey: { query: 'none' } },
    { id: 'so', hosts: ['so.example'], origin: origin.url, cacheKey: { query: 'sorted' } },
    { id: 'all', hosts: ['all.example'], origin: origin.url },
  ] });
  const get = (host: string, path: string): Promise<Res> => send(`${edge.base}${path}`, { headers: { host } });
  const cases: [string, string, string, string][] = [
    // host, attacker path, what the origin must see, the victim's path
    ['ex.example', '/q?a=1&utm_source=evil&cb=evil', '/q?a=1', '/q?a=1'],
    ['ex.example', '/q2?utm_source=evil', '/q2', '/q2'],
    ['in.example', '/q?evil=1&a=1&b=evil', '/q?a=1', '/q?a=1'],
    ['no.example', '/q?evil=1', '/q', '/q'],
    ['so.example', '/q?b=2&a=1', '/q?a=1&b=2', '/q?a=1&b=2'],
  ];
  for (const [host, attack, forwarded, victimPath] of cases) {
    const a = await get(host, attack);
    assert.equal(seenOf(a).url, forwarded, `${host} ${attack}`);
    const v = await get(host, victimPath);
    assert.equal(v.headers['cf-cache-status'], 'HIT', `${host} ${attack}: same key`);
    assert.equal(seenOf(v).url, forwarded, 'what is stored is what the victim would have got');
    assert.ok(!v.body.includes('evil'));
  }
  // Behind ';' an excluded name is part of a's value: keyed and forwarded as such, never served for a=1.
  const semi = await get('ex.example', '/semi?a=1;utm_source=evil');
  assert.equal(seenOf(semi).url, '/semi?a=1;utm_source=evil');
  const semiVictim = await get('ex.example', '/semi?a=1');
  assert.equal(semiVictim.headers['cf-cache-status'], 'MISS');
  assert.equal(seenOf(semiVictim).url, '/semi?a=1');
  const semiIn = await get('in.example', '/semi?a=1;evil=1');
  assert.equal(seenOf(semiIn).url, '/semi?a=1;evil=1');
  assert.equal((await get('in.example', '/semi?a=1')).headers['cf-cache-status'], 'MISS');
  const all = await get('all.example', '/semi?a=1;b=2&c');
  assert.equal(seenOf(all).url, '/semi?a=1;b=2&c');
});

test('paths are keyed and forwarded byte for byte: no decoding, dot-segment removal, slash merging or case folding', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const variants = (i: number): string[] => [
    `/v${i}/x/%2e%2e/app.js`, `/v${i}/x/../app.js`, `/v${i}%2fapp.js`, `//v${i}/app.js`, `/v${i}//app.js`, `/v${i}/./app.js`,
    `/V${i}/app.js`, `/v${i}/APP.JS`, `/v${i}/app.js%3fx=1`, `/v${i}/%61pp.js`, `/%76${i}/app.js`, `/v${i}/app%2ejs`, `/v${i}/app.js;x`,
    `/v${i}/app.js/`, `/v${i}/app.js%00`, `/v${i}\\app.js`,
  ];
  for (let i = 0; i < variants(0).length; i++) {
    const attack = variants(i)[i]!;
    const victimPath = `/v${i}/app.js`;
    const a = await exchange(edge.edge.port, `GET ${attack} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(a.responses[0]?.status, 200, attack);
    assert.equal(origin.requests.at(-1)!.url, attack, 'forwarded byte for byte');
    const v = await send(`${edge.base}${victimPath}`);
    assert.equal(v.headers['cf-cache-status'], 'MISS', `${attack} shares no key with ${victimPath}`);
    assert.equal(seenOf(v).url, victimPath);
  }
});

test('deception: a private page at a .css URL is stored only if the origin made it storable', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const who = String(req.headers.cookie ?? req.headers.authorization ?? 'anonymous');
    const h: Record<string, string> = { 'content-type': 'text/css' };
    if (req.url!.startsWith('/private-cc/')) h['cache-control'] = 'private';
    if (req.url!.startsWith('/public/')) h['cache-control'] = 'max-age=600';
    res.writeHead(200, h);
    res.end(`/* account of ${who} */`);
  });
  const edge = await startTestEdge(t, { zones: [
    { id: 'plain', hosts: ['plain.example'], origin: origin.url },
    { id: 'ttl', hosts: ['ttl.example'], origin: origin.url, defaultTtl: 3600 },
  ] });
  const get = (host: string, path: string, headers: Record<string, string> = {}): Promise<Res> => send(`${edge.base}${path}`, { headers: { host, ...headers } });
  for (const host of ['plain.example', 'ttl.example']) {
    for (const [path, creds] of [['/account/x.css', { cookie: 'session=victim' }], ['/account/y.css', { authorization: 'Bearer victim' }], ['/private-cc/z.css', { cookie: 'session=victim' }]] as const) {
      const victim = await get(host, path, creds);
      assert.match(victim.body, /victim/);
      const attacker = await get(host, path);
      assert.ok(!attacker.body.includes('victim'), `${host}${path}: the attacker got the victim's page`);
      assert.notEqual(attacker.headers['cf-cache-status'], 'HIT');
    }
  }
  // Controls: the origin's own freshness is honoured; defaultTtl applies to requests without credentials.
  await get('plain.example', '/public/site.css');
  assert.equal((await get('plain.example', '/public/site.css')).headers['cf-cache-status'], 'HIT');
  await get('ttl.example', '/account/anon.css');
  assert.equal((await get('ttl.example', '/account/anon.css')).headers['cf-cache-status'], 'HIT');
  const before = origin.count('/account/anon.css');
  await get('plain.example', '/account/anon.css');
  assert.notEqual((await get('plain.example', '/account/anon.css')).headers['cf-cache-status'], 'HIT', 'no freshness, no defaultTtl: not stored');
  assert.equal(origin.count('/account/anon.css'), before + 2);
});

test('an empty query ("/p?") is forwarded like no query, as it is keyed', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { origin: origin.url });
  const attack = await exchange(edge.edge.port, 'GET /eq? HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal((JSON.parse(attack.responses[0]!.body.toString()) as Seen).url, '/eq', 'the origin may answer "/eq?" differently from "/eq"');
  const victim = await send(`${edge.base}/eq`);
  assert.equal(seenOf(victim).url, '/eq');
});

test('keyed fields are forwarded as the key holds them: Accept-Language EN and en share a key, both forward en', async (t) => {
  const origin = startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
    res.end(String(req.headers['accept-language']));
  });
  const o = await origin;
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: o.url, cacheKey: { headers: ['accept-language'] } }] });
  const attack = await send(`${edge.base}/al`, { headers: { 'accept-language': 'EN' } });
  assert.equal(attack.body, 'en');
  const victim = await send(`${edge.base}/al`, { headers: { 'accept-language': 'en' } });
  assert.equal(victim.headers['cf-cache-status'], 'HIT');
  assert.equal(victim.body, 'en');
});

test('field names with underscores never reach the origin unless keyed or opted in (CGI origins alias them to stripped fields)', async (t) => {
  const origin = await reflecting(t);
  const edge = await startTestEdge(t, { zones: [
    { id: 'z', hosts: ['shop.example'], origin: origin.url },
    { id: 'keyed', hosts: ['keyed.example'], origin: origin.url, cacheKey: { headers: ['origin', 'x_tenant'] } },
    { id: 'opt', hosts: ['opt.example'], origin: origin.url, forwardUnderscoreHeaders: true },
  ] });
  const aliases = ['X_Forwarded_Host', 'X_Forwarded_Prefix', 'X_Original_URL', 'X_HTTP_Method_Override', 'X_Forwarded_For', 'x_forwarded_ssl'];
  const attack: Record<string, string> = { host: 'shop.example' };
  for (const a of aliases) attack[a] = 'evil.example';
  const seen = seenOf(await send(`${edge.base}/underscore`, { headers: attack }));
  const names = Object.keys(seen.headers);
  assert.deepEqual(names.filter((n) => n.includes('_')), [], 'no underscore field forwarded');
  assert.equal(seen.headers['x-forwarded-host'], 'shop.example');
  const victim = await send(`${edge.base}/underscore`, { headers: { host: 'shop.example' } });
  assert.equal(victim.headers['cf-cache-status'], 'HIT');
  assert.ok(!victim.body.includes('evil'));
  // A keyed underscore field is forwarded: the key tells its values apart.
  const keyed = seenOf(await send(`${edge.base}/k`, { headers: { host: 'keyed.example', x_tenant: 'acme', x_other: 'evil' } }));
  assert.equal(keyed.headers.x_tenant, 'acme');
  assert.equal(keyed.headers.x_other, undefined);
  // forwardUnderscoreHeaders: true forwards them as sent.
  const opted = seenOf(await send(`${edge.base}/o`, { headers: { host: 'opt.example', x_custom: 'v' } }));
  assert.equal(opted.headers.x_custom, 'v');
});

test('trustedProxies accepts CIDR ranges: a peer inside the range has X-Forwarded-For appended to, outside replaced', async (t) => {
  const origin = await reflecting(t, 'no-store');
  const edge = await startTestEdge(t, { zones: [
    { id: 'in', hosts: ['in.example'], origin: origin.url, trustedProxies: ['127.0.0.0/8'] },
    { id: 'out', hosts: ['out.example'], origin: origin.url, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] },
  ] });
  const inside = seenOf(await send(`${edge.base}/xff`, { headers: { host: 'in.example', 'x-forwarded-for': '203.0.113.7' } }));
  assert.equal(inside.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  const outside = seenOf(await send(`${edge.base}/xff`, { headers: { host: 'out.example', 'x-forwarded-for': '203.0.113.7' } }));
  assert.equal(outside.headers['x-forwarded-for'], '127.0.0.1');
});
