// The long fuzz run (`npm run fuzz`): the hostile-input properties (properties.ts) with many more runs than `npm test`.
// Replay a failure: FC_SEED=<seed> [FC_PATH=<path>] npm run fuzz; scale every property: FC_RUNS=<n>.
import { test } from 'node:test';
import { fastParseAcceptsClean, fastParseDifferential } from './fast-differential.js';
import { concurrentConnections } from './fast-connections.js';
import { headerNames, keyForwardAgreement, keyForwardEndToEnd, mutatedHeads, noForeignAcao, variantFloods, varyNamesEndToEnd } from './properties.js';

test('fuzz: key and forward builders agree', (t) => { keyForwardAgreement(t, { numRuns: 20_000 }); });
test('fuzz: end to end, a hit serves what the origin would have answered', async (t) => { await keyForwardEndToEnd(t, { numRuns: 500 }); });
test('fuzz: request sequences never yield a foreign ACAO or a 5xx', async (t) => { await noForeignAcao(t, { numRuns: 400 }); });
test('fuzz: mutated request heads never crash the edge', async (t) => { await mutatedHeads(t, { numRuns: 3_000 }); });
test('fuzz: header names (Object.prototype keys, underscores, case) are ordinary names everywhere', (t) => { headerNames(t, { numRuns: 20_000 }); });
test('fuzz: variant floods stay within maxVariants and evict nothing else', (t) => { variantFloods(t, { numRuns: 2_000 }); });
test('fuzz: an origin varying on any names: no 5xx, the same request again is a hit', async (t) => { await varyNamesEndToEnd(t, { numRuns: 400 }); });
test('fuzz: the fast parser declines or parses exactly as node:http (llhttp) does', async (t) => { await fastParseDifferential(t, { numRuns: 20_000 }); });
test('fuzz: the fast parser accepts strictly simple heads', async (t) => { await fastParseAcceptsClean(t, { numRuns: 2_000 }); });
test('fuzz: several fast connections, requests cut anywhere and interleaved: every answer right and in order', async (t) => { await concurrentConnections(t, { numRuns: 300 }); });
test('fuzz: the same over TLS', async (t) => { await concurrentConnections(t, { numRuns: 200 }, 'tls'); });
