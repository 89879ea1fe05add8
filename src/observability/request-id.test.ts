// Request ids and W3C Trace Context checks (https://www.w3.org/TR/trace-context/#traceparent-header).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequestIds, isSaneRequestId, isValidTraceparent, setTraceFields } from './request-id.js';

test('request ids: a per-process prefix and a counter, never repeated', () => {
  const a = createRequestIds();
  const b = createRequestIds();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) { seen.add(a()); seen.add(b()); }
  assert.equal(seen.size, 2000);
  assert.match(createRequestIds('abc')(), /^abc-1$/);
});

test('a peer\'s request id is kept only when it is one line of bounded visible ASCII', () => {
  assert.equal(isSaneRequestId('lb-1234_abc:9'), true);
  assert.equal(isSaneRequestId('x'.repeat(128)), true);
  for (const bad of ['', 'x'.repeat(129), 'has space', 'tab\there', 'ünï', 'nl\n', undefined]) assert.equal(isSaneRequestId(bad), false, String(bad));
  assert.equal(isSaneRequestId(['a', 'b']), false, 'two field lines');
});

test('traceparent: version 00 exactly, lowercase hex, no all-zero ids, no version ff; later versions may extend', () => {
  const ok = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  assert.equal(isValidTraceparent(ok), true);
  assert.equal(isValidTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'), true);
  for (const bad of [
    `${ok}-extra`, ok.toUpperCase(), '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', '', undefined,
  ]) assert.equal(isValidTraceparent(bad), false, String(bad));
  assert.equal(isValidTraceparent([ok, ok]), false, 'two field lines');
});

test('setTraceFields sets the id and keeps or drops traceparent with tracestate', () => {
  const ok = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const a: Record<string, string | string[]> = { traceparent: ok, tracestate: 'v=1', 'x-request-id': 'client' };
  setTraceFields(a, 'edge-1');
  assert.deepEqual(a, { traceparent: ok, tracestate: 'v=1', 'x-request-id': 'edge-1' });
  const b: Record<string, string | string[]> = { traceparent: 'junk', tracestate: 'v=1' };
  setTraceFields(b, 'edge-2');
  assert.deepEqual(b, { 'x-request-id': 'edge-2' });
  const c: Record<string, string | string[]> = { tracestate: 'v=1', 'x-request-id': 'client' };
  setTraceFields(c, undefined);
  assert.deepEqual(c, {}, 'no record: a client\'s id is not forwarded as ours; tracestate without traceparent goes');
});
