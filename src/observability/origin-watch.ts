// Per-zone origin figures for the dashboard, read off undici's diagnostics channels (so the request path is untouched):
// fetches, failures, 5xx answers, CORS misconfigurations and bytes read from origin sockets. Only the miss path runs here.
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { ZoneRouter, ZoneRuntime } from '../edge/zones.js';
import { classifyOriginError } from '../origin/client.js';
import { detectCorsProblems, urlPattern } from '../cors/diagnostics.js';
import type { RecentEvents } from './recent-events.js';

export interface OriginWatch {
  /** Cumulative per-zone counters: `zone:<id>:origin_fetches`, `…:origin_errors`, `…:origin_bytes`. */
  counters(): Record<string, number>;
  /** Bytes read from every origin socket of this process (headers and bodies, as on the wire). */
  bytesFetched(): number;
  /** Zones whose last ORIGIN_FAILING_AFTER fetches all failed to connect or timed out, with no answer since (for /healthz). */
  failingZones(): string[];
  close(): void;
}

/** Where onCreate notes the send time on undici's request object (module-private). */
const SENT_AT = Symbol('edgecache.originSentAt');
interface UndiciRequest { origin?: unknown; method?: string; path?: string; headers?: unknown; [SENT_AT]?: number }
interface ZoneFigures { fetches: number; errors: number; closedBytes: number; sockets: Set<Socket>; failuresInARow: number }

/** Consecutive unreachable or timed-out origin fetches after which a zone's origin counts as down. */
export const ORIGIN_FAILING_AFTER = 3;

/** `request.headers` is a flat [name, value, …] array in undici 6+, a raw "name: value\r\n" string before. */
function headerOf(headers: unknown, name: string): string | undefined {
  if (Array.isArray(headers)) {
    // Names are compared by length first: only a name of the right length is lowercased (the edge sends them so).
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const n: unknown = headers[i];
      if (typeof n !== 'string' || n.length !== name.length) continue;
      if (n === name || n.toLowerCase() === name) return String(headers[i + 1]);
    }
    return undefined;
  }
  if (typeof headers === 'string') {
    const m = new RegExp(`(?:^|\\r\\n)${name}:\\s*([^\\r\\n]*)`, 'i').exec(headers);
    return m?.[1];
  }
  return undefined;
}

function pathOnly(path: string | undefined): string {
  const p = path ?? '/';
  const q = p.indexOf('?');
  return q === -1 ? p : p.slice(0, q);
}

/** The raw-field names CORS diagnostics read (detectCorsProblems), by length: only those names are decoded. */
const CORS_FIELD_NAMES: ReadonlyMap<number, string> = new Map(
  ['access-control-allow-origin', 'access-control-allow-credentials', 'vary'].map((n) => [n.length, n]),
);

/** Whether the raw field name `b` is `name` (lowercase, same length) in any case, compared without decoding it. */
function isNamed(b: Buffer, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = b[i]!;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * ACAO, ACAC and Vary from undici's raw response fields (repeated lines joined), or undefined without an ACAO: runs
 * on every origin answer, so other names are only compared by length, never decoded.
 */
function corsFieldsOf(raw: readonly Buffer[]): Record<string, string> | undefined {
  let fields: Record<string, string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const want = CORS_FIELD_NAMES.get(raw[i]!.length);
    if (want === undefined || !isNamed(raw[i]!, want)) continue;
    const value = raw[i + 1]!.toString('latin1');
    fields ??= Object.create(null) as Record<string, string>;
    fields[want] = fields[want] === undefined ? value : `${fields[want]}, ${value}`;
  }
  return fields?.['access-control-allow-origin'] === undefined ? undefined : fields;
}

