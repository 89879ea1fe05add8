// What goes to the origin (forwarded request fields, for a pass or a cache fetch) and what is checked on the way back
// (origin-owned CORS answers that would poison shared caches).
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { forwardHeaders } from '../http/headers.js';
import { peerScheme } from '../http/trusted-peers.js';
import { normalizeVaryValue } from '../cache/policy/index.js';
import { createCorsDiagnostics, detectCorsProblems, urlPattern } from '../cors/diagnostics.js';
import type { HeaderValues } from '../cache/key.js';
import type { EdgeContext, EdgeKey } from './context.js';
import { requestIdOf } from '../observability/access-log.js';
import { setTraceFields } from '../observability/request-id.js';

/** Client fields the edge answers itself when it fetches for the cache (RFC 9111 §4.3.2: it may send its own validators). */
const CACHE_FETCH_DROP: ReadonlySet<string> = new Set([
  'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range',
]);

// With edge-owned CORS, Origin is not in the key, so it must not reach the origin on cache fetches either
// (an origin that varied its body by Origin would otherwise hand the first requester's body to everyone).
const CACHE_FETCH_DROP_EDGE_CORS: ReadonlySet<string> = new Set([...CACHE_FETCH_DROP, 'origin']);

/** The fields forwarded to the origin: for a pass as the client sent them, for a cache fetch without its conditionals. */
export function forwardFields(req: IncomingMessage, key: EdgeKey, forCache: boolean): Record<string, string | string[]> {
  const zone = key.zone;
  const socket = req.socket as TLSSocket;
  const peer = socket.remoteAddress;
  // The scheme of the listener the request came in on (a TLS socket is `encrypted`; over HTTP/2, req.socket reads
  // through to the session's socket); from a trusted proxy, the scheme it says its client used.
  const own = socket.encrypted === true ? 'https' : 'http';
  const trustPeer = peer !== undefined && zone.trustedProxies.has(peer);
  const fromPeer = trustPeer && (req.headers['x-forwarded-proto'] !== undefined || req.headers.forwarded !== undefined)
    ? peerScheme(req.headers['x-forwarded-proto'], req.headers.forwarded)
    : undefined;
  const out = forwardHeaders(req.headers, {
    strip: zone.strip,
    keyed: zone.keyHeaders,
    forwardUnderscores: zone.forwardUnderscores,
    normalize: normalizeVaryValue,
    dropForCacheFetch: forCache ? (zone.cors ? CACHE_FETCH_DROP_EDGE_CORS : CACHE_FETCH_DROP) : undefined,
    host: key.host,
    proto: fromPeer?.proto ?? own,
    peer,
    trustPeer,
    priorForwarded: fromPeer?.forwarded,
    hopProto: own,
  });
  // The request id and a valid traceparent go to the origin (src/observability/request-id.ts).
  setTraceFields(out, requestIdOf(req));
  // originHost: the Host the origin expects (a bucket's name); X-Forwarded-Host and Forwarded keep the client's.
  const originHost = zone.origin.originHost;
  if (originHost !== undefined) out.host = originHost;
  return out;
}

/** Looks at one origin answer's fields for the request that asked for it. */
export type Diagnose = (req: IncomingMessage, key: EdgeKey, headers: HeaderValues) => void;

/** Origin-owned CORS only: finds origins whose CORS answers poison shared caches, warns and counts them. */
export function createDiagnose(ctx: EdgeContext): Diagnose {
  const diagnostics = createCorsDiagnostics({
    warn: (obj, msg) => ctx.logger.warn(obj, msg),
    count: (kind) => ctx.metrics.corsDiagnostics.inc({ kind }),
  });
  return (req, key, headers) => {
    if (key.zone.cors) return;
    if (headers['access-control-allow-origin'] === undefined) return;
    const origin = req.headers.origin;
    const o = typeof origin === 'string' ? origin : undefined;
    // The URL pattern is only worth building for a response that shows a problem (rare): detect first.
    if (detectCorsProblems(o, headers).length > 0) diagnostics.inspect(urlPattern(`${key.host}${key.path}`), o, headers);
  };
}
