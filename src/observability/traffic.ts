// Bytes to and from clients of the edge listener, counted per connection (never per request), and refused requests.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { RecentEvents } from './recent-events.js';

/** Announced for each connection the fast path accepts (the string of src/edge/fast-listener.ts FAST_CONNECTION_EVENT). */
const FAST_CONNECTION_EVENT = 'edgecache:fast-connection';

/** The event the edge listener emits for every request it refuses itself (bad framing, limits): status, code. */
export const REFUSED_EVENT = 'edgecache:refused';

export interface ClientTraffic {
  /** Bytes written to clients (status lines, fields and bodies). */
  bytesServed(): number;
  /** Bytes read from clients. */
  bytesReceived(): number;
  /** Requests the listener refused, by status: `refused:<status>`. */
  refused(): Record<string, number>;
  close(): void;
}

export function watchClientTraffic(server: Server, events: RecentEvents): ClientTraffic {
  const open = new Set<Socket>();
  let closedOut = 0;
  let closedIn = 0;
  const refused: Record<string, number> = {};
  const onConnection = (socket: Socket): void => {
    // A fast-path connection handed to node:http is announced twice (src/edge/fast-listener.ts): counted once.
    if (open.has(socket)) return;
    open.add(socket);
    socket.once('close', () => { closedOut += socket.bytesWritten; closedIn += socket.bytesRead; open.delete(socket); });
  };
  const onRefused = (status: number, code: string): void => {
    const k = `refused:${status}`;
    refused[k] = (refused[k] ?? 0) + 1;
    events.record('refused', '', String(status), code);
  };
  server.on('connection', onConnection);
  server.on(FAST_CONNECTION_EVENT, onConnection);
  server.on(REFUSED_EVENT, onRefused);
  return {
    bytesServed() {
      let n = closedOut;
      for (const s of open) n += s.bytesWritten;
      return n;
    },
    bytesReceived() {
      let n = closedIn;
      for (const s of open) n += s.bytesRead;
      return n;
    },
    refused: () => ({ ...refused }),
    close() {
      server.off('connection', onConnection);
      server.off(FAST_CONNECTION_EVENT, onConnection);
      server.off(REFUSED_EVENT, onRefused);
    },
  };
}
