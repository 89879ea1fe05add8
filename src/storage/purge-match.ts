// Which stored entries a purge names beyond its index walk: a cached preflight by headers, an input fetched during it.
import { PREFLIGHT_KEY_SUFFIX, selectorOf, type HeaderValues, type NormalizeValue } from '../cache/key.js';
import { fieldOf } from '../http/headers.js';
import { hasPort, hostName } from './memory-index.js';
import type { PurgeTarget, VariantInput } from './store.js';

/**
 * A purge with headers names what a browser's request carries (Origin, Vary'd fields), never a preflight's own
 * Access-Control-Request-* fields: those, when the purge leaves them out, match any value, so {Origin} removes that
 * Origin's cached preflights for every method and header list. Every other key header must match, absent = absent.
 */
export function preflightSelected(keyNames: readonly string[], selector: string, headers: HeaderValues, normalize: NormalizeValue): boolean {
  const parts = keyNames.length === 1 ? [selector] : selector.split('\u0000');
  for (let i = 0; i < keyNames.length; i++) {
    const name = keyNames[i]!;
    if (name.startsWith('access-control-request-') && fieldOf(headers, name) === undefined) continue;
    if (selectorOf([name], headers, normalize) !== parts[i]) return false;
  }
  return true;
}

/** Would this purge have matched an entry with these properties (for fetches in flight during it)? */
export function coversInput(target: PurgeTarget, input: VariantInput, normalize: NormalizeValue): boolean {
  if (target.zoneId !== input.zoneId) return false;
  switch (target.kind) {
    case 'everything': return true;
    case 'object': return target.host === input.host && target.path === input.path && target.query === input.query;
    case 'variant':
      return target.host === input.host && target.path === input.path && target.query === input.query &&
        (input.objectKey.endsWith(PREFLIGHT_KEY_SUFFIX)
          ? preflightSelected(input.keyNames, input.selector, target.headers, normalize)
          : selectorOf(input.keyNames, target.headers, normalize) === input.selector);
    case 'tag': return input.tags.includes(target.tag);
    case 'host': return hasPort(target.host) ? target.host === input.host : hostName(input.host) === target.host;
    case 'prefix': return target.host === input.host && input.path.startsWith(target.pathPrefix);
  }
}
