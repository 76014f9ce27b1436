// Fair sharing of workers between owners (issue 11.4), on both backends, with real job processes: one
// worker slot, a teacher's batch of 6 submitted first, then another teacher's single job. The single job
// starts no later than the batch's second job, and the batch still runs in its own order.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { openJobSystem } from '../src/jobs/index.ts';
import type { JobSystemConfig } from '../src/jobs/index.ts';
import { hasRedisServer, startRedisServer } from '../src/jobs/testing/redis-server.ts';
import type { JobRecord } from '../src/jobs/types.ts';
import { TEST_TYPES } from './helpers/job-types.ts';
import { waitFor } from './helpers/procs.ts';

async function batchThenSingle(t: TestContext, backend: Partial<JobSystemConfig>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-fair-'));
  const sys = await openJobSystem({
    dataDir: dir, startWorkers: true, types: TEST_TYPES, concurrency: 1, pollMs: 50, leaseMs: 3_000,
    minFreeDiskBytes: 0, tmpRoot: join(dir, 'work'), ...backend,
  });
  t.after(async () => {
    await sys.close();
    await rm(dir, { recursive: true, force: true });
  });
  const batch: string[] = [];
  for (let i = 0; i < 6; i++) batch.push((await sys.submit('test.sleep', { ms: 150, i }, { owner: 'teacher-a' })).job.id);
  const single = (await sys.submit('test.sleep', { ms: 150 }, { owner: 'teacher-b' })).job.id;
  await sys.start();
  const ids = [...batch, single];
  const done = await waitFor('every job to finish', async () => {
    const jobs = await Promise.all(ids.map((id) => sys.store.get(id)));
    return jobs.every((j) => j?.state === 'succeeded') ? (jobs as JobRecord[]) : null;
  }, 30_000);
  const started = new Map(done.map((j) => [j.id, j.startedAt!]));
  const order = [...ids].sort((x, y) => started.get(x)! - started.get(y)!);
  t.diagnostic(`start order: ${order.map((id) => (id === single ? 'B' : `A${batch.indexOf(id) + 1}`)).join(' ')}`);
  assert.ok(started.get(single)! <= started.get(batch[1])!, 'the single job started no later than the batch\'s second');
  assert.deepEqual(order.filter((id) => id !== single), batch, 'the batch keeps its own order');
}

test('one worker: a single job of owner B starts no later than the second of owner A\'s batch of 6 (SQLite)', (t) => batchThenSingle(t, {}));

test('one worker: a single job of owner B starts no later than the second of owner A\'s batch of 6 (Redis)', {
  skip: hasRedisServer() ? false : 'redis-server is not installed',
}, async (t) => {
  const redis = await startRedisServer();
  t.after(() => redis.stop());
  await batchThenSingle(t, { backend: 'redis', redisUrl: redis.url, redisPrefix: 'fair:' });
});
