// Tests for `edgecache inspect` against a fake admin API and against a real edge (with `edgecache purge`).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import { ADMIN_TOKEN, send, startFakeAdmin, startOrigin, startTestEdge, type TestOrigin } from '../../test/helpers/http.js';
import { addInspectCommand, formatInspectTable } from './inspect.js';
import { TOKEN_ENV, type InspectResult } from './admin-client.js';
import { addPurgeCommand } from './purge.js';

const TOKEN = 'inspect-test-token-0123456789';

/** Runs `edgecache <args>` in-process (purge and inspect registered) with output captured and exit code read back. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command();
  let out = '';
  let err = '';
  program.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  addPurgeCommand(program);
  addInspectCommand(program);
  const saved = { exitCode: process.exitCode, token: process.env[TOKEN_ENV] };
  process.exitCode = undefined;
  delete process.env[TOKEN_ENV];
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: Number(process.exitCode ?? 0), out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out, err };
    throw e;
  } finally {
    process.exitCode = saved.exitCode;
    if (saved.token !== undefined) process.env[TOKEN_ENV] = saved.token;
  }
}

const RESULT: InspectResult = {
  url: 'https://cdn.example.com/app.js',
  variants: [
    { selector: { origin: 'https://a.example' }, status: 200, age: 12, ttl: 3588, tags: ['a', 'release-42'], bytes: 1024, stale: false, selected: true },
    { selector: { origin: null }, status: 200, age: 4000, ttl: -400, tags: [], bytes: 3 * 1024 * 1024, stale: true, selected: false },
  ],
};

function fakeAdmin(t: TestContext, status = 200, body: unknown = { success: true, errors: [], messages: [], result: RESULT }): Promise<TestOrigin> {
  return startFakeAdmin(t, (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

test('sends {url, headers} with bearer auth to the zone inspect endpoint and prints a table', async (t) => {
  const admin = await fakeAdmin(t);
  const r = await run(['inspect', 'https://cdn.example.com/app.js', '--header', 'Origin: https://a.example', '--admin', admin.url, '--token', TOKEN, '--zone', 'shop']);
  assert.equal(r.code, 0, r.err);
  const req = admin.requests[0];
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, '/edgecache/v1/zones/shop/inspect');
  assert.equal(req?.headers.authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(JSON.parse(req?.body.toString('utf8') ?? ''), { url: 'https://cdn.example.com/app.js', headers: { origin: 'https://a.example' } });

  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines[0], 'https://cdn.example.com/app.js (zone shop, 2 variants)');
  assert.match(lines[1] ?? '', /^\s+SELECTOR\s+STATUS\s+AGE\s+TTL\s+STALE\s+SIZE\s+TAGS$/);
  assert.match(lines[2] ?? '', /^\*\s+origin: https:\/\/a\.example\s+200\s+12s\s+3588s\s+no\s+1\.0 KiB\s+a, release-42$/);
  assert.match(lines[3] ?? '', /^\s+origin: \(absent\)\s+200\s+4000s\s+-400s\s+yes\s+3\.0 MiB\s+-$/);
  assert.match(lines[4] ?? '', /^\* = the variant a request with these headers would get$/);
  // Columns line up: SELECTOR starts at the same offset on every row.
  const col = (lines[1] ?? '').indexOf('STATUS');
  assert.equal((lines[2] ?? '').indexOf('200'), col);
  assert.equal((lines[3] ?? '').indexOf('200'), col);
});

test('--json prints the result object; with no --header the headers object is empty', async (t) => {
  const admin = await fakeAdmin(t);
  const r = await run(['inspect', 'https://cdn.example.com/app.js', '--json', '--admin', admin.url, '--token', TOKEN]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), RESULT);
  assert.equal(admin.requests[0]?.url, '/edgecache/v1/zones/default/inspect');
  assert.deepEqual(JSON.parse(admin.requests[0]?.body.toString('utf8') ?? ''), { url: 'https://cdn.example.com/app.js', headers: {} });
});

test('not cached, and no variant selected, are said plainly', () => {
  assert.deepEqual(formatInspectTable({ url: 'https://x.example/a', variants: [] }, 'default'), ['not cached: https://x.example/a (zone default)']);
  const lines = formatInspectTable({ url: 'https://x.example/a', variants: [{ ...RESULT.variants[0]!, selected: false, selector: {} }] }, 'z');
  assert.match(lines[2] ?? '', /\(no key headers\)/);
  assert.equal(lines.at(-1), 'no variant matches these headers: such a request would be a miss');
});

test('values from the API cannot inject terminal control sequences', () => {
  const lines = formatInspectTable({ url: 'https://x.example/\x1b[2J', variants: [{ ...RESULT.variants[0]!, selector: { origin: 'a\x1b]0;pwned\x07' } }] }, 'z');
  assert.ok(lines.every((l) => !/[\x00-\x1f]/.test(l)));
  assert.match(lines.join('\n'), /\\x1b\]0;pwned\\x07/);
});

test('API errors exit 1 with the codes; a bad URL or header is a usage error (exit 2) with no request', async (t) => {
  const admin = await fakeAdmin(t, 403, { success: false, errors: [{ code: 10000, message: 'this token may not use that zone' }], messages: [], result: null });
  const r = await run(['inspect', 'https://cdn.example.com/app.js', '--admin', admin.url, '--token', TOKEN]);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /inspect failed \(HTTP 403\)\n\s+error 10000: this token may not use that zone/);
  assert.equal(admin.requests.length, 1);
  for (const args of [['cdn.example.com/app.js'], ['https://cdn.example.com/app.js', '--header', 'nonsense']]) {
    const u = await run(['inspect', ...args, '--admin', admin.url, '--token', TOKEN]);
    assert.equal(u.code, 2, u.err);
    assert.ok(u.err.length > 0);
  }
  assert.equal(admin.requests.length, 1);
});

test('against a real edge: inspect shows Origin variants; purge with a header removes one, purge by URL the rest', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'access-control-allow-origin': String(req.headers.origin ?? '*'), 'cache-tag': 'app', 'content-type': 'text/javascript' });
    res.end('console.log(1)');
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  for (const o of ['https://a.example', 'https://b.example']) {
    const r = await send(`${edge.base}/app.js?v=1`, { headers: { host: 'cdn.example.com', origin: o } });
    assert.equal(r.status, 200);
  }
  const target = ['--admin', edge.adminBase, '--token', ADMIN_TOKEN];
  const url = 'https://cdn.example.com/app.js?v=1';

  const before = await run(['inspect', url, '--header', 'Origin: https://b.example', ...target]);
  assert.equal(before.code, 0, before.err);
  assert.match(before.out, /2 variants/);
  assert.match(before.out, /^\*\s+origin: https:\/\/b\.example\s+200 /m);
  assert.match(before.out, /^\s+origin: https:\/\/a\.example\s+200 /m);

  const one = await run(['purge', '--url', url, '--header', 'Origin: https://b.example', ...target]);
  assert.equal(one.code, 0, one.err);
  assert.match(one.out, /^purged 1 file \(the variant selected by origin\) in zone default \(id \w+\)$/m);
  const after = await run(['inspect', url, '--json', ...target]);
  const left = JSON.parse(after.out) as InspectResult;
  assert.deepEqual(left.variants.map((v) => v.selector), [{ origin: 'https://a.example' }]);

  const all = await run(['purge', '--url', url, ...target]);
  assert.equal(all.code, 0, all.err);
  const gone = await run(['inspect', url, ...target]);
  assert.equal(gone.out, `not cached: ${url} (zone default)\n`);
});
