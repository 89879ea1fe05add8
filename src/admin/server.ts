// The admin listener: /healthz, /metrics, the purge API and inspect; nothing here is reachable from the edge port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { EdgeMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { PurgeRequest } from '../purge/request.js';
import type { CacheStore } from '../storage/store.js';
import type { ZoneRouter } from '../edge/zones.js';
import { createTokenChecker, type AdminToken } from './auth.js';
import { handlePurge, sendCfError } from './purge-route.js';
import { handleInspect } from './inspect-route.js';

export interface AdminOptions {
  tokens: readonly AdminToken[];
  router: ZoneRouter;
  store: CacheStore;
  metrics: EdgeMetrics;
  logger: Logger;
  maxItems: number;
  /** Applies a purge (locally, or through the cluster bus). */
  applyPurge(zoneId: string, req: PurgeRequest): Promise<void>;
  /** Extra fields for /healthz (cluster state). */
  health(): Record<string, unknown>;
}

const PURGE_PATH = /^\/client\/v4\/zones\/([^/]+)\/purge_cache\/?$/;
const INSPECT_PATH = /^\/edgecache\/v1\/zones\/([^/]+)\/inspect\/?$/;

export function createAdminServer(opts: AdminOptions): Server {
  const checkToken = createTokenChecker(opts.tokens);
  const started = Date.now();
  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      opts.logger.error({ err: String(err) }, 'admin request failed');
      if (!res.headersSent) sendCfError(res, 500, 1019, 'internal error'); else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/healthz') {
      const s = opts.store.stats();
      const body = JSON.stringify({ status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000),
        zones: opts.router.zones.map((z) => z.id), objects: s.objects, variants: s.variants, ...opts.health() });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (path === '/metrics') {
      const text = await opts.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': opts.metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    const purge = PURGE_PATH.exec(path);
    if (purge) {
      const zoneId = decodeURIComponent(purge[1]!);
      handlePurge(req, res, zoneId, {
        checkToken,
        hasZone: (id) => opts.router.byId(id) !== undefined,
        maxItems: opts.maxItems,
        maxBodyBytes: 1024 * 1024,
        apply: (id, r) => opts.applyPurge(id, r),
        newId: () => randomUUID().replace(/-/g, ''),
        onError: (err) => opts.logger.error({ err: String(err) }, 'purge failed'),
      });
      return;
    }
    const inspect = INSPECT_PATH.exec(path);
    if (inspect) {
      const zoneId = decodeURIComponent(inspect[1]!);
      if (req.method !== 'POST') return sendCfError(res, 405, 7001, 'use POST', { allow: 'POST' });
      if (q !== -1 && /(?:^|&)(?:token|access_token)=/i.test(url.slice(q + 1))) return sendCfError(res, 401, 10001, 'send the token in the Authorization: Bearer header, never in the query string');
      const auth = checkToken(req.headers.authorization, zoneId);
      if (auth === 'unauthenticated') return sendCfError(res, 401, 10001, 'missing or invalid Authorization: Bearer token');
      if (auth === 'forbidden') return sendCfError(res, 403, 10000, 'this token may not use that zone');
      if (!opts.router.byId(zoneId)) return sendCfError(res, 404, 7003, `no zone with id ${JSON.stringify(zoneId)}`);
      handleInspect(req, res, zoneId, opts.store, opts.router);
      return;
    }
    sendCfError(res, 404, 7000, `no admin route ${req.method} ${path}`);
  }
  return server;
}
