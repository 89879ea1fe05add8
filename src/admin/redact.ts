// What inspect shows of a variant's selector: Vary'd values as a keyed hash unless the header is on a short safe list.
//
// Any zone's purge token may inspect, and a selector holds the request headers a variant was stored under: a session
// cookie, an Authorization value, an API key. So every value is shown as `hmac:` + the first 12 hex digits of
// HMAC-SHA-256 under a key drawn once per process, except for headers that describe the client's preferences rather
// than who it is (SHOWN_RAW). A deny list of secret-looking names would miss the next X-Tenant-Secret; an allow list
// errs on the safe side. Within one process equal values hash equal (two variants with the same cookie show the same
// hash); across restarts and processes they do not, so a hash cannot be matched against a guess offline. A purge by URL
// and headers still takes the raw value the operator knows.
import { createHmac, randomBytes } from 'node:crypto';

/** Headers whose values inspect shows as they are: they say what a client accepts, not who it is. */
export const SHOWN_RAW: ReadonlySet<string> = new Set([
  'origin', 'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'user-agent', 'x-requested-with',
  'save-data', 'dpr', 'viewport-width', 'width', 'device-memory', 'downlink', 'ect', 'rtt',
]);
/** Header name prefixes shown raw too: client hints and fetch metadata. */
const SHOWN_RAW_PREFIXES = ['sec-ch-', 'sec-fetch-'] as const;

/** What a hashed value starts with. */
export const HASH_PREFIX = 'hmac:';
const HASH_HEX_CHARS = 12;

const KEY = randomBytes(32);

/** Whether inspect shows this header's values raw. */
export function isShownRaw(name: string): boolean {
  const lower = name.toLowerCase();
  return SHOWN_RAW.has(lower) || SHOWN_RAW_PREFIXES.some((p) => lower.startsWith(p));
}

/** `hmac:` + 12 hex digits of HMAC-SHA-256(process key, value). */
export function hashValue(value: string): string {
  return HASH_PREFIX + createHmac('sha256', KEY).update(value, 'utf8').digest('hex').slice(0, HASH_HEX_CHARS);
}

/** The selector as inspect shows it: absent (null) stays null; values of headers not shown raw are hashed. */
export function redactSelector(selector: Readonly<Record<string, string | null>>): Record<string, string | null> {
  const out: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  for (const [name, value] of Object.entries(selector)) out[name] = value === null || isShownRaw(name) ? value : hashValue(value);
  return out;
}
