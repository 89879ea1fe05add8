// Tests for bench/wrk.ts: the generated Lua, parsing wrk's JSON line and its text, and one real wrk run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isCi } from '../test/helpers/service.js';
import { findExecutable } from './proc.js';
import { makeWrkScript, parseWrkOutput, runWrk } from './wrk.js';

const WRK_TEXT = `Running 2s test @ http://127.0.0.1:8080/asset/1k
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  812.00us   1.02s    91.00%
    Req/Sec    24.10k     1.20k   26.00k    80.00%
  Latency Distribution
     50%    1.95ms
     75%    2.30ms
     90%    2.80ms
     99%  650.00us
  48213 requests in 2.00s, 58.12MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  24106.50
Transfer/sec:     29.06MB
`;

test('parseWrkOutput reads wrk text: rate, percentiles in mixed units, errors', () => {
  const r = parseWrkOutput(WRK_TEXT);
  assert.equal(r.requests, 48213);
  assert.equal(r.durationS, 2);
  assert.equal(r.rps, 24106.5);
  assert.equal(r.p50Ms, 1.95);
  assert.equal(r.p90Ms, 2.8);
  assert.equal(r.p99Ms, 0.65);
  assert.equal(r.maxMs, 1020);
  assert.equal(r.non2xx, 3);
  assert.equal(r.errors, 6);
});

test('parseWrkOutput prefers the WRKJSON line from our done()', () => {
  const text = `${WRK_TEXT}WRKJSON {"requests":1000,"duration_us":2000000,"p50_us":1500,"p90_us":2500,"p99_us":9000,"max_us":12000,"connect":0,"read":0,"write":0,"status":2,"timeout":0}\n`;
  const r = parseWrkOutput(text);
  assert.equal(r.requests, 1000);
  assert.equal(r.rps, 500);
  assert.equal(r.p50Ms, 1.5);
  assert.equal(r.p99Ms, 9);
  assert.equal(r.errors, 2);
});

test('parseWrkOutput rejects output without a result', () => {
  assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), { code: 'WRK_PARSE' });
});

test('makeWrkScript: one Origin stays static, several rotate, unique URLs get a prefix', () => {
  const fixed = makeWrkScript({ path: '/asset/1k', origins: ['https://a.example'] });
  assert.match(fixed, /wrk\.headers\["Origin"\] = origins\[1\]/);
  assert.doesNotMatch(fixed, /request = function/);
  const rotating = makeWrkScript({ path: '/asset/1k', origins: ['https://a.example', 'https://b.example'] });
  assert.match(rotating, /request = function/);
  assert.match(rotating, /"https:\/\/b\.example"/);
  const unique = makeWrkScript({ path: '/x', origins: ['https://a.example'], uniquePrefix: '/unique/n-' });
  assert.match(unique, /local unique = "\/unique\/n-"/);
  assert.throws(() => makeWrkScript({ path: '/', origins: [] }), { code: 'BAD_LOAD' });
});

const wrk = findExecutable('wrk');

test('runWrk sends the Origins and unique URLs the load asks for (real wrk)', { skip: wrk === null && !isCi() ? 'wrk not installed (apt-get install nginx varnish wrk; required in CI)' : false }, async (t) => {
  const seen = { origins: new Set<string>(), paths: new Set<string>(), n: 0 };
  const server = createServer((req, res) => {
    seen.n += 1;
    seen.origins.add(String(req.headers.origin));
    seen.paths.add(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'wrk-test-'));
  t.after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = (server.address() as { port: number }).port;
  const origins = ['https://a.example', 'https://b.example', 'https://c.example'];
  const r = await runWrk({ wrk: wrk as string, url: `http://127.0.0.1:${port}/u`, load: { path: '/u', origins, uniquePrefix: '/unique/t-' }, connections: 2, threads: 1, durationS: 1, workDir: dir, tag: 'test' });
  assert.ok(r.requests > 10, `wrk made ${r.requests} requests`);
  assert.equal(r.errors, 0);
  assert.ok(r.p50Ms > 0 && r.p50Ms <= r.p99Ms);
  assert.deepEqual([...seen.origins].sort(), origins);
  assert.ok([...seen.paths].every((p) => p.startsWith('/unique/t-1-')), 'every path carries the prefix and thread id');
  assert.ok(seen.paths.size >= r.requests, 'no URL repeats');
});
