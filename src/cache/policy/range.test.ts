// Tests for range.ts: byte Range / If-Range answered from a stored complete 200 (RFC 9110 §14, §13.1.5, §15.3.7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { request } from 'undici';
import { answerRange, type RangeAnswer } from './range.js';
import type { Headers } from './types.js';

const TEXT = '01234567890'; // 11 bytes, as in cache-tests partial.mjs
const LM = 'Sun, 06 Nov 1994 08:49:37 GMT';
const DATE_LATER = 'Sun, 06 Nov 1994 08:49:38 GMT';

function stored(body: string | Buffer = TEXT, headers: Headers = {}, status = 200) {
  return { status, headers: { 'content-type': 'text/plain', ...headers }, body: Buffer.isBuffer(body) ? body : Buffer.from(body) };
}

function header(a: RangeAnswer, name: string): string | undefined {
  return a.kind === 'full' ? undefined : a.headers.find(([n]) => n === name)?.[1];
}

function partial(a: RangeAnswer) {
  assert.equal(a.kind, 'partial');
  if (a.kind !== 'partial' || a.body === undefined) throw new Error('unreachable');
  return a as typeof a & { body: Buffer };
}

interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** A strict multipart/byteranges reader (RFC 9110 §14.6, RFC 2046 §5.1.1) for checking our output. */
function parseMultipart(a: RangeAnswer): Part[] {
  const p = partial(a);
  const ct = header(a, 'content-type')!;
  const m = /^multipart\/byteranges; boundary=([0-9a-f]+)$/.exec(ct);
  assert.ok(m, ct);
  assert.equal(header(a, 'content-range'), undefined, 'no Content-Range in the header section of a multipart 206');
  assert.equal(header(a, 'content-length'), String(p.body.length));
  const delim = Buffer.from(`--${m[1]}`);
  const body = p.body;
  assert.ok(body.subarray(0, delim.length).equals(delim), 'starts with the first boundary');
  const close = Buffer.from(`\r\n--${m[1]}--\r\n`);
  assert.ok(body.subarray(body.length - close.length).equals(close), 'ends with the close delimiter');
  const parts: Part[] = [];
  let pos = delim.length;
  const inner = body.length - close.length;
  while (pos < inner) {
    assert.equal(body.toString('latin1', pos, pos + 2), '\r\n');
    const headEnd = body.indexOf('\r\n\r\n', pos);
    const headers: Record<string, string> = {};
    for (const line of body.toString('latin1', pos + 2, headEnd).split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    assert.ok(cr, `part Content-Range: ${headers['content-range']}`);
    const len = Number(cr[2]) - Number(cr[1]) + 1;
    const start = headEnd + 4;
    parts.push({ headers, body: body.subarray(start, start + len) });
    pos = start + len;
    if (pos < inner) {
      assert.ok(body.subarray(pos, pos + 2 + delim.length).equals(Buffer.concat([Buffer.from('\r\n'), delim])));
      pos += 2 + delim.length;
    }
  }
  assert.equal(pos, inner, 'parts fill the body exactly');
  return parts;
}

// ---------------------------------------------------------------- when Range applies, RFC 9110 §14.2

test('RFC 9110 §14.2: no Range, a method other than GET (HEAD included), or two Range field lines → full', () => {
  assert.deepEqual(answerRange('GET', {}, stored()), { kind: 'full' });
  assert.deepEqual(answerRange('HEAD', { range: 'bytes=0-1' }, stored()), { kind: 'full' });
  assert.deepEqual(answerRange('POST', { range: 'bytes=0-1' }, stored()), { kind: 'full' });
  assert.deepEqual(answerRange('get', { range: 'bytes=0-1' }, stored()), { kind: 'full' }); // methods are case-sensitive
  assert.deepEqual(answerRange('GET', { range: ['bytes=0-1', 'bytes=2-3'] }, stored()), { kind: 'full' });
});

test('only a stored complete 200 is sliced (not a 206, not a body shorter than its Content-Length)', () => {
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1' }, stored(TEXT, {}, 203)), { kind: 'full' });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1' }, stored(TEXT, { 'content-range': 'bytes 0-10/20' }, 206)), {
    kind: 'full',
  });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1' }, stored(TEXT, { 'content-length': '20' })), { kind: 'full' });
  partial(answerRange('GET', { range: 'bytes=0-1' }, stored(TEXT, { 'content-length': '11' })));
});

