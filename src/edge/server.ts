// Composition root: builds the store, zones, handler, admin API and listeners from a Config; stops them cleanly.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEdgeListener } from './listener.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics, type EdgeMetrics } from '../observability/metrics.js';
import { MemoryStore } from '../storage/memory.js';
import { DiskStore } from '../storage/disk.js';
import type { CacheStore } from '../storage/store.js';
import { compileZones, type ZoneRouter } from './zones.js';
import { createHandler } from './handler.js';
import { createAdminServer } from '../admin/server.js';
import { inspectVariants } from '../admin/inspect-route.js';
import { applyPurge } from '../purge/purger.js';
import { startControlPlane, type ControlPlane } from './control.js';
import { normalizeVaryValue } from '../cache/policy/index.js';
import type { PurgeRequest } from '../purge/request.js';

export interface RunningEdge {
  readonly config: Config;
  readonly edge: AddressInfo;
  /** The admin listener's address (undefined in a worker: the primary runs the admin API). */
  readonly admin: AddressInfo;
  readonly store: CacheStore;
  readonly metrics: EdgeMetrics;
  readonly router: ZoneRouter;
  readonly logger: Logger;
  /** Applies a purge to this process's store only. */
  applyLocal(zoneId: string, req: PurgeRequest): number;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), closes origin pools. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Run the admin listener and purge control plane here (default true; false in a worker of `--workers N`). */
  admin?: boolean;
}

export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startEdge(config: Config, opts: StartOptions = {}): Promise<RunningEdge> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const store: CacheStore = config.cache.store === 'disk'
    ? await DiskStore.open({ path: config.cache.path!, maxBytes: config.cache.maxBytes, normalize: normalizeVaryValue, logger })
    : new MemoryStore({ maxBytes: config.cache.maxBytes, normalize: normalizeVaryValue });
  const metrics = createMetrics(() => store.stats());
  const router = compileZones(config);
  const handler = createHandler({ router, store, metrics, logger, maxObjectBytes: config.cache.maxObjectBytes });

  const edgeServer = createEdgeListener(handler, logger, config.limits);

  const applyLocal = (zoneId: string, req: PurgeRequest): number => {
    const n = applyPurge(store, router, zoneId, req);
    metrics.purges.inc({ kind: req.kind });
    metrics.purgedVariants.inc(n);
    logger.info({ zone: zoneId, kind: req.kind, soft: req.soft, variants: n }, 'purge applied');
    return n;
  };

  let edge: AddressInfo;
  try {
    edge = await listen(edgeServer, config.listen.host, config.listen.port);
  } catch (err) {
    await router.close();
    await store.close(); // a disk store releases its directory lock
    throw err;
  }
  let admin: AddressInfo | undefined;
  let adminServer: Server | undefined;
  let control: ControlPlane | undefined;
  if (opts.admin !== false) {
    try {
      control = await startControlPlane({
        config, logger,
        applyLocal: async (zoneId, req) => { applyLocal(zoneId, req); },
        clearLocal: async () => { store.clear(); },
      });
      const cp = control;
      adminServer = createAdminServer({
        tokens: config.admin.tokens, zoneIds: router.zones.map((z) => z.id), logger, maxItems: config.purge.maxItems,
        applyPurge: (zoneId, req) => cp.applyPurge(zoneId, req),
        metrics: async () => ({ contentType: metrics.registry.contentType, text: `${await metrics.registry.metrics()}\n${await cp.registry.metrics()}` }),
        health: () => { const s = store.stats(); return { objects: s.objects, variants: s.variants, ...cp.health() }; },
        inspect: async (zoneId, url, headers) => inspectVariants(store, router, zoneId, url, headers),
      });
      admin = await listen(adminServer, config.admin.listen.host, config.admin.listen.port);
    } catch (err) {
      edgeServer.close();
      await control?.close();
      await router.close();
      await store.close();
      throw err;
    }
  }

  let closing: Promise<void> | undefined;
  return {
    config, edge, admin: admin!, store, metrics, router, logger, applyLocal,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const stopped = Promise.all([
          new Promise<void>((r) => edgeServer.close(() => r())),
          new Promise<void>((r) => (adminServer ? adminServer.close(() => r()) : r())),
        ]);
        edgeServer.closeIdleConnections();
        adminServer?.closeIdleConnections();
        const timer = setTimeout(() => { edgeServer.closeAllConnections(); adminServer?.closeAllConnections(); }, graceMs);
        await stopped;
        clearTimeout(timer);
        await control?.close();
        await router.close();
        await store.close();
      })();
      return closing;
    },
  };
}
