// Every error the admin API answers with (errors[].code in its Cloudflare-shaped envelope): code, HTTP status, meaning.
//
// Cloudflare's own code where one is known (its wording quoted), ours otherwise. It lives beside the purge grammar
// because the body parser (request.ts) reports its codes from here; the routes in src/admin/ report the rest.
// Route checks run in this order, and a refused request changes nothing:
//   421 Host not allowed (every admin route, src/admin/host-check.ts) → 400 malformed request or zone id in the path
//   → 405 method → 401 token in the query string / missing or unknown bearer token → 403 token not valid for this zone
//   → 404 unknown zone → 413 body too large → 400 body → apply (503 cluster unavailable, 500 anything else).

export interface ApiError {
  readonly code: number;
  readonly status: number;
  /** What the code means; each answer's message says it for the request at hand. */
  readonly meaning: string;
}

export const API_ERRORS = {
  // Purge request bodies (src/purge/request.ts).
  noSingleKind: { code: 1012, status: 400, meaning: 'none, or more than one, of purge_everything/files/tags/hosts/prefixes; or purge_everything not true (Cloudflare: \'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"\')' },
  invalidItem: { code: 1013, status: 400, meaning: 'an item is invalid: URL not absolute http(s), bad header, empty/bad tag, bad host or prefix (also an inspect body\'s url or headers)' },
  notAList: { code: 1014, status: 400, meaning: 'a field that must be a list is not (Cloudflare: \'"files", "tags", or "hosts" must be an array\')' },
  tooManyItems: { code: 1015, status: 400, meaning: 'more items than purge.maxItems' },
  invalidSoft: { code: 1016, status: 400, meaning: '`soft` is present but not a boolean' },
  malformedJson: { code: 6007, status: 400, meaning: 'body is not UTF-8 JSON, not a JSON object, or nested deeper than 32 levels (Cloudflare: \'Malformed JSON in request body\')' },
  // Routes (src/admin/).
  noRoute: { code: 7000, status: 404, meaning: 'no admin route for this method and path (Cloudflare: \'No route for that URI\')' },
  methodNotAllowed: { code: 7001, status: 405, meaning: 'method not allowed (Cloudflare: \'Method GET not available for that URI.\')' },
  zoneNotFound: { code: 7003, status: 404, meaning: 'unknown zone (Cloudflare: \'Could not route to …, perhaps your object identifier is invalid?\')' },
  unauthenticated: { code: 10001, status: 401, meaning: 'no or unknown bearer token, or a token in the query string (Cloudflare: \'Unable to authenticate request\')' },
  forbidden: { code: 10000, status: 403, meaning: 'token valid, but not for this zone (Cloudflare: \'Authentication error\')' },
  bodyTooLarge: { code: 1017, status: 413, meaning: 'body larger than the route\'s limit' },
  clusterUnavailable: { code: 1018, status: 503, meaning: 'the cluster (its purge bus or shared tier) is unreachable: nothing was published' },
  internal: { code: 1019, status: 500, meaning: 'any other failure while applying' },
  badRequest: { code: 1020, status: 400, meaning: 'the request itself is malformed: a zone id in the path that is not valid percent-encoding, or an HTTP request the server cannot parse' },
  hostNotAllowed: { code: 1021, status: 421, meaning: 'the Host names neither an IP address, localhost, nor a name in admin.hosts (a DNS-rebinding page must not reach the admin API)' },
  configRefused: { code: 1023, status: 422, meaning: 'POST /reload: the config file does not validate (or cannot be applied); the running config is kept' },
  headTooLarge: { code: 1022, status: 431, meaning: 'the request head is larger than the admin listener accepts' },
} as const satisfies Record<string, ApiError>;

export type ApiErrorName = keyof typeof API_ERRORS;

/** Notes a successful answer may carry in its envelope's `messages` ([{code, message}], as Cloudflare's envelope allows). */
export const API_MESSAGES = {
  nothingMatched: { code: 1100, meaning: 'the purge was applied but no cached entry matched it (on this node, in a cluster): nothing was cached under those URLs, tags, hosts or prefixes' },
} as const;

/** Just the codes, by name. */
export const ERROR_CODES = Object.fromEntries(Object.entries(API_ERRORS).map(([name, e]) => [name, e.code])) as {
  readonly [N in ApiErrorName]: (typeof API_ERRORS)[N]['code'];
};
