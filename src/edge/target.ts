// Resolving a request's target: absolute form or Host, the zone that serves it, and its key (made once, here).
import { keyedHost, RequestKey } from '../cache/key.js';
import type { ZoneRouter } from './zones.js';
import type { EdgeKey } from './context.js';

/** A target the edge does not serve: 400 for a malformed request target, 421 for a host no zone serves. */
export class TargetRefusal {
  constructor(readonly status: 400 | 421, readonly message: string) {}
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]+)([^#]*)$/i;

/**
 * The key of a request from its request target and Host field: RFC 9112 §3.2.2, an absolute-form target's authority replaces Host
 * (https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2); the zone is chosen by host; the query is normalised as
 * that zone configures, and what is keyed is what is forwarded (an empty query forwards no '?').
 */
export function resolveTarget(requestTarget: string | undefined, hostField: string | undefined, router: ZoneRouter): EdgeKey | TargetRefusal {
  let url = requestTarget ?? '/';
  let hostValue = hostField ?? '';
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    const m = ABSOLUTE_FORM.exec(url);
    if (!m) return new TargetRefusal(400, 'edgecache: request target must be a path or an absolute http(s) URL');
    hostValue = m[1]!;
    url = m[2] || '/';
    if (url[0] === '?') url = `/${url}`;
  }
  const host = keyedHost(hostValue);
  const zone = router.match(host);
  if (!zone) return new TargetRefusal(421, `edgecache: no zone serves host ${JSON.stringify(host.slice(0, 200))}`);
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const query = zone.normalizeQuery(rawQuery);
  const target = query === '' ? path : query === rawQuery ? url : `${path}?${query}`;
  return new RequestKey(zone, host, path, query, target);
}
