// The JobStore contract as a reusable node:test suite: every backend (embedded SQLite, BullMQ) runs it
// unchanged. It talks only through the JobStore interface, on the real clock, with short leases and
// backoffs (configured through the factory) and short polls instead of long sleeps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BeatSyncError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { backoffCeiling } from './backoff.ts';
import type { BackoffConfig } from './backoff.ts';
import type { Claim, JobError, JobEvent, JobRecord, JobStore } from './types.ts';

/** What the factory must configure its store with. */
export interface ContractSetup {
  backoff: BackoffConfig;
  /** The store's interruption limit (maxInterruptions). */
  maxInterruptions: number;
}

export interface ContractOptions {
  /** Backoff the suite asks for and checks against. */
  backoff?: BackoffConfig;
  /** A second store on the same backing data (another "process"): claims race across it and events cross it. */
  openPeer?: (store: JobStore) => Promise<JobStore>;
  /** Lease for the expiry tests: short, so they run fast. */
  shortLeaseMs?: number;
  /** Longest wait for something that should happen (a failure, not a pace). */
  waitLimitMs?: number;
}

export const CONTRACT_BACKOFF: BackoffConfig = { baseMs: 40, maxMs: 120, jitter: 0.5 };
/** Small, so the poison-job test is short; the product default is 10. */
export const CONTRACT_MAX_INTERRUPTIONS = 3;

const TYPE = 'test.echo';
const OTHER_TYPE = 'test.other';
const LONG_LEASE = 60_000;

function jobError(code: ErrorCode, retryable: boolean): JobError {
  return { code, message: `test ${code}`, retryable };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof BeatSyncError && err.code === code);
}

