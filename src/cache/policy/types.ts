// Shared types and defaults of the pure HTTP caching policy (RFC 9111, RFC 5861, RFC 9213).

/** Header fields with lowercase names (node IncomingHttpHeaders / undici response headers style). */
export type Headers = Record<string, string | string[] | undefined>;

/**
 * Parsed cache directives: lowercase name → unquoted argument, or `true` when there is no (usable) argument. Read-only:
 * parseCacheControl hands the same parse to every response with the same field value.
 */
export type Directives = ReadonlyMap<string, string | true>;

export interface PolicyOptions {
  /**
   * Seconds. Makes responses with a heuristically cacheable status (or `public`) and NO explicit
   * freshness cacheable for that long; when set it takes precedence over the Last-Modified heuristic
   * (operator configuration, RFC 9111 §4.2.4 "out-of-band contract"). Never applies when the request
   * carried Cookie or Authorization.
   */
  defaultTtl?: number;
  /** Fraction of (Date − Last-Modified) used as heuristic lifetime, e.g. 0.1. */
  heuristicFraction: number;
  /** Upper bound of a heuristic lifetime in seconds, e.g. 86400. */
  heuristicMaxSeconds: number;
  /**
   * Ignore request no-cache / max-age / min-fresh / Pragma: no-cache (CDN anti-cache-busting): always (true), never
   * (false: RFC 9111 §5.2.1), or on requests without Authorization or Cookie ('anonymous', nginx's and Varnish's way).
   */
  ignoreRequestCacheControl: boolean | 'anonymous';
  /** Store errors that describe the request (400, 408, 411, 413, 417, 431; see storable.ts). Default: never. */
  storeRequestErrors?: boolean;
}

export const DEFAULT_POLICY_OPTIONS: PolicyOptions = Object.freeze({
  heuristicFraction: 0.1,
  heuristicMaxSeconds: 86_400,
  ignoreRequestCacheControl: false,
});

/** Where the freshness lifetime came from. */
export type LifetimeSource = 's-maxage' | 'max-age' | 'expires' | 'heuristic' | 'default-ttl' | 'none';

/** Which response field carried the cache directives used for this cache (RFC 9213 §2.2). */
export type DirectivesSource =
  | 'cloudflare-cdn-cache-control'
  | 'cdn-cache-control'
  | 'surrogate-control'
  | 'cache-control';

export interface Freshness {
  /** Seconds, RFC 9111 §4.2.1 (s-maxage > max-age > Expires−Date > defaultTtl/heuristic). */
  lifetime: number;
  /** Seconds, RFC 9111 §4.2.3 corrected_initial_age (origin Age + response delay, or apparent age). */
  correctedInitialAge: number;
  /** Milliseconds since epoch at which the response was received. */
  responseTime: number;
  /** Seconds, RFC 5861 §3 (0 = none). */
  staleWhileRevalidate: number;
  /** Seconds, RFC 5861 §4 (0 = none). */
  staleIfError: number;
  /** must-revalidate, proxy-revalidate or s-maxage present (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10). */
  noStaleServing: boolean;
  /** Unqualified response no-cache (RFC 9111 §5.2.2.4). */
  alwaysRevalidate: boolean;
  /** The lifetime is not from the origin (Last-Modified heuristic or defaultTtl). */
  heuristic: boolean;
  /** Where `lifetime` came from. */
  lifetimeSource: LifetimeSource;
  /** Which field supplied the directives (RFC 9213). */
  directivesSource: DirectivesSource;
}
