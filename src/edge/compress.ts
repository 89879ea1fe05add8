// Compression at the edge: the gzip and br representations of stored identity responses, made once per variant and
// coding with node:zlib off the event loop (in the background: until one is ready the identity one is served), held
// beside the variant (freed with it) within a byte budget, and chosen per request by its Accept-Encoding.
import { brotliCompress, constants, createBrotliCompress, createGzip, gzip } from 'node:zlib';
import type { Transform } from 'node:stream';
import { promisify } from 'node:util';
import type { IncomingMessage } from 'node:http';
import type { Zone } from '../config/schema.js';
import type { StoredVariant } from '../storage/store.js';
import type { Servable } from './respond.js';
import {
  acceptedCodings, canCompress, compileCodingPolicy, DEFAULT_COMPRESS_TYPES, representationFields, type CodingPolicy, type EdgeCoding,
} from '../cache/policy/content-coding.js';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** A compressed copy is kept only when it saves at least this share of the identity size (else identity is served). */
const MIN_SAVING = 0.05;

/** Distinct Accept-Encoding values remembered with their codings (clients send few; past this the memo starts over). */
const MEMO_SIZE = 256;

/** A zone's settings as the config gives them (`compress`); absent or `enabled: false`: nothing is compressed. */
type CompressConfig = NonNullable<Zone['compress']>;

/** What is known of one stored variant, rebuilt when its fields change (a 304 refreshes them: new flatHeaders). */
interface Entry {
  source: string[];
  /** The variant may be compressed (type, status, size, no-transform). */
  eligible: boolean;
  /** The identity representation with Vary: Accept-Encoding (with the body in memory now; dropped when it leaves). */
  identity: Servable | undefined;
  /** Compressed bodies by coding: a Buffer, or null while it is made or when it did not pay (or failed). */
  bodies: Partial<Record<EdgeCoding, Buffer | null>>;
  /** Representations built from `bodies` and the current fields (on first use). */
  reps: Partial<Record<EdgeCoding, Servable>>;
}

export interface EdgeCompression {
  /**
   * What to serve for a stored variant: the variant itself (its zone does not compress, or it is not compressible), its
   * identity representation with Vary: Accept-Encoding (the request accepts no coding we make, sends Range, or the
   * copy is not ready yet: it is then started), or a compressed representation. Synchronous: the hit path never waits.
   */
  represent(req: IncomingMessage, zoneConfig: Zone, v: StoredVariant): Servable;
  /**
   * The fields of an answer fetched for the cache and sent as it arrives (a miss): with Vary: Accept-Encoding when
   * the zone would compress it once stored, so that caches after the edge keep its representations apart.
   */
  missFields(zoneConfig: Zone, status: number, fields: [string, string][]): [string, string][];
  /**
   * An answer relayed uncached (a pass, a response that may not be stored): its fields as sent (Vary, and for a coding
   * Content-Encoding, a distinct ETag and no Content-Length) and, when the client gets a coding, the zlib stream to
   * send the body through. Undefined: relay it as it is.
   */
  relayCoding(req: IncomingMessage, zoneConfig: Zone, status: number, fields: [string, string][]): RelayCoding | undefined;
  /** Bytes of compressed copies held now. */
  heldBytes(): number;
  /** Resolves once no compression is running (tests). */
  idle(): Promise<void>;
}

export interface RelayCoding {
  fields: [string, string][];
  /** The compressing stream (undefined: identity, only Vary was added). */
  transform?: () => Transform;
}