export function jobStoreContract(
  name: string,
  makeStore: (setup: ContractSetup) => Promise<JobStore>,
  options: ContractOptions = {},
): void {
  const backoff = options.backoff ?? CONTRACT_BACKOFF;
  const shortLease = options.shortLeaseMs ?? 120;
  const waitLimit = options.waitLimitMs ?? 10_000;

  /** Polls until `probe` gives a truthy value; fails (does not measure) past waitLimit. */
  async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>): Promise<T> {
    const deadline = Date.now() + waitLimit;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  async function withStore(fn: (store: JobStore) => Promise<void>): Promise<void> {
    const store = await makeStore({ backoff, maxInterruptions: CONTRACT_MAX_INTERRUPTIONS });
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  }

  async function withPeers(t: { skip: (msg: string) => void }, fn: (a: JobStore, b: JobStore) => Promise<void>): Promise<void> {
    if (!options.openPeer) {
      t.skip('no openPeer factory given');
      return;
    }
    const openPeer = options.openPeer;
    await withStore(async (a) => {
      const b = await openPeer(a);
      try {
        await fn(a, b);
      } finally {
        await b.close();
      }
    });
  }

  async function submitOne(store: JobStore, extra: Partial<Parameters<JobStore['submit']>[0]> = {}): Promise<JobRecord> {
    const { job } = await store.submit({ type: TYPE, input: { n: 1 }, ...extra });
    return job;
  }

  async function claimOne(store: JobStore, leaseMs = LONG_LEASE, types: readonly string[] = [TYPE]): Promise<Claim> {
    const claim = await store.claim('w1', types, leaseMs);
    assert.ok(claim, 'expected a job to claim');
    return claim;
  }

  /** Claims the job when it becomes claimable again (after a backoff); asserts it never comes early. */
  async function reclaim(store: JobStore, id: string, leaseMs = LONG_LEASE): Promise<Claim> {
    const before = await store.get(id);
    const claim = await until(`job ${id} claimable`, () => store.claim('w2', [TYPE], leaseMs));
    assert.equal(claim.job.id, id);
    if (before?.runAfter != null) assert.ok(Date.now() >= before.runAfter, 'claimed before its runAfter');
    return claim;
  }

  async function expireAndRecover(store: JobStore, id: string): Promise<JobRecord> {
    return until(`lease of ${id} recovered`, async () => {
      await store.recoverExpired();
      const job = await store.get(id);
      return job && job.state !== 'running' ? job : null;
    });
  }

  describe(`JobStore contract: ${name}`, () => {
    test('submit stores a queued job with an unguessable id and a first event', () => withStore(async (store) => {
      const { job, created } = await store.submit({ type: TYPE, input: { a: [1, 2] }, owner: 'u1', priority: 3, maxAttempts: 4, estimatedSeconds: 12 });
      assert.equal(created, true);
      assert.match(job.id, /^[A-Za-z0-9_-]{22,}$/);
      assert.equal(job.state, 'queued');
      assert.equal(job.attempts, 0);
      assert.equal(job.interruptions, 0);
      assert.equal(job.maxAttempts, 4);
      assert.equal(job.priority, 3);
      assert.equal(job.owner, 'u1');
      assert.equal(job.estimatedSeconds, 12);
      assert.deepEqual(job.input, { a: [1, 2] });
      assert.equal(job.result, null);
      assert.equal(job.error, null);
      assert.ok(job.createdAt > 0 && job.updatedAt >= job.createdAt);
      const again = await store.get(job.id);
      assert.deepEqual(again, job);
      assert.equal(await store.get('no-such-job-id-00000000'), null);
      const events = await store.events(job.id, 0);
      assert.deepEqual(events.map((e) => [e.seq, e.kind, e.state]), [[1, 'state', 'queued']]);
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) ids.add((await submitOne(store)).id);
      assert.equal(ids.size, 40);
    }));

    test('submit refuses malformed requests with BAD_REQUEST', () => withStore(async (store) => {
      await rejectsWith(store.submit({ type: '', input: {} }), 'BAD_REQUEST');
      await rejectsWith(store.submit({ type: TYPE, input: {}, maxAttempts: 0 }), 'BAD_REQUEST');
      await rejectsWith(store.submit({ type: TYPE, input: {}, priority: 1.5 }), 'BAD_REQUEST');
      assert.equal((await store.list({})).jobs.length, 0);
    }));

    test('list: newest first, stable cursor pages, owner and state filters', () => withStore(async (store) => {
      const made: string[] = [];
      for (let i = 0; i < 7; i++) made.push((await submitOne(store, { owner: i % 2 ? 'odd' : 'even' })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { jobs: JobRecord[]; nextCursor: string | null } = await store.list({ cursor, limit: 3 });
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
        // A job added mid-way is newer than the cursor: it never shows up on a later page.
        if (pages++ === 0) await submitOne(store);
      } while (cursor);
      assert.deepEqual(seen, [...made].reverse());
      const odd = await store.list({ owner: 'odd' });
      assert.deepEqual(odd.jobs.map((j) => j.id), [made[5], made[3], made[1]]);
      const claim = await claimOne(store);
      const running = await store.list({ state: 'running' });
      assert.deepEqual(running.jobs.map((j) => j.id), [claim.job.id]);
    }));

    test('claim order: higher priority first, then first in first out', () => withStore(async (store) => {
      const low = await submitOne(store, { priority: 0 });
      const high1 = await submitOne(store, { priority: 10 });
      const mid = await submitOne(store, { priority: 5 });
      const high2 = await submitOne(store, { priority: 10 });
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push((await claimOne(store)).job.id);
      assert.deepEqual(order, [high1.id, high2.id, mid.id, low.id]);
      assert.equal(await store.claim('w1', [TYPE], LONG_LEASE), null);
    }));

    test('claim takes only the asked types and counts the attempt', () => withStore(async (store) => {
      const other = await submitOne(store, { type: OTHER_TYPE });
      assert.equal(await store.claim('w1', [TYPE], LONG_LEASE), null);
      const claim = await claimOne(store, LONG_LEASE, [OTHER_TYPE]);
      assert.equal(claim.job.id, other.id);
      assert.equal(claim.job.state, 'running');
      assert.equal(claim.job.attempts, 1);
      assert.ok(claim.job.startedAt !== null);
      assert.ok(claim.leaseUntil > Date.now());
      assert.ok(claim.leaseToken.length >= 16);
      assert.deepEqual(claim.checkpoints, {});
    }));

    test('queuePosition follows claim order; null once running', () => withStore(async (store) => {
      const a = await submitOne(store);
      const b = await submitOne(store, { priority: 1 });
      const c = await submitOne(store);
      assert.equal(await store.queuePosition(b.id), 1);
      assert.equal(await store.queuePosition(a.id), 2);
      assert.equal(await store.queuePosition(c.id), 3);
      await claimOne(store);
      assert.equal(await store.queuePosition(b.id), null);
      assert.equal(await store.queuePosition(a.id), 1);
    }));

    test('two claimers never get the same job (many concurrent claims across two stores)', (t) => withPeers(t, async (a, b) => {
      const ids = new Set<string>();
      for (let i = 0; i < 30; i++) ids.add((await submitOne(a)).id);
      const claims = await Promise.all(Array.from({ length: 80 }, (_, i) => (i % 2 ? a : b).claim(`w${i}`, [TYPE], LONG_LEASE)));
      const got = claims.filter((c): c is Claim => c !== null).map((c) => c.job.id);
      assert.equal(got.length, 30);
      assert.equal(new Set(got).size, 30);
      assert.deepEqual(new Set(got), ids);
    }));

    test('heartbeat renews the lease and records progress as an event', () => withStore(async (store) => {
      await submitOne(store);
      const claim = await claimOne(store);
      const beat = await store.heartbeat(claim.job.id, claim.leaseToken, LONG_LEASE, { percent: 40, stage: 'align', message: 'aligning' });
      assert.deepEqual(beat, { cancelRequested: false });
      const job = await store.get(claim.job.id);
      assert.deepEqual(job?.progress, { percent: 40, stage: 'align', message: 'aligning' });
      const last = (await store.events(claim.job.id, 0)).at(-1);
      assert.equal(last?.kind, 'progress');
      assert.equal(last?.progress.percent, 40);
      await rejectsWith(store.heartbeat(claim.job.id, 'not-the-token', LONG_LEASE), 'CONFLICT');
    }));

    test('an expired lease is taken back as an interruption, not an attempt; the old token is refused', () => withStore(async (store) => {
      const kept = await submitOne(store);
      const lost = await submitOne(store);
      const keptClaim = await claimOne(store, LONG_LEASE);
      assert.equal(keptClaim.job.id, kept.id);
      const lostClaim = await claimOne(store, shortLease);
      assert.equal(lostClaim.job.id, lost.id);
      const recovered = await expireAndRecover(store, lost.id);
      assert.equal(recovered.state, 'queued');
      assert.equal(recovered.attempts, 0);
      assert.equal(recovered.interruptions, 1);
      assert.equal((await store.get(kept.id))?.state, 'running');
      await rejectsWith(store.heartbeat(lost.id, lostClaim.leaseToken, LONG_LEASE), 'CONFLICT');
      await rejectsWith(store.complete(lost.id, lostClaim.leaseToken, { late: true }), 'CONFLICT');
      await rejectsWith(store.fail(lost.id, lostClaim.leaseToken, jobError('PROCESSING_FAILED', true)), 'CONFLICT');
      await rejectsWith(store.saveCheckpoint(lost.id, lostClaim.leaseToken, 'align', {}), 'CONFLICT');
      const again = await claimOne(store);
      assert.equal(again.job.id, lost.id);
      assert.equal(again.job.attempts, 1);
      assert.equal(again.job.interruptions, 1);
      assert.notEqual(again.leaseToken, lostClaim.leaseToken);
    }));

    test('a job that keeps losing its worker ends failed INTERRUPTED_TOO_OFTEN after maxInterruptions, attempts untouched, never loops', () => withStore(async (store) => {
      // maxAttempts 1: were a lost worker counted as an attempt, the first loss would end the job.
      const job = await submitOne(store, { maxAttempts: 1 });
      for (let n = 1; n <= CONTRACT_MAX_INTERRUPTIONS; n++) {
        const claim = await until('poison job claimable', () => store.claim('w', [TYPE], shortLease));
        assert.equal(claim.job.attempts, 1);
        assert.equal(claim.job.interruptions, n - 1);
        const back = await expireAndRecover(store, job.id);
        assert.equal(back.interruptions, n);
        if (n < CONTRACT_MAX_INTERRUPTIONS) assert.equal(back.state, 'queued');
      }
      const final = await store.get(job.id);
      assert.equal(final?.state, 'failed');
      assert.equal(final?.error?.code, 'INTERRUPTED_TOO_OFTEN');
      assert.equal(final?.error?.retryable, false);
      assert.equal(final?.attempts, 0);
      assert.equal(final?.interruptions, CONTRACT_MAX_INTERRUPTIONS);
      assert.ok(final.finishedAt !== null);
      assert.equal(await store.claim('w', [TYPE], LONG_LEASE), null);
    }));

    test('a shortage (RESOURCE_LIMIT) is an interruption with backoff, not an attempt; other retryable errors use attempts', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 1 });
      let claim = await claimOne(store);
      for (let n = 1; n < CONTRACT_MAX_INTERRUPTIONS; n++) {
        const after = await store.fail(job.id, claim.leaseToken, jobError('RESOURCE_LIMIT', true));
        assert.equal(after.state, 'retrying');
        assert.equal(after.attempts, 0);
        assert.equal(after.interruptions, n);
        assert.ok(after.runAfter !== null && after.runAfter - after.updatedAt <= backoffCeiling(n, backoff));
        claim = await reclaim(store, job.id);
        assert.equal(claim.job.attempts, 1);
      }
      const ended = await store.fail(job.id, claim.leaseToken, jobError('RESOURCE_LIMIT', true));
      assert.equal(ended.state, 'failed');
      assert.equal(ended.error?.code, 'INTERRUPTED_TOO_OFTEN');
      assert.match(ended.error?.message ?? '', /RESOURCE_LIMIT/);
      assert.equal(ended.interruptions, CONTRACT_MAX_INTERRUPTIONS);
      // The job's own retryable failure with its one attempt used: failed with its own code.
      const own = await submitOne(store, { maxAttempts: 1 });
      const ownClaim = await claimOne(store);
      assert.equal(ownClaim.job.id, own.id);
      const failed = await store.fail(own.id, ownClaim.leaseToken, jobError('PROCESSING_FAILED', true));
      assert.equal(failed.state, 'failed');
      assert.equal(failed.error?.code, 'PROCESSING_FAILED');
      assert.equal(failed.interruptions, 0);
    }));

    test('fair claims: one owner\'s batch cannot starve another owner\'s single job; countLive counts an owner\'s live jobs', () => withStore(async (store) => {
      const a: string[] = [];
      for (let i = 0; i < 6; i++) a.push((await submitOne(store, { owner: 'teacher-a' })).id);
      const b = await submitOne(store, { owner: 'teacher-b' });
      const legacy = await submitOne(store, { owner: null });
      assert.deepEqual([(await store.get(a[5]))?.turn, b.turn, legacy.turn], [5, 0, 0]);
      assert.equal(await store.countLive('teacher-a'), 6);
      assert.equal(await store.countLive('teacher-b'), 1);
      assert.equal(await store.countLive(null), 1);
      assert.equal(await store.countLive('nobody'), 0);
      // Where each job is in line is where claims take it.
      assert.equal(await store.queuePosition(b.id), 2);
      assert.equal(await store.queuePosition(a[1]), 4);
      const order: string[] = [];
      for (let i = 0; i < 8; i++) {
        const claim = await claimOne(store);
        order.push(claim.job.id);
        await store.complete(claim.job.id, claim.leaseToken, {});
      }
      assert.deepEqual(order, [a[0], b.id, legacy.id, ...a.slice(1)]);
      assert.equal(await store.countLive('teacher-a'), 0);
      // A later job of an owner with nothing live takes turn 0 again.
      assert.equal((await submitOne(store, { owner: 'teacher-a' })).turn, 0);
    }));

    test('retryable failures back off exponentially with jitter, then fail when attempts run out', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 4 });
      let claim = await claimOne(store);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const before = Date.now();
        const after = await store.fail(job.id, claim.leaseToken, jobError('PROCESSING_FAILED', true));
        const done = Date.now();
        assert.equal(after.state, 'retrying');
        assert.equal(after.error?.code, 'PROCESSING_FAILED');
        assert.ok(after.runAfter !== null);
        const ceiling = backoffCeiling(attempt, backoff);
        assert.ok(after.runAfter >= before + Math.floor(ceiling * (1 - backoff.jitter)), `attempt ${attempt}: delay too short`);
        assert.ok(after.runAfter <= done + ceiling, `attempt ${attempt}: delay too long`);
        claim = await reclaim(store, job.id);
        assert.equal(claim.job.attempts, attempt + 1);
      }
      const last = await store.fail(job.id, claim.leaseToken, jobError('TIMEOUT', true));
      assert.equal(last.state, 'failed');
      assert.equal(last.error?.code, 'TIMEOUT');
      assert.equal(last.attempts, 4);
      assert.equal(last.runAfter, null);
    }));

    test('backoff jitter spreads retries within [ceiling·(1-jitter), ceiling]', () => withStore(async (store) => {
      const delays: number[] = [];
      for (let i = 0; i < 12; i++) await submitOne(store, { maxAttempts: 2 });
      // Claim all first: a due retry would otherwise jump ahead of the younger queued jobs.
      const claims: Claim[] = [];
      for (let i = 0; i < 12; i++) claims.push(await claimOne(store));
      for (const claim of claims) {
        const failed = await store.fail(claim.job.id, claim.leaseToken, jobError('RESOURCE_LIMIT', true));
        assert.ok(failed.runAfter !== null);
        delays.push(failed.runAfter - failed.updatedAt);
      }
      const ceiling = backoffCeiling(1, backoff);
      for (const d of delays) assert.ok(d >= Math.floor(ceiling * (1 - backoff.jitter)) && d <= ceiling, `delay ${d}`);
      if (backoff.jitter > 0) assert.ok(new Set(delays).size > 1, 'jitter should vary the delays');
    }));

    test('a non-retryable error fails at once, attempts left or not', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 5 });
      const claim = await claimOne(store);
      const failed = await store.fail(job.id, claim.leaseToken, jobError('NO_MATCH', false));
      assert.equal(failed.state, 'failed');
      assert.deepEqual(failed.error, jobError('NO_MATCH', false));
      assert.equal(failed.attempts, 1);
      assert.ok(failed.finishedAt !== null);
      assert.equal(await store.claim('w', [TYPE], LONG_LEASE), null);
      await rejectsWith(store.complete(job.id, claim.leaseToken, {}), 'CONFLICT');
    }));

    test('complete stores the result exactly once', () => withStore(async (store) => {
      const job = await submitOne(store);
      const claim = await claimOne(store);
      const done = await store.complete(job.id, claim.leaseToken, { file: 'out.mp4', bytes: 42 });
      assert.equal(done.state, 'succeeded');
      assert.deepEqual(done.result, { file: 'out.mp4', bytes: 42 });
      assert.equal(done.progress.percent, 100);
      assert.ok(done.finishedAt !== null && done.finishedAt >= (done.startedAt ?? 0));
      await rejectsWith(store.complete(job.id, claim.leaseToken, { again: true }), 'CONFLICT');
      await rejectsWith(store.fail(job.id, claim.leaseToken, jobError('PROCESSING_FAILED', true)), 'CONFLICT');
      assert.deepEqual((await store.get(job.id))?.result, { file: 'out.mp4', bytes: 42 });
    }));

    test('cancel: queued and retrying jobs at once, never claimed again', () => withStore(async (store) => {
      const queued = await submitOne(store);
      const cancelled = await store.cancel(queued.id);
      assert.equal(cancelled?.state, 'cancelled');
      assert.equal(cancelled?.error?.code, 'CANCELLED');
      assert.ok(cancelled?.finishedAt !== null);

      const retrying = await submitOne(store, { maxAttempts: 3 });
      const claim = await claimOne(store);
      assert.equal(claim.job.id, retrying.id);
      assert.equal((await store.fail(retrying.id, claim.leaseToken, jobError('PROCESSING_FAILED', true))).state, 'retrying');
      assert.equal((await store.cancel(retrying.id))?.state, 'cancelled');
      await sleep(backoff.maxMs + 20);
      assert.equal(await store.claim('w', [TYPE], LONG_LEASE), null);
      assert.equal(await store.cancel('no-such-job-id-00000000'), null);
      // Cancelling a finished job changes nothing.
      assert.equal((await store.cancel(queued.id))?.state, 'cancelled');
    }));

    test('cancel: a running job is flagged, its worker sees it at the next heartbeat, and it is never retried', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 3 });
      const claim = await claimOne(store);
      const flagged = await store.cancel(job.id);
      assert.equal(flagged?.state, 'running');
      assert.equal(flagged?.cancelRequested, true);
      assert.deepEqual(await store.heartbeat(job.id, claim.leaseToken, LONG_LEASE), { cancelRequested: true });
      // Even a retryable failure of a cancelled job ends it cancelled.
      const ended = await store.fail(job.id, claim.leaseToken, jobError('PROCESSING_FAILED', true));
      assert.equal(ended.state, 'cancelled');
      assert.equal(ended.error?.code, 'CANCELLED');
      await sleep(backoff.maxMs + 20);
      assert.equal(await store.claim('w', [TYPE], LONG_LEASE), null);

      const second = await submitOne(store);
      const claim2 = await claimOne(store);
      await store.cancel(second.id);
      assert.equal((await store.fail(second.id, claim2.leaseToken, jobError('CANCELLED', false))).state, 'cancelled');
    }));

    test('cancel: a flagged job whose worker died ends cancelled, not queued', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 3 });
      await claimOne(store, shortLease);
      await store.cancel(job.id);
      const recovered = await expireAndRecover(store, job.id);
      assert.equal(recovered.state, 'cancelled');
    }));

    test('release hands a running job back as queued without counting the attempt; old token refused', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 2 });
      const claim = await claimOne(store);
      const released = await store.release(job.id, claim.leaseToken);
      assert.equal(released.state, 'queued');
      assert.equal(released.attempts, 0);
      await assert.rejects(store.heartbeat(job.id, claim.leaseToken, 1000), (err: unknown) => (err as { code?: string }).code === 'CONFLICT');
      const again = await claimOne(store);
      assert.equal(again.job.id, job.id);
      assert.equal(again.job.attempts, 1);
      await store.cancel(job.id);
      assert.equal((await store.release(job.id, again.leaseToken)).state, 'cancelled');
    }));

    test('retry re-queues a failed or cancelled job with fresh attempts; other states are refused', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 1 });
      const claim = await claimOne(store);
      await store.fail(job.id, claim.leaseToken, jobError('PROCESSING_FAILED', true));
      assert.equal((await store.get(job.id))?.state, 'failed');
      const again = await store.retry(job.id);
      assert.equal(again.state, 'queued');
      assert.equal(again.attempts, 0);
      assert.equal(again.error, null);
      assert.equal(again.finishedAt, null);
      const claim2 = await claimOne(store);
      assert.equal(claim2.job.id, job.id);
      assert.equal(claim2.job.attempts, 1);
      await rejectsWith(store.retry(job.id), 'CONFLICT');
      await store.complete(job.id, claim2.leaseToken, {});
      await rejectsWith(store.retry(job.id), 'CONFLICT');
      await rejectsWith(store.retry('no-such-job-id-00000000'), 'NOT_FOUND');
      const cancelled = await submitOne(store);
      await store.cancel(cancelled.id);
      assert.equal((await store.retry(cancelled.id)).state, 'queued');
    }));

    test('events: numbered 1, 2, 3… in order, resumable after a seq, result and error carried', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 2 });
      let claim = await claimOne(store);
      await store.heartbeat(job.id, claim.leaseToken, LONG_LEASE, { percent: 10, stage: 'probe', message: '' });
      await store.fail(job.id, claim.leaseToken, jobError('PROCESSING_FAILED', true));
      claim = await reclaim(store, job.id);
      await store.heartbeat(job.id, claim.leaseToken, LONG_LEASE, { percent: 60, stage: 'render', message: 'video' });
      await store.complete(job.id, claim.leaseToken, { ok: 1 });
      const events = await store.events(job.id, 0);
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
      const states = events.filter((e) => e.kind === 'state').map((e) => e.state);
      assert.deepEqual(states.filter((s) => s !== 'queued'), ['running', 'retrying', 'running', 'succeeded']);
      assert.equal(states[0], 'queued');
      assert.ok(events.every((e) => e.jobId === job.id && e.at > 0));
      assert.equal(events.find((e) => e.state === 'retrying')?.error?.code, 'PROCESSING_FAILED');
      assert.deepEqual(events.at(-1)?.result, { ok: 1 });
      const tail = await store.events(job.id, 3);
      assert.deepEqual(tail, events.slice(3));
      assert.deepEqual(await store.events(job.id, events.length), []);
    }));

    test('subscribe delivers live events in order; unsubscribe stops them', () => withStore(async (store) => {
      const job = await submitOne(store);
      const got: JobEvent[] = [];
      const stop = store.subscribe(job.id, (e) => got.push(e));
      const claim = await claimOne(store);
      await store.heartbeat(job.id, claim.leaseToken, LONG_LEASE, { percent: 50, stage: 'render', message: '' });
      await store.complete(job.id, claim.leaseToken, { ok: true });
      await until('live events', async () => got.some((e) => e.state === 'succeeded'));
      assert.deepEqual(got.map((e) => e.seq), [2, 3, 4]);
      stop();
      const other = await submitOne(store);
      const count = got.length;
      const stop2 = store.subscribe(other.id, () => {});
      await store.cancel(job.id); // no-op on a finished job, and no listener anyway
      await claimOne(store);
      await sleep(50);
      stop2();
      assert.equal(got.length, count);
    }));

    test('subscribe receives events written by another store instance', (t) => withPeers(t, async (a, b) => {
      const job = await submitOne(a);
      const got: JobEvent[] = [];
      const stop = a.subscribe(job.id, (e) => got.push(e));
      try {
        const claim = await b.claim('remote', [TYPE], LONG_LEASE);
        assert.ok(claim);
        await b.heartbeat(job.id, claim.leaseToken, LONG_LEASE, { percent: 70, stage: 'render', message: '' });
        await b.complete(job.id, claim.leaseToken, { ok: true });
        await until('events from the peer', async () => got.some((e) => e.state === 'succeeded'));
        assert.deepEqual(got.map((e) => [e.seq, e.kind, e.state]), [[2, 'state', 'running'], [3, 'progress', 'running'], [4, 'state', 'succeeded']]);
      } finally {
        stop();
      }
    }));

    test('idempotency key: same owner and key return the first job', () => withStore(async (store) => {
      const first = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u1', idempotencyKey: 'k1' });
      const again = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u1', idempotencyKey: 'k1' });
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.job.id, first.job.id);
      const otherOwner = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u2', idempotencyKey: 'k1' });
      assert.equal(otherOwner.created, true);
      assert.notEqual(otherOwner.job.id, first.job.id);
      const noKey1 = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u1' });
      const noKey2 = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u1' });
      assert.notEqual(noKey1.job.id, noKey2.job.id);
      // Still the same job after it finished.
      const claim = await until('claim', () => store.claim('w', [TYPE], LONG_LEASE));
      await store.complete(claim.job.id, claim.leaseToken, {});
      const later = await store.submit({ type: TYPE, input: { v: 1 }, owner: 'u1', idempotencyKey: 'k1' });
      assert.equal(later.job.id, first.job.id);
    }));

    test('cacheKey: a live job with the key is shared; a finished one is found by findByCacheKey', () => withStore(async (store) => {
      const first = await store.submit({ type: TYPE, input: {}, owner: 'u1', cacheKey: 'c1' });
      const shared = await store.submit({ type: TYPE, input: {}, owner: 'u1', cacheKey: 'c1' });
      assert.equal(shared.created, false);
      assert.equal(shared.job.id, first.job.id);
      assert.equal(shared.job.cacheKey ?? 'c1', 'c1');
      const otherOwner = await store.submit({ type: TYPE, input: {}, owner: 'u2', cacheKey: 'c1' });
      assert.equal(otherOwner.created, true);
      assert.equal(await store.findByCacheKey('c1'), null);
      const claim = await claimOne(store);
      assert.equal(claim.job.id, first.job.id);
      assert.equal((await store.submit({ type: TYPE, input: {}, owner: 'u1', cacheKey: 'c1' })).job.id, first.job.id);
      await store.complete(first.job.id, claim.leaseToken, { out: 'x' });
      const found = await store.findByCacheKey('c1');
      assert.equal(found?.id, first.job.id);
      assert.deepEqual(found?.result, { out: 'x' });
      // The finished run is reused by the caller's choice, not silently: a new submit is a new job.
      const next = await store.submit({ type: TYPE, input: {}, owner: 'u1', cacheKey: 'c1' });
      assert.equal(next.created, true);
    }));

    test('checkpoints survive into the next attempt and keep the latest per stage', () => withStore(async (store) => {
      const job = await submitOne(store, { maxAttempts: 3 });
      let claim = await claimOne(store, shortLease);
      await store.saveCheckpoint(job.id, claim.leaseToken, 'align', { offset: 1 });
      await store.saveCheckpoint(job.id, claim.leaseToken, 'align', { offset: 1.25 });
      await store.saveCheckpoint(job.id, claim.leaseToken, 'probe', { ok: true });
      await expireAndRecover(store, job.id);
      claim = await claimOne(store);
      assert.deepEqual(claim.checkpoints, { align: { offset: 1.25 }, probe: { ok: true } });
      await store.saveCheckpoint(job.id, claim.leaseToken, 'render', { n: 1 });
      await store.fail(job.id, claim.leaseToken, jobError('TIMEOUT', true));
      claim = await reclaim(store, job.id);
      assert.deepEqual(claim.checkpoints, { align: { offset: 1.25 }, probe: { ok: true }, render: { n: 1 } });
    }));

    test('stats count states, queue depth, success rate and mean duration', () => withStore(async (store) => {
      const empty = await store.stats();
      assert.equal(empty.queueDepth, 0);
      assert.equal(empty.successRate, null);
      for (let i = 0; i < 5; i++) await submitOne(store, { maxAttempts: 2 });
      const ok1 = await claimOne(store);
      await store.complete(ok1.job.id, ok1.leaseToken, {});
      const ok2 = await claimOne(store);
      await store.complete(ok2.job.id, ok2.leaseToken, {});
      const bad = await claimOne(store);
      await store.fail(bad.job.id, bad.leaseToken, jobError('NO_MATCH', false));
      const retry = await claimOne(store);
      await store.fail(retry.job.id, retry.leaseToken, jobError('PROCESSING_FAILED', true));
      const stats = await store.stats();
      assert.deepEqual(stats.byState, { queued: 1, running: 0, retrying: 1, succeeded: 2, failed: 1, cancelled: 0 });
      assert.equal(stats.queueDepth, 2);
      assert.ok(stats.successRate !== null && Math.abs(stats.successRate - 2 / 3) < 1e-9);
      assert.ok(stats.meanDurationSeconds !== null && stats.meanDurationSeconds >= 0);
    }));

    test('remove deletes a finished job with its events and its idempotency/cache entries; live jobs are refused', () => withStore(async (store) => {
      const done = await submitOne(store, { owner: 'u1', idempotencyKey: 'k-del', cacheKey: 'c-del' });
      const claim = await claimOne(store);
      assert.equal(claim.job.id, done.id);
      await rejectsWith(store.remove(done.id), 'CONFLICT');
      await store.saveCheckpoint(done.id, claim.leaseToken, 'align', { offset: 1 });
      await store.complete(done.id, claim.leaseToken, { out: 'x' });
      const queued = await submitOne(store, { owner: 'u1' });
      await rejectsWith(store.remove(queued.id), 'CONFLICT');
      assert.equal((await store.findByCacheKey('c-del'))?.id, done.id);

      assert.equal(await store.remove(done.id), true);
      assert.equal(await store.get(done.id), null);
      assert.deepEqual(await store.events(done.id, 0), []);
      assert.equal(await store.findByCacheKey('c-del'), null, 'a deleted result is never reused');
      assert.deepEqual((await store.list({ owner: 'u1' })).jobs.map((j) => j.id), [queued.id]);
      assert.equal((await store.stats()).byState.succeeded, 0);
      assert.equal(await store.remove(done.id), false, 'already gone');
      assert.equal(await store.remove('no-such-job'), false);
      // The same key and inputs now make a new job, which starts without the old checkpoints.
      const again = await store.submit({ type: TYPE, input: { n: 1 }, owner: 'u1', idempotencyKey: 'k-del', cacheKey: 'c-del' });
      assert.equal(again.created, true);
      assert.notEqual(again.job.id, done.id);

      // Failed and cancelled jobs are finished too.
      assert.equal((await store.cancel(queued.id))?.state, 'cancelled');
      assert.equal(await store.remove(queued.id), true);
      const next = await claimOne(store);
      assert.equal(next.job.id, again.job.id);
      assert.deepEqual(next.checkpoints, {});
      await store.fail(next.job.id, next.leaseToken, jobError('NO_MATCH', false));
      assert.equal(await store.remove(next.job.id), true);
      assert.deepEqual((await store.list({})).jobs, []);
    }));

    test('purgeFinishedBefore removes finished jobs with their events, never live ones', () => withStore(async (store) => {
      const live = await submitOne(store);
      const done = await submitOne(store, { priority: 1 });
      const claim = await claimOne(store);
      assert.equal(claim.job.id, done.id);
      await store.complete(done.id, claim.leaseToken, {});
      assert.equal(await store.purgeFinishedBefore(Date.now() - 60_000), 0);
      assert.equal(await store.purgeFinishedBefore(Date.now() + 1), 1);
      assert.equal(await store.get(done.id), null);
      assert.deepEqual(await store.events(done.id, 0), []);
      assert.equal((await store.get(live.id))?.state, 'queued');
    }));
  });
}
