// The admin listener: /healthz, /metrics, the purge API, inspect and the dashboard; nothing here is reachable from the edge port.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { PurgeRequest } from '../purge/request.js';
import type { PurgeOutcome } from '../purge/purger.js';
import { createTokenChecker, type AdminToken } from './auth.js';
import { admitAdminRequest } from './admit.js';
import { MAX_PURGE_BODY_BYTES } from './body.js';
import { handlePurge } from './purge-route.js';
import { handlePurgeStatus } from './purge-status-route.js';
import type { FleetProgress } from '../cluster/fleet-progress.js';
import { handleInspect, type InspectResult } from './inspect-route.js';
import { refuse, sendApiError, sendApiSuccess } from './reply.js';
import { createHostCheck } from './host-check.js';
import { API_ERRORS, type ApiErrorName } from '../purge/api-errors.js';
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
  /** How many live nodes applied purge `id` (null: no such purge); no status route when absent. */
  purgeStatus?(zoneId: string, id: string): Promise<FleetProgress | null>;
  /** Fields for /healthz beyond status and zones (store counts, cluster state). */
  health(): Record<string, unknown>;
  /** Why this node is degraded (Redis unreachable, every origin failing); empty: healthy. */
  degraded?(): string[];
  /** Why this node should not get traffic yet or any more (starting, catching up with the cluster, shutting down); empty: ready. */
  notReady?(): string[];
  /** POST /reload: re-reads the config file and applies it; rejects with the reason when the config is refused. */
  reload?(): Promise<unknown>;
  inspect(zoneId: string, url: string, headers: Record<string, string>): Promise<InspectResult>;
  /** Figures, history and recent events for the dashboard at /dashboard/ (no dashboard when absent). */
  dashboard?: DashboardSource;
  /** admin.hosts: Host names answered besides IP literals and localhost (src/admin/host-check.ts). */
  hosts?: readonly string[];
}

const PURGE_PATH = /^\/client\/v4\/zones\/([^/]+)\/purge_cache\/?$/;
const PURGE_STATUS_PATH = /^\/client\/v4\/zones\/([^/]+)\/purge_cache\/([^/]+)\/?$/;
const INSPECT_PATH = /^\/edgecache\/v1\/zones\/([^/]+)\/inspect\/?$/;

/** The zone id in a route's path, percent-decoded; undefined when it is not valid percent-encoded UTF-8. */
function decodeZoneId(raw: string): string | undefined {
  try { return decodeURIComponent(raw); } catch { return undefined; }
}

/** An error's stack for the log (never request headers or tokens). */
function errText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? String(err)) : String(err);
}

