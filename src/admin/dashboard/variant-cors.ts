// The CORS fields a stored variant would be sent with, and what is wrong with them, for the inspector.
// Background: https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches — an ACAO that names one Origin must only
// ever reach that Origin, so a cache must key it on Origin (Vary: Origin, RFC 9110 §12.5.5).
import type { StoredVariant } from '../../storage/store.js';
import { detectCorsProblems, type CorsProblem } from '../../cors/diagnostics.js';

/** What the inspector needs of a zone at run time: edge-owned CORS and the fields it adds (absent: the origin owns CORS). */
export interface ZoneCorsView {
  readonly cors?: unknown;
  decorate?(origin: string | string[] | undefined): readonly string[];
}

export type VariantCorsProblem = CorsProblem | 'acao-not-keyed' | 'acao-mismatch';

export interface VariantCors {
  /** Who writes the fields: the edge (zone `cors` block) or the origin (stored with the response). */
  owner: 'edge' | 'origin';
  /** The Origin these fields are shown for: the variant's own (Origin in its key) or the one the inspector gave. */
  forOrigin: string | null;
  acao: string | null;
  acac: string | null;
  vary: string | null;
  problems: { kind: VariantCorsProblem; message: string }[];
}

const MESSAGES: Record<VariantCorsProblem, string> = {
  'reflected-without-vary': 'ACAO reflects the Origin but Vary does not list Origin: other caches (browsers, CDNs) will hand it to other Origins',
  'wildcard-with-credentials': 'ACAO * with Access-Control-Allow-Credentials: true: browsers refuse credentialed requests',
  'acao-not-keyed': 'ACAO names one Origin but this variant is not keyed on Origin: every Origin gets this ACAO (stale ACAO)',
  'acao-mismatch': 'ACAO names another Origin than the one this variant is stored for: browsers on this Origin refuse it',
};

function field(map: Record<string, string | string[]>, name: string): string | null {
  const v = map[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function joinVary(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return `${a}, ${b}`;
}

/**
 * `selector`: the variant's key as describeSelector gives it; `requestOrigin`: the Origin the inspector asked about
 * (used when the variant is not keyed on Origin, so it would be served to any Origin).
 */
export function variantCors(zone: ZoneCorsView, v: StoredVariant, selector: Record<string, string | null>, requestOrigin: string | undefined): VariantCors {
  const keyedOnOrigin = Object.hasOwn(selector, 'origin');
  const own = keyedOnOrigin ? selector['origin']! : undefined; // null: stored for requests without Origin
  const forOrigin = own !== undefined ? own : (requestOrigin ?? null);
  if (zone.cors && zone.decorate) {
    const flat = zone.decorate(forOrigin ?? undefined);
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) map[flat[i]!.toLowerCase()] = flat[i + 1]!;
    return {
      owner: 'edge', forOrigin,
      acao: map['access-control-allow-origin'] ?? null,
      acac: map['access-control-allow-credentials'] ?? null,
      vary: joinVary(field(v.fieldMap, 'vary'), map['vary'] ?? null),
      problems: [],
    };
  }
  const acao = field(v.fieldMap, 'access-control-allow-origin')?.trim() ?? null;
  const kinds: VariantCorsProblem[] = detectCorsProblems(forOrigin ?? undefined, v.fieldMap);
  const specific = acao !== null && acao !== '*' && acao !== 'null';
  if (specific && !keyedOnOrigin) kinds.push('acao-not-keyed');
  if (specific && typeof own === 'string' && acao !== own) kinds.push('acao-mismatch');
  return {
    owner: 'origin', forOrigin, acao,
    acac: field(v.fieldMap, 'access-control-allow-credentials'),
    vary: field(v.fieldMap, 'vary'),
    problems: kinds.map((kind) => ({ kind, message: MESSAGES[kind] })),
  };
}

/** How many other variants of the same URL hold the very same body (the store keeps identical bodies once). */
export function sharedBodyCount(v: StoredVariant, all: readonly StoredVariant[]): number {
  let n = 0;
  for (const o of all) if (o !== v && (o.body ?? o.bodyFile) === (v.body ?? v.bodyFile)) n++;
  return n;
}
