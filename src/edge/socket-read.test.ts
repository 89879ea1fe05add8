// Reads into the shared buffer: exact bytes, one buffer for all connections, and a connection handed to node:http
// (its parser reading the socket itself, giving it back on an upgrade, a reset or an end meanwhile) reads as before.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { isSharedRead, readShared } from './socket-read.js';

/** A net server whose connections read into the shared buffer; `onConn` decides what each does with its reads. */
async function server(t: TestContext, onConn: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const srv = net.createServer((s) => { sockets.add(s); s.on('error', () => undefined); onConn(s); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); return new Promise<void>((r) => srv.close(() => r())); });
  return (srv.address() as AddressInfo).port;
}

function connect(t: TestContext, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.on('error', reject);
    t.after(() => c.destroy());
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
};

test('shared reads: every read of every connection is a view of one buffer, with the bytes sent', async (t) => {
  const got = new Map<Socket, Buffer[]>();
  const buffers = new Set<ArrayBufferLike>();
  let shared = 0;
  const port = await server(t, (s) => {
    got.set(s, []);
    const reads = readShared(s, (chunk) => {
      if (isSharedRead(chunk)) shared++;
      buffers.add(chunk.buffer);
      got.get(s)!.push(Buffer.from(chunk)); // kept past the read: copied
      return true;
    });
    assert.ok(reads, 'a plain TCP connection reads into the shared buffer');
  });
  const a = await connect(t, port);
  const b = await connect(t, port);
  const sentA: Buffer[] = [];
  const sentB: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    const x = randomBytes(1 + (i * 997) % 5000);
    const y = randomBytes(1 + (i * 331) % 3000);
    sentA.push(x); sentB.push(y);
    a.write(x); b.write(y);
    await new Promise((r) => setImmediate(r));
  }
  const total = (l: Buffer[]): number => l.reduce((n, c) => n + c.length, 0);
  await until(() => [...got.values()].reduce((n, l) => n + total(l), 0) === total(sentA) + total(sentB), 'all bytes read');
  const [ra, rb] = [...got.values()];
  assert.equal(sha(Buffer.concat(ra!)), sha(Buffer.concat(sentA)));
  assert.equal(sha(Buffer.concat(rb!)), sha(Buffer.concat(sentB)));
  assert.equal(buffers.size, 1, 'one buffer for all reads');
  assert.equal(shared, ra!.length + rb!.length);
});

test('shared reads: an end arrives on a socket never paused nor resumed', async (t) => {
  const got: Buffer[] = [];
  let ended = false;
  const port = await server(t, (s) => {
    readShared(s, (c) => { got.push(Buffer.from(c)); return true; });
    s.on('end', () => { ended = true; });
  });
  const c = await connect(t, port);
  c.end('last words');
  await until(() => ended, "the client's end");
  assert.equal(Buffer.concat(got).toString(), 'last words');
});

test('shared reads: declined for a socket without a TCP handle, and twice for the same socket', async (t) => {
  assert.equal(readShared(new net.Socket(), () => true), undefined);
  let second: unknown = 'unset';
  const port = await server(t, (s) => {
    assert.ok(readShared(s, () => true));
    second = readShared(s, () => true);
  });
  await connect(t, port);
  await until(() => second !== 'unset', 'the connection was accepted');
  assert.equal(second, undefined);
});

test('shared reads: returning false stops reading until resume; an end still arrives', async (t) => {
  let reads = 0;
  let ended = false;
  let socket: Socket | undefined;
  const port = await server(t, (s) => {
    socket = s;
    readShared(s, () => ++reads > 1); // stops after the first read only
    s.on('end', () => { ended = true; });
  });
  const c = await connect(t, port);
  c.write('one');
  await until(() => reads === 1, 'the first read');
  c.write('two');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(reads, 1, 'not read while stopped');
  socket!.resume();
  await until(() => reads === 2, 'read again after resume');
  c.end();
  await until(() => ended, "the client's end");
});

test('shared reads released to node:http: bodies byte for byte while other connections read, an upgrade, a reset', async (t) => {
  const bodies: string[] = [];
  const upgraded: Buffer[] = [];
  const errors: string[] = [];
  const hs = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    // The body is looked at later, after other connections' reads: nothing of it may be a view of the shared buffer.
    req.on('end', () => setTimeout(() => { bodies.push(sha(Buffer.concat(parts))); res.end('ok'); }, 20));
  });
  hs.on('upgrade', (_req, s: Socket, head: Buffer) => {
    upgraded.push(Buffer.from(head));
    // node:http has given the socket back: what follows arrives as 'data', in buffers of its own.
    s.on('data', (c: Buffer) => { assert.equal(isSharedRead(c), false); upgraded.push(c); });
  });
  hs.on('clientError', (err: Error & { code?: string }, s: Socket) => { errors.push(err.code ?? err.message); s.destroy(); });
  t.after(() => { hs.closeAllConnections(); hs.close(); });
  const port = await server(t, (s) => {
    const reads = readShared(s, (chunk) => {
      // The first read goes to node:http, as the fast path hands a connection over (copied, as the fast path does).
      reads!.release();
      hs.emit('connection', s);
      s.emit('data', Buffer.from(chunk));
      return true;
    });
  });

  // A body in pieces, while a second connection's reads overwrite the shared buffer between them.
  const body = randomBytes(200_000);
  const c = await connect(t, port);
  const noise = await connect(t, port);
  noise.write(`POST /n HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.write(`POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (let at = 0; at < body.length; at += 7_000) {
    c.write(body.subarray(at, at + 7_000));
    noise.write(randomBytes(Math.min(7_000, body.length - at)));
    await new Promise((r) => setImmediate(r));
  }
  await until(() => bodies.length === 2, 'both bodies read');
  assert.ok(bodies.includes(sha(body)), 'the body arrived byte for byte');

  // An upgrade: node:http lets go of the socket; the bytes after the head reach the upgrade handler exactly.
  const u = await connect(t, port);
  u.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
  await until(() => upgraded.length >= 1, 'upgraded');
  const after = randomBytes(100_000);
  u.write(after);
  await until(() => upgraded.reduce((n, b) => n + b.length, 0) === after.length, 'the bytes after the upgrade');
  assert.equal(sha(Buffer.concat(upgraded)), sha(after));

  // A reset while node:http's parser reads the socket: reported as a client error, the process goes on.
  const r = await connect(t, port);
  r.write('POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
  await new Promise((res) => setTimeout(res, 50));
  r.resetAndDestroy();
  await until(() => errors.includes('ECONNRESET'), 'the reset reported');
  const again = await connect(t, port);
  again.write('POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  await until(() => bodies.length === 3, 'a request after the reset');
  assert.equal(bodies[2], sha(Buffer.from('abc')));
});
