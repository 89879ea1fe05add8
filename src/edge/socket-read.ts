// Reading a fast-path connection into one buffer shared by all of them (net.Socket's `onread` mode, set on a socket
// the server accepted), not into a fresh 64 KiB ArrayBuffer per read that the young generation then sweeps.
import { Socket } from 'node:net';

/** Bytes one read may bring: node:http's parser reads into a buffer of this size too. */
const SHARED_BYTES = 64 * 1024;

/**
 * net.Socket's `onread` state (lib/net.js, lib/internal/stream_base_commons.js: Node 20): the buffer, and the
 * callback given each read's length. Node sets it only from the constructor's `onread` option, which a server's
 * sockets cannot be given; found by their descriptions on a socket, or absent (then reads stay as they are).
 */
function onreadSymbols(): { buffer: symbol; callback: symbol; gen: symbol } | undefined {
  const s = new Socket();
  const find = (name: string): symbol | undefined => Object.getOwnPropertySymbols(s).find((k) => k.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const gen = find('kBufferGen');
  s.destroy();
  return buffer && callback && gen ? { buffer, callback, gen } : undefined;
}

const symbols = onreadSymbols();
let shared: Buffer | undefined;

interface OnreadHandle { useUserBuffer?: (buf: Uint8Array) => void; isStreamBase?: boolean; _consumed?: boolean }
type OnreadSocket = Socket & { _handle?: OnreadHandle | null } & Record<symbol, unknown>;

/** A connection read into the shared buffer: its reads go to `onChunk` until `release`. */
export interface SharedReads {
  /**
   * From now on each read is copied into a buffer of its own and given to `take` or, without it, pushed to the socket
   * as usual (its 'data' events); called again without `take` to go from the one to the other. Called when the
   * connection is handed to node:http (`take`: while the fast path feeds it what was read before).
   */
  release(take?: (copy: Buffer) => void): void;
  /**
   * Keeps node:http's parser from reading the socket's handle itself (its `consume`, which takes reads before any
   * callback here sees them): called before the connection is handed over, so that what arrives while the fast path
   * still feeds node:http queues behind what it feeds.
   */
  keepReadsInJs(): void;
}

/**
 * Has `socket` (a TCP or TLS connection, not yet read) read into the shared buffer: `onChunk` gets a view of each
 * read (TLS: of each decrypted piece) that is valid only during the call (whatever is kept of it must be copied), and
 * returns false to stop reading until `socket.resume()`. Undefined when the socket cannot (no stream handle, already
 * read this way, a Node without the mode): read it with 'data'.
 */
export function readShared(socket: Socket, onChunk: (chunk: Buffer) => boolean): SharedReads | undefined {
  const s = socket as OnreadSocket;
  const handle = s._handle;
  if (symbols === undefined || handle == null || handle.isStreamBase !== true ||
    handle._consumed === true || typeof handle.useUserBuffer !== 'function' || s[symbols.buffer] != null) return undefined;
  shared ??= Buffer.allocUnsafeSlow(SHARED_BYTES);
  const buf = shared;
  let released = false;
  let take: ((copy: Buffer) => void) | undefined;
  s[symbols.gen] = null;
  s[symbols.buffer] = buf;
  s[symbols.callback] = (n: number): boolean => {
    if (!released) return onChunk(buf.subarray(0, n));
    const copy = Buffer.from(buf.subarray(0, n));
    if (take === undefined) return socket.push(copy);
    take(copy);
    return true;
  };
  handle.useUserBuffer(buf);
  return {
    release(to) { released = true; take = to; },
    keepReadsInJs() { handle._consumed = true; },
  };
}

/** Whether `buf` is a view of the shared read buffer (to be copied before it is kept past a read). */
export function isSharedRead(buf: Buffer): boolean {
  return shared !== undefined && buf.buffer === shared.buffer;
}
