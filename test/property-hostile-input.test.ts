// Property tests for hostile input: request sequences through a real edge never yield a foreign
// Access-Control-Allow-Origin or a 5xx; mutated request heads never crash it; header names from outside are ordinary
// names; variant floods stay bounded. Bounded runs here, long ones in `npm run fuzz`. Seeds printed; FC_SEED replays.
import { test } from 'node:test';
import { headerNames, mutatedHeads, noForeignAcao, variantFloods, varyNamesEndToEnd } from './fuzz/properties.js';

test('arbitrary request sequences, origin reflecting Origin without Vary: no foreign ACAO, no 5xx', async (t) => {
  await noForeignAcao(t, { numRuns: 15 });
});

test('mutated request heads get 400/413/414/431/501/505 or a normal answer, and the edge keeps serving', async (t) => {
  await mutatedHeads(t, { numRuns: 60 });
});

test('header names (Object.prototype keys, underscores, case) select, forward and store as ordinary names', (t) => {
  headerNames(t, { numRuns: 300 });
});

test('variant floods: each URL keeps at most maxVariants, Accept-Encoding at most five, nothing else is evicted', (t) => {
  variantFloods(t, { numRuns: 60 });
});

test('an origin varying on any names (Object.prototype keys included) never makes a 5xx; the same request again hits', async (t) => {
  await varyNamesEndToEnd(t, { numRuns: 20 });
});
