// Config schema (zod): listeners (plain, TLS, h2c), admin tokens, cache bounds, zones; defaults live here.
import { z } from 'zod';
import { corsConfigSchema } from '../cors/schema.js';
import { DEFAULT_LIMITS } from '../http/limits.js';
import { HOST_PATTERN_RE, TOKEN_RE } from '../http/fields.js';
import { checkPeerEntry } from '../http/trusted-peers.js';
import { isFieldValue, reservedResponseField } from '../origin/response-fields.js';
import { DEFAULT_MAX_VARIANTS } from '../storage/store.js';
import { TAGGABLE_KEY } from '../cluster/hash-tag.js';
import type { RedisTarget } from '../cluster/redis-connect.js';

const hostPort = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'expected HOST:PORT, e.g. 127.0.0.1:8787 or [::1]:8787 (port 0-65535)' });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2]) as string, port };
});

/** A certificate chain and its private key, PEM files read at start and on SIGHUP (src/tls/certificates.ts). */
const certificateFiles = z.object({
  cert: z.string().min(1, 'expected the path of a PEM certificate (chain) file'),
  key: z.string().min(1, 'expected the path of a PEM private key file'),
}).strict();

/** TLS on a listener: certificates picked by SNI from their own names (subjectAltName); the first is the default. */
const tlsSchema = z.object({
  certificates: z.array(certificateFiles).min(1, 'a TLS listener needs at least one certificate'),
  /**
   * OCSP stapling (RFC 6066 §8) for each certificate whose Authority Information Access names a responder and whose file
   * holds its issuer after it (src/tls/ocsp-stapler.ts). On by default; a responder that is down only means no staple.
   */
  ocspStapling: z.boolean().default(true),
}).strict();

/**
 * One public listener: `HOST:PORT`, or `{address, tls, h2c, http2}`. A TLS listener speaks HTTP/2 and HTTP/1.1 by ALPN
 * (RFC 9113 §3.2; `http2: false` offers HTTP/1.1 only); a plain one HTTP/1.1, plus HTTP/2 with prior knowledge
 * (RFC 9113 §3.3) when `h2c` is set, for a TLS-terminating load balancer in front.
 */
const listenerEntry = z.union([
  hostPort.transform((a): ListenerConfig => ({ ...a, h2c: false, http2: true })),
  z.object({
    address: hostPort,
    tls: tlsSchema.optional(),
    h2c: z.boolean().default(false),
    http2: z.boolean().default(true),
  }).strict().transform(({ address, ...rest }): ListenerConfig => ({ ...address, ...rest })),
], { error: 'expected HOST:PORT or {address: HOST:PORT, tls: {certificates: [{cert: FILE, key: FILE}]}, h2c: true|false}' });

/** `listen`: one listener or a list of them (each once). */
const listenSchema = z.union([listenerEntry.transform((l) => [l]), z.array(listenerEntry).min(1, 'expected at least one listener')]);

const originUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && !u.search && !u.hash;
  } catch { return false; }
}, { message: 'expected an origin URL like http://127.0.0.1:9000 (scheme, host, optional port; no path or query)' })
  .transform((s) => s.replace(/\/$/, ''));


const headerName = z.string().regex(TOKEN_RE, 'expected an HTTP header name');

/**
 * Client fields that origin frameworks read as the request's scheme, host, path or method, never forwarded unless the
 * zone keys them: an unkeyed one would let one client change the answer stored for everyone (cache poisoning).
 * Rack reads X-Forwarded-Ssl and Front-End-Https before X-Forwarded-Proto; Symfony and Spring read X-Forwarded-Prefix
 * and X-Forwarded-Path; IIS and Zend read X-Original-URL and X-Rewrite-URL.
 */
export const DEFAULT_STRIP_HEADERS: readonly string[] = Object.freeze([
  'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-scheme', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-forwarded-path', 'x-forwarded-server', 'x-forwarded-ssl', 'front-end-https', 'x-host', 'x-original-host',
  'x-http-host-override', 'forwarded', 'x-original-url', 'x-rewrite-url', 'x-http-method-override',
  'x-http-method', 'x-method-override',
]);

/** `stripHeaders`: a list adds to the defaults; `{replace: [...]}` replaces them (for those who mean it). */
const stripHeadersSchema = z.union([
  z.array(headerName).transform((a) => [...new Set([...DEFAULT_STRIP_HEADERS, ...a.map((s) => s.toLowerCase())])]),
  z.object({ replace: z.array(headerName) }).strict().transform((o) => [...new Set(o.replace.map((s) => s.toLowerCase()))]),
], { error: 'expected a list of header names (added to the default list) or {replace: [header names]} (replacing it)' });

