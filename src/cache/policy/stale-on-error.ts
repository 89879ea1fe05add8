// When a stored response may stand in for an origin that failed: stale-if-error (RFC 5861 §4) and a disconnected
// cache (RFC 9111 §4.2.4). Pure: the caller says what failed and what the lookup allowed.
import type { Freshness } from './types.js';

/** The request's stale-if-error directive, as parseRequestDirectives reads it (seconds), or undefined. */
export interface StaleOnErrorRequest { staleIfError?: number }

/**
 * May the stored response be served if the origin fails (5xx or connection error) while revalidating? Decided at
 * lookup time, when the age is known:
 * - never with no-cache (validation is mandatory: RFC 9111 §5.2.2.4);
 * - a fresh response can stand in (the request only asked for validation);
 * - stale: within the response's stale-if-error window, or the request's when the response does not forbid
 *   stale serving (must-revalidate: "MUST generate an error response rather than reuse the stale response").
 * https://www.rfc-editor.org/rfc/rfc5861#section-4 and https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2
 */
export function mayServeOnError(f: Freshness, age: number, fresh: boolean, req: StaleOnErrorRequest): boolean {
  if (f.alwaysRevalidate) return false;
  if (fresh) return true;
  const staleness = age - f.lifetime;
  if (f.staleIfError > 0 && staleness < f.staleIfError) return true;
  return !f.noStaleServing && req.staleIfError !== undefined && staleness <= req.staleIfError;
}

/** RFC 5861 §4: stale-if-error covers 500, 502, 503 and 504 answers (and connection errors). https://www.rfc-editor.org/rfc/rfc5861#section-4 */
export function isStaleIfErrorStatus(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}

/** How the origin failed: it answered with `status`, or gave no answer (`disconnected`: unreachable or timed out). */
export type OriginFailure = { status: number } | { disconnected: boolean };

/** Why a stored response answers instead of the failure (the Cache-Status detail), or undefined: the failure goes out. */
export type StaleOnErrorReason = 'stale-if-error' | 'origin-unreachable';

/**
 * Decides whether `stored` answers in place of an origin failure during its revalidation. `staleIfError` is the
 * lookup's mayServeOnError verdict.
 * - An error status: only 500, 502, 503, 504, within stale-if-error. https://www.rfc-editor.org/rfc/rfc5861#section-4
 * - No answer at all: within stale-if-error; or, for a cache that cannot reach the origin ("disconnected"), when
 *   nothing forbids stale serving: must-revalidate, proxy-revalidate, s-maxage, no-cache, or a soft purge (which asks
 *   for revalidation). https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4
 */
export function staleOnError(
  stored: { readonly freshness: Freshness; readonly forcedStale: boolean },
  staleIfError: boolean,
  failure: OriginFailure,
): StaleOnErrorReason | undefined {
  if ('status' in failure) return staleIfError && isStaleIfErrorStatus(failure.status) ? 'stale-if-error' : undefined;
  if (staleIfError) return 'stale-if-error';
  const f = stored.freshness;
  if (failure.disconnected && !f.noStaleServing && !f.alwaysRevalidate && !stored.forcedStale) return 'origin-unreachable';
  return undefined;
}
