// Admin inspect endpoint: which variants are stored for a URL, their selectors, age, TTL and tags.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheStore } from '../storage/store.js';
import type { ZoneRouter } from '../edge/zones.js';
import { describeSelector, keyedHost, primaryKey, selectorOf } from '../cache/key.js';
import { currentAge, normalizeVaryValue } from '../cache/policy/index.js';
import { sendCfError, sendCfSuccess } from './purge-route.js';

const MAX_BODY = 64 * 1024;

/** POST /edgecache/v1/zones/{zone}/inspect with {"url": "...", "headers": {...}} (auth checked by the caller). */
export interface InspectResult { url: string; variants: InspectedVariant[] }
export interface InspectedVariant {
  selector: Record<string, string | null>; status: number; age: number; ttl: number; tags: readonly string[];
  bytes: number; stale: boolean; selected: boolean;
}

/** What the store holds for a URL; `selected` marks the variant a request with `headers` would get. */
export function inspectVariants(store: CacheStore, router: ZoneRouter, zoneId: string, rawUrl: string, headers: Record<string, string>): InspectResult {
  const zone = router.byId(zoneId)!;
  // Raw path and query as written (URL would normalise dot segments and percent-encoding).
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(rawUrl);
  const host = keyedHost(m?.[1] ?? '');
  const path = m?.[2] || '/';
  const query = zone.normalizeQuery(m?.[3] ?? '');
  const key = primaryKey(zoneId, host, path, query);
  const now = Date.now();
  const variants = store.variantsOf(key).map((v) => {
    const age = currentAge(v.freshness, now);
    return {
      selector: describeSelector(v.keyNames, v.selector),
      status: v.status, age, ttl: v.freshness.lifetime - age, tags: v.tags, bytes: v.body.length,
      stale: v.forcedStale || age >= v.freshness.lifetime,
      selected: selectorOf(v.keyNames, headers, normalizeVaryValue) === v.selector,
    };
  });
  return { url: rawUrl, variants };
}

export function handleInspect(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: { inspect(zoneId: string, url: string, headers: Record<string, string>): Promise<InspectResult> }): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) { sendCfError(res, 413, 1017, `inspect body over ${MAX_BODY} bytes`); req.destroy(); return; }
    chunks.push(c);
  });
  req.on('end', () => {
    if (res.headersSent) return;
    let body: { url?: unknown; headers?: unknown };
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body; } catch {
      return sendCfError(res, 400, 6007, 'body is not valid JSON: expected {"url": "https://host/path", "headers": {"Origin": "..."}}');
    }
    if (typeof body?.url !== 'string') return sendCfError(res, 400, 1013, 'url must be an absolute URL string');
    try { new URL(body.url); } catch { return sendCfError(res, 400, 1013, `url ${JSON.stringify(body.url)} is not an absolute URL`); }
    const headers: Record<string, string> = {};
    if (body.headers !== undefined) {
      if (typeof body.headers !== 'object' || body.headers === null || Array.isArray(body.headers)) return sendCfError(res, 400, 1013, 'headers must be an object of strings');
      for (const [k, v] of Object.entries(body.headers)) {
        if (typeof v !== 'string') return sendCfError(res, 400, 1013, `header ${JSON.stringify(k)} must be a string`);
        headers[k.toLowerCase()] = v;
      }
    }
    opts.inspect(zoneId, body.url, headers).then((result) => sendCfSuccess(res, result), (err) => {
      sendCfError(res, 500, 1019, `inspect failed: ${(err as Error).message}`);
    });
  });
}
