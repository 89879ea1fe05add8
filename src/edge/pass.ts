// The pass step: a request forwarded without the cache (other methods, requests with content), and the invalidation a
// successful unsafe request causes (RFC 9111 §4.4).
import { hasContent } from '../http/fields.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FwdReason } from '../observability/cache-status.js';
import { invalidationTargets, isNonErrorStatus, SAFE_METHODS } from '../cache/policy/index.js';
import { keyedHost, type HeaderValues } from '../cache/key.js';
import { classifyOriginError } from '../origin/client.js';
import type { CacheStore } from '../storage/store.js';
import type { EdgeContext, EdgeKey } from './context.js';
import { relayInterim, type Answers } from './answers.js';
import { forwardFields, type Diagnose } from './origin-fields.js';
import { noteOrigin } from '../observability/access-log.js';
import { HEADROOM_BODY_BYTES, holdHeadroom } from './heap-growth.js';

/**
 * Forwards a request uncached and relays the answer as `kind` (DYNAMIC for a pass outcome; a request that joined a
 * fetch whose answer turned out not shareable is passed as BYPASS or DYNAMIC by that answer's reason).
 */
export type Pass = (req: IncomingMessage, res: ServerResponse, key: EdgeKey, kind: 'dynamic' | 'bypass', fwd: FwdReason, detail?: string) => void;

export function createPass(ctx: EdgeContext, store: CacheStore, answers: Answers, diagnose: Diagnose): Pass {
  const { metrics } = ctx;
  return (req, res, key, kind, fwd, detail) => {
    const method = req.method ?? 'GET';
    const hasBody = hasContent(req.headers);
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    // Large bodies passed through churn memory as fills do (heap-growth.ts): the headroom floor while they stream.
    if (hasBody && Number(req.headers['content-length']) >= HEADROOM_BODY_BYTES) req.once('close', holdHeadroom());
    metrics.originFetches.inc({ kind: 'pass' });
    const asked = performance.now();
    key.zone.origin.request({
      method, path: key.target, headers: forwardFields(req, key, false), body: hasBody ? req : null, signal: abort.signal,
      onInfo: relayInterim(res),
    }).then((o) => {
      noteOrigin(req, o.status, performance.now() - asked);
      if (!SAFE_METHODS.has(method) && isNonErrorStatus(o.status)) invalidate(store, key, method, o.headers);
      diagnose(req, key, o.headers);
      if (Number(o.headers['content-length']) >= HEADROOM_BODY_BYTES) o.body.once('close', holdHeadroom());
      answers.relay(req, res, key, { status: o.status, fields: key.zone.clientFields(o.headers), body: o.body, bodyless: true },
        kind, { fwd, fwdStatus: o.status, detail });
    }, (err) => {
      noteOrigin(req, undefined, performance.now() - asked);
      metrics.originErrors.inc({ code: classifyOriginError(err).code });
      answers.originFailed(res, err, key.zone);
    });
  };
}

/** RFC 9111 §4.4: a successful unsafe request invalidates its target and same-host Location/Content-Location. https://www.rfc-editor.org/rfc/rfc9111#section-4.4 */
export function invalidate(store: CacheStore, key: EdgeKey, method: string, resHeaders: HeaderValues): void {
  store.purge({ kind: 'object', zoneId: key.zoneId, host: key.host, path: key.path, query: key.query }, false);
  let base: URL;
  try { base = new URL(`http://${key.host}${key.target}`); } catch { return; }
  // The first target is the request URI itself, purged above by its raw path and query.
  for (const u of invalidationTargets(method, 200, base, resHeaders).slice(1)) {
    if (keyedHost(u.host) !== key.host) continue;
    const other = key.sibling(u.pathname, u.search.slice(1));
    if (other.objectKey === key.objectKey) continue;
    store.purge({ kind: 'object', zoneId: other.zoneId, host: other.host, path: other.path, query: other.query }, false);
  }
}
