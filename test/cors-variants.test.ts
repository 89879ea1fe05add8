// End to end: one URL, several Origins — each gets its own variant and its own ACAO, never another's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

/** An origin that reflects Origin in ACAO. `vary` decides whether it sends Vary: Origin. */
function reflecting(vary: boolean) {
  return (req: { headers: Record<string, unknown> }, res: import('node:http').ServerResponse): void => {
    const origin = req.headers.origin as string | undefined;
    const h: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' };
    if (origin) h['access-control-allow-origin'] = origin;
    if (vary) h.vary = 'Origin';
    res.writeHead(200, h);
    res.end(JSON.stringify({ for: origin ?? null }));
  };
}

for (const vary of [true, false]) {
  test(`two Origins and no Origin on one URL get three variants (origin ${vary ? 'sends' : 'forgets'} Vary: Origin)`, async (t) => {
    const origin = await startOrigin(t, reflecting(vary));
    const edge = await startTestEdge(t, { origin: origin.url });
    const a = { origin: 'https://a.example' };
    const b = { origin: 'https://b.example' };

    const r1 = await send(`${edge.base}/asset.json`, { headers: a });
    assert.equal(r1.headers['cf-cache-status'], 'MISS');
    assert.equal(r1.headers['access-control-allow-origin'], 'https://a.example');
    const r2 = await send(`${edge.base}/asset.json`, { headers: b });
    assert.equal(r2.headers['cf-cache-status'], 'MISS');
    assert.equal(r2.headers['access-control-allow-origin'], 'https://b.example');
    const r3 = await send(`${edge.base}/asset.json`);
    assert.equal(r3.headers['cf-cache-status'], 'MISS');
    assert.equal(r3.headers['access-control-allow-origin'], undefined);

    const h1 = await send(`${edge.base}/asset.json`, { headers: a });
    const h2 = await send(`${edge.base}/asset.json`, { headers: b });
    const h3 = await send(`${edge.base}/asset.json`);
    assert.deepEqual([h1, h2, h3].map((r) => r.headers['cf-cache-status']), ['HIT', 'HIT', 'HIT']);
    assert.equal(h1.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(h2.headers['access-control-allow-origin'], 'https://b.example');
    assert.equal(h3.headers['access-control-allow-origin'], undefined);
    assert.equal(JSON.parse(h2.body).for, 'https://b.example');
    assert.match(String(h1.headers['cache-status']), /^edgecache; hit; ttl=\d+/);
    assert.ok(Number(h1.headers.age) >= 0);
    assert.equal(origin.count('/asset.json'), 3);
  });
}
