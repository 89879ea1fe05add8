// Test helper: a TCP proxy on 127.0.0.1 between a client and a server, to add latency to a link or cut it.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** One-way delay added to every chunk, both directions (order kept). */
  setDelay(ms: number): void;
  /** Drops every connection and refuses new ones until heal(). */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** Proxies 127.0.0.1:<ephemeral> to 127.0.0.1:targetPort; `scheme` only shapes `url` (e.g. 'redis'). */
export async function startTcpProxy(targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  let delay = 0;
  let isCut = false;
  const sockets = new Set<Socket>();
  const relay = (from: Socket, to: Socket): void => {
    // Each chunk leaves `delay` ms after it arrived, in order (a latency, not a bandwidth limit).
    const queue: { at: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.at <= Date.now()) { const { chunk } = queue.shift()!; if (!to.destroyed) to.write(chunk); }
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - Date.now());
    };
    from.on('data', (chunk: Buffer) => {
      if (delay === 0 && queue.length === 0) { to.write(chunk); return; }
      queue.push({ at: Date.now() + delay, chunk });
      timer ??= setTimeout(flush, delay);
    });
    from.on('close', () => { if (timer) clearTimeout(timer); to.destroy(); });
    from.on('error', () => to.destroy());
  };
  const server: Server = createServer((client) => {
    if (isCut) { client.destroy(); return; }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    setDelay: (ms) => { delay = ms; },
    cut: () => { isCut = true; for (const s of sockets) s.destroy(); },
    heal: () => { isCut = false; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
