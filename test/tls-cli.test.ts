// `edgecache serve --tls-cert/--tls-key` as a child process: HTTPS with HTTP/2 from flags, and SIGHUP certificate
// reloads (one of them with a broken file) while a bounded load runs over new and kept connections: no request fails,
// the process stays up, new connections get the new certificate.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as h2Connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { serveProcess } from './helpers/serve-process.js';
import { startOrigin, sleep } from './helpers/http.js';
import { createTestPki } from './helpers/tls.js';


const serve = (t: TestContext, args: string[]) => serveProcess(t, args);

test('serve over TLS from flags; SIGHUP reloads certificates under load without a failed request', { timeout: 120_000 }, async (t) => {
  const pki = await createTestPki(t);
  const first = await pki.issue('first', ['cdn.test']);
  const second = await pki.issue('second', ['cdn.test']);
  const cert = join(pki.dir, 'live.pem');
  const key = join(pki.dir, 'live.key');
  copyFileSync(first.cert, cert); copyFileSync(first.key, key);
  const origin = await startOrigin(t, (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('asset'); });
  const edge = serve(t, ['--origin', origin.url, '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--admin-listen', '127.0.0.1:0', '--log-level', 'info']);
  const serving = await edge.logLine(/^edgecache serving$/);
  const listeners = serving.listeners as string[];
  assert.equal(listeners.length, 1);
  assert.match(listeners[0]!, /^https:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(listeners[0]!.split(':').pop());

  const fingerprint = (): Promise<string> => new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'cdn.test', ca: pki.ca }, () => { resolve(s.getPeerCertificate().fingerprint256); s.end(); });
    s.on('error', reject);
  });
  assert.equal(await fingerprint(), first.fingerprint256);

  // The load: one kept HTTP/2 session, and HTTP/1.1 requests each on a new TLS connection (a handshake each).
  const session = h2Connect(`https://127.0.0.1:${port}`, { servername: 'cdn.test', ca: pki.ca });
  t.after(() => session.close());
  const failures: string[] = [];
  let done = 0;
  let stop = false;
  const h2Get = (): Promise<void> => new Promise((resolve) => {
    const s = session.request({ ':path': '/a.js', ':authority': 'cdn.test' });
    s.on('response', (h) => { if (h[':status'] !== 200) failures.push(`h2 ${String(h[':status'])}`); });
    s.resume();
    s.on('end', () => { done++; resolve(); });
    s.on('error', (e) => { failures.push(`h2 ${e.message}`); resolve(); });
    s.end();
  });
  const h1Get = (): Promise<void> => new Promise((resolve) => {
    const r = httpsRequest({ host: '127.0.0.1', port, servername: 'cdn.test', ca: pki.ca, path: '/a.js', headers: { host: 'cdn.test' }, agent: false }, (res) => {
      if (res.statusCode !== 200) failures.push(`h1 ${res.statusCode}`);
      res.resume();
      res.on('end', () => { done++; resolve(); });
    });
    r.on('error', (e) => { failures.push(`h1 ${e.message}`); resolve(); });
    r.end();
  });
  const loops = [0, 1, 2, 3].map(async (i) => { while (!stop) await (i % 2 ? h1Get() : h2Get()); });

  await sleep(300);
  copyFileSync(second.cert, cert); copyFileSync(second.key, key);
  let mark = edge.lines().length;
  edge.child.kill('SIGHUP');
  await edge.logLine(/^reloaded$/, mark);
  await sleep(300);
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
  mark = edge.lines().length;
  edge.child.kill('SIGHUP');
  const problem = await edge.logLine(/certificate not reloaded/, mark);
  assert.match(String(problem.problem), /live\.pem is not a PEM certificate/);
  await sleep(300);
  stop = true;
  await Promise.all(loops);

  assert.deepEqual(failures, [], 'no request failed across the reloads');
  assert.ok(done > 20, `the load ran (${done} requests)`);
  assert.equal(edge.child.exitCode, null, 'SIGHUP did not end the process');
  assert.equal(await fingerprint(), second.fingerprint256, 'the good reload is in use; the broken file was not');
  edge.child.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});
