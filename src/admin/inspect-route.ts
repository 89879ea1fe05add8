// Admin inspect endpoint: which variants are stored for a URL, their selectors, age, TTL, tags, shared bodies and CORS fields.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheStore } from '../storage/store.js';
import type { ZoneKeys, ZoneLookup } from '../cache/zone-keys.js';
import { describeSelector, primaryKey, selectorOf } from '../cache/key.js';
import { currentAge, normalizeVaryValue } from '../cache/policy/index.js';
import { parseFileUrl, parseJsonObjectBody, PurgeError } from '../purge/request.js';
import { redactSelector } from './redact.js';
import { MAX_INSPECT_BODY_BYTES, readAdminBody } from './body.js';
import { sendApiError, sendApiSuccess } from './reply.js';
import { sharedBodyCount, variantCors, type VariantCors, type ZoneCorsView } from './dashboard/variant-cors.js';

/** POST /edgecache/v1/zones/{zone}/inspect with {"url": "...", "headers": {...}} (auth checked by the caller). */
export interface InspectResult { url: string; variants: InspectedVariant[] }
export interface InspectedVariant {
  selector: Record<string, string | null>; status: number; age: number; ttl: number; tags: readonly string[];
  bytes: number; stale: boolean; selected: boolean;
  /** Other variants of this URL holding the very same body (stored once). */
  sharedBody: number;
  /** The CORS fields this variant would be sent with, and their problems (the dashboard's inspector). */
  cors: VariantCors;
}

/**
 * What the store holds for a URL; `selected` marks the variant a request with `headers` would get. `rawUrl` is an
 * absolute http(s) URL that handleInspect has already checked; one that does not parse holds nothing.
 */
export async function inspectVariants(store: CacheStore, zones: ZoneLookup<ZoneKeys & ZoneCorsView>, zoneId: string, rawUrl: string, headers: Record<string, string>): Promise<InspectResult> {
  const zone = zones.byId(zoneId);
  // The purge API's URL grammar: canonical host, raw path and query as written (no dot-segment or percent decoding).
  const target = parseFileUrl(rawUrl, 'url');
  if (!zone || target instanceof PurgeError) return { url: rawUrl, variants: [] };
  const key = primaryKey(zoneId, target.host, target.path, zone.normalizeQuery(target.query));
  const now = Date.now();
  // A disk tier's cold variants: their fields (CORS view) are read from their entry files first.
  const listed = store.variantsOf(key);
  const loaded = await Promise.all(listed.map((v) => store.loadFields?.(v) ?? true));
  const stored = listed.filter((_, i) => loaded[i] && store.variantsOf(key).includes(listed[i]!));
  const variants = stored.map((v) => {
    const age = currentAge(v.freshness, now);
    const selector = describeSelector(v.keyNames, v.selector);
    return {
      selector,
      status: v.status, age, ttl: v.freshness.lifetime - age, tags: v.tags, bytes: v.bodyLength,
      stale: v.forcedStale || age >= v.freshness.lifetime,
      selected: selectorOf(v.keyNames, headers, normalizeVaryValue) === v.selector,
      sharedBody: sharedBodyCount(v, stored),
      cors: variantCors(zone, v, selector, headers['origin']),
    };
  });
  return { url: rawUrl, variants };
}

type Inspect = (zoneId: string, url: string, headers: Record<string, string>) => Promise<InspectResult>;

export interface InspectRouteOptions {
  inspect: Inspect;
  /** Told about unexpected failures (for the log, with the stack); the client only hears "internal error". */
  onError?(err: unknown): void;
}

/** The answer as clients see it: every selector redacted (src/admin/redact.ts), whatever else a variant carries. */
export function redactInspectResult(result: InspectResult): InspectResult {
  return { ...result, variants: result.variants.map((v) => ({ ...v, selector: redactSelector(v.selector) })) };
}

/** Answers one inspect request for `zoneId` (admission already checked by the admin server). */
export function handleInspect(req: IncomingMessage, res: ServerResponse, zoneId: string, opts: InspectRouteOptions): void {
  void runInspect(req, res, zoneId, opts.inspect).catch((err: unknown) => {
    opts.onError?.(err);
    sendApiError(res, 'internal', 'internal error while inspecting; see the server log');
  });
}

const EXPECTED = 'a JSON object {"url": "https://host/path", "headers": {"Origin": "..."}}';

async function runInspect(req: IncomingMessage, res: ServerResponse, zoneId: string, inspect: Inspect): Promise<void> {
  const raw = await readAdminBody(req, res, MAX_INSPECT_BODY_BYTES, 'inspect takes one URL and its request headers');
  if (raw === undefined) return;
  const body = parseJsonObjectBody(raw, EXPECTED);
  if (body instanceof PurgeError) return sendApiError(res, body.reason, body.message);
  if (typeof body.url !== 'string') return sendApiError(res, 'invalidItem', 'url must be an absolute URL string');
  const target = parseFileUrl(body.url, 'url');
  if (target instanceof PurgeError) return sendApiError(res, target.reason, target.message);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  if (body.headers !== undefined) {
    if (typeof body.headers !== 'object' || body.headers === null || Array.isArray(body.headers)) return sendApiError(res, 'invalidItem', 'headers must be an object of strings');
    for (const [k, v] of Object.entries(body.headers)) {
      if (typeof v !== 'string') return sendApiError(res, 'invalidItem', `header ${JSON.stringify(k).slice(0, 200)} must be a string`);
      headers[k.toLowerCase()] = v;
    }
  }
  sendApiSuccess(res, redactInspectResult(await inspect(zoneId, body.url, headers)));
}
