// Property tests: the cache key and the forwarded request agree — equal keys forward the same target,
// Host and fields, checked on the builders and end to end through a real edge. Seeds printed; FC_SEED replays.
import { test } from 'node:test';
import { keyForwardAgreement, keyForwardEndToEnd } from './fuzz/properties.js';

test('key and forward builders agree: equal keys → same target, Host and forwarded fields', (t) => {
  keyForwardAgreement(t, { numRuns: 300 });
});

test('end to end: a hit serves exactly what the origin would have answered that request', async (t) => {
  await keyForwardEndToEnd(t, { numRuns: 30 });
});
