// Property tests through a real edge: request sequences never yield a foreign
// Access-Control-Allow-Origin or a 5xx; mutated request heads never crash it. Seeds printed; FC_SEED replays.
import { test } from 'node:test';
import { mutatedHeads, noForeignAcao } from './fuzz/properties.js';

test('arbitrary request sequences, origin reflecting Origin without Vary: no foreign ACAO, no 5xx', async (t) => {
  await noForeignAcao(t, { numRuns: 15 });
});

test('mutated request heads get 400/413/414/431/501/505 or a normal answer, and the edge keeps serving', async (t) => {
  await mutatedHeads(t, { numRuns: 60 });
});