export function watchOrigins(router: ZoneRouter, events: RecentEvents): OriginWatch {
  // origin (scheme://host:port) → the zones in front of it; several zones may share one origin. Rebuilt when a config
  // reload gives the router new zones (a zone's figures carry on under its id).
  let byOrigin = new Map<string, ZoneRuntime[]>();
  const figures = new Map<string, ZoneFigures>();
  let indexed: readonly ZoneRuntime[] | undefined;
  const index = (): void => {
    if (indexed === router.zones) return;
    indexed = router.zones;
    byOrigin = new Map();
    for (const z of router.zones) {
      if (!figures.has(z.id)) figures.set(z.id, { fetches: 0, errors: 0, closedBytes: 0, sockets: new Set(), failuresInARow: 0 });
      for (const { url } of z.zone.origins) {
        let o: string;
        try { o = new URL(url).origin; } catch { continue; }
        const list = byOrigin.get(o) ?? [];
        if (!list.includes(z)) list.push(z);
        byOrigin.set(o, list);
      }
    }
  };
  index();
  const zoneOf = (req: UndiciRequest): ZoneRuntime | undefined => {
    index();
    const list = typeof req.origin === 'string' ? byOrigin.get(req.origin) : undefined;
    if (!list || list.length === 1) return list?.[0];
    // Zones sharing an origin: the Host the edge forwarded names the zone.
    const host = headerOf(req.headers, 'host');
    const z = host === undefined ? undefined : router.match(host.toLowerCase());
    return z && list.includes(z) ? z : list[0];
  };

  // When each origin request was sent, for edgecache_origin_duration_seconds (the time to its response head): kept on
  // undici's request object under a private symbol (a WeakMap entry per fetch costs the GC an ephemeron each).
  const onCreate = (m: unknown): void => {
    const request = (m as { request: UndiciRequest }).request;
    const z = zoneOf(request);
    if (!z) return;
    figures.get(z.id)!.fetches++;
    request[SENT_AT] = performance.now();
  };
  const onError = (m: unknown): void => {
    const { request, error } = m as { request: UndiciRequest; error: unknown };
    const z = zoneOf(request);
    if (!z) return;
    const f = figures.get(z.id)!;
    f.errors++;
    const code = classifyOriginError(error).code;
    if (code === 'ORIGIN_UNREACHABLE' || code === 'ORIGIN_TIMEOUT') f.failuresInARow++;
    events.record('origin-error', z.id, code, `${request.method ?? 'GET'} ${urlPattern(pathOnly(request.path))}`);
  };
  const onHeaders = (m: unknown): void => {
    const { request, response } = m as { request: UndiciRequest; response: { statusCode: number; headers: Buffer[] } };
    const z = zoneOf(request);
    if (!z) return;
    figures.get(z.id)!.failuresInARow = 0;
    const sent = request[SENT_AT];
    if (sent !== undefined) z.meter.origin.observe((performance.now() - sent) / 1000);
    if (response.statusCode >= 500) {
      events.record('origin-status', z.id, `HTTP ${response.statusCode}`, `${request.method ?? 'GET'} ${urlPattern(pathOnly(request.path))}`);
    }
    if (z.cors) return; // edge-owned CORS replaces the origin's fields: nothing of the origin's reaches a client
    const fields = corsFieldsOf(response.headers);
    if (fields === undefined) return;
    const origin = headerOf(request.headers, 'origin');
    const problems = detectCorsProblems(origin, fields);
    if (problems.length === 0) return;
    const host = headerOf(request.headers, 'host') ?? '';
    for (const kind of problems) {
      events.record('cors', z.id, kind, `${urlPattern(`${host}${pathOnly(request.path)}`)} · Origin ${origin ?? '(none)'} → ACAO ${fields['access-control-allow-origin']}, ACAC ${fields['access-control-allow-credentials'] ?? '(none)'}, Vary ${fields['vary'] ?? '(none)'}`);
    }
  };
  const onConnected = (m: unknown): void => {
    const { socket, connectParams } = m as { socket: Socket; connectParams: { protocol?: string; host?: string } };
    index();
    const list = byOrigin.get(`${connectParams.protocol}//${connectParams.host}`);
    if (!list) return;
    // A socket serves one origin, and the zones sharing that origin share its pool: charged to the first of them.
    const f = figures.get(list[0]!.id)!;
    f.sockets.add(socket);
    socket.once('close', () => { f.closedBytes += socket.bytesRead; f.sockets.delete(socket); });
  };

  const subs: [string, (m: unknown) => void][] = [
    ['undici:request:create', onCreate],
    ['undici:request:error', onError],
    ['undici:request:headers', onHeaders],
    ['undici:client:connected', onConnected],
  ];
  for (const [name, fn] of subs) diagnostics.subscribe(name, fn);

  const bytesOf = (f: ZoneFigures): number => {
    let n = f.closedBytes;
    for (const s of f.sockets) n += s.bytesRead;
    return n;
  };
  return {
    counters() {
      const out: Record<string, number> = {};
      for (const [id, f] of figures) {
        out[`zone:${id}:origin_fetches`] = f.fetches;
        out[`zone:${id}:origin_errors`] = f.errors;
        out[`zone:${id}:origin_bytes`] = bytesOf(f);
      }
      return out;
    },
    bytesFetched() {
      let n = 0;
      for (const f of figures.values()) n += bytesOf(f);
      return n;
    },
    failingZones() {
      index();
      return router.zones.filter((z) => (figures.get(z.id)?.failuresInARow ?? 0) >= ORIGIN_FAILING_AFTER).map((z) => z.id);
    },
    close() {
      for (const [name, fn] of subs) diagnostics.unsubscribe(name, fn);
    },
  };
}
