// The fast parser against llhttp (node:http), briefly (the long run is `npm run fuzz`): declined, or parsed the same.
import { test } from 'node:test';
import { fastParseAcceptsClean, fastParseDifferential } from './fuzz/fast-differential.js';

test('fast parser: every head is declined or parsed exactly as node:http parses it', async (t) => { await fastParseDifferential(t, { numRuns: 400 }); });
test('fast parser: strictly simple heads are accepted and parsed as node:http parses them', async (t) => { await fastParseAcceptsClean(t, { numRuns: 100 }); });
