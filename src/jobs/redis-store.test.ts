// The JobStore contract on Redis (a private AOF redis-server), plus what the distributed backend adds:
// durability of a resolved submit across a Redis restart, and events crossing nodes after a reconnect.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { jobStoreContract } from './contract.ts';
import { RedisJobStore } from './redis-store.ts';
import { hasRedisServer, restartRedisServer, startRedisServer } from './testing/redis-server.ts';
import type { RedisServer } from './testing/redis-server.ts';
import type { JobEvent } from './types.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';
let server: RedisServer | null = null;
let counter = 0;

before(async () => {
  if (!skip) server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});

// Each store gets its own prefix: tests never see each other's jobs.
async function fresh(): Promise<RedisJobStore> {
  return RedisJobStore.open({ url: server!.url, prefix: `t${process.pid}-${++counter}:` });
}

if (!skip) {
  jobStoreContract('redis', async ({ backoff }) => RedisJobStore.open({ url: server!.url, prefix: `c${process.pid}-${++counter}:`, backoff }), {
    openPeer: async (store) => RedisJobStore.open({ url: server!.url, prefix: (store as RedisJobStore).prefix }),
  });
}

describe('RedisJobStore (distributed only)', { skip }, () => {
  test('a submitted job survives a restart of Redis (AOF fsync always); events resume after the reconnect', async () => {
    const api = await fresh();
    const worker = await RedisJobStore.open({ url: server!.url, prefix: api.prefix });
    try {
      const { job } = await api.submit({ type: 'test.echo', input: { n: 1 }, owner: 'u1' });
      const got: JobEvent[] = [];
      const stop = api.subscribe(job.id, (e) => got.push(e));
      await waitFor(async () => (await api.events(job.id, 0)).length === 1);
      // Restart on the same directory: what was acknowledged must come back from the AOF.
      const old = server!;
      server = await restartRedisServer(old);
      const claim = await waitFor(() => worker.claim('w', ['test.echo'], 60_000).catch(() => null));
      assert.equal(claim.job.id, job.id);
      await worker.complete(job.id, claim.leaseToken, { ok: 1 });
      await waitFor(async () => got.some((e) => e.state === 'succeeded'));
      assert.deepEqual(got.map((e) => e.seq), [2, 3]);
      stop();
    } finally {
      await api.close();
      await worker.close();
    }
  });

  test('cancel crosses nodes: an API node flags it, the worker node sees it at its next heartbeat', async () => {
    const api = await fresh();
    const worker = await RedisJobStore.open({ url: server!.url, prefix: api.prefix });
    try {
      const { job } = await api.submit({ type: 'test.echo', input: {}, maxAttempts: 3 });
      const claim = await worker.claim('w', ['test.echo'], 60_000);
      assert.equal(claim?.job.id, job.id);
      assert.equal((await api.cancel(job.id))?.cancelRequested, true);
      assert.deepEqual(await worker.heartbeat(job.id, claim!.leaseToken, 60_000), { cancelRequested: true });
      assert.equal((await worker.fail(job.id, claim!.leaseToken, { code: 'CANCELLED', message: 'stopped', retryable: false })).state, 'cancelled');
      assert.equal((await api.get(job.id))?.state, 'cancelled');
    } finally {
      await api.close();
      await worker.close();
    }
  });

  test('release hands a running job back as queued without counting the attempt', async () => {
    const store = await fresh();
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {} });
      const claim = await store.claim('w', ['test.echo'], 60_000);
      assert.equal(claim?.job.attempts, 1);
      const released = await store.release(job.id, claim!.leaseToken);
      assert.equal(released.state, 'queued');
      assert.equal(released.attempts, 0);
      await assert.rejects(store.release(job.id, claim!.leaseToken), /CONFLICT|no longer held/);
      const again = await store.claim('w', ['test.echo'], 60_000);
      assert.equal(again?.job.attempts, 1);
    } finally {
      await store.close();
    }
  });

  test('remove leaves no key of the job behind, only the counter, the type set and the history', async () => {
    const store = await fresh();
    const raw = new Redis(server!.url);
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {}, owner: 'u1', idempotencyKey: 'k', cacheKey: 'c' });
      const claim = await store.claim('w', ['test.echo'], 60_000);
      await store.saveCheckpoint(job.id, claim!.leaseToken, 'analysis', { ok: true });
      await store.complete(job.id, claim!.leaseToken, {});
      assert.equal(await store.remove(job.id), true);
      const keys = (await raw.keys(`${store.prefix}*`)).map((k) => k.slice(store.prefix.length)).sort();
      assert.deepEqual(keys.filter((k) => !k.startsWith('hist:')), ['n', 'types']);
      assert.equal((await store.history())[0]?.succeeded, 1);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('history keeps per-day counts after the jobs are purged; wipe removes every key', async () => {
    const store = await fresh();
    try {
      await store.submit({ type: 'test.echo', input: {} });
      const claim = await store.claim('w', ['test.echo'], 60_000);
      await store.complete(claim!.job.id, claim!.leaseToken, {});
      assert.equal(await store.purgeFinishedBefore(Date.now() + 1000), 1);
      const days = await store.history();
      assert.equal(days.length, 1);
      assert.equal(days[0].succeeded, 1);
      assert.equal(days[0].successRate, 1);
      await store.wipe();
      assert.deepEqual(await store.history(), []);
    } finally {
      await store.close();
    }
  });
});


async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, limitMs = 10_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
