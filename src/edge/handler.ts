// The request path as explicit steps (as Varnish's): resolve the target, route (pass, preflight, cache), look up into one
// outcome, then answer by outcome: serve, update in the background, revalidate, fetch, or answer from the edge itself.
import { hasContent } from '../http/fields.js';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { CacheStore, StoredVariant } from '../storage/store.js';
import { lookup, routeRequest, type LookupOutcome, type Route } from '../cache/policy/index.js';
import { isPreflight } from '../cors/policy.js';
import { sendText } from './respond.js';
import { createAnswers, type TimedResponse } from './answers.js';
import { createDiagnose } from './origin-fields.js';
import { createPass } from './pass.js';
import { createMissPath } from './miss.js';
import { resolveTarget, TargetRefusal } from './target.js';
import { isPlainHttp, redirectToHttps } from './https-redirect.js';
import { GuardedStore } from './store-guard.js';
import { systemClock, type Clock } from './clock.js';
import type { EdgeContext, EdgeKey } from './context.js';
import type { FreshnessGate } from '../control/pause-guard.js';
import { noteRefused, requestIdOf } from '../observability/access-log.js';
import { createFastHit, type FastHit } from './fast-hit.js';
import { createH2Hit, type H2Hit } from './h2-hit.js';
import { DEFAULT_LIMITS, type Limits } from '../http/limits.js';

export type { EdgeContext } from './context.js';

/** How often a failing store is logged (every failure is counted). */
const STORE_ERROR_LOG_EVERY_MS = 10_000;

/** The routing step: whether the request is passed, answered by the edge (preflight), or looked up in the cache. */
export function routeStep(method: string, h: IncomingHttpHeaders, key: EdgeKey): Route {
  const zone = key.zone;
  return routeRequest(method, hasContent(h), method === 'OPTIONS' && isPreflight(method, h), zone.cors !== undefined, zone.zone.cacheKey.cachePreflight === true);
}

/**
 * The lookup step: the variant the request selects (if any), judged at `now` into one outcome. A miss costs O(1) in
 * the URL's variants (hasVariants, not a walk of them): a URL flooded with variants must not slow other requests.
 */
export function lookupStep(h: IncomingHttpHeaders, key: EdgeKey, store: CacheStore, now: number, gate?: FreshnessGate): LookupOutcome<StoredVariant> {
  // Back from a pause, purges Redis delivered meanwhile may not be applied yet: nothing stored is vouched for until they are.
  if (gate?.isSuspect === true) return lookup<StoredVariant>(undefined, false, h, now, key.zone.policy);
  const v = store.lookup(key.objectKey, h);
  return lookup(v, v === undefined && store.hasVariants(key.objectKey), h, now, key.zone.policy);
}

/** A target no zone serves (421) or a malformed one (400): answered by the edge, logged as refused. */
function refuseTarget(req: IncomingMessage, res: ServerResponse, r: TargetRefusal): void {
  noteRefused(res, r.status === 400 ? 'BAD_TARGET' : 'NO_ZONE');
  const id = requestIdOf(req);
  sendText(res, r.status, r.message, id === undefined ? [] : ['x-request-id', id]);
}

/** The request handler, and its fast-path twin for hits on plain HTTP/1.1 connections (src/edge/fast-hit.ts). */
/** The request handler, with its hit paths that skip node:http's objects: HTTP/1.1 (`fast`) and HTTP/2 (`h2`). */
export type EdgeHandler = ((req: IncomingMessage, res: ServerResponse) => void) & { readonly fast: FastHit; readonly h2: H2Hit };

export function createHandler(context: EdgeContext, limits: Limits = DEFAULT_LIMITS): EdgeHandler {
  const clock: Clock = context.clock ?? systemClock;
  const { router, metrics, logger } = context;
  let lastLogAt = -Infinity;
  let unlogged = 0;
  const store = new GuardedStore(context.store, (op, err) => {
    metrics.storeErrors.inc();
    const now = Date.now();
    if (now - lastLogAt < STORE_ERROR_LOG_EVERY_MS) { unlogged++; return; }
    logger.error({ op, err: String(err), stack: (err as Error)?.stack, suppressed: unlogged }, 'cache store failed; answered as a miss');
    lastLogAt = now;
    unlogged = 0;
  });
  const ctx = { ...context, clock, store };
  const access = context.access;
  const answers = createAnswers(ctx);
  const diagnose = createDiagnose(ctx);
  const pass = createPass(ctx, store, answers, diagnose);
  const miss = createMissPath(ctx, { store, clock, maxObjectBytes: ctx.maxObjectBytes, tier: ctx.tier }, answers, pass, diagnose);

  const fast = createFastHit({ ctx, store, limits });
  const h2 = createH2Hit({ ...context, clock }, answers);

  return Object.assign(function handle(req: IncomingMessage, res: ServerResponse): void {
    (res as TimedResponse).edgeStartedAt = performance.now();
    const target = resolveTarget(req.url, req.headers.host, router);
    if (target instanceof TargetRefusal) { metrics.countRequest('NONE', target.status); return refuseTarget(req, res, target); }
    access?.routed(req, res, target.zone);
    if (target.zone.zone.redirectHttp && isPlainHttp(req)) {
      const port = context.httpsPort?.();
      if (port !== undefined) { metrics.countRequest('NONE', 308, target.zone.meter); return redirectToHttps(req, res, target, port); }
    }
    const route = routeStep(req.method ?? 'GET', req.headers, target);
    if (route.kind === 'pass') return pass(req, res, target, 'dynamic', route.fwd, route.detail);
    if (route.kind === 'preflight') return answers.preflight(req, res, target.zone);
    const key = route.preflight ? target.preflight() : target;
    serveLookup(req, res, key);
  }, { fast, h2 });

  /** Looks the request up and answers by outcome; a cold variant's fields (a disk tier) are loaded first, held until the answer is out. */
  function serveLookup(req: IncomingMessage, res: ServerResponse, key: EdgeKey): void {
    const outcome = lookupStep(req.headers, key, store, clock.now(), context.gate);
    const loading = 'variant' in outcome ? store.loadFields(outcome.variant, res) : undefined;
    if (loading === undefined) return answerOutcome(req, res, key, outcome);
    // A variant gone meanwhile (its entry file damaged, or purged) is looked up again: a miss, or another variant.
    loading.then((ok) => ok ? answerOutcome(req, res, key, outcome) : serveLookup(req, res, key), (err) => answers.internalError(res, err));
  }

  function answerOutcome(req: IncomingMessage, res: ServerResponse, key: EdgeKey, outcome: LookupOutcome<StoredVariant>): void {
    switch (outcome.kind) {
      case 'hit': return answers.hit(req, res, key.zone, outcome.variant, outcome.age, outcome.ttl);
      case 'updating':
        miss.revalidateInBackground(req, key, outcome.variant);
        return answers.stored(req, res, key.zone, outcome.variant, 'updating', { ttl: outcome.ttl });
      case 'revalidate':
        miss.fetchAndServe(req, res, key, { stale: outcome.variant, staleIfError: outcome.staleIfError, fwd: outcome.fwd })
          .catch((err) => answers.internalError(res, err));
        return;
      case 'miss':
        miss.fetchAndServe(req, res, key, { staleIfError: false, fwd: outcome.fwd }).catch((err) => answers.internalError(res, err));
        return;
      case 'only-if-cached': return answers.onlyIfCached(res, key.zone);
    }
  }
}
