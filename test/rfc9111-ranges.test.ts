// End to end through the edge: Range requests answered from complete stored responses; origin 206 passed on
// (RFC 9111 §3.3, §3.4, §4; RFC 9110 §14).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startTestEdge, send } from './helpers/http.js';

const BODY = '0123456789abcdefghijklmnopqrstuvwxyz';
/** Long enough that two ranges far apart are not coalesced into one. */
const LONG = Array.from({ length: 400 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');

async function setup(t: TestContext) {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/partial') {
      // An origin that answers with a 206 on its own (the edge never forwards Range for cache fetches).
      res.writeHead(206, { 'content-range': `bytes 0-9/${BODY.length}`, 'content-type': 'text/plain', 'cache-control': 'max-age=600' });
      res.end(BODY.slice(0, 10));
      return;
    }
    res.writeHead(200, { 'cache-control': 'max-age=600', etag: '"r1"', 'content-type': 'text/plain' });
    res.end(req.url === '/long' ? LONG : BODY);
  });
  const edge = await startTestEdge(t, { origin: origin.url });
  return { origin, edge };
}

const range = (base: string, path: string, value: string, extra: Record<string, string> = {}) =>
  send(`${base}${path}`, { headers: { range: value, ...extra } });

test('a single range is served from a stored 200 as a 206 (RFC 9110 §14.2, §15.3.7; RFC 9111 §4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-14.2 and #section-15.3.7.1
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/r`);
  const cases: [string, string, string][] = [
    ['bytes=0-3', '0123', `bytes 0-3/${BODY.length}`],
    ['bytes=10-', BODY.slice(10), `bytes 10-${BODY.length - 1}/${BODY.length}`],
    ['bytes=-4', BODY.slice(-4), `bytes ${BODY.length - 4}-${BODY.length - 1}/${BODY.length}`],
    ['bytes=30-999', BODY.slice(30), `bytes 30-${BODY.length - 1}/${BODY.length}`],
  ];
  for (const [spec, body, contentRange] of cases) {
    const r = await range(edge.base, '/r', spec);
    assert.equal(r.status, 206, spec);
    assert.equal(r.body, body, spec);
    assert.equal(r.headers['content-range'], contentRange);
    assert.equal(r.headers['content-length'], String(body.length));
    assert.equal(r.headers['cf-cache-status'], 'HIT');
    assert.equal(r.headers.etag, '"r1"');
  }
  assert.equal(origin.count('/r'), 1);
});

test('several ranges give a multipart/byteranges 206 (RFC 9110 §14.6, §15.3.7.2)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2 and #section-14.6
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/long`);
  const r = await range(edge.base, '/long', 'bytes=0-1, 200-202');
  assert.equal(r.status, 206);
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/.exec(String(r.headers['content-type']));
  assert.ok(m, `content-type ${r.headers['content-type']}`);
  assert.equal(r.headers['content-range'], undefined, 'no Content-Range on a multipart response');
  const boundary = m[2]!;
  const parts = r.body.split(`--${boundary}`).slice(1, -1);
  assert.equal(parts.length, 2);
  assert.match(parts[0]!, new RegExp(`content-range: bytes 0-1/${LONG.length}`, 'i'));
  assert.match(parts[0]!, /content-type: text\/plain/i);
  assert.ok(parts[0]!.endsWith(`\r\n\r\n${LONG.slice(0, 2)}\r\n`));
  assert.match(parts[1]!, new RegExp(`content-range: bytes 200-202/${LONG.length}`, 'i'));
  assert.ok(parts[1]!.endsWith(`\r\n\r\n${LONG.slice(200, 203)}\r\n`));
  assert.ok(r.body.trimEnd().endsWith(`--${boundary}--`));
  assert.equal(r.headers['content-length'], String(r.raw.length));
  // Close ranges may be coalesced into one part (RFC 9110 §15.3.7.2 "MAY coalesce"); bytes are never repeated.
  const close = await range(edge.base, '/long', 'bytes=0-1, 3-4');
  assert.equal(close.status, 206);
  assert.equal(close.headers['content-range'], `bytes 0-4/${LONG.length}`);
  assert.equal(close.body, LONG.slice(0, 5));
  assert.equal(origin.count('/long'), 1);
});

test('an unsatisfiable range gives 416 with Content-Range: bytes */length (RFC 9110 §15.5.17)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
  const { origin, edge } = await setup(t);
  await send(`${edge.base}/u`);
  const r = await range(edge.base, '/u', 'bytes=100-200');
  assert.equal(r.status, 416);
  assert.equal(r.headers['content-range'], `bytes */${BODY.length}`);
  assert.equal(origin.count('/u'), 1);
  // An invalid Range (other unit, bad syntax) is ignored: the full 200 (RFC 9110 §14.2 "MAY ignore").
  for (const bad of ['items=0-1', 'bytes=5-2', 'bytes=a-b']) {
    const full = await range(edge.base, '/u', bad);
    assert.equal(full.status, 200, bad);
    assert.equal(full.body, BODY);
  }
});

test('a Range from byte 0 on a miss: the edge fetches the whole response, stores it and answers the range (RFC 9111 §3.4)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.4 and #section-4 (a complete stored response can satisfy a range)
  const { origin, edge } = await setup(t);
  const r = await range(edge.base, '/fresh', 'bytes=0-4');
  assert.equal(r.status, 206);
  assert.equal(r.body, '01234');
  assert.equal(origin.requests[0]!.headers.range, undefined, 'Range is not forwarded for a cache fetch');
  const full = await send(`${edge.base}/fresh`);
  assert.equal(full.headers['cf-cache-status'], 'HIT');
  assert.equal(full.body, BODY);
  assert.equal(origin.count('/fresh'), 1);
});

test('If-Range: the range when the validator matches, else the full response (RFC 9110 §13.1.5)', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
  const { edge } = await setup(t);
  await send(`${edge.base}/ir`);
  const same = await range(edge.base, '/ir', 'bytes=0-0', { 'if-range': '"r1"' });
  assert.equal(same.status, 206);
  assert.equal(same.body, '0');
  const changed = await range(edge.base, '/ir', 'bytes=0-0', { 'if-range': '"old"' });
  assert.equal(changed.status, 200);
  assert.equal(changed.body, BODY);
});

test('a 206 the client did not ask for (no Range) is passed through and not stored (RFC 9111 §3.3); asked-for pieces: range-miss.test.ts', async (t) => {
  // https://www.rfc-editor.org/rfc/rfc9111#section-3.3 (a cache MAY store incomplete responses only if it can combine them)
  const { origin, edge } = await setup(t);
  const r = await send(`${edge.base}/partial`);
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 0-9/${BODY.length}`);
  assert.equal(r.body, BODY.slice(0, 10));
  const again = await send(`${edge.base}/partial`);
  assert.equal(again.status, 206);
  assert.notEqual(again.headers['cf-cache-status'], 'HIT');
  assert.equal(origin.count('/partial'), 2);
});