// ---------------------------------------------------------------- single ranges, RFC 9110 §14.1.2, §15.3.7.1

test('RFC 9110 §14.1.2: single int-range (cache-tests partial-store-complete-reuse-partial) — a subarray, not a copy', () => {
  const s = stored();
  const a = partial(answerRange('GET', { range: 'bytes=0-1' }, s));
  assert.equal(a.status, 206);
  assert.equal(a.body.toString(), '01');
  assert.deepEqual(a.headers, [
    ['content-range', 'bytes 0-1/11'],
    ['content-length', '2'],
  ]);
  assert.equal(a.body.buffer, s.body.buffer);
  assert.equal(a.body.byteOffset, s.body.byteOffset);
});

test('RFC 9110 §14.1.2: open-ended int-range bytes=1- (cache-tests partial-store-complete-reuse-partial-no-last)', () => {
  const a = partial(answerRange('GET', { range: 'bytes=1-' }, stored()));
  assert.equal(a.body.toString(), '1234567890');
  assert.equal(header(a, 'content-range'), 'bytes 1-10/11');
});

test('RFC 9110 §14.1.2: suffix-range bytes=-1, and a suffix longer than the body means all of it', () => {
  const a = partial(answerRange('GET', { range: 'bytes=-1' }, stored('0123456789A')));
  assert.equal(a.body.toString(), 'A');
  assert.equal(header(a, 'content-range'), 'bytes 10-10/11');
  const b = partial(answerRange('GET', { range: 'bytes=-500' }, stored()));
  assert.equal(b.body.toString(), TEXT);
  assert.equal(header(b, 'content-range'), 'bytes 0-10/11');
});

test('RFC 9110 §14.1.2: last-pos at or beyond the length is clamped to the last byte, even for huge numerals', () => {
  assert.equal(header(answerRange('GET', { range: 'bytes=5-11' }, stored()), 'content-range'), 'bytes 5-10/11');
  const a = partial(answerRange('GET', { range: 'bytes=5-99999999999999999999999999999' }, stored()));
  assert.equal(a.body.toString(), '567890');
  assert.equal(header(a, 'content-length'), '6');
});

test('RFC 9110 §14.1.1: range unit is case-insensitive; OWS around list commas and empty elements are accepted', () => {
  assert.equal(partial(answerRange('GET', { range: 'Bytes=0-1' }, stored())).body.toString(), '01');
  assert.equal(partial(answerRange('GET', { range: 'bytes=, 0-1 ,' }, stored())).body.toString(), '01');
});

// ---------------------------------------------------------------- invalid / unsupported, RFC 9110 §14.1.1, §14.2

test('RFC 9110 §14.1.1/§14.2: invalid ranges-specifiers and non-bytes units are ignored (full 200)', () => {
  for (const range of [
    'bytes=5-2', // last-pos < first-pos
    'bytes=0-1,5-2', // one invalid spec invalidates the set
    'bytes=abc',
    'bytes=1-2-3',
    'bytes=--1',
    'bytes=',
    'bytes=,',
    'bytes 0-1',
    '=0-1',
    'bytes=0x1-2',
    'bytes=+1-2',
    'items=0-1',
    'none=0-1',
    'bytes=99999999999999999999999999998-9',
  ]) {
    assert.deepEqual(answerRange('GET', { range }, stored()), { kind: 'full' }, range);
  }
});

// ---------------------------------------------------------------- unsatisfiable, RFC 9110 §14.1.2, §15.5.17

