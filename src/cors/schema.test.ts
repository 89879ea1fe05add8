// Tests for the zone `cors` config schema and origin-pattern parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corsConfigSchema, parseOriginPattern, DEFAULT_CORS_MAX_AGE } from './schema.js';

function issues(input: unknown): { path: string; message: string }[] {
  const r = corsConfigSchema.safeParse(input);
  assert.equal(r.success, false, `expected ${JSON.stringify(input)} to be rejected`);
  return r.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

test('defaults: methods GET, HEAD; no headers; no credentials; max-age 600', () => {
  const cfg = corsConfigSchema.parse({ allowOrigins: ['https://app.example.com'] });
  assert.deepEqual(cfg, {
    allowOrigins: ['https://app.example.com'],
    allowMethods: ['GET', 'HEAD'],
    allowHeaders: [],
    exposeHeaders: [],
    allowCredentials: false,
    maxAge: DEFAULT_CORS_MAX_AGE,
  });
  assert.equal(DEFAULT_CORS_MAX_AGE, 600);
});

test('normalises origins the way browsers serialize them: lowercase, punycode, default port dropped, deduplicated', () => {
  const cfg = corsConfigSchema.parse({
    allowOrigins: ['HTTPS://App.Example.com:443', 'https://app.example.com', 'http://localhost:80', 'https://bücher.example',
      'https://*.Trusted.Example', 'https://*.trusted.example:443', 'http://127.0.0.1:8080', 'http://[::1]:3000',
      'capacitor://Localhost'],
  });
  assert.deepEqual(cfg.allowOrigins, [
    'https://app.example.com', 'http://localhost', 'https://xn--bcher-kva.example', 'https://*.trusted.example',
    'http://127.0.0.1:8080', 'http://[::1]:3000', 'capacitor://localhost',
  ]);
});

test('"*" and ["*"] both mean any origin', () => {
  assert.equal(corsConfigSchema.parse({ allowOrigins: '*' }).allowOrigins, '*');
  assert.equal(corsConfigSchema.parse({ allowOrigins: ['*'] }).allowOrigins, '*');
});

test('methods are uppercased and deduplicated; header names lowercased', () => {
  const cfg = corsConfigSchema.parse({
    allowOrigins: '*', allowMethods: ['get', 'Patch', 'PATCH', 'DELETE'], allowHeaders: ['Content-Type', 'X-Api-Key', 'content-type'],
    exposeHeaders: ['ETag', '*'],
  });
  assert.deepEqual(cfg.allowMethods, ['GET', 'PATCH', 'DELETE']);
  assert.deepEqual(cfg.allowHeaders, ['content-type', 'x-api-key']);
  assert.deepEqual(cfg.exposeHeaders, ['etag', '*']);
});

test('credentials with "*" is refused with the browser reason', () => {
  const got = issues({ allowOrigins: '*', allowCredentials: true });
  assert.deepEqual(got, [{ path: 'allowCredentials', message: 'browsers refuse credentials with ACAO *; list the origins' }]);
  const star = issues({ allowOrigins: ['https://a.example'], allowCredentials: true, exposeHeaders: ['*'] });
  assert.equal(star[0]!.path, 'exposeHeaders');
  assert.match(star[0]!.message, /literal header name/);
});

test('origins with a path, query, user info or no scheme are rejected with the reason and index', () => {
  const got = issues({ allowOrigins: ['https://ok.example', 'https://app.example.com/', 'https://a.example/x', 'app.example.com',
    'https://a.example?x=1', 'https://u@a.example', 'https://a.example:99999'] });
  assert.deepEqual(got.map((i) => i.path), ['allowOrigins.1', 'allowOrigins.2', 'allowOrigins.3', 'allowOrigins.4', 'allowOrigins.5', 'allowOrigins.6']);
  assert.match(got[0]!.message, /"https:\/\/app\.example\.com\/".*no path.*trailing "\/"/);
  assert.match(got[2]!.message, /expected scheme:\/\/host\[:port\]/);
  assert.match(got[4]!.message, /no user info/);
  assert.match(got[5]!.message, /invalid host or port/);
});

test('wildcards only as the whole first label', () => {
  for (const bad of ['https://a*.example.com', 'https://*example.com', 'https://x.*.example.com', 'https://*.*.example.com', 'https://*']) {
    const r = parseOriginPattern(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.message, /wildcard is allowed only as the whole first label|expected scheme/, bad);
  }
  const tld = parseOriginPattern('https://*.com');
  assert.equal(tld.ok, false);
  if (!tld.ok) assert.match(tld.message, /top-level domain/);
  const ip = parseOriginPattern('https://*.127.0.0.1');
  assert.equal(ip.ok, false);
  assert.deepEqual(parseOriginPattern('http://*.localhost:8080'), {
    ok: true, pattern: { kind: 'wildcard', display: 'http://*.localhost:8080', prefix: 'http://', suffix: '.localhost:8080' },
  });
});

test('"*" inside a list, "null", and empty lists are explained', () => {
  assert.match(issues({ allowOrigins: ['https://a.example', '*'] })[0]!.message, /whole allowOrigins value/);
  assert.match(issues({ allowOrigins: ['null'] })[0]!.message, /only be allowed with allowOrigins: "\*"/);
  assert.match(issues({ allowOrigins: [] })[0]!.message, /at least one origin/);
  assert.match(issues({ allowOrigins: 'https://a.example' })[0]!.message, /for one origin write \["https:\/\/a\.example"\]/);
  assert.match(issues({})[0]!.message, /allowOrigins must be "\*" or a list/);
});

test('bad methods, header names, max-age and unknown keys are rejected', () => {
  const got = issues({ allowOrigins: '*', allowMethods: ['GET', 'TRACE', 'BAD METHOD', '*'], allowHeaders: ['x y', '*'],
    maxAge: 100_000, allowOrigin: ['typo'] });
  const byPath = new Map(got.map((i) => [i.path, i.message]));
  assert.match(byPath.get('allowMethods.1')!, /never send TRACE/);
  assert.match(byPath.get('allowMethods.2')!, /invalid method/);
  assert.match(byPath.get('allowMethods.3')!, /"\*" is not supported/);
  assert.match(byPath.get('allowHeaders.0')!, /invalid header name/);
  assert.match(byPath.get('allowHeaders.1')!, /"\*" is not supported/);
  assert.match(byPath.get('maxAge')!, /at most 86400/);
  assert.ok(got.some((i) => i.message.includes('allowOrigin')), 'unknown key named');
  assert.match(issues({ allowOrigins: '*', maxAge: 1.5 })[0]!.message, /whole seconds/);
});
