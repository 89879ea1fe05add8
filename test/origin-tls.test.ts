// HTTPS origins: originHost (Host and SNI sent to the origin), tls.ca / servername / rejectUnauthorized, and a 502
// that logs its cause at warn. Certificates from a test CA made with openssl at test time (helpers/tls.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { send, startTestEdge } from './helpers/http.js';
import { createTestPki } from './helpers/tls.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { compileZones } from '../src/edge/zones.js';
import { captureLogs } from './helpers/capture-logger.js';

const captureLogger = () => captureLogs<Record<string, unknown>>('warn');

interface Seen { host?: string; sni: string | false | null; xfh?: string }

/** A TLS origin on 127.0.0.1 with a certificate for bucket.origin.test only, signed by the test CA; records Host and SNI. */
async function tlsOrigin(t: TestContext) {
  const pki = await createTestPki(t);
  const leaf = await pki.issue('bucket', ['bucket.origin.test']);
  const seen: Seen[] = [];
  const server = createHttpsServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (req, res) => {
    seen.push({ host: req.headers.host, sni: (req.socket as TLSSocket).servername, xfh: req.headers['x-forwarded-host'] as string | undefined });
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
    res.end('from the bucket');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, pki, seen };
}

test('originHost + tls.ca: a TLS origin whose certificate names another host than the public one, with its own CA', async (t) => {
  const o = await tlsOrigin(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'bucket', hosts: ['cdn.example'], origin: o.url, originHost: 'bucket.origin.test', tls: { ca: o.pki.caFile } }] });
  const r = await send(`${edge.base}/a.txt`, { headers: { host: 'cdn.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'from the bucket');
  assert.deepEqual(o.seen[0], { host: 'bucket.origin.test', sni: 'bucket.origin.test', xfh: 'cdn.example' });
  // A second public name on the same zone reuses the connection's SNI (no reconnect per Host) and still works.
  assert.equal((await send(`${edge.base}/b.txt`, { headers: { host: 'cdn.example' } })).status, 200);
});

test('tls.servername alone: SNI and the certificate check use it, Host stays the client\'s', async (t) => {
  const o = await tlsOrigin(t);
  const edge = await startTestEdge(t, { zones: [{ id: 'z', hosts: ['*'], origin: o.url, tls: { ca: o.pki.caFile, servername: 'bucket.origin.test' } }] });
  assert.equal((await send(`${edge.base}/a`, { headers: { host: 'shop.example' } })).status, 200);
  assert.deepEqual(o.seen[0], { host: 'shop.example', sni: 'bucket.origin.test', xfh: 'shop.example' });
});

test('without the CA (or with the wrong name) the origin fails: 502, and a warn log names the cause, origin and zone', async (t) => {
  const o = await tlsOrigin(t);
  const log = captureLogger();
  const edge = await startTestEdge(t, {
    zones: [
      { id: 'no-ca', hosts: ['a.example'], origin: o.url, originHost: 'bucket.origin.test' },
      { id: 'wrong-name', hosts: ['b.example'], origin: o.url, tls: { ca: o.pki.caFile } },
      { id: 'unchecked', hosts: ['c.example'], origin: o.url, tls: { rejectUnauthorized: false } },
    ],
  }, { logger: log.logger });
  const noCa = await send(`${edge.base}/x`, { headers: { host: 'a.example' } });
  assert.equal(noCa.status, 502);
  const wrong = await send(`${edge.base}/x`, { headers: { host: 'b.example' } });
  assert.equal(wrong.status, 502);
  assert.equal(o.seen.length, 0, 'no request reached the origin');
  const warns = log.lines.filter((l) => l.msg === 'origin request failed');
  const byZone = (z: string) => warns.find((l) => l.zone === z);
  assert.equal(byZone('no-ca')?.level, 40, 'warn');
  assert.equal(byZone('no-ca')?.origin, o.url);
  assert.equal(byZone('no-ca')?.code, 'ORIGIN_UNREACHABLE');
  assert.match(String(byZone('no-ca')?.cause), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  // An IP origin and no name: the client's Host is the name checked (b.example), which the certificate lacks.
  assert.equal(byZone('wrong-name')?.cause, 'ERR_TLS_CERT_ALTNAME_INVALID');
  // rejectUnauthorized: false accepts any certificate (for a test origin; never across networks).
  assert.equal((await send(`${edge.base}/x`, { headers: { host: 'c.example' } })).status, 200);
});

test('config: originHost and tls are checked; an unreadable CA file stops the start naming the file', () => {
  const origin = 'https://127.0.0.1:9';
  for (const zone of [{ originHost: 'bad host' }, { originHost: 'a.example:99999' }, { tls: { servername: 'x y' } }, { tls: { cafile: 'x' } }]) {
    assert.throws(() => validateConfig({ zones: [{ id: 'z', origin, ...zone }] } as never, 't'), ConfigError, JSON.stringify(zone));
  }
  const config = validateConfig({ zones: [{ id: 'z', origin, tls: { ca: '/nonexistent/ca.pem' } }] }, 't');
  assert.throws(() => compileZones(config), (e: Error & { code?: string }) => e.code === 'ORIGIN_CONFIG' && /\/nonexistent\/ca\.pem.*ENOENT/.test(e.message));
});
