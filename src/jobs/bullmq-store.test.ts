// The JobStore contract on the BullMQ backend (a private AOF redis-server), plus what the distributed
// backend adds: durability of a resolved submit across a Redis restart, events crossing nodes after a
// reconnect, cancel across nodes, and the keys a finished job leaves behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { bullPriority } from './bullmq-queues.ts';
import { BullMqJobStore } from './bullmq-store.ts';
import { jobStoreContract } from './contract.ts';
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
async function fresh(): Promise<BullMqJobStore> {
  return BullMqJobStore.open({ url: server!.url, prefix: `t${process.pid}-${++counter}:` });
}

if (!skip) {
  jobStoreContract('bullmq', async ({ backoff, maxInterruptions }) => BullMqJobStore.open({ url: server!.url, prefix: `c${process.pid}-${++counter}:`, backoff, maxInterruptions }), {
    openPeer: async (store) => BullMqJobStore.open({ url: server!.url, prefix: (store as BullMqJobStore).prefix }),
  });
}

/** BullMQ's per-queue bookkeeping (not per job): what may stay once every job is gone. */
const BULL_QUEUE_KEYS = new Set(['meta', 'events', 'pc', 'marker', 'stalled-check', 'id']);

/** Keys under the store's prefix, minus the per-day history and BullMQ's per-queue bookkeeping. */
async function keysLeft(raw: Redis, prefix: string): Promise<string[]> {
  const keys = (await raw.keys(`${prefix}*`)).map((k) => k.slice(prefix.length));
  return keys.filter((k) => !k.startsWith('hist:') && !(k.startsWith('bull:') && BULL_QUEUE_KEYS.has(k.split(':').slice(2).join(':')))).sort();
}

