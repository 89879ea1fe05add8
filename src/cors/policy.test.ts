// Tests for the compiled edge CORS policy: origin matching, actual-response headers, preflight answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCors, isPreflight, ORIGIN_CORS_HEADER_PREFIX, type HeaderList } from './policy.js';
import { corsConfigSchema, CorsConfigError, type CorsConfigInput } from './schema.js';

const compile = (input: CorsConfigInput) => compileCors(corsConfigSchema.parse(input));
const asObject = (h: HeaderList): Record<string, string> => Object.fromEntries(h);
const hasAllowHeader = (h: HeaderList) => h.some(([n]) => n.startsWith('access-control-allow-'));

const listed = compile({
  allowOrigins: ['https://app.example.com', 'https://*.trusted.example', 'http://localhost:3000'],
  allowMethods: ['GET', 'HEAD', 'PUT'],
  allowHeaders: ['Content-Type', 'authorization'],
  exposeHeaders: ['ETag', 'content-length'],
  maxAge: 300,
});

test('wildcard origins match one or more whole labels, never the bare domain or look-alikes', () => {
  for (const ok of ['https://a.trusted.example', 'https://a.b.trusted.example', 'https://x-1.trusted.example', 'https://xn--bcher-kva.trusted.example']) {
    assert.equal(listed.isAllowedOrigin(ok), true, ok);
  }
  for (const bad of [
    'https://trusted.example', 'https://trusted.example.evil', 'https://eviltrusted.example', 'https://.trusted.example',
    'https://a..trusted.example', 'http://a.trusted.example', 'https://a.trusted.example:8443', 'https://a.trusted.example.',
    'https://evil.com/.trusted.example', 'https://evil.com#.trusted.example', 'https://A.trusted.example', 'https://a.trusted.example/',
    'wss://a.trusted.example',
  ]) {
    assert.equal(listed.isAllowedOrigin(bad), false, bad);
  }
});

test('exact origins: scheme and port must match; a configured default port equals none; "null" never matches a list', () => {
  assert.equal(listed.isAllowedOrigin('https://app.example.com'), true);
  assert.equal(listed.isAllowedOrigin('http://app.example.com'), false);
  assert.equal(listed.isAllowedOrigin('https://app.example.com:8443'), false);
  assert.equal(listed.isAllowedOrigin('http://localhost:3000'), true);
  assert.equal(listed.isAllowedOrigin('http://localhost'), false);
  assert.equal(listed.isAllowedOrigin('null'), false);
  const defaultPort = compile({ allowOrigins: ['https://cdn.example:443', 'https://*.w.example:443'] });
  assert.equal(defaultPort.isAllowedOrigin('https://cdn.example'), true);
  assert.equal(defaultPort.isAllowedOrigin('https://a.w.example'), true);
  const portWildcard = compile({ allowOrigins: ['https://*.w.example:8443'] });
  assert.equal(portWildcard.isAllowedOrigin('https://a.w.example:8443'), true);
  assert.equal(portWildcard.isAllowedOrigin('https://a.w.example'), false);
});

test('actual response, allowed origin: ACAO is the origin, ACEH listed, Vary: Origin required', () => {
  assert.equal(listed.varyOrigin, true);
  assert.deepEqual(asObject(listed.actualHeaders('https://app.example.com')), {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-expose-headers': 'etag, content-length',
  });
  assert.deepEqual(asObject(listed.actualHeaders('https://a.b.trusted.example')), {
    'access-control-allow-origin': 'https://a.b.trusted.example',
    'access-control-expose-headers': 'etag, content-length',
  });
});

test('actual response, disallowed or absent origin: no CORS headers at all', () => {
  assert.deepEqual(listed.actualHeaders('https://evil.example'), []);
  assert.deepEqual(listed.actualHeaders('https://trusted.example'), []);
  assert.deepEqual(listed.actualHeaders('null'), []);
  assert.deepEqual(listed.actualHeaders(undefined), []);
});

test('header lists are frozen and reused: per exact origin, per wildcard-matched origin, and for "*"', () => {
  const a = listed.actualHeaders('https://app.example.com');
  assert.equal(listed.actualHeaders('https://app.example.com'), a, 'same array for the same listed origin');
  assert.ok(Object.isFrozen(a) && a.every((p) => Object.isFrozen(p)));
  assert.throws(() => (a as [string, string][]).push(['x', 'y']), TypeError);
  const w = listed.actualHeaders('https://a.trusted.example');
  assert.equal(listed.actualHeaders('https://a.trusted.example'), w, 'wildcard-matched origins are memoised');

  const star = compile({ allowOrigins: '*', exposeHeaders: ['etag'] });
  const s = star.actualHeaders('https://one.example');
  assert.deepEqual(asObject(s), { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'etag' });
  assert.equal(star.actualHeaders('https://two.example'), s, 'ACAO * does not depend on Origin: one array');
  assert.equal(star.actualHeaders(undefined), s, 'also without an Origin header, so one cached copy serves everyone');
  assert.equal(star.actualHeaders('null'), s);
  assert.equal(star.varyOrigin, false);
  assert.ok(Object.isFrozen(s));
});

