// End to end through the edge: clients' conditional requests answered from the cache (RFC 9111 §4.3.2, RFC 9110 §13).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

const LM_MS = Math.floor((Date.now() - 86_400_000) / 1000) * 1000;
const LAST_MODIFIED = new Date(LM_MS).toUTCString();
const BODY = 'the stored representation';

async function setup(t: TestContext) {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=600', etag: '"abc"', 'last-modified': LAST_MODIFIED, 'content-type': 'text/plain',
    });
    res.end(BODY);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

test('If-None-Match matching a fresh stored response: 304 from the edge, origin not asked (RFC 9111 §4.3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/inm`);
  for (const inm of ['"abc"', 'W/"abc"', '"x", "abc"', '*']) {
    const r = await send(`${edge.base}/inm`, { headers: { 'if-none-match': inm } });
    assert.equal(r.status, 304, `If-None-Match: ${inm}`);
    assert.equal(r.body, '');
    assert.equal(r.headers.etag, '"abc"', 'a 304 carries the ETag (RFC 9110 §15.4.5)');
    assert.equal(r.headers['cache-control'], 'max-age=600');
    assert.equal(r.headers['cf-cache-status'], 'HIT');
  }
  const other = await send(`${edge.base}/inm`, { headers: { 'if-none-match': '"nope"' } });
  assert.equal(other.status, 200);
  assert.equal(other.body, BODY);
  assert.equal(origin.count('/inm'), 1, 'every answer came from the cache');
});

test('If-Modified-Since against a fresh stored response: 304 when not modified since (RFC 9111 §4.3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/ims`);
  const same = await send(`${edge.base}/ims`, { headers: { 'if-modified-since': LAST_MODIFIED } });
  assert.equal(same.status, 304);
  const later = await send(`${edge.base}/ims`, { headers: { 'if-modified-since': new Date(LM_MS + 3_600_000).toUTCString() } });
  assert.equal(later.status, 304);
  const earlier = await send(`${edge.base}/ims`, { headers: { 'if-modified-since': new Date(LM_MS - 3_600_000).toUTCString() } });
  assert.equal(earlier.status, 200);
  assert.equal(earlier.body, BODY);
  const invalid = await send(`${edge.base}/ims`, { headers: { 'if-modified-since': 'yesterday' } });
  assert.equal(invalid.status, 200, 'an invalid date is ignored');
  assert.equal(origin.count('/ims'), 1);
});

test('If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2 and #section-13.1.3 ("MUST ignore If-Modified-Since if ... If-None-Match")
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/both`);
  const r = await send(`${edge.base}/both`, { headers: { 'if-none-match': '"other"', 'if-modified-since': LAST_MODIFIED } });
  assert.equal(r.status, 200);
  assert.equal(r.body, BODY);
  assert.equal(origin.count('/both'), 1);
});

test('a HEAD with a matching validator is answered 304 as well (RFC 9110 §13.1.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2 ("GET or HEAD ... 304")
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/head`);
  const r = await send(`${edge.base}/head`, { method: 'HEAD', headers: { 'if-none-match': '"abc"' } });
  assert.equal(r.status, 304);
  assert.equal(origin.count('/head'), 1);
});

test('on a miss the edge fetches unconditionally, stores, and answers the client\'s conditional itself (RFC 9111 §4.3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2 ("the cache ... MAY send its own validators" rather than the client's)
  const { origin, edge } = await setup(t);
  const r = await send(`${edge.base}/miss`, { headers: { 'if-none-match': '"abc"' } });
  assert.equal(r.status, 304);
  assert.equal(origin.requests[0]!.headers['if-none-match'], undefined, 'the client validator is not forwarded');
  const full = await send(`${edge.base}/miss`);
  assert.equal(full.status, 200);
  assert.equal(full.headers['cf-cache-status'], 'HIT');
  assert.equal(full.body, BODY, 'the full response was stored');
  assert.equal(origin.count('/miss'), 1);
});

test('If-Match / If-Unmodified-Since that fail against the stored response: 412 (RFC 9110 §13.1.1, §13.1.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1 and #section-13.1.4
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/pre`);
  const im = await send(`${edge.base}/pre`, { headers: { 'if-match': '"other"' } });
  assert.equal(im.status, 412);
  const ok = await send(`${edge.base}/pre`, { headers: { 'if-match': '"abc"' } });
  assert.equal(ok.status, 200);
  const ius = await send(`${edge.base}/pre`, { headers: { 'if-unmodified-since': new Date(LM_MS - 3_600_000).toUTCString() } });
  assert.equal(ius.status, 412);
  assert.equal(origin.count('/pre'), 1);
});

test('a conditional request on a stale stored response: the edge revalidates with its own validators, then answers 304 (RFC 9111 §4.3.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-4.3.2 ("a cache ... MAY ... send its own validators") and #section-4.3.3
  const origin = await startOrigin(t, (req, res) => {
    if (req.headers['if-none-match'] === '"abc"') {
      res.writeHead(304, { etag: '"abc"', 'cache-control': 'max-age=0' });
      res.end();
      return;
    }
    res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"abc"', 'content-type': 'text/plain' });
    res.end(BODY);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  await send(`${edge.base}/stale`);
  const r = await send(`${edge.base}/stale`, { headers: { 'if-none-match': 'W/"abc", "zzz"' } });
  assert.equal(r.status, 304);
  assert.equal(origin.count('/stale'), 2);
  assert.equal(origin.requests[1]!.headers['if-none-match'], '"abc"', 'the stored validator, not the client\'s list');
  const miss = await send(`${edge.base}/stale`, { headers: { 'if-none-match': '"zzz"' } });
  assert.equal(miss.status, 200);
  assert.equal(miss.body, BODY);
});
