// The control plane prepares each purge once: a local purge directly, a published one on this node and from the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { redisFor } from '../../test/helpers/redis-server.js';
import type { Purge } from '../purge/purger.js';
import type { PurgeRequest } from '../purge/request.js';
import { startControlPlane, type ControlPlaneOptions } from './control-plane.js';

const logger = createLogger('silent');

/** Options whose hooks record every call; `prepare` makes a fresh object each time, so identity shows reuse. */
function recorder(config: ControlPlaneOptions['config']) {
  const prepared: Purge[] = [];
  const applied: Purge[] = [];
  const published: Purge[] = [];
  const opts: ControlPlaneOptions = {
    config, logger,
    prepare: (zoneId, request) => { const p = { zoneId, request, targets: [] }; prepared.push(p); return p; },
    applyLocal: async (p) => { applied.push(p); return 0; },
    beforePublish: async (p) => { published.push(p); },
    clearLocal: async () => {},
  };
  return { opts, prepared, applied, published };
}

const TAGS: PurgeRequest = { kind: 'tags', tags: ['a'], soft: false };

test('without a cluster a purge is prepared once and applied here', async () => {
  const r = recorder(configSchema.parse({}));
  const control = await startControlPlane(r.opts);
  try {
    await control.applyPurge('z', TAGS);
    assert.equal(r.prepared.length, 1);
    assert.deepEqual(r.applied, r.prepared);
    assert.deepEqual(r.published, [], 'nothing is published, so there is no tier step before it');
  } finally {
    await control.close();
  }
});

test('in a cluster the publishing node prepares once: the tier step and its own apply from the stream share it; another node prepares its own', async (t) => {
  const redis = await redisFor(t);
  if (!redis) return;
  const config = configSchema.parse({ cluster: { redis: redis.url, stream: `cp-test:${process.pid}` } });
  const a = recorder(config);
  const b = recorder(config);
  const nodeA = await startControlPlane(a.opts);
  t.after(() => nodeA.close());
  const nodeB = await startControlPlane(b.opts);
  t.after(() => nodeB.close());

  await nodeA.applyPurge('z', TAGS);
  assert.equal(a.prepared.length, 1, 'prepared once on the publishing node');
  assert.equal(a.published[0], a.prepared[0], 'the strict tier step got that purge');
  assert.equal(a.applied[0], a.prepared[0], 'and so did the apply of its own stream entry');
  for (let i = 0; i < 100 && b.applied.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(b.prepared.length, 1, 'the other node prepares the stream copy once');
  assert.equal(b.applied[0], b.prepared[0]);
  assert.deepEqual(b.applied[0]!.request, TAGS);
  assert.deepEqual(b.published, [], 'only the publishing node runs the tier step');
});