export function createCompression(budgetBytes: number): EdgeCompression {
  const policies = new WeakMap<Zone, CodingPolicy | null>();
  const entries = new WeakMap<StoredVariant, Entry>();
  let held = 0;
  // A copy's bytes leave the budget when its variant is collected (evicted or purged, and no answer still holds it).
  const freed = new FinalizationRegistry<number>((n) => { held -= n; });
  const running = new Set<Promise<void>>();
  const memo = new Map<string, readonly EdgeCoding[]>();
  const codingsOf = (value: string | string[] | undefined): readonly EdgeCoding[] => {
    if (typeof value !== 'string' || value.length > 200) return acceptedCodings(value);
    let c = memo.get(value);
    if (c === undefined) {
      if (memo.size >= MEMO_SIZE) memo.clear();
      memo.set(value, (c = acceptedCodings(value)));
    }
    return c;
  };

  const policyOf = (zone: Zone): CodingPolicy | null => {
    let p = policies.get(zone);
    if (p === undefined) {
      const c: CompressConfig | undefined = zone.compress;
      p = c !== undefined && c.enabled ? compileCodingPolicy({ types: c.types ?? DEFAULT_COMPRESS_TYPES, minBytes: c.minBytes, brotliQuality: c.brotliQuality }) : null;
      policies.set(zone, p);
    }
    return p;
  };

  /** The zone's coding policy when an origin answer with this status and these fields may be compressed; else null. */
  const policyFor = (zoneConfig: Zone, status: number, fields: readonly [string, string][]): CodingPolicy | null => {
    if (zoneConfig.compress === undefined) return null;
    const policy = policyOf(zoneConfig);
    if (policy === null) return null;
    const map = fieldMapOf(fields);
    const length = map['content-length'] === undefined ? undefined : Number(map['content-length']);
    return canCompress(policy, status, map, Number.isSafeInteger(length) ? length : undefined) ? policy : null;
  };

  const entryOf = (v: StoredVariant, body: Buffer, policy: CodingPolicy): Entry => {
    const had = entries.get(v);
    if (had !== undefined && had.source === v.flatHeaders) {
      // The body came back into memory (a disk tier read it again: a new Buffer): the identity serves that one.
      if (had.eligible && had.identity?.body !== body) had.identity = servable(v, undefined, body);
      return had;
    }
    const eligible = canCompress(policy, v.status, v.fieldMap, body.length);
    // Bodies made for the old fields stay (the body itself never changes; a job still running fills this same object).
    const e: Entry = { source: v.flatHeaders, eligible, identity: eligible ? servable(v, undefined, body) : undefined, bodies: had?.bodies ?? {}, reps: {} };
    entries.set(v, e);
    return e;
  };

  const start = (v: StoredVariant, body: Buffer, e: Entry, coding: EdgeCoding, policy: CodingPolicy): void => {
    if (held >= budgetBytes) return;
    const bodies = e.bodies;
    bodies[coding] = null; // claimed: one compression per variant and coding
    const made = coding === 'br'
      ? brotliAsync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: policy.brotliQuality, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } })
      : gzipAsync(body);
    const job = made.then((out) => {
      if (out.length > body.length * (1 - MIN_SAVING) || held + out.length > budgetBytes) return;
      bodies[coding] = out;
      held += out.length;
      freed.register(v, out.length);
    }, () => { /* a failed compression leaves identity (null) */ }).finally(() => { running.delete(job); });
    running.add(job);
  };

  return {
    represent(req, zoneConfig, v) {
      if (zoneConfig.compress === undefined) return v;
      const policy = policyOf(zoneConfig);
      if (policy === null) return v;
      // A body only in the disk tier is served as stored: compressing it would read it whole into memory.
      const stored = v.body;
      if (stored === undefined) {
        // Its body left the memory tier: the identity representation must not keep it in memory, unaccounted, for as
        // long as the variant is indexed (its compressed copies stay: they are within the budget).
        const e = entries.get(v);
        if (e !== undefined) e.identity = undefined;
        return v;
      }
      const e = entryOf(v, stored, policy);
      if (!e.eligible) return v;
      // Ranges are answered from the identity representation (RFC 9110 §14: a range of the coded bytes would be another
      // resource's range for clients that cache by URL).
      if (req.headers.range !== undefined) return e.identity!;
      // The best coding ready; a better one not made yet is started (this answer takes the next best, or identity).
      for (const c of codingsOf(req.headers['accept-encoding'])) {
        const rep = e.reps[c];
        if (rep !== undefined) return rep;
        const body = e.bodies[c];
        if (body === undefined) start(v, stored, e, c, policy);
        else if (body !== null) return (e.reps[c] = servable(v, c, body));
      }
      return e.identity!;
    },
    missFields(zoneConfig, status, fields) {
      if (policyFor(zoneConfig, status, fields) === null) return fields;
      return pairs(representationFields(fields, undefined, 0));
    },
    relayCoding(req, zoneConfig, status, fields) {
      const policy = policyFor(zoneConfig, status, fields);
      if (policy === null) return undefined;
      const coding = req.headers.range === undefined ? codingsOf(req.headers['accept-encoding'])[0] : undefined;
      const out = pairs(representationFields(fields, coding, 0)).filter(([n]) => coding === undefined || n !== 'content-length');
      if (coding === undefined) return { fields: out };
      const quality = policy.brotliQuality;
      return {
        fields: out,
        transform: () => (coding === 'br'
          ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: quality } })
          : createGzip()),
      };
    },
    heldBytes: () => held,
    async idle() { while (running.size > 0) await Promise.all([...running]); },
  };
}

function fieldMapOf(fields: readonly [string, string][]): Record<string, string | string[]> {
  const map: Record<string, string | string[]> = Object.create(null);
  for (const [n, val] of fields) { const had = map[n]; map[n] = had === undefined ? val : Array.isArray(had) ? [...had, val] : [had, val]; }
  return map;
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** A representation of `v` ready for serveComplete: its fields (see representationFields) and body. */
function servable(v: StoredVariant, coding: EdgeCoding | undefined, body: Buffer): Servable {
  const flatHeaders = representationFields(v.headers, coding, body.length);
  const fieldMap: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < flatHeaders.length; i += 2) {
    const n = flatHeaders[i]!;
    const val = flatHeaders[i + 1]!;
    const had = fieldMap[n];
    fieldMap[n] = had === undefined ? val : Array.isArray(had) ? [...had, val] : [had, val];
  }
  return { status: v.status, flatHeaders, fieldMap, body, bodyLength: body.length };
}