/** A Cloudflare-shaped refusal written straight to a socket the HTTP parser gave up on; the connection then closes. */
function rawRefusal(name: ApiErrorName, message: string): string {
  const { status, code } = API_ERRORS[name];
  const body = JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n`
    + `x-content-type-options: nosniff\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** What a config reload changes on a running admin listener. */
export type AdminSettings = Pick<AdminOptions, 'tokens' | 'zoneIds' | 'maxItems' | 'hosts'>;

export interface AdminServer extends Server {
  /** Applies reloaded settings: requests from now on use the new tokens, zones, host names and purge bound. */
  configure(settings: AdminSettings): void;
}

export function createAdminServer(options: AdminOptions): AdminServer {
  let opts = options;
  let tokenChecker = createTokenChecker(opts.tokens);
  let isAllowedHost = createHostCheck(opts.hosts);
  const checkToken: ReturnType<typeof createTokenChecker> = (header, zoneId) => tokenChecker(header, zoneId);
  const started = Date.now();
  const dashboard = opts.dashboard && createDashboardRoute({ checkToken, source: opts.dashboard, maxItems: () => opts.maxItems });
  /** The answer under way on a socket: a parse error there is not answered (it would land inside that answer). */
  const answering = new WeakMap<Socket, ServerResponse>();
  const server = Object.assign(createServer((req, res) => {
    answering.set(req.socket, res);
    res.once('finish', () => { if (answering.get(req.socket) === res) answering.delete(req.socket); });
    route(req, res).catch((err) => {
      opts.logger.error({ err: errText(err) }, 'admin request failed');
      if (!res.headersSent) sendApiError(res, 'internal', 'internal error'); else res.destroy();
    });
  }), {
    configure(settings: AdminSettings): void {
      opts = { ...opts, ...settings };
      tokenChecker = createTokenChecker(opts.tokens);
      isAllowedHost = createHostCheck(opts.hosts);
    },
  });
  // Requests node:http cannot parse get the same JSON envelope as every other admin answer, then the connection closes.
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    const parseError = err.code?.startsWith('HPE_') === true || err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!parseError || !socket.writable) { socket.destroy(); return; }
    // Bytes after a request whose answer is still being made (e.g. an unframed body): that answer goes out, then close.
    const pending = answering.get(socket);
    if (pending) { pending.once('finish', () => socket.end()); return; }
    const refusal = err.code === 'HPE_HEADER_OVERFLOW' ? rawRefusal('headTooLarge', 'the request head is too large')
      : rawRefusal('badRequest', err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'the request was not received in time' : `malformed HTTP request (${err.code})`);
    socket.end(refusal);
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!isAllowedHost(req.headers.host)) {
      refuse(req, res, 'hostNotAllowed', 'Misdirected request: the admin API answers only to an IP address, localhost or a name listed in admin.hosts');
      return;
    }
    if (path === '/healthz') {
      // `api` and the edgecache-api field tell a client (the CLI) it reached the admin API before it sends a token.
      const reasons = opts.degraded?.() ?? [];
      const body = JSON.stringify({ status: reasons.length === 0 ? 'ok' : 'degraded', ...(reasons.length > 0 ? { reasons } : {}), api: ADMIN_API_NAME,
        uptimeSeconds: Math.round((Date.now() - started) / 1000), zones: opts.zoneIds, ...opts.health() });
      res.writeHead(200, {
        'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body),
        [ADMIN_API_HEADER]: ADMIN_API_HEADER_VALUE,
      });
      res.end(body);
      return;
    }
    if (path === '/readyz') {
      // For load balancers: 200 once serving, 503 while catching up with the cluster or shutting down.
      const reasons = opts.notReady?.() ?? [];
      const body = JSON.stringify(reasons.length === 0 ? { ready: true } : { ready: false, reasons });
      res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (path === '/reload' && opts.reload) {
      // Every zone's token only: a reload changes every zone (and the tokens themselves).
      if (!admitAdminRequest(req, res, '*', { checkToken, hasZone: () => true }, 'reload')) return;
      req.resume();
      try {
        sendApiSuccess(res, await opts.reload());
      } catch (err) {
        sendApiError(res, 'configRefused', (err as Error).message);
      }
      return;
    }
    if (path === '/metrics') {
      const m = await opts.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
      res.end(m.text);
      return;
    }
    const purge = PURGE_PATH.exec(path);
    const status = purge || !opts.purgeStatus ? null : PURGE_STATUS_PATH.exec(path);
    const inspect = purge || status ? null : INSPECT_PATH.exec(path);
    const rawZone = (purge ?? status ?? inspect)?.[1];
    if (rawZone === undefined) {
      if (dashboard?.(req, res, path)) return;
      sendApiError(res, 'noRoute', `no admin route ${req.method} ${path.slice(0, 200)}`);
      return;
    }
    const zoneId = decodeZoneId(rawZone);
    if (zoneId === undefined) {
      refuse(req, res, 'badRequest', `the zone id ${JSON.stringify(rawZone.slice(0, 100))} in the path is not valid percent-encoding`);
      return;
    }
    const hasZone = (id: string): boolean => opts.zoneIds.includes(id);
    if (purge) {
      handlePurge(req, res, zoneId, {
        checkToken,
        hasZone,
        maxItems: opts.maxItems,
        maxBodyBytes: MAX_PURGE_BODY_BYTES,
        apply: (id, r) => opts.applyPurge(id, r),
        newId: () => randomUUID().replace(/-/g, ''),
        onError: (err) => opts.logger.error({ err: errText(err) }, 'purge failed'),
      });
      return;
    }
    if (status) {
      const id = decodeZoneId(status[2]!);
      if (id === undefined) { refuse(req, res, 'badRequest', 'the purge id in the path is not valid percent-encoding'); return; }
      const purgeStatus = opts.purgeStatus!;
      handlePurgeStatus(req, res, zoneId, id, { checkToken, hasZone, status: (z, i) => purgeStatus(z, i), onError: (err) => opts.logger.error({ err: errText(err) }, 'purge status failed') });
      return;
    }
    if (!admitAdminRequest(req, res, zoneId, { checkToken, hasZone }, 'the inspect API')) return;
    handleInspect(req, res, zoneId, { inspect: opts.inspect, onError: (err) => opts.logger.error({ err: errText(err) }, 'inspect failed') });
  }
  return server;
}
