// A zone's origins (Varnish's director, Caddy's reverse_proxy upstreams): weighted choice among the healthy ones, one
// retry on another origin for an idempotent request without a body that could not connect, and fail-fast when every
// origin is down (an ORIGIN_UNREACHABLE, so stale-if-error and a disconnected cache's stale answers apply).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { OriginClient, OriginError, classifyOriginError, type OriginFetch, type OriginRequest, type OriginResponse, type OriginTlsOptions } from './client.js';
import { HealthCheck, type HealthCheckConfig } from './health.js';
import type { OriginHealthMetrics, OriginStates } from './health-metrics.js';

export interface OriginSetConfig {
  zoneId: string;
  origins: readonly { url: string; weight: number }[];
  timeouts: { connectMs: number; headersMs: number; bodyMs: number };
  /** Host (and, for https, SNI) sent to the origins instead of the client's. */
  originHost?: string;
  tls?: { ca?: string; servername?: string; rejectUnauthorized: boolean };
  healthCheck?: HealthCheckConfig;
}

/** What an origin set tells the operator: state changes (logged and counted). */
export interface OriginSetHooks {
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  metrics?: OriginHealthMetrics;
}

/** Methods a retry cannot change the meaning of (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Failures before any response head: no connection, or a connection the origin reset or closed (a killed origin's
 * pooled keep-alive connections). As nginx's proxy_next_upstream `error`: safe to send elsewhere for idempotent requests.
 */
const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
]);

/** Whether a failed attempt may be tried again elsewhere: a connection failure of an idempotent request without a body. */
export function isRetryable(req: OriginRequest, err: OriginError): boolean {
  if (req.body != null || !IDEMPOTENT.has(req.method) || req.signal?.aborted) return false;
  if (err.code !== 'ORIGIN_UNREACHABLE' && err.code !== 'ORIGIN_TIMEOUT') return false;
  const code = err.causeCode;
  return code !== undefined && NOT_CONNECTED.has(code);
}

/** Typed error for an origin setting that cannot be used (an unreadable CA file). */
export class OriginConfigError extends Error {
  readonly code = 'ORIGIN_CONFIG';
  constructor(message: string, cause?: unknown) { super(message, { cause }); this.name = 'OriginConfigError'; }
}

interface Member { readonly url: string; readonly weight: number; readonly client: OriginClient; check?: HealthCheck }

export class OriginSet implements OriginStates {
  readonly zoneId: string;
  /** The first origin (what a single `origin:` zone names). */
  readonly origin: string;
  /** The Host sent to origins instead of the client's, when the zone sets originHost. */
  readonly originHost: string | undefined;
  readonly #members: Member[];
  readonly #untrack: (() => void) | undefined;

  constructor(cfg: OriginSetConfig, hooks: OriginSetHooks = {}) {
    this.zoneId = cfg.zoneId;
    this.origin = cfg.origins[0]!.url;
    this.originHost = cfg.originHost;
    const tls = originTls(cfg);
    this.#members = cfg.origins.map((o) => ({ url: o.url, weight: o.weight, client: new OriginClient({ origin: o.url, ...cfg.timeouts, tls }) }));
    const hc = cfg.healthCheck;
    if (hc) {
      for (const m of this.#members) {
        const host = cfg.originHost ?? new URL(m.url).host;
        m.check = new HealthCheck(hc, () => m.client.probe(hc.path, host, hc.timeoutMs), (up) => {
          const fields = { zone: cfg.zoneId, origin: m.url, state: up ? 'up' : 'down', healthCheck: hc.path };
          if (up) hooks.logger?.info(fields, 'origin is up'); else hooks.logger?.warn(fields, 'origin is down');
          hooks.metrics?.changed(cfg.zoneId, m.url, up);
        });
      }
    }
    this.#untrack = hooks.metrics?.track(this);
  }

