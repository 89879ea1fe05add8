// The admin listener: /healthz, /metrics, the purge API, inspect and the dashboard; nothing here is reachable from the edge port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { PurgeRequest } from '../purge/request.js';
import type { PurgeOutcome } from '../purge/purger.js';
import { createTokenChecker, type AdminToken } from './auth.js';
import { admitAdminRequest } from './admit.js';
import { MAX_PURGE_BODY_BYTES } from './body.js';
import { handlePurge } from './purge-route.js';
import { handleInspect, type InspectResult } from './inspect-route.js';
import { sendApiError } from './reply.js';
import { ADMIN_API_HEADER, ADMIN_API_HEADER_VALUE, ADMIN_API_NAME } from './identity.js';
import { createDashboardRoute, type DashboardSource } from './dashboard/route.js';

export interface AdminOptions {
  tokens: readonly AdminToken[];
  zoneIds: readonly string[];
  /** Prometheus text and its content type (one process, or every worker aggregated). */
  metrics(): Promise<{ contentType: string; text: string }>;
  logger: Logger;
  maxItems: number;
  /** Applies a purge (locally, or through the cluster bus); resolves with what it matched on this node. */
  applyPurge(zoneId: string, req: PurgeRequest): Promise<PurgeOutcome>;
  /** Fields for /healthz beyond status and zones (store counts, cluster state). */
  health(): Record<string, unknown>;
  inspect(zoneId: string, url: string, headers: Record<string, string>): Promise<InspectResult>;
  /** Figures, history and recent events for the dashboard at /dashboard/ (no dashboard when absent). */
  dashboard?: DashboardSource;
}

const PURGE_PATH = /^\/client\/v4\/zones\/([^/]+)\/purge_cache\/?$/;
const INSPECT_PATH = /^\/edgecache\/v1\/zones\/([^/]+)\/inspect\/?$/;

export function createAdminServer(opts: AdminOptions): Server {
  const checkToken = createTokenChecker(opts.tokens);
  const started = Date.now();
  const dashboard = opts.dashboard && createDashboardRoute({ checkToken, source: opts.dashboard, maxItems: opts.maxItems });
  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      opts.logger.error({ err: String(err) }, 'admin request failed');
      if (!res.headersSent) sendApiError(res, 'internal', 'internal error'); else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/healthz') {
      // `api` and the edgecache-api field tell a client (the CLI) it reached the admin API before it sends a token.
      const body = JSON.stringify({ status: 'ok', api: ADMIN_API_NAME, uptimeSeconds: Math.round((Date.now() - started) / 1000),
        zones: opts.zoneIds, ...opts.health() });
      res.writeHead(200, {
        'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body),
        [ADMIN_API_HEADER]: ADMIN_API_HEADER_VALUE,
      });
      res.end(body);
      return;
    }
    if (path === '/metrics') {
      const m = await opts.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
      res.end(m.text);
      return;
    }
    const purge = PURGE_PATH.exec(path);
    if (purge) {
      const zoneId = decodeURIComponent(purge[1]!);
      handlePurge(req, res, zoneId, {
        checkToken,
        hasZone: (id) => opts.zoneIds.includes(id),
        maxItems: opts.maxItems,
        maxBodyBytes: MAX_PURGE_BODY_BYTES,
        apply: (id, r) => opts.applyPurge(id, r),
        newId: () => randomUUID().replace(/-/g, ''),
        onError: (err) => opts.logger.error({ err: String(err) }, 'purge failed'),
      });
      return;
    }
    const inspect = INSPECT_PATH.exec(path);
    if (inspect) {
      const zoneId = decodeURIComponent(inspect[1]!);
      if (!admitAdminRequest(req, res, zoneId, { checkToken, hasZone: (id) => opts.zoneIds.includes(id) }, 'the inspect API')) return;
      handleInspect(req, res, zoneId, opts);
      return;
    }
    if (dashboard?.(req, res, path)) return;
    sendApiError(res, 'noRoute', `no admin route ${req.method} ${path}`);
  }
  return server;
}
