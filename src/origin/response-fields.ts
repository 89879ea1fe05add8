// Origin response fields as clients (and the store) get them, compiled once per zone: hop-by-hop and edge-only fields
// dropped, the zone's responseHeaders applied (hide, add), and Vary: Origin left to the edge when it owns CORS.
import { HOP_BY_HOP_FIELDS } from '../http/fields.js';
import { responseFields } from '../http/headers.js';

/** A zone's `responseHeaders`: origin fields never passed on, and fields set on every origin answer. */
export interface ResponseHeaderRules {
  hide: readonly string[];
  add: Readonly<Record<string, string>>;
}

/**
 * Fields `responseHeaders` cannot name: message framing and hop-by-hop fields (RFC 9110 §7.6.1), the edge's own status
 * fields and Age (RFC 9111 §5.1, computed on every answer), and Vary (the cache keys on the origin's Vary: cacheKey.headers
 * says what else to key on). `add` also refuses Access-Control-* (edge CORS is the zone's `cors`).
 */
const RESERVED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_FIELDS, 'content-length', 'age', 'cf-cache-status', 'cache-status', 'vary',
]);

/** Why `name` cannot be hidden or added (undefined when it can). */
export function reservedResponseField(name: string, forAdd: boolean): string | undefined {
  const n = name.toLowerCase();
  if (RESERVED.has(n)) return `${n} is the edge's own (framing, Age, cache status or Vary) and cannot be changed here`;
  if (forAdd && n.startsWith('access-control-')) return 'Access-Control-* fields are set by the zone\'s cors settings';
  return undefined;
}

/** A field value the edge can write (RFC 9110 §5.5: no CR, LF, NUL or other controls but HTAB). */
export function isFieldValue(v: string): boolean {
  return !/[^\t\x20-\x7e\x80-\xff]/.test(v) && v.trim() === v;
}

export interface ClientFieldsOptions {
  /** Names never passed on besides hop-by-hop fields (Cache-Tag, RFC 9213 targeted fields). */
  drop: Iterable<string>;
  /** Edge-owned CORS: the origin's Access-Control-* fields are dropped. */
  edgeCors: boolean;
  /** The edge adds its own `Vary: Origin` to every answer (edge CORS for listed origins): the origin's is removed. */
  edgeVaryOrigin: boolean;
  rules?: ResponseHeaderRules;
}

/** Removes `origin` from a Vary value; undefined when nothing is left. */
function withoutOrigin(value: string): string | undefined {
  const kept = value.split(',').map((s) => s.trim()).filter((s) => s !== '' && s.toLowerCase() !== 'origin');
  return kept.length === 0 ? undefined : kept.join(', ');
}

/**
 * Builds the zone's clientFields: runs once per origin answer (a miss, a revalidation, a pass), never on a hit, since
 * what it returns is what the store keeps. Hidden fields are never stored; added fields are made once, here, and
 * replace an origin field of the same name.
 */
export function compileClientFields(opts: ClientFieldsOptions): (headers: Record<string, string | string[] | undefined>) => [string, string][] {
  const added: [string, string][] = Object.entries(opts.rules?.add ?? {}).map(([n, v]) => [n.toLowerCase(), v]);
  const drop: ReadonlySet<string> = new Set([...opts.drop, ...(opts.rules?.hide ?? []).map((n) => n.toLowerCase()), ...added.map(([n]) => n)]);
  const dropPrefix = opts.edgeCors ? 'access-control-' : undefined;
  const rewriteVary = opts.edgeVaryOrigin;
  return (headers) => {
    const out = responseFields(headers, drop, dropPrefix);
    if (rewriteVary && headers.vary !== undefined) {
      for (let i = out.length - 1; i >= 0; i--) {
        if (out[i]![0] !== 'vary') continue;
        const v = withoutOrigin(out[i]![1]);
        if (v === undefined) out.splice(i, 1); else out[i] = ['vary', v];
      }
    }
    for (const f of added) out.push(f);
    return out;
  };
}
