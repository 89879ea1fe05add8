// The request path: route by Host, key, look up, decide (RFC 9111 §4), then serve, revalidate, fetch or pass.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import type { ZoneRouter, ZoneRuntime } from './zones.js';
import { Flight, type FlightHead } from './flight.js';
import { forwardHeaders } from '../http/headers.js';
import { normalizeHost, primaryKey, selectorOf } from '../cache/key.js';
import { currentAge, evaluateReuse, invalidationTargets, isNonErrorStatus, SAFE_METHODS, normalizeVaryValue, parseRequestDirectives, preciseAge, validatorsFor } from '../cache/policy/index.js';
import { isPreflight } from '../cors/policy.js';
import { createPreflightCache, preflightObjectKey } from './preflight.js';
import { createCorsDiagnostics, detectCorsProblems, urlPattern } from '../cors/diagnostics.js';
import { cacheStatus, hitStatus, type CacheStatusParts, type CfCacheStatus, type FwdReason } from '../observability/cache-status.js';
import { flatFields, hasConditionals, sendText, serveComplete, type Servable } from './respond.js';
import { classifyOriginError, OriginError } from '../origin/client.js';
import { cfFor, discard, isStaleIfErrorStatus, relayInterim } from './answers.js';
import type { RedisTier } from '../cluster/redis-tier.js';

export interface EdgeContext {
  router: ZoneRouter;
  store: CacheStore;
  metrics: EdgeMetrics;
  logger: Logger;
  maxObjectBytes: number;
  /** The shared cache tier in Redis (cluster.sharedCache), when configured. */
  tier?: RedisTier;
}

/** Client fields the edge answers itself when it fetches for the cache (RFC 9111 §4.3.2: it may send its own validators). */
const CACHE_FETCH_DROP: ReadonlySet<string> = new Set([
  'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range',
]);

interface Req {
  zone: ZoneRuntime;
  host: string;
  path: string;
  query: string;
  target: string;
  objectKey: string;
  method: string;
}

