// End to end: the query and the Host in the cache key (every query mode, Host case and ports), 421 for unknown Hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** A cacheable origin whose body names the request it answered. */
function echoOrigin() {
  return (req: { url?: string; headers: Record<string, unknown> }, res: import('node:http').ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
    res.end(JSON.stringify({ url: req.url, host: req.headers.host }));
  };
}

test('query modes: all, sorted, none, include and exclude decide what is one cache entry and what is forwarded', async (t) => {
  const origin = await startOrigin(t, echoOrigin());
  const zone = (id: string, query: unknown) => ({ id, hosts: [`${id}.test`], origin: origin.url, cacheKey: { query } });
  const edge = await startTestEdge(t, {
    zones: [
      zone('all', 'all'), zone('sorted', 'sorted'), zone('none', 'none'),
      zone('include', { include: ['v'] }), zone('exclude', { exclude: ['utm_source', 'utm_medium'] }),
    ] as never,
  });
  const get = async (host: string, target: string): Promise<string> => {
    const r = await send(`${edge.base}${target}`, { headers: { host } });
    assert.equal(r.status, 200, `${host}${target}`);
    return String(r.headers['cf-cache-status']);
  };
  const lastUrl = (): string => origin.requests.at(-1)!.url;

  // all (default): the query as sent, order matters.
  assert.equal(await get('all.test', '/q?a=1&b=2'), 'MISS');
  assert.equal(await get('all.test', '/q?b=2&a=1'), 'MISS');
  assert.equal(lastUrl(), '/q?b=2&a=1');
  assert.equal(await get('all.test', '/q?a=1&b=2'), 'HIT');
  assert.equal(await get('all.test', '/q'), 'MISS');

  // sorted: parameter order does not matter; the origin sees the sorted query.
  assert.equal(await get('sorted.test', '/q?b=2&a=1'), 'MISS');
  assert.equal(lastUrl(), '/q?a=1&b=2');
  assert.equal(await get('sorted.test', '/q?a=1&b=2'), 'HIT');
  assert.equal(await get('sorted.test', '/q?a=1&b=3'), 'MISS');

  // none: the query is dropped from the key and from the origin request.
  assert.equal(await get('none.test', '/q?a=1'), 'MISS');
  assert.equal(lastUrl(), '/q');
  assert.equal(await get('none.test', '/q?a=2'), 'HIT');
  assert.equal(await get('none.test', '/q'), 'HIT');

  // include: only the listed parameters count.
  assert.equal(await get('include.test', '/q?v=1&utm=x'), 'MISS');
  assert.equal(lastUrl(), '/q?v=1');
  assert.equal(await get('include.test', '/q?utm=y&v=1'), 'HIT');
  assert.equal(await get('include.test', '/q?v=2'), 'MISS');

  // exclude: the listed parameters do not count.
  assert.equal(await get('exclude.test', '/q?utm_source=a&id=1'), 'MISS');
  assert.equal(lastUrl(), '/q?id=1');
  assert.equal(await get('exclude.test', '/q?id=1&utm_medium=b'), 'HIT');
  assert.equal(await get('exclude.test', '/q?id=2&utm_source=a'), 'MISS');
  assert.equal(origin.count(), 10);
});

test('Host in the key: case-insensitive, a non-default port is its own entry, :80 is the same as none', async (t) => {
  const origin = await startOrigin(t, echoOrigin());
  const edge = await startTestEdge(t, { origin: origin.url });
  const get = (host: string) => send(`${edge.base}/h.json`, { headers: { host } });

  const first = await get('Cdn.Example.COM');
  assert.equal(first.headers['cf-cache-status'], 'MISS');
  assert.equal(JSON.parse(first.body).host, 'cdn.example.com', 'the origin sees the lowercased Host');
  assert.equal((await get('cdn.example.com')).headers['cf-cache-status'], 'HIT');
  assert.equal((await get('cdn.example.com:80')).headers['cf-cache-status'], 'HIT');
  assert.equal((await get('cdn.example.com:8080')).headers['cf-cache-status'], 'MISS');
  assert.equal((await get('CDN.example.com:8080')).headers['cf-cache-status'], 'HIT');
  assert.equal((await get('other.example.com')).headers['cf-cache-status'], 'MISS');
  // An absolute-form target names the host instead of the Host header (RFC 9112 §3.2.2).
  const abs = await rawAbsolute(edge.edge.port, 'http://other.example.com/h.json');
  assert.match(abs, /cf-cache-status: HIT/i);
  assert.equal(origin.count(), 3);
});

test('a Host no zone serves gets 421 with a short reason; exact names and *.wildcards route', async (t) => {
  const origin = await startOrigin(t, echoOrigin());
  const edge = await startTestEdge(t, {
    zones: [
      { id: 'cdn', hosts: ['cdn.example.com'], origin: origin.url },
      { id: 'assets', hosts: ['*.assets.example'], origin: origin.url },
    ],
  });
  const get = (host: string) => send(`${edge.base}/x.json`, { headers: { host } });
  for (const host of ['other.example', 'assets.example', 'cdn.example.com.evil.example', 'xcdn.example.com']) {
    const r = await get(host);
    assert.equal(r.status, 421, host);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(r.body, /no zone/i);
    assert.ok(r.body.length < 300);
  }
  for (const host of ['cdn.example.com', 'CDN.example.com:8443', 'img.assets.example', 'a.b.assets.example']) {
    assert.equal((await get(host)).status, 200, host);
  }
  assert.equal(origin.count(), 4, 'a 421 never reaches an origin');
});

/** Sends one request with an absolute-form target on a raw socket; returns the response head. */
async function rawAbsolute(port: number, url: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${url} HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n`));
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { data += c; });
    s.on('end', () => resolve(data.split('\r\n\r\n')[0]!));
    s.on('error', reject);
  });
}