test('RFC 9110 §15.5.17: no satisfiable range → 416 with Content-Range: bytes */LEN', () => {
  for (const range of ['bytes=11-', 'bytes=20-30', 'bytes=-0', 'bytes=11-12,-0', 'bytes=99999999999999999999999-']) {
    const a = answerRange('GET', { range }, stored());
    assert.equal(a.kind, 'unsatisfiable', range);
    if (a.kind !== 'unsatisfiable') continue;
    assert.equal(a.status, 416);
    assert.deepEqual(a.headers, [
      ['content-range', 'bytes */11'],
      ['content-length', '0'],
    ]);
  }
});

test('RFC 9110 §14.1.1: unsatisfiable specs beside a satisfiable one are dropped', () => {
  const a = partial(answerRange('GET', { range: 'bytes=50-60,2-3,-0' }, stored()));
  assert.equal(a.body.toString(), '23');
  assert.equal(header(a, 'content-range'), 'bytes 2-3/11');
});

test('RFC 9110 §14.2: an empty representation ignores Range (full)', () => {
  for (const range of ['bytes=0-', 'bytes=-5', 'bytes=0-0', 'bytes=5-']) {
    assert.deepEqual(answerRange('GET', { range }, stored('')), { kind: 'full' }, range);
  }
});

// ---------------------------------------------------------------- multiple ranges, RFC 9110 §14.6, §15.3.7.2

const BIG = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));

test('RFC 9110 §15.3.7.2: multiple ranges → multipart/byteranges with Content-Type and Content-Range per part', () => {
  const a = answerRange('GET', { range: 'bytes=0-9,500-509,-5' }, stored(BIG, { 'content-type': 'text/x-abc' }));
  const parts = parseMultipart(a);
  assert.deepEqual(
    parts.map((p) => p.headers),
    [
      { 'content-type': 'text/x-abc', 'content-range': 'bytes 0-9/1000' },
      { 'content-type': 'text/x-abc', 'content-range': 'bytes 500-509/1000' },
      { 'content-type': 'text/x-abc', 'content-range': 'bytes 995-999/1000' },
    ],
  );
  assert.deepEqual(
    parts.map((p) => p.body.toString()),
    [BIG.subarray(0, 10).toString(), BIG.subarray(500, 510).toString(), BIG.subarray(995).toString()],
  );
});

test('RFC 9110 §15.3.7.2: parts keep the requested order; each multipart response has a fresh boundary', () => {
  const s = stored(BIG);
  const a = answerRange('GET', { range: 'bytes=900-909,0-9' }, s);
  assert.deepEqual(
    parseMultipart(a).map((p) => p.headers['content-range']),
    ['bytes 900-909/1000', 'bytes 0-9/1000'],
  );
  const b = answerRange('GET', { range: 'bytes=900-909,0-9' }, s);
  assert.notEqual(header(a, 'content-type'), header(b, 'content-type'));
});

test('RFC 9110 §14.6: without a stored Content-Type, parts carry only Content-Range', () => {
  const s = { status: 200, headers: {}, body: BIG };
  const parts = parseMultipart(answerRange('GET', { range: 'bytes=0-0,999-999' }, s));
  assert.deepEqual(parts.map((p) => p.headers), [{ 'content-range': 'bytes 0-0/1000' }, { 'content-range': 'bytes 999-999/1000' }]);
});

test('RFC 9110 §15.3.7.2: overlapping or nearly adjacent ranges are coalesced; one remaining part is sent single-part', () => {
  const a = partial(answerRange('GET', { range: 'bytes=0-99,50-149' }, stored(BIG)));
  assert.equal(header(a, 'content-range'), 'bytes 0-149/1000');
  assert.ok(a.body.equals(BIG.subarray(0, 150)));
  // bytes=0-0,-1 of an 11-byte body: a 9-byte gap is cheaper sent than a second part.
  const b = partial(answerRange('GET', { range: 'bytes=0-0,-1' }, stored()));
  assert.equal(header(b, 'content-range'), 'bytes 0-10/11');
  // Coalesced part takes the place of its first-requested member.
  const parts = parseMultipart(answerRange('GET', { range: 'bytes=600-609,0-9,5-20' }, stored(BIG)));
  assert.deepEqual(parts.map((p) => p.headers['content-range']), ['bytes 600-609/1000', 'bytes 0-20/1000']);
});