/**
 * `responseHeaders`: origin fields hidden from clients (never stored) and fields added to every origin answer
 * (replacing an origin field of that name), applied once per origin answer, at store time (src/origin/response-fields.ts).
 */
const responseHeadersSchema = z.object({
  hide: z.array(headerName).default([]),
  add: z.record(headerName, z.string().refine(isFieldValue, 'expected a field value without control characters or surrounding spaces')).default({}),
}).strict().superRefine((r, ctx) => {
  r.hide.forEach((n, i) => {
    const why = reservedResponseField(n, false);
    if (why) ctx.addIssue({ code: 'custom', message: why, path: ['hide', i] });
  });
  for (const n of Object.keys(r.add)) {
    const why = reservedResponseField(n, true);
    if (why) ctx.addIssue({ code: 'custom', message: why, path: ['add', n] });
  }
});

/** A trusted proxy: an IP address or a CIDR range. */
const peerEntry = z.string().superRefine((s, ctx) => {
  const problem = checkPeerEntry(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const redisUrl = z.string().regex(/^rediss?:\/\//, 'expected redis://HOST:PORT');

/** cluster.sharedCache as an object: the shared tier in Redis with its own bounds. */
const sharedCacheSchema = z.object({
  /** A Redis of its own for the tier (default: cluster.redis), so a full or evicting tier never touches the purge stream. */
  redis: redisUrl.optional(),
  /** sharedCache.redis is one node of a Redis Cluster (the others are discovered). */
  redisCluster: z.boolean().default(false),
  /**
   * Writes stop once the tier's Redis uses this many bytes (INFO used_memory; per master on a Redis Cluster); default
   * 90% of its maxmemory when it has one. Keep it below maxmemory: purges need the room, and are never bound by it.
   */
  maxBytes: z.number().int().positive().optional(),
  /** Longest time, in seconds, an entry stays in the tier whatever its freshness (purge fences are kept longer). */
  maxTtl: z.number().int().min(10).max(365 * 86400).default(86400),
  /** Bound on each tier operation in ms (a miss after it), plus 1 ms per 32 KiB moved. */
  timeoutMs: z.number().int().positive().max(60_000).default(200),
}).strict();

export const queryModeSchema = z.union([
  z.enum(['all', 'sorted', 'none']),
  z.object({ include: z.array(z.string()) }).strict(),
  z.object({ exclude: z.array(z.string()) }).strict(),
], { error: 'expected "all", "sorted", "none", {include: [parameter names]} or {exclude: [parameter names]}' });
export type QueryMode = z.infer<typeof queryModeSchema>;

/** A zone host: an exact name, a `*.suffix` wildcard or `*` — matched against the Host without its port. */
const zoneHost = z.string().regex(
  /^(?:\*|(?:\*\.)?[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?|\[[0-9A-Fa-f:.]+\])$/,
  'expected a host name (cdn.example.com), a wildcard (*.example.com) or * — no scheme, port or path',
);

/** One of several origins: its URL and its share of requests among the healthy ones. */
const originEntry = z.object({
  url: originUrl,
  weight: z.number().int().min(1).max(1000).default(1),
}).strict();

/** A DNS name (or IP literal) with an optional port: what `originHost` and `tls.servername` take. */
const HOST_NAME_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])$/;
const originHostSchema = z.string().refine((s) => {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(s);
  return m !== null && HOST_NAME_RE.test(m[1]!) && (m[2] === undefined || Number(m[2]) <= 65535);
}, 'expected a host name with an optional port, e.g. assets.s3.example.net or origin.internal:8443');

/** TLS to https origins: a CA bundle file to trust (default: Node's roots), the SNI / certificate name, checks on or off. */
const originTlsSchema = z.object({
  ca: z.string().min(1, 'expected the path of a PEM CA certificate file').optional(),
  servername: z.string().regex(HOST_NAME_RE, 'expected a host name').optional(),
  rejectUnauthorized: z.boolean().default(true),
}).strict();

/** Active health checks of each origin: GET path, 2xx/3xx within timeoutMs passes. */
const healthCheckSchema = z.object({
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'expected a path starting with /').default('/'),
  intervalMs: z.number().int().min(100).max(3_600_000).default(5_000),
  timeoutMs: z.number().int().min(10).max(60_000).default(2_000),
  unhealthyAfter: z.number().int().min(1).max(100).default(3),
  healthyAfter: z.number().int().min(1).max(100).default(2),
}).strict();

export const zoneObject = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'zone ids are 1-64 letters, digits, _ . -'),
  hosts: z.array(zoneHost).min(1).default(['*']).transform((a) => a.map((h) => h.toLowerCase())),
  /** The origin; or `origins` for several (one of the two). */
  origin: originUrl.optional(),
  origins: z.array(originEntry).min(1, 'expected at least one origin').max(64).optional(),
  /** Host (and TLS SNI) sent to the origins instead of the client's Host (X-Forwarded-Host keeps the client's). */
  originHost: originHostSchema.optional(),
  tls: originTlsSchema.optional(),
  healthCheck: healthCheckSchema.optional(),
  timeouts: z.object({
    connectMs: z.number().int().positive().default(5_000),
    headersMs: z.number().int().positive().default(30_000),
    bodyMs: z.number().int().positive().default(30_000),
  }).strict().default({ connectMs: 5_000, headersMs: 30_000, bodyMs: 30_000 }),
  cacheKey: z.object({
    query: queryModeSchema.default('all'),
    headers: z.array(headerName).default(['origin']).transform((a) => [...new Set(a.map((s) => s.toLowerCase()))]),
    cachePreflight: z.boolean().default(false),
    /**
     * Most variants one URL keeps (Vary'd values, key header values); past it the URL's least recently used variant
     * goes, counted in edgecache_variant_evictions_total. Bounds what a client flooding a URL with Origins can evict.
     */
    maxVariants: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_VARIANTS),
  }).strict().default({ query: 'all', headers: ['origin'], cachePreflight: false, maxVariants: DEFAULT_MAX_VARIANTS }),
  cors: corsConfigSchema.optional(),
  defaultTtl: z.number().int().nonnegative().optional(),
  /**
   * Client `Cache-Control: no-cache` / `max-age` / `min-fresh` and `Pragma: no-cache` on requests (RFC 9111 §5.2.1):
   * 'anonymous' (default) ignores them on requests without Authorization or Cookie, as nginx and Varnish do (a reload
   * button cannot make every visitor's request reach the origin); false honours them (RFC 9111); true ignores them always.
   */
  ignoreRequestCacheControl: z.union([z.boolean(), z.literal('anonymous')], { error: 'expected true, false or "anonymous"' }).default('anonymous'),
  /**
   * Store origin errors that describe the request (400, 408, 411, 413, 417, 431) like any other response. Off: one
   * client's oversized or malformed request would otherwise store the origin's refusal for everyone (CPDoS).
   */
  storeRequestErrors: z.boolean().default(false),
  stripHeaders: stripHeadersSchema.default([...DEFAULT_STRIP_HEADERS]),
  /**
   * Field names with underscores are dropped before forwarding unless keyed (nginx's underscores_in_headers off):
   * CGI-style origins (WSGI, Rack) read X_Forwarded_Host as X-Forwarded-Host, past the edge's strip list.
   */
  forwardUnderscoreHeaders: z.boolean().default(false),
  trustedProxies: z.array(peerEntry).default([]),
  /** Plain-HTTP requests get 308 to the same URL over https (RFC 9110 §15.4.9), at the first TLS listener's port. */
  redirectHttp: z.boolean().default(false),
  /**
   * gzip and br made at the edge for stored identity responses of these media types (src/edge/compress.ts); absent:
   * off. `types`: type/subtype or type/* (default: text and text-like application types); `minBytes`: smaller bodies
   * stay identity; `brotliQuality`: 0-11.
   */
  compress: z.object({
    enabled: z.boolean().default(true),
    types: z.array(z.string().regex(/^[A-Za-z0-9!#$&^_.+-]+\/(?:\*|[A-Za-z0-9!#$&^_.+-]+)$/, 'expected a media type (text/html) or type/* (text/*)')).optional(),
    minBytes: z.number().int().nonnegative().default(1024),
    brotliQuality: z.number().int().min(0).max(11).default(5),
  }).strict().optional(),
  responseHeaders: responseHeadersSchema.optional(),
}).strict();

/** A zone: `origin` or `origins` (exactly one), read as both: `origins` the list, `origin` the first URL. */
export const zoneSchema = zoneObject.superRefine((z, ctx) => {
  if (z.origin === undefined && z.origins === undefined) {
    ctx.addIssue({ code: 'custom', path: ['origin'], message: 'a zone needs an origin (origin: URL) or origins ([{url, weight}])' });
  }
  if (z.origin !== undefined && z.origins !== undefined) ctx.addIssue({ code: 'custom', path: ['origins'], message: 'set origin or origins, not both' });
  const urls = z.origins?.map((o) => o.url) ?? [];
  if (new Set(urls).size !== urls.length) ctx.addIssue({ code: 'custom', path: ['origins'], message: 'an origin URL is listed twice' });
}).transform(({ origin, origins, ...rest }) => ({
  ...rest,
  origin: origin ?? origins![0]!.url,
  origins: origins ?? [{ url: origin!, weight: 1 }],
}));

/** Public-listener limits: what one client can make the edge hold or wait for; see src/http/limits.ts for what each one bounds. */
export const limitsSchema = z.object({
  maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(DEFAULT_LIMITS.maxHeaderBytes),
  maxUrlBytes: z.number().int().min(64).max(1024 * 1024).default(DEFAULT_LIMITS.maxUrlBytes),
  maxBodyBytes: z.number().int().nonnegative().default(DEFAULT_LIMITS.maxBodyBytes),
  headersTimeoutMs: z.number().int().positive().default(DEFAULT_LIMITS.headersTimeoutMs),
  keepAliveTimeoutMs: z.number().int().positive().default(DEFAULT_LIMITS.keepAliveTimeoutMs),
  requestTimeoutMs: z.number().int().positive().default(DEFAULT_LIMITS.requestTimeoutMs),
}).strict().refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, {
  message: 'headersTimeoutMs must not be larger than requestTimeoutMs', path: ['headersTimeoutMs'],
});

