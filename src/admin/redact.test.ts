// Tests for inspect's redaction: values of headers off the safe list become a keyed hash, equal within one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashValue, isShownRaw, redactSelector } from './redact.js';

test('values are hashed unless the header only says what the client accepts', () => {
  const raw = { origin: 'https://a.example', 'accept-encoding': 'gzip', 'user-agent': 'curl/8', 'sec-ch-ua-mobile': '?0' };
  const secret = { cookie: 'session=s3cr3t-cookie', authorization: 'Bearer abc-credential', 'x-api-key': 'key-0123456789', 'x-tenant': 'acme-tenant-7', 'proxy-authorization': 'Basic cHJveHk6cHc=' };
  const out = redactSelector({ ...raw, ...secret, 'x-absent': null });
  for (const [k, v] of Object.entries(raw)) assert.equal(out[k], v, k);
  for (const [k, v] of Object.entries(secret)) {
    assert.match(out[k] ?? '', /^hmac:[0-9a-f]{12}$/, k);
    assert.ok(!JSON.stringify(out).includes(v), `${k}'s value is not in the answer`);
  }
  assert.equal(out['x-absent'], null, 'absent stays absent');
  assert.equal(isShownRaw('Cookie'), false);
  assert.equal(isShownRaw('Accept-Language'), true);
});

test('within one process equal values give equal hashes, different values different ones', () => {
  assert.equal(hashValue('session=1'), hashValue('session=1'));
  assert.notEqual(hashValue('session=1'), hashValue('session=2'));
  assert.equal(redactSelector({ cookie: 'a=1' })['cookie'], redactSelector({ 'x-other': 'a=1' })['x-other'], 'the hash is of the value');
});
