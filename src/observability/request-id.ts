// Request ids (`x-request-id`: a per-process prefix and a counter, no crypto per request) and the trace fields passed
// through to origins (W3C Trace Context `traceparent` and `tracestate`, forwarded unchanged only when valid).
import { randomBytes } from 'node:crypto';

/** The field the edge answers with and forwards to origins. */
export const REQUEST_ID_FIELD = 'x-request-id';

/** Longest request id taken from a trusted peer. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** Visible ASCII only (RFC 9110 §5.5 VCHAR), 1 to MAX_REQUEST_ID_LENGTH characters: safe in fields and log lines. */
const SANE_ID = /^[\x21-\x7e]{1,128}$/;

/** Whether a peer's `x-request-id` may be kept (a single field line of bounded, visible ASCII). */
export function isSaneRequestId(value: string | string[] | undefined): value is string {
  return typeof value === 'string' && SANE_ID.test(value);
}

/** Makes request ids: `<12 hex of this process>-<base36 counter>`, unique across processes and restarts. */
export function createRequestIds(prefix = randomBytes(6).toString('hex')): () => string {
  const head = `${prefix}-`;
  let n = 0;
  return () => head + (++n).toString(36);
}

/**
 * W3C Trace Context level 1 (https://www.w3.org/TR/trace-context/#traceparent-header): `version-traceid-parentid-flags`
 * in lowercase hex; version ff is invalid, an all-zero trace or parent id is invalid, version 00 has exactly four parts,
 * a later version may carry more after a `-` (§4.3 "versioning of traceparent").
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^]*)?$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_PARENT = '0000000000000000';

/** Whether a request's `traceparent` is valid (a single field line); an invalid one is not forwarded (§3.2.2.7 / §4.3). */
export function isValidTraceparent(value: string | string[] | undefined): value is string {
  if (typeof value !== 'string' || value.length > 512) return false;
  const m = TRACEPARENT.exec(value);
  if (m === null) return false;
  const [, version, trace, parent, , rest] = m;
  if (version === 'ff' || trace === ZERO_TRACE || parent === ZERO_PARENT) return false;
  return version !== '00' || rest === undefined;
}

/**
 * Sets the trace fields of a request forwarded to the origin, in place: the request id, and `traceparent` /
 * `tracestate` as the client sent them when `traceparent` is valid, else neither (a vendor's `tracestate` means
 * nothing without the trace it belongs to: W3C Trace Context §3.3).
 */
export function setTraceFields(out: Record<string, string | string[]>, requestId: string | undefined): void {
  if (requestId !== undefined) out[REQUEST_ID_FIELD] = requestId;
  else delete out[REQUEST_ID_FIELD];
  const tp = out.traceparent;
  if (tp === undefined) { delete out.tracestate; return; }
  if (!isValidTraceparent(tp)) { delete out.traceparent; delete out.tracestate; }
}