test('RFC 9110 §14.2 (DoS): many overlapping ranges cannot amplify the response; more than maxRanges → full', () => {
  const hundred = Array.from({ length: 100 }, () => '0-999').join(',');
  const a = partial(answerRange('GET', { range: `bytes=${hundred}` }, stored(BIG)));
  assert.equal(a.body.length, 1000);
  assert.equal(header(a, 'content-range'), 'bytes 0-999/1000');

  const tooMany = Array.from({ length: 101 }, (_, i) => `${i * 5}-${i * 5}`).join(',');
  assert.deepEqual(answerRange('GET', { range: `bytes=${tooMany}` }, stored(BIG)), { kind: 'full' });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-0,100-100,200-200' }, stored(BIG), { maxRanges: 2 }), { kind: 'full' });
  assert.equal(parseMultipart(answerRange('GET', { range: 'bytes=0-0,200-200' }, stored(BIG), { maxRanges: 2 })).length, 2);
});

// ---------------------------------------------------------------- If-Range, RFC 9110 §13.1.5

test('RFC 9110 §13.1.5: If-Range with a strong ETag that matches → 206; different → full', () => {
  const s = stored(TEXT, { etag: '"v1"' });
  partial(answerRange('GET', { range: 'bytes=0-1', 'if-range': '"v1"' }, s));
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': '"v2"' }, s), { kind: 'full' });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': '"v1"' }, stored()), { kind: 'full' });
  // A mismatched If-Range also bypasses a 416.
  assert.deepEqual(answerRange('GET', { range: 'bytes=50-', 'if-range': '"v2"' }, s), { kind: 'full' });
});

test('RFC 9110 §13.1.5: a weak entity-tag in If-Range (or a weak stored ETag) never matches', () => {
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': 'W/"v1"' }, stored(TEXT, { etag: 'W/"v1"' })), {
    kind: 'full',
  });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': '"v1"' }, stored(TEXT, { etag: 'W/"v1"' })), {
    kind: 'full',
  });
});

test('RFC 9110 §13.1.5/§8.8.2.2: If-Range HTTP-date must equal a strong Last-Modified (Date ≥ Last-Modified + 1s)', () => {
  const strong = stored(TEXT, { 'last-modified': LM, date: DATE_LATER });
  partial(answerRange('GET', { range: 'bytes=0-1', 'if-range': LM }, strong));
  partial(answerRange('GET', { range: 'bytes=0-1', 'if-range': 'Sunday, 06-Nov-94 08:49:37 GMT' }, strong));
  // Not equal (later is not enough: exact match, unlike If-Unmodified-Since).
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': DATE_LATER }, strong), { kind: 'full' });
  // Weak Last-Modified: same second as Date, or no Date.
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': LM }, stored(TEXT, { 'last-modified': LM, date: LM })), {
    kind: 'full',
  });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': LM }, stored(TEXT, { 'last-modified': LM })), {
    kind: 'full',
  });
  // Invalid If-Range value.
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': 'yesterday' }, strong), { kind: 'full' });
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': [LM, LM] }, strong), { kind: 'full' });
  // The client's date needs the exact case (RFC 9110 §5.6.7); the stored one is read in any case (RFC 9111 §4.2).
  assert.deepEqual(answerRange('GET', { range: 'bytes=0-1', 'if-range': LM.toUpperCase() }, strong), { kind: 'full' });
  partial(answerRange('GET', { range: 'bytes=0-1', 'if-range': LM }, stored(TEXT, { 'last-modified': LM.toLowerCase(), date: DATE_LATER })));
});

test('RFC 9110 §13.1.5: If-Range without Range changes nothing', () => {
  assert.deepEqual(answerRange('GET', { 'if-range': '"v1"' }, stored(TEXT, { etag: '"v1"' })), { kind: 'full' });
});

// ---------------------------------------------------------------- properties

