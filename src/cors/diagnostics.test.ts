// Tests for CORS diagnostics: detection of cache-poisoning CORS headers, rate-limited warnings, URL patterns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCorsDiagnostics, detectCorsProblems, urlPattern, type CorsProblem } from './diagnostics.js';

function harness(opts: { intervalMs?: number; maxPatterns?: number } = {}) {
  let clock = 1_000_000;
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const counts: Record<CorsProblem, number> = { 'reflected-without-vary': 0, 'wildcard-with-credentials': 0 };
  const diag = createCorsDiagnostics({
    ...opts,
    warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
    count: (kind) => { counts[kind]++; },
    now: () => clock,
  });
  return { diag, warnings, counts, advance: (ms: number) => { clock += ms; } };
}

const O = 'https://app.example.com';

test('detects a reflected ACAO without Vary: Origin, and nothing when Vary covers it', () => {
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': O }), ['reflected-without-vary']);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': O, vary: 'Accept-Encoding' }), ['reflected-without-vary']);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': O, vary: 'accept-encoding, ORIGIN' }), []);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': O, vary: ['Accept-Encoding', 'Origin'] }), []);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': O, vary: '*' }), []);
  assert.deepEqual(detectCorsProblems('null', { 'access-control-allow-origin': 'null' }), ['reflected-without-vary']);
});

test('does not flag ACAO * without credentials, other origins, or requests without Origin', () => {
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': '*' }), []);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'false' }), []);
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': 'https://other.example' }), []);
  assert.deepEqual(detectCorsProblems(undefined, { 'access-control-allow-origin': O }), []);
  assert.deepEqual(detectCorsProblems(O, {}), []);
});

test('detects ACAO * with Access-Control-Allow-Credentials: true', () => {
  assert.deepEqual(detectCorsProblems(O, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' }),
    ['wildcard-with-credentials']);
  assert.deepEqual(detectCorsProblems(undefined, { 'access-control-allow-origin': ' * ', 'access-control-allow-credentials': 'True' }),
    ['wildcard-with-credentials']);
});

test('counts every occurrence, warns once per (pattern, kind) per interval, then again with the suppressed count', () => {
  const h = harness({ intervalMs: 60_000 });
  const reflected = { 'access-control-allow-origin': O };
  for (let i = 0; i < 5; i++) h.diag.inspect('/a/:id', O, reflected);
  assert.equal(h.counts['reflected-without-vary'], 5);
  assert.equal(h.warnings.length, 1);
  assert.equal(h.warnings[0]!.obj['kind'], 'reflected-without-vary');
  assert.equal(h.warnings[0]!.obj['pattern'], '/a/:id');
  assert.equal(h.warnings[0]!.obj['origin'], O);
  assert.match(h.warnings[0]!.msg, /without Vary: Origin/);

  // another pattern and another kind each get their own warning inside the same interval
  h.diag.inspect('/b', O, reflected);
  h.diag.inspect('/a/:id', O, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' });
  assert.deepEqual(h.warnings.map((w) => [w.obj['pattern'], w.obj['kind']]), [
    ['/a/:id', 'reflected-without-vary'], ['/b', 'reflected-without-vary'], ['/a/:id', 'wildcard-with-credentials'],
  ]);
  assert.match(h.warnings[2]!.msg, /browsers refuse credentialed requests with ACAO \*/);

  h.advance(59_999);
  h.diag.inspect('/a/:id', O, reflected);
  assert.equal(h.warnings.length, 3, 'still inside the interval');
  h.advance(1);
  h.diag.inspect('/a/:id', O, reflected);
  assert.equal(h.warnings.length, 4, 'the interval has passed');
  assert.equal(h.warnings[3]!.obj['suppressedSinceLastWarning'], 5);
  assert.equal(h.counts['reflected-without-vary'], 8);
  assert.equal(h.counts['wildcard-with-credentials'], 1);
});

test('clean responses are neither counted nor warned', () => {
  const h = harness();
  h.diag.inspect('/x', O, { 'access-control-allow-origin': O, vary: 'Origin' });
  h.diag.inspect('/x', undefined, {});
  assert.deepEqual(h.counts, { 'reflected-without-vary': 0, 'wildcard-with-credentials': 0 });
  assert.equal(h.warnings.length, 0);
});

test('tracked patterns are capped: the oldest is forgotten and may warn again early', () => {
  const h = harness({ maxPatterns: 3 });
  const reflected = { 'access-control-allow-origin': O };
  for (const p of ['/p1', '/p2', '/p3']) h.diag.inspect(p, O, reflected);
  assert.equal(h.warnings.length, 3);
  h.diag.inspect('/p2', O, reflected); // tracked: suppressed
  assert.equal(h.warnings.length, 3);
  h.diag.inspect('/p4', O, reflected); // evicts /p1, the oldest
  assert.equal(h.warnings.length, 4);
  h.diag.inspect('/p1', O, reflected); // forgotten, so it warns again (and evicts /p2)
  assert.equal(h.warnings.length, 5);
  h.diag.inspect('/p3', O, reflected); // still tracked
  assert.equal(h.warnings.length, 5);
  for (let i = 0; i < 10; i++) h.diag.inspect(`/many/${i}`, O, reflected);
  assert.equal(h.warnings.length, 15);
  h.diag.inspect('/p3', O, reflected); // pushed out by the flood, so it warns again inside the interval
  assert.equal(h.warnings.length, 16);
  assert.equal(h.counts['reflected-without-vary'], 18);
});

test('urlPattern groups ids and drops the query', () => {
  assert.equal(urlPattern('/users/42/avatar.png?size=3'), '/users/:id/avatar.png');
  assert.equal(urlPattern('/assets/app.3f9a1c2b.js'), '/assets/app.:id.js');
  assert.equal(urlPattern('/assets/main-3f9a1c2be0.css#x'), '/assets/main-:id.css');
  assert.equal(urlPattern('/o/550e8400-e29b-41d4-a716-446655440000/meta.json'), '/o/:id/meta.json');
  assert.equal(urlPattern('/o/550E8400-E29B-41D4-A716-446655440000.json'), '/o/:id.json');
  assert.equal(urlPattern('/api/v2/items/deadbeef/facade'), '/api/v2/items/deadbeef/facade', 'hex-looking words without digits stay');
  assert.equal(urlPattern('/sha/0123456789abcdef0123456789abcdef01234567'), '/sha/:id');
  assert.equal(urlPattern(''), '/');
  assert.equal(urlPattern('?q=1'), '/');
  assert.ok(urlPattern(`/${'a'.repeat(10_000)}`).length <= 256);
});

test('urlPattern keeps a leading host verbatim (the handler passes host + path)', () => {
  assert.equal(urlPattern('127.0.0.1:4567/users/1/avatar.png'), '127.0.0.1:4567/users/:id/avatar.png');
  assert.equal(urlPattern('CDN.example.com/a/550e8400-e29b-41d4-a716-446655440000?x=1'), 'cdn.example.com/a/:id');
  assert.equal(urlPattern('cdn2.example.com'), 'cdn2.example.com/');
  assert.ok(urlPattern(`h/${'a'.repeat(10_000)}`).length <= 256);
});
