// What fast-listener.ts's reuse of answer bytes over TLS rests on: Node's TLS layer takes a write's plaintext before
// write() returns when nothing was being written (its buffer may be overwritten at once), and a write made while
// another is in flight waits in the socket's buffer (its bytes must be left alone).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';

/** A TLS server on 127.0.0.1 with a fresh self-signed certificate; resolves with the server side of one connection and what its peer reads. */
async function pair(t: TestContext): Promise<{ server: TLSSocket; received: () => Buffer; closed: Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-tls-write-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost']);
  const srv = createServer({ key: await readFile(join(dir, 'k.pem')), cert: await readFile(join(dir, 'c.pem')) });
  const accepted = new Promise<TLSSocket>((r) => srv.once('secureConnection', r));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const chunks: Buffer[] = [];
  const client = connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, rejectUnauthorized: false });
  t.after(() => client.destroy());
  client.on('data', (b: Buffer) => chunks.push(b));
  const closed = new Promise<void>((r) => client.on('end', () => r()));
  const server = await accepted;
  t.after(() => server.destroy());
  return { server, received: () => Buffer.concat(chunks), closed };
}

test('TLS write: with nothing being written, the plaintext is taken before write() returns (one write, or several corked)', async (t) => {
  const { server, received, closed } = await pair(t);
  const sent: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    // Each write waits until the previous one completed: the socket is idle, as the fast path checks.
    while (server.writableLength > 0) await new Promise((r) => setImmediate(r));
    const a = Buffer.alloc(100 + (i * 37) % 3000, i % 251);
    const b = Buffer.alloc(50 + (i * 11) % 500, (i + 7) % 251);
    sent.push(Buffer.from(a), Buffer.from(b));
    const one = Buffer.concat([a, b]);
    // As the fast path writes: one answer in one write, or answers (a head and its body) corked into one.
    if (i % 2 === 0) server.write(one); else { server.cork(); server.write(a); server.write(b); server.uncork(); }
    for (const x of [a, b, one]) x.fill(0xee); // as the slab is, by the next answer
  }
  server.end();
  await closed;
  assert.ok(received().equals(Buffer.concat(sent)), 'the peer read what was written, not what overwrote it');
});

test('TLS write: a write made while another is in flight waits in the socket with its bytes', async (t) => {
  const { server, received, closed } = await pair(t);
  const first = Buffer.alloc(1000, 1);
  const second = Buffer.alloc(1000, 2);
  server.write(first);
  assert.ok(server.writableLength > 0, 'a TLS write completes after write() returns');
  server.write(second);
  second.fill(0xee); // what the fast path must not do: the socket still holds this buffer
  server.end();
  await closed;
  assert.ok(received().subarray(1000).equals(Buffer.alloc(1000, 0xee)), 'the second write sent the bytes as they were when flushed');
});