export const configSchema = z.object({
  listen: listenSchema.default([{ host: '127.0.0.1', port: 8787, h2c: false, http2: true }]),
  admin: z.object({
    listen: hostPort.default({ host: '127.0.0.1', port: 8788 }),
    tokens: z.array(z.object({
      token: z.string().min(16, 'admin tokens must be at least 16 characters'),
      zones: z.array(z.string()).min(1).default(['*']),
    }).strict()).default([]),
    /** Host names the admin API answers to besides IP literals and localhost (src/admin/host-check.ts); *.suffix allowed. */
    hosts: z.array(z.string().regex(HOST_PATTERN_RE, 'expected a host name (admin.example.internal) or *.suffix — no scheme, port, path or bare *')).optional(),
  }).strict().default({ listen: { host: '127.0.0.1', port: 8788 }, tokens: [] }),
  cache: z.object({
    /** Memory for the cache: index and bodies; with a disk tier, the index (metadata) alone. */
    maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /**
     * The largest object stored (larger ones stream through uncached): 1 GiB by default, any size up to the disk tier's
     * bytes with a disk tier; without one it is bounded by cache.maxBytes (config/load.ts objectBound).
     */
    maxObjectBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
    store: z.enum(['memory', 'disk']).default('memory'),
    /** The disk tier's directory (`store: disk`); `disk.path` says the same. */
    path: z.string().optional(),
    /** With a disk tier: the memory tier, body bytes kept in memory as well as on disk (hot bodies, LRU). */
    memory: z.object({ maxBytes: z.number().int().positive().default(64 * 1024 * 1024) }).strict().optional(),
    /** The disk tier: bodies in files under `path`, LRU-evicted past `maxBytes`. Setting it means `store: disk`. */
    disk: z.object({ path: z.string().min(1), maxBytes: z.number().int().positive().optional() }).strict().optional(),
    /**
     * How far V8's heap may grow past what was live after the last full GC before the next one, in percent (0: V8's
     * own heuristic, which lets a busy heap grow to several times its live size). See src/edge/heap-growth.ts.
     */
    heapGrowthPercent: z.number().int().min(0).max(400).default(25),
    /**
     * While a body of 1 MiB or more streams through, the least headroom past the live heap, in bytes, whatever
     * heapGrowthPercent gives (0: none): a small heap would otherwise run a full GC every few MiB streamed, pausing
     * every client. See src/edge/heap-growth.ts.
     */
    heapMinHeadroomBytes: z.number().int().min(0).max(16 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    /**
     * Fetch and store objects in slices of this many bytes (nginx's slice module): every GET and HEAD miss asks the
     * origin for aligned ranges and is answered by stitching them (src/edge/slice-miss.ts). Unset: off.
     */
    slice: z.number().int().min(1024).max(1024 * 1024 * 1024).optional(),
  }).strict()
    // `disk: {path}` is `store: disk` with that path: the rest of the edge (workers, control plane) reads store and path.
    .transform((c) => (c.disk ? { ...c, store: 'disk' as const, path: c.path ?? c.disk.path } : c))
    .default({ maxBytes: 256 * 1024 * 1024, maxObjectBytes: 1024 * 1024 * 1024, store: 'memory', heapGrowthPercent: 25, heapMinHeadroomBytes: 32 * 1024 * 1024 }),
  purge: z.object({ maxItems: z.number().int().positive().max(100_000).default(500) }).strict().default({ maxItems: 500 }),
  limits: limitsSchema.default({ ...DEFAULT_LIMITS }),
  /**
   * Plain HTTP/1.1 hits are answered by a strict parser on node:net before node:http (src/edge/fast-listener.ts);
   * false: every request goes through node:http.
   */
  fastPath: z.boolean().default(true),
  zones: z.array(zoneSchema).default([]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * One record per request (src/observability/access-log.ts): to the process log at info (default), to a file of its
   * own (`path`, appended to, reopened on SIGHUP), or off (`enabled: false`).
   */
  accessLog: z.object({
    enabled: z.boolean().default(true),
    path: z.string().min(1).optional(),
  }).strict().default({ enabled: true }),
  workers: z.union([z.number().int().positive().max(64), z.literal('auto')], { error: 'expected a number of worker processes from 1 to 64, or "auto"' }).default(1),
  cluster: z.object({
    /** The Redis of the purge stream (and the tier): one server, a node of a Redis Cluster (redisCluster), or with sentinels the credentials only. */
    redis: redisUrl.optional(),
    /** cluster.redis is one node of a Redis Cluster: the stream, heartbeats and tier work across its masters. */
    redisCluster: z.boolean().default(false),
    /** Sentinels (HOST:PORT) that name the primary `name`: a failover is followed, and lost purges are detected. */
    sentinels: z.array(hostPort).min(1).optional(),
    /** The primary's name in Sentinel (with sentinels). */
    name: z.string().min(1).default('mymaster'),
    /** true, or the tier's own settings: see README, Cluster. */
    sharedCache: z.union([z.boolean(), sharedCacheSchema]).default(false),
    stream: z.string().min(1).regex(TAGGABLE_KEY, 'a stream name has no braces, or a non-empty {tag} (its Redis Cluster hash tag)').default('edgecache:purges'),
    /** A purge is acknowledged (200) only once Redis WAIT says this many replicas have it (0: the primary alone). */
    minReplicas: z.number().int().min(0).max(16).default(0),
  }).strict().refine((c) => c.redis !== undefined || c.sentinels !== undefined, {
    message: 'cluster needs redis (redis://HOST:PORT) or sentinels (a list of HOST:PORT)', path: ['redis'],
  }).refine((c) => !(c.redisCluster && c.sentinels !== undefined), {
    message: 'redisCluster and sentinels cannot be combined (Redis Cluster does its own failover)', path: ['sentinels'],
  }).optional(),
}).strict();

export type SharedCacheConfig = z.output<typeof sharedCacheSchema>;
export type ClusterConfig = NonNullable<z.output<typeof configSchema>['cluster']>;

/** Where the purge stream's Redis is (the tier's too, unless sharedCache.redis): one server, a Redis Cluster, or Sentinel. */
export function clusterTarget(cluster: ClusterConfig): RedisTarget {
  if (cluster.sentinels) return { url: cluster.redis, sentinels: cluster.sentinels, name: cluster.name };
  return { url: cluster.redis, isCluster: cluster.redisCluster };
}

/** The shared tier's settings (defaults for `sharedCache: true`), or undefined when there is none. */
export function sharedCacheOf(config: { cluster?: { sharedCache: boolean | SharedCacheConfig } | undefined }): SharedCacheConfig | undefined {
  const sc = config.cluster?.sharedCache;
  if (sc === undefined || sc === false) return undefined;
  return sc === true ? sharedCacheSchema.parse({}) : sc;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type Zone = z.output<typeof zoneSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;
/** One public listener as the edge runs it. */
export interface ListenerConfig {
  host: string;
  port: number;
  /** Present on a TLS listener. */
  tls?: TlsConfig;
  /** HTTP/2 with prior knowledge on a plain listener. */
  h2c: boolean;
  /** Offer h2 by ALPN on a TLS listener (default true). */
  http2: boolean;
}