test('credentialed policy: ACAO is the origin (never *) and ACAC is exactly "true"', () => {
  const cred = compile({ allowOrigins: ['https://app.example.com', 'https://*.trusted.example'], allowCredentials: true });
  assert.deepEqual(asObject(cred.actualHeaders('https://x.trusted.example')), {
    'access-control-allow-origin': 'https://x.trusted.example',
    'access-control-allow-credentials': 'true',
  });
  assert.deepEqual(cred.actualHeaders('https://evil.example'), []);
  const pf = cred.preflight('https://app.example.com', 'GET', 'x-unknown');
  assert.equal(hasAllowHeader(pf.headers), false);
  const ok = cred.preflight('https://app.example.com', 'HEAD', undefined);
  assert.equal(asObject(ok.headers)['access-control-allow-credentials'], 'true');
  assert.equal(asObject(ok.headers)['access-control-allow-origin'], 'https://app.example.com');
});

test('compileCors refuses "*" with credentials and invalid origins even without the schema', () => {
  const base = { allowMethods: ['GET'], allowHeaders: [], exposeHeaders: [], maxAge: 5 };
  assert.throws(() => compileCors({ ...base, allowOrigins: '*', allowCredentials: true }),
    (e: unknown) => e instanceof CorsConfigError && e.code === 'CORS_CONFIG_INVALID' && /ACAO \*/.test(e.message));
  assert.throws(() => compileCors({ ...base, allowOrigins: ['https://a.example/'], allowCredentials: false }), CorsConfigError);
});

test('preflight, allowed origin + listed method + listed headers: 204 with the full answer', () => {
  const pf = listed.preflight('https://app.example.com', 'PUT', 'content-type,Authorization');
  assert.equal(pf.status, 204);
  assert.deepEqual(asObject(pf.headers), {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-methods': 'GET, HEAD, PUT',
    'access-control-allow-headers': 'content-type, authorization',
    'access-control-max-age': '300',
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  });
  assert.equal(listed.preflight('https://app.example.com', 'PUT', undefined), pf, 'prebuilt per origin');
  assert.equal(listed.preflight('https://app.example.com', 'GET', ' , content-type ,, '), pf, 'OWS and empty list items tolerated');
});

test('preflight: CORS-safelisted methods are always allowed; other methods compare byte-exact', () => {
  const pf = listed.preflight('https://app.example.com', 'POST', 'content-type');
  assert.equal(asObject(pf.headers)['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(hasAllowHeader(listed.preflight('https://app.example.com', 'DELETE', undefined).headers), false);
  assert.equal(hasAllowHeader(listed.preflight('https://app.example.com', 'put', undefined).headers), false);
  assert.equal(hasAllowHeader(listed.preflight('https://app.example.com', '', undefined).headers), false);
});

test('preflight refusals: 204, no Access-Control-Allow-* header, still Vary', () => {
  const cases: [string, string, string | undefined][] = [
    ['https://evil.example', 'GET', undefined], // origin
    ['null', 'GET', undefined],
    ['https://trusted.example', 'PUT', undefined],
    ['https://app.example.com', 'PATCH', undefined], // method
    ['https://app.example.com', 'PUT', 'content-type, x-secret'], // header
    ['https://a.trusted.example', 'GET', 'cookie'],
  ];
  for (const [origin, method, hdrs] of cases) {
    const pf = listed.preflight(origin, method, hdrs);
    assert.equal(pf.status, 204);
    assert.deepEqual(pf.headers, [['vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers']], `${origin} ${method} ${hdrs}`);
  }
});

test('preflight with allowOrigins "*": ACAO *, one static answer, Vary without Origin; Authorization needs listing', () => {
  const star = compile({ allowOrigins: '*', allowMethods: ['GET', 'DELETE'], allowHeaders: ['x-api-key'] });
  const a = star.preflight('https://one.example', 'DELETE', 'x-api-key');
  assert.deepEqual(asObject(a.headers), {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, DELETE',
    'access-control-allow-headers': 'x-api-key',
    'access-control-max-age': '600',
    vary: 'Access-Control-Request-Method, Access-Control-Request-Headers',
  });
  assert.equal(star.preflight('null', 'GET', undefined), a, 'opaque origins are allowed by "*" and get the same answer');
  assert.deepEqual(star.preflight('https://one.example', 'GET', 'authorization').headers,
    [['vary', 'Access-Control-Request-Method, Access-Control-Request-Headers']]);
});

test('preflight without allowHeaders: header requests are refused, plain ones allowed, ACAH omitted', () => {
  const plain = compile({ allowOrigins: ['https://app.example.com'] });
  const ok = asObject(plain.preflight('https://app.example.com', 'GET', undefined).headers);
  assert.equal(ok['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(ok['access-control-allow-headers'], undefined);
  assert.equal(ok['access-control-allow-methods'], 'GET, HEAD');
  assert.equal(hasAllowHeader(plain.preflight('https://app.example.com', 'GET', 'content-type').headers), false);
});

test('isPreflight: OPTIONS with Origin and Access-Control-Request-Method only', () => {
  assert.equal(isPreflight('OPTIONS', { origin: 'https://a.example', 'access-control-request-method': 'PUT' }), true);
  assert.equal(isPreflight('OPTIONS', { origin: 'null', 'access-control-request-method': 'GET' }), true);
  assert.equal(isPreflight('OPTIONS', { origin: 'https://a.example' }), false);
  assert.equal(isPreflight('OPTIONS', { 'access-control-request-method': 'PUT' }), false);
  assert.equal(isPreflight('OPTIONS', { origin: 'https://a.example', 'access-control-request-method': '' }), false);
  assert.equal(isPreflight('GET', { origin: 'https://a.example', 'access-control-request-method': 'PUT' }), false);
  assert.equal(ORIGIN_CORS_HEADER_PREFIX, 'access-control-');
});
