import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OriginError } from './client.js';
import { isRetryable } from './director.js';
import { HealthCheck } from './health.js';

const failed = (causeCode: string, code: 'ORIGIN_UNREACHABLE' | 'ORIGIN_TIMEOUT' | 'ORIGIN_BAD_RESPONSE' = 'ORIGIN_UNREACHABLE'): OriginError =>
  new OriginError(code, 'x', Object.assign(new Error('x'), { code: causeCode }));

test('isRetryable: connection failures of idempotent requests without a body, nothing else', () => {
  const get = { method: 'GET', path: '/', headers: {} };
  for (const c of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EHOSTUNREACH']) assert.equal(isRetryable(get, failed(c)), true, c);
  assert.equal(isRetryable(get, failed('UND_ERR_CONNECT_TIMEOUT', 'ORIGIN_TIMEOUT')), true);
  assert.equal(isRetryable(get, failed('UND_ERR_HEADERS_TIMEOUT', 'ORIGIN_TIMEOUT')), false, 'the origin may be working on it');
  assert.equal(isRetryable(get, failed('ERR_TLS_CERT_ALTNAME_INVALID')), false);
  assert.equal(isRetryable(get, failed('HPE_INVALID_CONSTANT', 'ORIGIN_BAD_RESPONSE')), false);
  assert.equal(isRetryable({ ...get, method: 'POST' }, failed('ECONNREFUSED')), false);
  assert.equal(isRetryable({ ...get, method: 'PUT', body: Buffer.from('x') }, failed('ECONNREFUSED')), false);
  const aborted = new AbortController();
  aborted.abort();
  assert.equal(isRetryable({ ...get, signal: aborted.signal }, failed('ECONNRESET')), false);
});

test('HealthCheck: down after unhealthyAfter failures in a row, up after healthyAfter passes in a row', () => {
  const changes: boolean[] = [];
  // A probe that never settles: record() is driven by hand.
  const hc = new HealthCheck({ path: '/', intervalMs: 1000, timeoutMs: 100, unhealthyAfter: 3, healthyAfter: 2 }, () => new Promise(() => {}), (up) => changes.push(up));
  try {
    for (const ok of [false, false, true, false, false]) hc.record(ok);
    assert.equal(hc.up, true, 'never 3 failures in a row');
    hc.record(false);
    assert.equal(hc.up, false);
    hc.record(true);
    hc.record(false);
    hc.record(true);
    assert.equal(hc.up, false, 'never 2 passes in a row');
    hc.record(true);
    assert.equal(hc.up, true);
    assert.deepEqual(changes, [false, true]);
  } finally {
    hc.close();
  }
});
