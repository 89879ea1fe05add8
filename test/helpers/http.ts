// Test helpers: a scriptable origin that records what it receives, an edge started in-process, and a small client.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startEdge, type RunningEdge } from '../../src/edge/server.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import type { Clock } from '../../src/edge/clock.js';
import type { CacheStore } from '../../src/storage/store.js';
import { ADMIN_API_HEADER, ADMIN_API_HEADER_VALUE, ADMIN_API_NAME, ADMIN_PROBE_PATH } from '../../src/admin/identity.js';

export interface Recorded { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }

export interface TestOrigin {
  url: string;
  port: number;
  requests: Recorded[];
  count(path?: string): number;
  close(): Promise<void>;
}

export type OriginHandler = (req: IncomingMessage & { body: Buffer }, res: ServerResponse) => void | Promise<void>;

/** A real origin on 127.0.0.1:0; every request is recorded (method, url, headers, body) before the handler runs. */
export async function startOrigin(t: TestContext, handler: OriginHandler): Promise<TestOrigin> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      Promise.resolve(handler(Object.assign(req, { body }), res)).catch((err) => { res.destroy(err as Error); });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); });
  t.after(close);
  return {
    url: `http://127.0.0.1:${port}`, port, requests,
    count: (path) => requests.filter((r) => path === undefined || r.url === path).length,
    close,
  };
}

/** Whether a request is the CLI's unauthenticated admin probe (GET …/healthz). */
export function isAdminProbe(req: { method?: string; url?: string }): boolean {
  return req.method === 'GET' && (req.url ?? '').split('?', 1)[0]!.endsWith(`/${ADMIN_PROBE_PATH}`);
}

/** Answers the probe as the real admin listener does (its marker field and body). */
export function answerAdminProbe(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', [ADMIN_API_HEADER]: ADMIN_API_HEADER_VALUE });
  res.end(JSON.stringify({ status: 'ok', api: ADMIN_API_NAME }));
}

/**
 * A stand-in admin API for CLI tests: it answers the probe as the admin listener does and everything else with
 * `handler`; `requests` leaves the probes out (`probes` has them).
 */
export async function startFakeAdmin(t: TestContext, handler: OriginHandler): Promise<TestOrigin & { probes: Recorded[] }> {
  const server = await startOrigin(t, (req, res) => (isAdminProbe(req) ? answerAdminProbe(res) : handler(req, res)));
  return {
    ...server,
    get requests() { return server.requests.filter((r) => !isAdminProbe(r)); },
    get probes() { return server.requests.filter((r) => isAdminProbe(r)); },
    count: (path) => server.requests.filter((r) => !isAdminProbe(r) && (path === undefined || r.url === path)).length,
  };
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * Starts an edge in this process on ephemeral ports; `zones` default to one zone in front of `origin`.
 * `opts.logger` replaces the silent logger (e.g. a pino logger writing to an array, to assert on warnings);
 * `opts.clock` (a ManualClock) lets a test move time on instead of sleeping; `opts.store` replaces the configured store.
 */
export async function startTestEdge(
  t: TestContext,
  input: Partial<ConfigInput> & { origin?: string },
  opts: { logger?: Logger; clock?: Clock; store?: CacheStore } = {},
): Promise<RunningEdge & { base: string; adminBase: string }> {
  const { origin, ...rest } = input;
  const config = validateConfig({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0', tokens: [{ token: ADMIN_TOKEN, zones: ['*'] }] },
    // A reload applies the config's level: a test's own logger keeps its level through one.
    logLevel: opts.logger?.level ?? 'silent',
    ...rest,
    zones: rest.zones ?? [{ id: 'default', hosts: ['*'], origin: origin! }],
  }, 'test');
  const edge = await startEdge(config, { logger: opts.logger ?? createLogger('silent'), clock: opts.clock, store: opts.store });
  t.after(() => edge.close(1000));
  return Object.assign(edge, { base: `http://127.0.0.1:${edge.edge.port}`, adminBase: `http://127.0.0.1:${edge.admin.port}` });
}

export interface Res { status: number; headers: IncomingHttpHeaders; body: string; raw: Buffer }

/** One request on a fresh connection (no keep-alive between tests). */
export function send(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { const raw = Buffer.concat(chunks); resolve({ status: res.statusCode!, headers: res.headers, body: raw.toString('utf8'), raw }); });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** POSTs a purge body to the edge's admin API (Cloudflare shape) with the test token; returns the parsed answer. */
export async function purge(edge: { adminBase: string }, zoneId: string, body: unknown): Promise<{ status: number; json: { success: boolean } & Record<string, unknown> }> {
  const r = await send(`${edge.adminBase}/client/v4/zones/${zoneId}/purge_cache`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: JSON.parse(r.body) as { success: boolean } & Record<string, unknown> };
}

/** One sample's value from the admin /metrics text (`labels` as written in the exposition, e.g. `kind="x"`); 0 when absent. */
export async function metric(edge: { adminBase: string }, name: string, labels = ''): Promise<number> {
  const r = await send(`${edge.adminBase}/metrics`);
  const want = labels === '' ? name : `${name}{${labels}}`;
  for (const line of r.body.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp !== -1 && line.slice(0, sp) === want) return Number(line.slice(sp + 1));
  }
  return 0;
}
