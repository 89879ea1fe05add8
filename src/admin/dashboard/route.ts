// The dashboard on the admin listener: its static page under /dashboard/ and its read-only API under
// /edgecache/v1/dashboard/ (session, history, events), bearer-token only, scoped to the token's zones.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenChecker } from '../auth.js';
import { sendApiError, sendApiSuccess } from '../reply.js';
import type { History, Sample, SourceSample } from '../../observability/history.js';
import type { EventGroup } from '../../observability/recent-events.js';
import { loadAssets, type Asset } from './assets.js';

export interface DashboardZone { id: string; hosts: readonly string[]; cors: 'edge' | 'origin'; keyHeaders: readonly string[] }

/** What the edge (one process, or a primary over its workers) gives the dashboard. */
export interface DashboardSource {
  /** The running zones (a reload replaces them: see setZones in source.ts). */
  readonly zones: readonly DashboardZone[];
  readonly history: History;
  events(): Promise<EventGroup[]>;
  /** Who answers: host name, pid, mode (single, workers), cluster state. */
  node(): Record<string, unknown>;
}

export interface DashboardRouteOptions {
  checkToken: TokenChecker;
  source: DashboardSource;
  /** The running purge.maxItems (a reload may change it). */
  maxItems(): number;
  /** The asset map (tests pass their own); default: the package's dashboard/ directory. */
  assets?: Map<string, Asset>;
}

/** The page may load only its own files and talk only to this listener; no framing, no inline script or style. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

export const DASHBOARD_API = '/edgecache/v1/dashboard/';
const NO_ZONE = '\u0000'; // no zone has this id: a token allowed on it is allowed on every zone

/** The token's reach: every zone, some zones, or unknown. */
export type Scope = { all: true; zones: string[] } | { all: false; zones: string[] } | undefined;

export function scopeOf(checkToken: TokenChecker, auth: string | undefined, zoneIds: readonly string[]): Scope {
  const c = checkToken(auth, NO_ZONE);
  if (c === 'unauthenticated') return undefined;
  if (c === 'ok') return { all: true, zones: [...zoneIds] };
  return { all: false, zones: zoneIds.filter((z) => checkToken(auth, z) === 'ok') };
}

/** A sample as a zone-scoped token may see it: only `zone:<id>:…` counters of its zones; node-wide figures dropped. */
export function scopeSample(s: Sample, zones: readonly string[]): Sample {
  const prefixes = zones.map((z) => `zone:${z}:`);
  const sources: Record<string, SourceSample> = {};
  for (const [id, src] of Object.entries(s.sources)) {
    const c: Record<string, number> = {};
    for (const k in src.c) if (prefixes.some((p) => k.startsWith(p))) c[k] = src.c[k]!;
    sources[id] = { c, g: {} };
  }
  return { t: s.t, dt: s.dt, sources };
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': a.type, 'content-length': String(a.body.length), 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

/** Handles `path` when it belongs to the dashboard; returns false otherwise. */
export function createDashboardRoute(opts: DashboardRouteOptions): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  const assets = opts.assets ?? loadAssets();
  return (req, res, path) => {
    if (path === '/dashboard') {
      res.writeHead(308, { ...SECURITY_HEADERS, location: '/dashboard/', 'content-length': '0' });
      res.end();
      return true;
    }
    if (path.startsWith('/dashboard/')) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      if (req.method !== 'GET' && req.method !== 'HEAD') { sendApiError(res, 'methodNotAllowed', `Method ${req.method ?? '?'} not available for the dashboard; use GET`, { allow: 'GET, HEAD' }); return true; }
      const a = assets.get(path.slice('/dashboard/'.length));
      if (a) sendAsset(req, res, a);
      else if (assets.size === 0) sendApiError(res, 'internal', 'the dashboard files are missing from this installation (dashboard/ next to dist/)');
      else sendApiError(res, 'noRoute', `no dashboard file ${path}`);
      return true;
    }
    if (!path.startsWith(DASHBOARD_API)) return false;
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET') { sendApiError(res, 'methodNotAllowed', `Method ${req.method ?? '?'} not available for the dashboard API; use GET`, { allow: 'GET' }); return true; }
    const scope = scopeOf(opts.checkToken, req.headers.authorization, opts.source.zones.map((z) => z.id));
    if (!scope) {
      sendApiError(res, 'unauthenticated', 'Unable to authenticate request: send "Authorization: Bearer <admin token>"', { 'www-authenticate': 'Bearer realm="edgecache-admin"' });
      return true;
    }
    const what = path.slice(DASHBOARD_API.length);
    if (what === 'session') {
      sendApiSuccess(res, {
        allZones: scope.all,
        zones: opts.source.zones.filter((z) => scope.zones.includes(z.id)),
        node: scope.all ? opts.source.node() : {},
        intervalMs: opts.source.history.intervalMs,
        keepSamples: opts.source.history.capacity,
        purgeMaxItems: opts.maxItems(),
      });
      return true;
    }
    if (what === 'history') {
      const q = req.url?.indexOf('?') ?? -1;
      const since = Number(q === -1 ? NaN : new URLSearchParams(req.url!.slice(q + 1)).get('since'));
      const samples = opts.source.history.samples(Number.isFinite(since) ? since : undefined);
      sendApiSuccess(res, { intervalMs: opts.source.history.intervalMs, now: Date.now(), samples: scope.all ? samples : samples.map((s) => scopeSample(s, scope.zones)) });
      return true;
    }
    if (what === 'events') {
      void opts.source.events().then((events) => {
        sendApiSuccess(res, { events: scope.all ? events : events.filter((e) => scope.zones.includes(e.zone)) });
      }, (err: unknown) => sendApiError(res, 'internal', `events unavailable: ${(err as Error).message}`));
      return true;
    }
    sendApiError(res, 'noRoute', `no dashboard API ${path}`);
    return true;
  };
}