  /** Each origin and whether it is up (true without health checks). */
  health(): { url: string; up: boolean }[] {
    return this.#members.map((m) => ({ url: m.url, up: m.check?.up ?? true }));
  }

  /** A weighted choice among the healthy origins not in `tried`; undefined when there is none. */
  #pick(tried: Member | undefined): Member | undefined {
    const ms = this.#members;
    if (ms.length === 1) { const m = ms[0]!; return m !== tried && (m.check?.up ?? true) ? m : undefined; }
    let total = 0;
    for (const m of ms) if (m !== tried && (m.check?.up ?? true)) total += m.weight;
    if (total === 0) return undefined;
    let r = Math.random() * total;
    for (const m of ms) {
      if (m === tried || !(m.check?.up ?? true)) continue;
      r -= m.weight;
      if (r < 0) return m;
    }
    return undefined;
  }

  /** The answer with its body as a stream (passes, relays, range and slice fetches). */
  request(req: OriginRequest): Promise<OriginResponse> {
    return this.#ask(req, (c) => c.request(req));
  }

  /** The answer with its body read by callbacks (fetches for the cache, src/edge/flight.ts). */
  fetch(req: OriginRequest): Promise<OriginFetch> {
    return this.#ask(req, (c) => c.fetch(req));
  }

  #ask<T>(req: OriginRequest, call: (c: OriginClient) => Promise<T>): Promise<T> {
    const first = this.#pick(undefined);
    if (!first) return Promise.reject(this.#allDown());
    // A lone origin is not asked twice: its own promise is the answer (no wrapper per request).
    if (this.#members.length === 1) return call(first.client);
    return this.#retrying(req, first, call);
  }

  async #retrying<T>(req: OriginRequest, first: Member, call: (c: OriginClient) => Promise<T>): Promise<T> {
    try {
      return await call(first.client);
    } catch (err) {
      const e = classifyOriginError(err);
      if (!isRetryable(req, e)) throw e;
      // Once, on another healthy origin (a lone origin's failure is the answer: it is not asked twice).
      const next = this.#pick(first);
      if (!next) throw e;
      return call(next.client);
    }
  }

  #allDown(): OriginError {
    const e = new OriginError('ORIGIN_UNREACHABLE', `origin unreachable (every origin of zone ${this.zoneId} fails its health checks)`);
    e.origin = this.#members.map((m) => m.url).join(' ');
    return e;
  }

  /** Stops the health checks and closes every pool (see OriginClient.close). */
  async close(deadlineMs?: number): Promise<void> {
    for (const m of this.#members) m.check?.close();
    this.#untrack?.();
    await Promise.all(this.#members.map((m) => m.client.close(deadlineMs)));
  }
}

/** The pools' TLS options: the CA file read once (a file that cannot be read stops the start with its name). */
function originTls(cfg: OriginSetConfig): OriginTlsOptions | undefined {
  const t = cfg.tls;
  const named = t?.servername ?? (cfg.originHost === undefined ? undefined : hostName(cfg.originHost));
  // SNI carries host names only (RFC 6066 §3): an IP address is checked against the certificate without it.
  const sni = named !== undefined && isIP(named) === 0 ? named : undefined;
  if (!t && sni === undefined) return undefined;
  let ca: string | undefined;
  if (t?.ca !== undefined) {
    try { ca = readFileSync(t.ca, 'utf8'); } catch (err) {
      throw new OriginConfigError(`zone ${cfg.zoneId}: tls.ca ${t.ca} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new OriginConfigError(`zone ${cfg.zoneId}: tls.ca ${t.ca} holds no PEM certificate`);
  }
  return { ca, servername: sni, rejectUnauthorized: t?.rejectUnauthorized ?? true };
}

/** The host name of HOST[:PORT] (brackets of an IPv6 literal removed). */
function hostName(hostPort: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (m) return m[1]!;
  const colon = hostPort.lastIndexOf(':');
  return colon === -1 ? hostPort : hostPort.slice(0, colon);
}
