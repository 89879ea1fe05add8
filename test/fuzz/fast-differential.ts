// The fast path's proof: for generated request heads (valid, near-valid, smuggling shapes, odd whitespace, bare LF,
// obs-fold, repeated fields, NUL, long lines), the fast parser either declines, or its parse (method, target, version,
// every field, keep-alive, where the head ends) equals what a real node:http server, configured as the edge's
// listener, hands its handler for the same bytes. Shared by test/fast-path-differential.test.ts and `npm run fuzz`.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { parseFastHead } from '../../src/edge/fast-parse.js';
import { dropConnectionListed } from '../../src/http/headers.js';
import { params, type RunOptions } from './properties.js';

const MAX_HEAD = 2048;
/** A request pipelined behind every generated head: node:http must find it where the fast parser says the head ends. */
const SENTINEL = 'GET /__sentinel HTTP/1.1\r\nHost: sentinel.example\r\n\r\n';

interface NodeParse { method: string; url: string; httpVersion: string; rawHeaders: string[]; headers: Record<string, unknown>; keepAlive: boolean }
type NodeResult = { kind: 'requests'; reqs: NodeParse[] } | { kind: 'error'; code: string };

/** A node:http server parsing as the edge listener's does (src/edge/listener.ts): strict, no Host requirement. */
async function startNodeParser(t: TestContext): Promise<{ server: Server; port: number }> {
  const server = createServer({ maxHeaderSize: MAX_HEAD, requireHostHeader: false, insecureHTTPParser: false });
  server.maxHeadersCount = 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { server, port: (server.address() as AddressInfo).port };
}

/** What node:http handed over for `bytes` (both requests, when the first keeps the connection), or its parse error. */
function nodeParse(server: Server, port: number, bytes: Buffer): Promise<NodeResult> {
  return new Promise((resolve) => {
    const reqs: NodeParse[] = [];
    let settled = false;
    const sock = net.connect(port, '127.0.0.1');
    const finish = (r: NodeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.off('request', onRequest);
      server.off('clientError', onClientError);
      sock.destroy();
      resolve(r);
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.socket.remotePort !== sock.localPort) return;
      const headers = { ...req.headers };
      dropConnectionListed(headers);
      reqs.push({ method: req.method!, url: req.url!, httpVersion: req.httpVersion, rawHeaders: [...req.rawHeaders], headers, keepAlive: res.shouldKeepAlive });
      res.end();
      if (reqs.length === 2 || !res.shouldKeepAlive) finish({ kind: 'requests', reqs });
    };
    const onClientError = (err: Error & { code?: string }, s: net.Socket): void => {
      if (s.remotePort !== sock.localPort) return;
      s.destroy();
      finish({ kind: 'error', code: err.code ?? 'unknown' });
    };
    server.on('request', onRequest);
    server.on('clientError', onClientError);
    const timer = setTimeout(() => finish({ kind: 'requests', reqs }), 1000);
    sock.on('error', () => {});
    sock.on('data', () => {});
    sock.on('close', () => setTimeout(() => finish({ kind: 'requests', reqs }), 20));
    sock.write(bytes);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Heads from the parts that differ between parsers.

/** Mostly `good`, sometimes `bad`: a head is declined at its first bad part, so bad parts must be rare for good ones to be compared. */
const mostly = <T>(good: readonly T[], bad: readonly T[]): fc.Arbitrary<T> =>
  fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });

const METHODS = mostly(['GET', 'HEAD'], ['get', 'POST', 'GET ', 'GE', 'HEADX', 'OPTIONS', 'PRI']);
const SPACES = mostly([' '], ['  ', '\t', '', '\x0b', '\r']);
const TARGET_CHARS = "abcAZ09-._~!$&'()*+,;=:@/?%#\\\"<>^`{|} \t\x00\x7f\xe9".split('');
const TARGETS = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...TARGET_CHARS.slice(0, 25)), { maxLength: 30 }).map((a) => `/${a.join('')}`) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...TARGET_CHARS), { maxLength: 30 }).map((a) => `/${a.join('')}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '*', 'http://a.example/x', '//x', 'x', '/' + 'a'.repeat(3000)) },
);
const VERSIONS = mostly(['HTTP/1.1', 'HTTP/1.0'], ['HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.2', 'HTTP/11', 'HTTP/1.1\t', 'HTTP/1.']);
const EOLS = mostly(['\r\n'], ['\n', '\r', '\r\r\n', '\n\r', ' \r\n', '\r\n ']);
const NAMES = mostly(['Host', 'host', 'HOST', 'Accept', 'X-A', 'x-a', 'Origin', 'Connection', 'If-None-Match', 'If-Modified-Since', 'Range', 'Cache-Control',
  'Cookie', 'Authorization', "X!#$%&'*+-.^_`|~", 'Accept-Language', 'close', 'keep-alive', 'X_A', 'Pragma'],
['Content-Length', 'Transfer-Encoding', 'Upgrade', 'Expect', 'TE', 'Keep-Alive', 'Proxy-Connection', 'Set-Cookie', 'Bad Name', 'X\x00A', '', '__proto__',
  'constructor', 'toString', 'Content-Length ', ' Host', 'X-A\t', 'X\xe9', 'X"A', 'X(A', 'HTTP2-Settings', 'Trailer']);
const SEPS = mostly([': ', ':'], [' :', ':  ', ':\t', '\t:', ': \t', '::']);
const VALUES = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a.example', 'close', 'keep-alive', 'Keep-Alive', 'CLOSE', 'close, keep-alive', 'upgrade', 'x-a', 'host', 'accept', '0', '5',
    'chunked', '100-continue', '"x"', 'W/"x"', 'bytes=0-1', 'no-cache', 'max-age=0', 'only-if-cached', 'https://a.example', '*/*', 'a b', 'a b c', '', 'x-a, close',
    'Mon, 07 Dec 2026 00:00:00 GMT', '!#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~') },
  { weight: 2, arbitrary: fc.constantFrom('a ', 'a\t', ' a', '\ta', 'a \t', 'a\tb', 'a  b', 'a\x00', 'a\r\n b', 'a\r\n\tb', '\xe9', 'a\x7f', 'a\rb', 'a\nb', 'a\x01') },
  { weight: 2, arbitrary: fc.array(fc.constantFrom('a', 'Z', '0', ' ', ' ', '\t', ',', '"', ';', '=', '\x00', '\x7f', '\xe9', '\r', '\n', '\r\n ', '\r\n\t'), { maxLength: 8 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.constant('v'.repeat(2100)) },
);
const FIELD = fc.tuple(NAMES, SEPS, VALUES, EOLS);

const headArb = fc.record({
  lead: mostly([''], ['\r\n', '\n', ' ']),
  method: METHODS,
  sp1: SPACES,
  target: TARGETS,
  sp2: SPACES,
  version: VERSIONS,
  eol: EOLS,
  host: fc.constantFrom(true, true, true, false),
  fields: fc.array(FIELD, { maxLength: 6 }),
  end: EOLS,
}).map((h) => {
  const fields: [string, string, string, string][] = [...(h.host ? [['Host', ': ', 'a.example', '\r\n'] as [string, string, string, string]] : []), ...h.fields];
  return `${h.lead}${h.method}${h.sp1}${h.target}${h.sp2}${h.version}${h.eol}${fields.map(([n, s, v, e]) => `${n}${s}${v}${e}`).join('')}${h.end}`;
});

/** One byte flipped, inserted or removed somewhere: the near-valid heads a strict parser must be exact about. */
const mutantArb = fc.tuple(headArb, fc.nat(), fc.constantFrom('insert', 'replace', 'delete'), fc.constantFrom(0, 9, 10, 13, 32, 58, 0x7f, 0xe9, 0x2c, 0x22))
  .map(([head, at, op, byte]) => {
    const i = at % Math.max(1, head.length);
    const ch = String.fromCharCode(byte);
    return op === 'insert' ? head.slice(0, i) + ch + head.slice(i) : op === 'replace' ? head.slice(0, i) + ch + head.slice(i + 1) : head.slice(0, i) + head.slice(i + 1);
  });

/** Strictly valid simple heads: the fast parser must accept these (the proof is not vacuous). */
export const cleanHeadArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  path: fc.array(fc.constantFrom('a', 'b', '%2F', '.', '-', '~', '?', '=', '&'), { maxLength: 20 }).map((a) => `/${a.join('')}`),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
  fields: fc.uniqueArray(fc.tuple(fc.constantFrom('Accept', 'Origin', 'If-None-Match', 'User-Agent', 'Accept-Language', 'Cache-Control', 'Connection'),
    fc.constantFrom('a', 'a b', '"x"', 'keep-alive', 'close', 'en, fr;q=0.5')), { selector: ([n]) => n, maxLength: 5 }),
}).filter((h) => h.fields.every(([n, v]) => n !== 'Connection' || v === 'close' || v === 'keep-alive'))
  .map((h) => `${h.method} ${h.path} ${h.version}\r\nHost: a.example\r\n${h.fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`);

