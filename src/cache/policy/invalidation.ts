// Which stored URIs a response to an unsafe request invalidates (RFC 9111 §4.4).
import { firstFieldLine } from './cache-control.js';
import type { Headers } from './types.js';

/**
 * Safe methods (RFC 9110 §9.2.1). Methods are case-sensitive; any other method, including unknown ones, is
 * treated as unsafe: "including methods whose safety is unknown".
 * https://www.rfc-editor.org/rfc/rfc9110#section-9.2.1
 */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** 2xx and 3xx are "non-error" status codes. https://www.rfc-editor.org/rfc/rfc9111#section-4.4 */
export function isNonErrorStatus(status: number): boolean {
  return status >= 200 && status < 400;
}

function withoutFragment(url: URL): URL {
  const copy = new URL(url.href);
  copy.hash = '';
  return copy;
}

/**
 * The URIs to invalidate after a response to `method` on `requestUrl`:
 * - nothing for safe methods or error statuses (4xx, 5xx; also 1xx);
 * - otherwise the target URI (MUST), plus Location and Content-Location (MAY) resolved against it, only when
 *   their origin matches the target's. A reverse proxy may see `http:` while clients used `https:`, so the host
 *   (with port) is compared and the scheme is not; the returned URLs take the request's scheme.
 * https://www.rfc-editor.org/rfc/rfc9111#section-4.4
 */
export function invalidationTargets(method: string, status: number, requestUrl: URL, resHeaders: Headers): URL[] {
  if (SAFE_METHODS.has(method) || !isNonErrorStatus(status)) return [];
  const targets: URL[] = [withoutFragment(requestUrl)];
  for (const field of ['location', 'content-location']) {
    const value = firstFieldLine(resHeaders, field)?.trim();
    if (value === undefined || value === '') continue;
    let url: URL;
    try {
      url = new URL(value, requestUrl);
    } catch {
      continue; // not a URI reference
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    // "a cache MUST NOT trigger an invalidation ... if the origin of the URI to be invalidated differs"
    if (url.host.toLowerCase() !== requestUrl.host.toLowerCase()) continue;
    const candidate = new URL(`${requestUrl.protocol}//${requestUrl.host}${url.pathname}${url.search}`);
    if (!targets.some((t) => t.href === candidate.href)) targets.push(candidate);
  }
  return targets;
}