export function createHandler(ctx: EdgeContext): (req: IncomingMessage, res: ServerResponse) => void {
  const flights = new Map<string, Flight>();
  const { router, store, metrics, logger } = ctx;
  const logAccess = logger.isLevelEnabled('info');
  const preflights = createPreflightCache();

  function done(res: ServerResponse, cf: CfCacheStatus | 'NONE'): void {
    if (logAccess) (res as ServerResponse & { cacheStatus?: string }).cacheStatus = cf;
    metrics.countRequest(cf);
  }

  /**
   * Edge fields for one answer, in one array of its final size: Age for an answer from cache (RFC 9111 §5.1),
   * cf-cache-status, RFC 9211 Cache-Status (which names this cache), and the zone's CORS fields. No Via: a gateway
   * MAY send one on responses (RFC 9110 §7.6.3, https://www.rfc-editor.org/rfc/rfc9110#section-7.6.3), and it
   * would be one more field on every hit; requests to the origin carry ours (src/http/headers.ts).
   */
  function statusFields(req: IncomingMessage, zone: ZoneRuntime, cf: CfCacheStatus, status: string, age?: string): string[] {
    const deco = zone.decorate(req.headers.origin);
    const n = age === undefined ? 4 : 6;
    const out = new Array<string>(n + deco.length);
    let i = 0;
    if (age !== undefined) { out[i++] = 'age'; out[i++] = age; }
    out[i++] = 'cf-cache-status'; out[i++] = cf;
    out[i++] = 'cache-status'; out[i++] = status;
    for (let j = 0; j < deco.length; j++) out[i++] = deco[j]!;
    return out;
  }

  const diagnostics = createCorsDiagnostics({
    warn: (obj, msg) => logger.warn(obj, msg),
    count: (kind) => metrics.corsDiagnostics.inc({ kind }),
  });
  /** Origin-owned CORS only: finds origins whose CORS answers poison shared caches (issue 5 §2). */
  function diagnose(req: IncomingMessage, r: Req, headers: Record<string, string | string[] | undefined>): void {
    if (r.zone.cors) return;
    const origin = req.headers.origin;
    if (headers['access-control-allow-origin'] === undefined) return;
    const o = typeof origin === 'string' ? origin : undefined;
    // The URL pattern is only worth building for a response that shows a problem (rare): detect first.
    if (detectCorsProblems(o, headers).length > 0) diagnostics.inspect(urlPattern(`${r.host}${r.path}`), o, headers);
  }

  // With edge-owned CORS, Origin is not in the key, so it must not reach the origin on cache fetches either
  // (an origin that varied its body by Origin would otherwise hand the first requester's body to everyone).
  const CACHE_FETCH_DROP_EDGE_CORS: ReadonlySet<string> = new Set([...CACHE_FETCH_DROP, 'origin']);

  function forward(req: IncomingMessage, r: Req, forCache: boolean): Record<string, string | string[]> {
    const peer = req.socket.remoteAddress;
    return forwardHeaders(req.headers, {
      strip: r.zone.strip,
      keyed: r.zone.keyHeaders,
      forwardUnderscores: r.zone.forwardUnderscores,
      normalize: normalizeVaryValue,
      dropForCacheFetch: forCache ? (r.zone.cors ? CACHE_FETCH_DROP_EDGE_CORS : CACHE_FETCH_DROP) : undefined,
      host: r.host,
      proto: 'http',
      peer,
      trustPeer: peer !== undefined && r.zone.trustedProxies.has(peer),
    });
  }

  /** Serves a stored variant with its current Age (RFC 9111 §4.2.3, §5.1). */
  function serveVariant(req: IncomingMessage, res: ServerResponse, r: Req, v: StoredVariant, cf: CfCacheStatus, parts: CacheStatusParts): void {
    serveComplete(req, res, v, statusFields(req, r.zone, cf, cacheStatus(parts), String(currentAge(v.freshness, Date.now()))));
    done(res, cf);
  }

  /** The cache hit (the hot path): Age and ttl from the reuse decision, the Cache-Status string made once per ttl. */
  function serveHit(req: IncomingMessage, res: ServerResponse, zone: ZoneRuntime, v: StoredVariant, age: number, ttl: number): void {
    serveComplete(req, res, v, statusFields(req, zone, 'HIT', hitStatus(ttl), String(age)));
    done(res, 'HIT');
  }

  function originFailed(res: ServerResponse, err: unknown): void {
    const e = err instanceof OriginError ? err : classifyOriginError(err);
    if (res.headersSent) { res.destroy(); return; }
    sendText(res, e.status, `edgecache: ${e.message}`, ['cache-status', cacheStatus({ fwd: 'miss', detail: e.code.toLowerCase() })]);
    done(res, 'NONE');
  }

  /** Forwards a request uncached (other methods, requests with content, non-shareable answers). */
  function pass(req: IncomingMessage, res: ServerResponse, r: Req, cf: CfCacheStatus, fwd: FwdReason, detail?: string): void {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    metrics.originFetches.inc({ kind: 'pass' });
    r.zone.origin.request({
      method: r.method, path: r.target, headers: forward(req, r, false), body: hasBody ? req : null, signal: abort.signal,
      onInfo: relayInterim(res),
    }).then((o) => {
      if (!SAFE_METHODS.has(r.method) && isNonErrorStatus(o.status)) invalidate(r, o.headers);
      diagnose(req, r, o.headers);
      relay(req, res, r, o.status, r.zone.clientFields(o.headers), o.body, cf, { fwd, fwdStatus: o.status, detail }, true);
    }, (err) => {
      metrics.originErrors.inc({ code: classifyOriginError(err).code });
      originFailed(res, err);
    });
  }

  /** Writes an origin answer through to the client, uncached (a throw on an invalid field becomes a 502). */
  function relay(req: IncomingMessage, res: ServerResponse, r: Req, status: number, fields: [string, string][], body: Readable, cf: CfCacheStatus, parts: CacheStatusParts, bodyless = false): void {
    try {
      res.writeHead(status, flatFields(fields, statusFields(req, r.zone, cf, cacheStatus(parts))));
    } catch {
      discard(body);
      originFailed(res, new OriginError('ORIGIN_BAD_RESPONSE', 'origin sent an invalid response field'));
      return;
    }
    // A HEAD sent on as GET (a cache fetch) has a body to drop; one the origin saw as HEAD has none to wait for.
    if (r.method === 'HEAD') { if (bodyless) body.resume(); else discard(body); res.end(); }
    else pipeline(body, res, () => {});
    done(res, cf);
  }

  /** RFC 9111 §4.4: a successful unsafe request invalidates its target and same-host Location/Content-Location. */
  function invalidate(r: Req, resHeaders: Record<string, string | string[] | undefined>): void {
    store.purge({ kind: 'object', zoneId: r.zone.id, host: r.host, path: r.path, query: r.query }, false);
    let base: URL;
    try { base = new URL(`http://${r.host}${r.target}`); } catch { return; }
    // The first target is the request URI itself, purged above by its raw path and query.
    for (const u of invalidationTargets(r.method, 200, base, resHeaders).slice(1)) {
      const host = normalizeHost(u.host);
      if (host !== r.host) continue;
      const query = r.zone.normalizeQuery(u.search.slice(1));
      if (u.pathname === r.path && query === r.query) continue;
      store.purge({ kind: 'object', zoneId: r.zone.id, host, path: u.pathname, query }, false);
    }
  }

  function startFlight(req: IncomingMessage, r: Req, revalidating: StoredVariant | undefined, collapseKey: string | undefined, res?: ServerResponse): Flight {
    const headers = forward(req, r, true);
    const preflight = r.method === 'OPTIONS' ? preflights : undefined;
    if (revalidating) Object.assign(headers, validatorsFor(revalidating.fieldMap));
    metrics.originFetches.inc({ kind: revalidating ? 'revalidate' : 'miss' });
    const flight = new Flight({
      zone: r.zone, store, objectKey: r.objectKey, host: r.host, path: r.path, query: r.query, target: r.target,
      headers, clientHeaders: req.headers, maxObjectBytes: ctx.maxObjectBytes, revalidating,
      onOriginError: (e) => metrics.originErrors.inc({ code: e.code }),
      onInfo: res ? relayInterim(res) : undefined,
      onResponse: (h) => diagnose(req, r, h),
      method: preflight ? 'OPTIONS' : 'GET',
      baseKeyNames: preflight?.keyNames,
      decide: preflight?.decide,
      tier: ctx.tier,
    });
    if (collapseKey !== undefined) {
      flights.set(collapseKey, flight);
      const release = (): void => { if (flights.get(collapseKey) === flight) flights.delete(collapseKey); };
      flight.head.then((h) => {
        if (h.kind !== 'shared') release();
        else flight.subscribe({ chunk() {}, end: release, fail: release });
      }, release);
    }
    return flight;
  }

  /** A background revalidation (RFC 5861 §3 stale-while-revalidate): nobody waits for it. */
  function revalidateInBackground(req: IncomingMessage, r: Req, v: StoredVariant): void {
    const key = `${r.objectKey}\u0000r${v.id}`;
    if (flights.has(key)) return;
    startFlight(req, r, v, key).head.then((h) => {
      if (h.kind === 'private') h.body.resume();
    }, (err) => logger.warn({ err: String(err), url: r.target }, 'background revalidation failed'));
  }

  /** Miss or revalidation: fetch (collapsed with identical requests), then serve what came back. */
  async function fetchAndServe(req: IncomingMessage, res: ServerResponse, r: Req, stale: StoredVariant | undefined, staleIfError: boolean, fwd: FwdReason, retried = false): Promise<void> {
    const keySelector = selectorOf(r.zone.keyHeaders, req.headers, normalizeVaryValue);
    const collapseKey = `${r.objectKey}\u0000${keySelector}\u0000${stale ? `r${stale.id}` : 'm'}`;
    let flight = flights.get(collapseKey);
    // A fetch that began before a purge answered may carry purged content: later requests start their own.
    if (flight && flight.startEpoch !== store.epoch()) flight = undefined;
    const collapsed = flight !== undefined;
    flight ??= startFlight(req, r, stale, collapseKey, res);
    let head: FlightHead;
    try {
      head = await flight.head;
    } catch (err) {
      if (stale && staleIfError) return serveVariant(req, res, r, stale, 'STALE', { hit: true, fwd: 'stale', detail: 'stale-if-error' });
      // RFC 9111 §4.2.4: a cache that cannot reach the origin ("disconnected") may serve stale, unless
      // must-revalidate, proxy-revalidate, s-maxage or no-cache forbid it.
      const code = classifyOriginError(err).code;
      if (stale && (code === 'ORIGIN_UNREACHABLE' || code === 'ORIGIN_TIMEOUT') && !stale.freshness.noStaleServing && !stale.freshness.alwaysRevalidate && !stale.forcedStale) {
        return serveVariant(req, res, r, stale, 'STALE', { hit: true, fwd: 'stale', detail: 'origin-unreachable' });
      }
      return originFailed(res, err);
    }
    if (res.destroyed) return;
    switch (head.kind) {
      case 'gone':
        if (retried) return sendText(res, 503, 'edgecache: the cached response was purged during revalidation; retry');
        return fetchAndServe(req, res, r, undefined, false, 'miss', true);
      case 'tier':
        if (selectorOf(head.variant.keyNames, req.headers, normalizeVaryValue) !== head.variant.selector) return fetchAlone(req, res, r, fwd);
        return serveVariant(req, res, r, head.variant, 'HIT', { hit: true, ttl: head.variant.freshness.lifetime - currentAge(head.variant.freshness, Date.now()), detail: 'shared-tier', collapsed: collapsed || undefined });
      case 'not-modified':
        return serveVariant(req, res, r, head.variant, 'REVALIDATED', { fwd, fwdStatus: 304, collapsed: collapsed || undefined });
      case 'private': {
        if (collapsed) return pass(req, res, r, cfFor(head.reason), fwd, head.reason);
        if (stale && staleIfError && isStaleIfErrorStatus(head.status)) {
          head.body.resume();
          return serveVariant(req, res, r, stale, 'STALE', { hit: true, fwd: 'stale', fwdStatus: head.status, detail: 'stale-if-error' });
        }
        return relay(req, res, r, head.status, head.fields, head.body, cfFor(head.reason), { fwd, fwdStatus: head.status, detail: head.reason });
      }
      case 'shared': {
        if (selectorOf(head.keyNames, req.headers, normalizeVaryValue) !== head.selector || !flight.joinable) {
          // Same key headers but another Vary value (or the body outgrew the limit): this request needs its own fetch.
          return fetchAlone(req, res, r, fwd);
        }
        if (stale && staleIfError && isStaleIfErrorStatus(head.status)) {
          return serveVariant(req, res, r, stale, 'STALE', { hit: true, fwd: 'stale', fwdStatus: head.status, detail: 'stale-if-error' });
        }
        const cf: CfCacheStatus = stale ? 'EXPIRED' : 'MISS';
        const parts: CacheStatusParts = { fwd, fwdStatus: head.status, stored: true, collapsed: collapsed || undefined };
        return streamOrWait(req, res, r, flight, head, cf, parts);
      }
    }
  }

  /** An uncollapsed fetch for the cache (a Vary mismatch with the flight it joined). */
  async function fetchAlone(req: IncomingMessage, res: ServerResponse, r: Req, fwd: FwdReason): Promise<void> {
    const flight = startFlight(req, r, undefined, undefined, res);
    let head: FlightHead;
    try { head = await flight.head; } catch (err) { return originFailed(res, err); }
    if (head.kind === 'shared') return streamOrWait(req, res, r, flight, head, 'MISS', { fwd, fwdStatus: head.status, stored: true });
    if (head.kind === 'private') return relay(req, res, r, head.status, head.fields, head.body, cfFor(head.reason), { fwd, fwdStatus: head.status, detail: head.reason });
    if (head.kind === 'tier') return serveVariant(req, res, r, head.variant, 'HIT', { hit: true, detail: 'shared-tier' });
    return sendText(res, 502, 'edgecache: unexpected origin answer');
  }

  /** Plain GETs stream along with the fetch; HEAD, Range and conditional requests are answered from the whole body. */
  function streamOrWait(req: IncomingMessage, res: ServerResponse, r: Req, flight: Flight, head: Extract<FlightHead, { kind: 'shared' }>, cf: CfCacheStatus, parts: CacheStatusParts): void {
    const edge = statusFields(req, r.zone, cf, cacheStatus(parts));
    if (flight.failed) return originFailed(res, flight.failed);
    if (req.method === 'GET' && req.headers.range === undefined && !hasConditionals(req.headers)) {
      // The head goes out with the first body bytes: an origin that fails before any arrive gets an error answer,
      // never a head followed by a bare close.
      let started = false;
      const start = (): void => {
        if (started) return;
        started = true;
        res.writeHead(head.status, flatFields(head.fields, edge));
      };
      const sub = {
        chunk: (b: Buffer) => { start(); res.write(b); },
        end: () => { start(); res.end(); },
        fail: (err: Error) => { if (started) res.destroy(); else originFailed(res, err); },
      };
      res.on('close', () => flight.unsubscribe(sub));
      flight.subscribe(sub);
      done(res, cf);
      return;
    }
    const chunks: Buffer[] = [];
    flight.subscribe({
      chunk: (b) => { chunks.push(b); },
      end: (stored) => {
        if (res.destroyed) return;
        const s: Servable = stored ?? {
          status: head.status, flatHeaders: flatFields(head.fields, []), fieldMap: Object.fromEntries(head.fields),
          body: Buffer.concat(chunks),
        };
        serveComplete(req, res, s, stored ? statusFields(req, r.zone, cf, cacheStatus(parts), String(currentAge(stored.freshness, Date.now()))) : edge);
        done(res, cf);
      },
      fail: (err) => originFailed(res, err),
    });
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = logAccess ? performance.now() : 0;
    if (logAccess) {
      res.on('finish', () => logger.info({ method: req.method, host: req.headers.host, url: req.url, status: res.statusCode,
        cache: (res as ServerResponse & { cacheStatus?: string }).cacheStatus, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request'));
    }
    let url = req.url ?? '/';
    let hostValue = req.headers.host ?? '';
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
      const m = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(url);
      if (!m) return sendText(res, 400, 'edgecache: request target must be a path or an absolute http(s) URL');
      hostValue = m[1]!;
      url = m[2] || '/';
      if (url[0] === '?') url = `/${url}`;
    }
    const host = normalizeHost(hostValue);
    const zone = router.match(host);
    if (!zone) return sendText(res, 421, `edgecache: no zone serves host ${JSON.stringify(host.slice(0, 200))}`);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const query = zone.normalizeQuery(rawQuery);
    // What is keyed is what is forwarded: an empty query forwards no '?' (issue 9 §1).
    const target = query === '' ? path : query === rawQuery ? url : `${path}?${query}`;
    const method = req.method ?? 'GET';
    const r: Req = { zone, host, path, query, target, objectKey: primaryKey(zone.id, host, path, query), method };

    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (method === 'OPTIONS' && !hasBody && isPreflight(method, req.headers)) {
      if (zone.cors) return answerPreflight(req, res, r);
      if (zone.zone.cacheKey.cachePreflight) {
        r.objectKey = preflightObjectKey(r.objectKey);
        return lookupAndServe(req, res, r);
      }
    }
    if ((method !== 'GET' && method !== 'HEAD') || hasBody) {
      return pass(req, res, r, 'DYNAMIC', method === 'GET' || method === 'HEAD' ? 'request' : 'method', hasBody ? 'request-content' : undefined);
    }

    lookupAndServe(req, res, r);
  };

  /** Edge-owned CORS: the edge answers preflights itself, origin up or down (issue 5 §1). */
  function answerPreflight(req: IncomingMessage, res: ServerResponse, r: Req): void {
    const rm = req.headers['access-control-request-method'];
    const rh = req.headers['access-control-request-headers'];
    const answer = r.zone.cors!.preflight(String(req.headers.origin), String(rm), Array.isArray(rh) ? rh.join(',') : rh);
    const flat: string[] = ['cache-status', 'edgecache; detail=cors-preflight'];
    for (const [n, v] of answer.headers) flat.push(n, v);
    res.writeHead(answer.status, flat);
    res.end();
    done(res, 'NONE');
  }

  function lookupAndServe(req: IncomingMessage, res: ServerResponse, r: Req): void {
    const zone = r.zone;
    const v = store.lookup(r.objectKey, req.headers);
    const now = Date.now();
    if (v) {
      // A soft-purged entry is treated as if it had expired just now: it revalidates, or with stale-while-revalidate
      // it is served stale while it does (RFC 5861 §3).
      const f = v.forcedStale ? { ...v.freshness, lifetime: Math.min(v.freshness.lifetime, preciseAge(v.freshness, now) - 0.001) } : v.freshness;
      const d = evaluateReuse(f, req.headers, now, zone.policy);
      const action = d.action;
      if (action === 'serve') return serveHit(req, res, zone, v, d.age, d.ttl);
      if (action === 'serve-stale-revalidate') {
        revalidateInBackground(req, r, v);
        return serveVariant(req, res, r, v, 'UPDATING', { hit: true, ttl: d.ttl, detail: 'stale-while-revalidate' });
      }
      if (parseRequestDirectives(req.headers, zone.policy).onlyIfCached) return onlyIfCached(res);
      const sie = d.action === 'revalidate' ? d.staleIfError : false;
      // fwd=request when the stored response was fresh and the client's directives asked for validation (RFC 9211 §2.2).
      const wasFresh = !v.forcedStale && !v.freshness.alwaysRevalidate && preciseAge(v.freshness, now) < v.freshness.lifetime;
      fetchAndServe(req, res, r, v, sie, wasFresh ? 'request' : 'stale').catch((err) => internalError(res, err));
      return;
    }
    if (req.headers['cache-control'] !== undefined && parseRequestDirectives(req.headers, zone.policy).onlyIfCached) return onlyIfCached(res);
    fetchAndServe(req, res, r, undefined, false, store.variantsOf(r.objectKey).length > 0 ? 'vary-miss' : 'uri-miss').catch((err) => internalError(res, err));
  }

  /** A bug on the fetch path answers 500 (or closes a started answer) and is logged; it never takes the process down. */
  function internalError(res: ServerResponse, err: unknown): void {
    logger.error({ err: String(err), stack: (err as Error)?.stack }, 'request failed inside the edge');
    if (res.headersSent) res.destroy();
    else sendText(res, 500, 'edgecache: internal error');
  }

  function onlyIfCached(res: ServerResponse): void {
    // RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored → 504.
    sendText(res, 504, 'edgecache: only-if-cached and no usable stored response', ['cache-status', cacheStatus({ fwd: 'miss', detail: 'only-if-cached' })]);
    done(res, 'NONE');
  }
}