/** Checks one head: declined, or parsed exactly as node:http parses it (and its end is where node finds the next request). */
async function agree(server: Server, port: number, head: string, seen: { accepted: number; total: number }): Promise<void> {
  const bytes = Buffer.from(head, 'latin1');
  seen.total++;
  const r = parseFastHead(bytes, 0, bytes.length, MAX_HEAD);
  if (r.kind !== 'request') return;
  seen.accepted++;
  // What follows the head (the next pipelined request, for both parsers) is the sentinel.
  const node = await nodeParse(server, port, Buffer.concat([bytes.subarray(0, r.end), Buffer.from(SENTINEL, 'latin1')]));
  assert.equal(node.kind, 'requests', `node:http refused a head the fast parser accepted: ${JSON.stringify(head)} (${node.kind === 'error' ? node.code : ''})`);
  const reqs = (node as { reqs: NodeParse[] }).reqs;
  assert.ok(reqs.length >= 1, `node:http handed over no request for ${JSON.stringify(head)}`);
  const n = reqs[0]!;
  const f = r.req;
  assert.deepEqual(
    { method: f.method, url: f.url, httpVersion: f.httpVersion, rawHeaders: f.rawHeaders, headers: { ...f.headers }, keepAlive: f.keepAlive },
    { method: n.method, url: n.url, httpVersion: n.httpVersion, rawHeaders: n.rawHeaders, headers: n.headers, keepAlive: n.keepAlive },
    `parsed differently: ${JSON.stringify(head)}`,
  );
  if (f.keepAlive) {
    assert.equal(reqs.length, 2, `node:http did not find the pipelined request behind ${JSON.stringify(head)}`);
    assert.equal(reqs[1]!.url, '/__sentinel', `node:http ended the head elsewhere: ${JSON.stringify(head)}`);
  }
}

/** The differential property over generated, mutated and clean heads; `minAccepted`: share the fast parser must accept. */
export async function fastParseDifferential(t: TestContext, o: RunOptions): Promise<void> {
  const { server, port } = await startNodeParser(t);
  const seen = { accepted: 0, total: 0 };
  await fc.assert(fc.asyncProperty(fc.oneof(headArb, mutantArb, cleanHeadArb), async (head) => { await agree(server, port, head, seen); }), params(t, o));
  t.diagnostic(`fast parser accepted ${seen.accepted} of ${seen.total} heads`);
  // Not vacuous: a good share of the generated heads take the fast path and were compared.
  assert.ok(seen.accepted >= seen.total / 10, `only ${seen.accepted} of ${seen.total} heads were accepted`);
}

/** Clean heads are accepted (the fast path is taken for ordinary requests) and parsed as node:http parses them. */
export async function fastParseAcceptsClean(t: TestContext, o: RunOptions): Promise<void> {
  const { server, port } = await startNodeParser(t);
  const seen = { accepted: 0, total: 0 };
  await fc.assert(fc.asyncProperty(cleanHeadArb, async (head) => {
    const before = seen.accepted;
    await agree(server, port, head, seen);
    assert.equal(seen.accepted, before + 1, `a clean head was declined: ${JSON.stringify(head)}`);
  }), params(t, o));
}