test('property: every 206 holds exactly the requested satisfiable bytes, each at most once, with correct framing', () => {
  const spec = fc.oneof(
    fc.tuple(fc.nat(320), fc.option(fc.nat(320), { nil: undefined })).map(([a, b]) => (b === undefined ? `${a}-` : `${a}-${a + b}`)),
    fc.nat(320).map((n) => `-${n}`),
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.array(spec, { minLength: 1, maxLength: 12 }), (bytes, specs) => {
      const body = Buffer.from(bytes);
      const len = body.length;
      const a = answerRange('GET', { range: `bytes=${specs.join(',')}` }, { status: 200, headers: {}, body });
      // Which bytes were requested (satisfiable specs only).
      const wanted = new Set<number>();
      for (const s of specs) {
        const [f, l] = s.split('-');
        const [start, end] = f === '' ? [Math.max(0, len - Number(l)), Number(l) === 0 ? -1 : len - 1] : [Number(f), l === '' ? len - 1 : Math.min(Number(l), len - 1)];
        for (let i = start; i <= end && i < len; i++) wanted.add(i);
      }
      if (wanted.size === 0) return a.kind === 'unsatisfiable';
      const p = partial(a);
      const ct = header(a, 'content-type');
      const pieces = ct?.startsWith('multipart/')
        ? parseMultipart(a).map((part) => ({ cr: part.headers['content-range']!, body: part.body }))
        : [{ cr: header(a, 'content-range')!, body: p.body }];
      assert.equal(header(a, 'content-length'), String(p.body.length));
      const seen = new Set<number>();
      for (const piece of pieces) {
        const [, s, e, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(piece.cr)!.map(Number);
        assert.equal(total, len);
        assert.ok(piece.body.equals(body.subarray(s, e! + 1)));
        for (let i = s!; i <= e!; i++) {
          assert.ok(!seen.has(i), 'a byte is sent twice');
          seen.add(i);
        }
      }
      // Everything requested is sent; anything extra lies in a gap smaller than the coalescing threshold.
      for (const i of wanted) assert.ok(seen.has(i), `byte ${i} missing`);
      const sortedWanted = [...wanted].sort((x, y) => x - y);
      for (const i of seen) {
        if (wanted.has(i)) continue;
        const below = sortedWanted.filter((w) => w < i).pop();
        const above = sortedWanted.find((w) => w > i);
        assert.ok(below !== undefined && above !== undefined && above - below - 1 < 80, `byte ${i} sent but not requested`);
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------- on the wire

test('on a real socket: a multipart 206 and a 416 are framed correctly by Content-Length', async (t) => {
  const s = stored(BIG, { 'content-type': 'text/plain', etag: '"v1"' });
  const server = http.createServer((req, res) => {
    const a = answerRange(req.method ?? 'GET', req.headers, s);
    if (a.kind === 'full') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(s.body.length) });
      res.end(req.method === 'HEAD' ? undefined : s.body);
      return;
    }
    res.writeHead(a.status, Object.fromEntries(a.headers));
    res.end(a.kind === 'partial' ? a.body : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/`;

  // Two requests on one keep-alive connection: if Content-Length were wrong the second would be corrupted.
  const r1 = await request(url, { headers: { range: 'bytes=0-9,500-509' } });
  const b1 = Buffer.from(await r1.body.arrayBuffer());
  assert.equal(r1.statusCode, 206);
  const parts = parseMultipart({ kind: 'partial', status: 206, headers: [
    ['content-type', String(r1.headers['content-type'])],
    ['content-length', String(r1.headers['content-length'])],
  ], body: b1, pieces: [b1] });
  assert.deepEqual(parts.map((p) => p.body.toString()), [BIG.subarray(0, 10).toString(), BIG.subarray(500, 510).toString()]);

  const r2 = await request(url, { headers: { range: 'bytes=5000-' } });
  assert.equal(r2.statusCode, 416);
  assert.equal(r2.headers['content-range'], 'bytes */1000');
  assert.equal((await r2.body.arrayBuffer()).byteLength, 0);

  const r3 = await request(url, { headers: { range: 'bytes=-3', 'if-range': '"v1"' } });
  assert.equal(r3.statusCode, 206);
  assert.equal(await r3.body.text(), BIG.subarray(997).toString());
});
