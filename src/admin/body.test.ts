// The admin body reader's lingering close, over raw sockets: a client still sending after its 413 gets the whole 413
// and a clean close (no RST); one that never stops is cut off at the byte bound or the time bound.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { readAdminBody, type LingerBounds } from './body.js';

const MAX = 1024;

async function startServer(t: TestContext, bounds: LingerBounds): Promise<{ port: number; answered: Promise<void> }> {
  let answered!: () => void;
  const p = new Promise<void>((r) => { answered = r; });
  const server = createServer((req, res) => {
    void readAdminBody(req, res, MAX, 'send less', bounds).then((body) => {
      if (body) res.end('read'); else answered();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, answered: p };
}

const chunk = (n: number): string => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;
const HEAD = 'POST /purge HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n';

function opened(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => { const s = connect(port, '127.0.0.1', () => resolve(s)); s.once('error', reject); });
}

/** Everything the socket receives until it closes, and the error it closed with (if any). */
function collect(s: Socket): Promise<{ text: string; error: string | undefined }> {
  return new Promise((resolve) => {
    let text = '';
    let error: string | undefined;
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => resolve({ text, error }));
  });
}

test('a client that goes on sending after the 413 (reading nothing meanwhile) still reads the whole 413 and a clean close', async (t) => {
  const { port, answered } = await startServer(t, { maxBytes: 1024 * 1024, maxMs: 30_000 });
  const s = await opened(port);
  s.pause(); // reads nothing until it has sent everything: the 413 waits in its receive buffer
  const result = collect(s);
  s.write(HEAD + chunk(2 * MAX));
  await answered; // the server has written its 413
  // More body after the answer: a server that closed at once would answer these bytes with RST.
  for (let i = 0; i < 8; i++) {
    await new Promise<void>((r) => s.write(chunk(16 * 1024), () => r()));
    await new Promise((r) => setTimeout(r, 10));
  }
  s.write('0\r\n\r\n');
  await new Promise((r) => setTimeout(r, 50));
  s.resume();
  const { text, error } = await result;
  assert.equal(error, undefined, 'no reset');
  assert.match(text, /^HTTP\/1\.1 413 /);
  assert.match(text, /connection: close/i);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  const parsed = JSON.parse(body) as { success: boolean; errors: { message: string }[] };
  assert.equal(parsed.success, false);
  assert.match(parsed.errors[0]!.message, /larger than 1024 bytes; send less/);
});

test('a declared Content-Length over the limit is answered at once and its body read off before the close', async (t) => {
  const { port, answered } = await startServer(t, { maxBytes: 1024 * 1024, maxMs: 30_000 });
  const s = await opened(port);
  s.pause();
  const result = collect(s);
  const size = 64 * 1024;
  s.write(`POST /purge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${size}\r\n\r\n`);
  await answered;
  for (let i = 0; i < 8; i++) {
    await new Promise<void>((r) => s.write('y'.repeat(size / 8), () => r()));
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 50));
  s.resume();
  const { text, error } = await result;
  assert.equal(error, undefined);
  assert.match(text, /^HTTP\/1\.1 413 /);
});

test('the lingering read is bounded: a body that never ends is cut off past maxBytes, a trickle past maxMs', async (t) => {
  const bytes = await startServer(t, { maxBytes: 64 * 1024, maxMs: 60_000 });
  const a = await opened(bytes.port);
  const aDone = collect(a);
  a.write(HEAD + chunk(2 * MAX));
  await bytes.answered;
  // Sends until the server closes the connection: it must, once 64 KiB more were dropped.
  const pump = (): void => { while (!a.destroyed && a.write(chunk(8 * 1024))); if (!a.destroyed) a.once('drain', pump); };
  pump();
  await aDone;

  const time = await startServer(t, { maxBytes: 1024 * 1024 * 1024, maxMs: 200 });
  const b = await opened(time.port);
  const bDone = collect(b);
  b.write(HEAD + chunk(2 * MAX));
  await time.answered;
  const trickle = setInterval(() => { if (!b.destroyed) b.write(chunk(1)); }, 20);
  t.after(() => clearInterval(trickle));
  const { text } = await bDone; // closed by the server once 200 ms passed
  clearInterval(trickle);
  assert.match(text, /^HTTP\/1\.1 413 /, 'the reading client got its 413 before the close');
});