describe('BullMqJobStore (distributed only)', { skip }, () => {
  test('BullMQ holds the queue: prioritized when submitted, active under the lease token, delayed for a backoff, gone when finished', async () => {
    const store = await fresh();
    const raw = new Redis(server!.url);
    const bull = (suffix: string) => `${store.prefix}bull:test.echo:${suffix}`;
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {}, priority: 7, maxAttempts: 3 });
      assert.notEqual(await raw.zscore(bull('prioritized'), job.id), null);
      assert.equal(await raw.hget(bull(job.id), 'priority'), String(bullPriority(7, 0)));
      assert.equal((JSON.parse((await raw.hget(bull(job.id), 'opts'))!) as { attempts: number }).attempts, 3);
      let claim = (await store.claim('w', ['test.echo'], 60_000))!;
      assert.deepEqual(await raw.lrange(bull('active'), 0, -1), [job.id]);
      assert.equal(await raw.get(bull(`${job.id}:lock`)), claim.leaseToken);
      const ttl = await raw.pttl(bull(`${job.id}:lock`));
      assert.ok(ttl > 50_000 && ttl <= 60_000, `lock ttl ${ttl}`);
      const retrying = await store.fail(job.id, claim.leaseToken, { code: 'PROCESSING_FAILED', message: 'x', retryable: true });
      const delayedAt = Math.floor(Number(await raw.zscore(bull('delayed'), job.id)) / 4096);
      assert.ok(delayedAt >= retrying.runAfter! && delayedAt - retrying.runAfter! < 1_000, `BullMQ delays until ${delayedAt}, record says ${retrying.runAfter}`);
      assert.equal(await raw.hget(bull(job.id), 'atm'), '1', 'BullMQ counted the failed attempt');
      claim = await waitFor(() => store.claim('w', ['test.echo'], 60_000));
      await store.complete(job.id, claim.leaseToken, { ok: 1 });
      assert.equal(await raw.exists(bull(job.id)), 0, 'removeOnComplete');
      assert.equal((await store.get(job.id))?.state, 'succeeded');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('a crash between the record and BullMQ is reconciled: a finished record\'s stale BullMQ job is dropped by the next claim', async () => {
    const store = await fresh();
    const raw = new Redis(server!.url);
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {} });
      // Simulate a store that recorded the cancel, then died before removing the BullMQ job.
      await raw.hset(`${store.prefix}job:${job.id}`, 'state', 'cancelled');
      assert.equal(await store.claim('w', ['test.echo'], 60_000), null);
      assert.equal(await raw.exists(`${store.prefix}bull:test.echo:${job.id}`), 0);
      // A submit recorded but never added to BullMQ (submitter died) is added by the recovery.
      const { job: lost } = await store.submit({ type: 'test.echo', input: {} });
      await raw.del(`${store.prefix}bull:test.echo:${lost.id}`);
      await raw.zrem(`${store.prefix}bull:test.echo:prioritized`, lost.id);
      await raw.zadd(`${store.prefix}pending`, Date.now() - 60_000, lost.id);
      assert.equal(await store.claim('w', ['test.echo'], 60_000), null);
      await store.recoverExpired();
      assert.equal((await store.claim('w', ['test.echo'], 60_000))?.job.id, lost.id);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('a claim over several types takes the best head across them: priority, then submit order', async () => {
    const store = await fresh();
    try {
      const a = await store.submit({ type: 'test.a', input: {}, priority: 1 });
      const b = await store.submit({ type: 'test.b', input: {}, priority: 5 });
      const c = await store.submit({ type: 'test.a', input: {}, priority: 5 });
      const d = await store.submit({ type: 'test.c', input: {}, priority: 1 });
      assert.deepEqual(await Promise.all([b, c, a, d].map((x) => store.queuePosition(x.job.id))), [1, 2, 3, 4]);
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push((await store.claim('w', ['test.a', 'test.b', 'test.c'], 60_000))!.job.id);
      assert.deepEqual(order, [b.job.id, c.job.id, a.job.id, d.job.id]);
    } finally {
      await store.close();
    }
  });

  test('a submitted job survives a restart of Redis (AOF fsync always); events resume after the reconnect', async () => {
    const api = await fresh();
    const worker = await BullMqJobStore.open({ url: server!.url, prefix: api.prefix });
    try {
      const { job } = await api.submit({ type: 'test.echo', input: { n: 1 }, owner: 'u1' });
      const got: JobEvent[] = [];
      const stop = api.subscribe(job.id, (e) => got.push(e));
      await waitFor(async () => (await api.events(job.id, 0)).length === 1);
      // Restart on the same directory: what was acknowledged must come back from the AOF.
      const old = server!;
      server = await restartRedisServer(old);
      // Reconnects back off (up to 2 s a step): on a loaded machine they take a while, so the bounds are wide.
      const claim = await waitFor(() => worker.claim('w', ['test.echo'], 60_000).catch(() => null), 30_000);
      assert.equal(claim.job.id, job.id);
      await worker.complete(job.id, claim.leaseToken, { ok: 1 });
      await waitFor(async () => got.some((e) => e.state === 'succeeded'), 30_000);
      assert.deepEqual(got.map((e) => e.seq), [2, 3]);
      stop();
    } finally {
      await api.close();
      await worker.close();
    }
  });

  test('events sent while the API node\'s subscriber and request connection are dropped arrive once they are back, in order', async () => {
    const api = await fresh();
    const worker = await BullMqJobStore.open({ url: server!.url, prefix: api.prefix });
    const raw = new Redis(server!.url);
    try {
      const { job } = await api.submit({ type: 'test.echo', input: {} });
      const got: number[] = [];
      const stop = api.subscribe(job.id, (e) => got.push(e.seq));
      const channel = `${api.prefix}evc:${job.id}`;
      await waitFor(async () => Number((await raw.pubsub('NUMSUB', channel))[1]) === 1);
      const requestId = await (api as unknown as { redis: Redis }).redis.client('ID');
      await raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await raw.call('CLIENT', 'KILL', 'ID', String(requestId));
      // Sent while the API node cannot hear them: the catch-up must read them back, whichever connection returns first.
      const claim = await worker.claim('w', ['test.echo'], 60_000);
      await worker.complete(job.id, claim!.leaseToken, { ok: 1 });
      await waitFor(async () => got.length >= 2, 30_000);
      assert.deepEqual(got, [2, 3]);
      stop();
    } finally {
      raw.disconnect();
      await api.close();
      await worker.close();
    }
  });

  test('cancel crosses nodes: an API node flags it, the worker node sees it at its next heartbeat', async () => {
    const api = await fresh();
    const worker = await BullMqJobStore.open({ url: server!.url, prefix: api.prefix });
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

  test('release hands a running job back to the head of its priority without counting the attempt', async () => {
    const store = await fresh();
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {} });
      const claim = await store.claim('w', ['test.echo'], 60_000);
      assert.equal(claim?.job.attempts, 1);
      await store.submit({ type: 'test.echo', input: {} });
      const released = await store.release(job.id, claim!.leaseToken);
      assert.equal(released.state, 'queued');
      assert.equal(released.attempts, 0);
      await assert.rejects(store.release(job.id, claim!.leaseToken), /CONFLICT|no longer held/);
      const again = await store.claim('w', ['test.echo'], 60_000);
      assert.equal(again?.job.id, job.id);
      assert.equal(again?.job.attempts, 1);
    } finally {
      await store.close();
    }
  });

  test('remove and purge leave no key of the job behind (ours or BullMQ\'s), only counters, types and history', async () => {
    const store = await fresh();
    const raw = new Redis(server!.url);
    try {
      const { job } = await store.submit({ type: 'test.echo', input: {}, owner: 'u1', idempotencyKey: 'k', cacheKey: 'c' });
      const claim = await store.claim('w', ['test.echo'], 60_000);
      await store.saveCheckpoint(job.id, claim!.leaseToken, 'analysis', { ok: true });
      await store.complete(job.id, claim!.leaseToken, {});
      const { job: other } = await store.submit({ type: 'test.echo', input: {} });
      const claim2 = await store.claim('w', ['test.echo'], 60_000);
      await store.fail(other.id, claim2!.leaseToken, { code: 'NO_MATCH', message: 'x', retryable: false });
      assert.equal(await store.remove(job.id), true);
      assert.equal(await store.purgeFinishedBefore(Date.now() + 1000), 1);
      assert.deepEqual(await keysLeft(raw, store.prefix), ['n', 'types']);
      assert.equal((await store.history())[0]?.succeeded, 1);
      assert.equal((await store.history())[0]?.failed, 1);
      await store.wipe();
      assert.deepEqual(await store.history(), []);
      assert.deepEqual(await raw.keys(`${store.prefix}*`), []);
    } finally {
      raw.disconnect();
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
