// The JobStore contract on SQLite, plus what only the embedded backend promises:
// durability across kill -9, start-up recovery, claims raced by real processes, history, migrations.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BeatSyncError } from '../errors.ts';
import { jobStoreContract } from './contract.ts';
import { SqliteJobStore } from './sqlite-store.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';

const root = mkdtempSync(join(tmpdir(), 'beatsync-jobstore-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(root, `jobs-${process.pid}-${++counter}.db`);

const NODE = process.execPath;
const CHILD = fileURLToPath(new URL('./testing/sqlite-child.ts', import.meta.url));

jobStoreContract(
  'sqlite',
  async ({ backoff, maxInterruptions }) => SqliteJobStore.open(freshFile(), { backoff, maxInterruptions, pollMs: 15 }),
  { openPeer: async (store) => SqliteJobStore.open((store as SqliteJobStore).file, { pollMs: 15 }) },
);

/** Runs the child; `onLine` sees each complete stdout line and may kill it. Resolves with its lines once it exits. */
function runChild(args: string[], onLine?: (line: string, lines: string[], kill: () => void) => void): Promise<{ lines: string[]; signal: NodeJS.Signals | null; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buffer = '';
    let stderr = '';
    const kill = () => child.kill('SIGKILL');
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        onLine?.(line, lines, kill);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ lines, signal, code });
    });
  });
}

describe('SqliteJobStore (embedded only)', () => {
  test('a job whose submit resolved survives kill -9 of the submitting process', async () => {
    const file = freshFile();
    await SqliteJobStore.open(file).close();
    const printed: string[] = [];
    for (let round = 0; round < 6; round++) {
      const stopAfter = 1 + Math.floor(Math.random() * 25);
      const { lines, signal } = await runChild(['submit', file, '100000'], (_line, all, kill) => {
        if (all.length === stopAfter) kill();
      });
      assert.equal(signal, 'SIGKILL');
      printed.push(...lines);
    }
    const store = SqliteJobStore.open(file);
    try {
      for (const id of printed) assert.equal((await store.get(id))?.state, 'queued', `job ${id} lost`);
      const all = await store.list({ limit: 500 });
      assert.ok(all.jobs.length >= printed.length);
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(file);
    assert.equal((db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
    db.close();
  });

  test('recoverAllRunning takes back at once the jobs a killed process held, as interruptions, until the limit', async () => {
    const file = freshFile();
    const store = SqliteJobStore.open(file, { maxInterruptions: 2 });
    try {
      // One attempt: a kill must not use it.
      const { job } = await store.submit({ type: 'test.echo', input: {}, maxAttempts: 1 });
      const { lines, signal } = await runChild(['hold', file], (_line, _all, kill) => kill());
      assert.equal(signal, 'SIGKILL');
      assert.deepEqual(lines, [job.id]);
      assert.equal((await store.get(job.id))?.state, 'running');
      // The lease (an hour) has not run out: only the start-up path takes it back.
      assert.equal(await store.recoverExpired(), 0);
      assert.equal(await store.recoverAllRunning(), 1);
      const back = await store.get(job.id);
      assert.equal(back?.state, 'queued');
      assert.equal(back?.attempts, 0);
      assert.equal(back?.interruptions, 1);
      assert.equal(back?.error?.code, 'PROCESSING_FAILED');
      const claim = await store.claim('w', ['test.echo'], 1000);
      assert.equal(claim?.job.attempts, 1);
      // Killed again, the interruption limit reached: it ends failed instead of looping.
      assert.equal(await store.recoverAllRunning(), 1);
      const final = await store.get(job.id);
      assert.equal(final?.state, 'failed');
      assert.equal(final?.error?.code, 'INTERRUPTED_TOO_OFTEN');
      assert.equal(final?.interruptions, 2);
    } finally {
      await store.close();
    }
  });

  test('three processes draining one queue never run a job twice', async () => {
    const file = freshFile();
    const store = SqliteJobStore.open(file);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 90; i++) ids.add((await store.submit({ type: 'test.echo', input: { i } })).job.id);
      const runs = await Promise.all(['p1', 'p2', 'p3'].map((w) => runChild(['drain', file, w])));
      const done = runs.flatMap((r) => r.lines);
      assert.equal(done.length, 90);
      assert.deepEqual(new Set(done), ids);
      const stats = await store.stats();
      assert.equal(stats.byState.succeeded, 90);
      for (const id of ids) assert.equal((await store.get(id))?.attempts, 1);
    } finally {
      await store.close();
    }
  });

  test('leases and backoff follow the injected clock', async () => {
    let now = 1_700_000_000_000;
    const store = SqliteJobStore.open(freshFile(), { now: () => now, backoff: { baseMs: 1000, maxMs: 10_000, jitter: 0.5 }, random: () => 1 });
    try {
      const { job } = await store.submit({ type: 't', input: {}, maxAttempts: 5 });
      let claim = await store.claim('w', ['t'], 5000);
      assert.equal(claim?.leaseUntil, now + 5000);
      now += 4000;
      await store.heartbeat(job.id, claim!.leaseToken, 5000);
      now += 4000; // 8 s after the claim, 4 s after the renewal
      assert.equal(await store.recoverExpired(), 0);
      now += 1001;
      assert.equal(await store.recoverExpired(), 1);
      // The take-back was an interruption, so the failures below are attempts 1, 2, 3. Delays with
      // random() = 1 take the full jitter: ceiling · 0.5 = 500, 1000, 2000 ms.
      for (const expected of [500, 1000, 2000]) {
        claim = await store.claim('w', ['t'], 5000);
        const failed = await store.fail(job.id, claim!.leaseToken, { code: 'TIMEOUT', message: 'slow', retryable: true });
        assert.equal(failed.runAfter, now + expected);
        now += expected - 1;
        assert.equal(await store.claim('w', ['t'], 5000), null);
        assert.equal(await store.queuePosition(job.id), null);
        now += 1;
        assert.equal(await store.queuePosition(job.id), 1);
      }
    } finally {
      await store.close();
    }
  });

  test('queue positions agree with the claim order: priority, owner turn, age, and only retries that are due', async () => {
    let now = 1_700_000_000_000;
    const store = SqliteJobStore.open(freshFile(), { now: () => now, backoff: { baseMs: 1000, maxMs: 10_000, jitter: 0.5 }, random: () => 1 });
    const retryable = { code: 'TIMEOUT', message: 'slow', retryable: true } as const;
    try {
      // Two retries: `due` may run again 250 ms before `later`.
      const due = (await store.submit({ type: 't', input: { n: 'due' }, owner: 'r', maxAttempts: 5 })).job;
      const later = (await store.submit({ type: 't', input: { n: 'later' }, owner: 'r', maxAttempts: 5 })).job;
      await store.fail(due.id, (await store.claim('w', ['t'], 5000))!.leaseToken, retryable);
      now += 250;
      await store.fail(later.id, (await store.claim('w', ['t'], 5000))!.leaseToken, retryable);
      now += 250;
      const waiting = [due.id];
      for (const [owner, priority] of [['a', 0], ['a', 0], ['b', 0], ['c', 5], [null, -1], ['a', 5], ['a', 0], ['b', 5]] as const) {
        waiting.push((await store.submit({ type: 't', input: {}, owner, priority })).job.id);
      }
      const positions = new Map(await Promise.all(waiting.map(async (id) => [id, await store.queuePosition(id)] as const)));
      assert.equal(await store.queuePosition(later.id), null);
      const order: string[] = [];
      for (let claim = await store.claim('w', ['t'], 5000); claim; claim = await store.claim('w', ['t'], 5000)) order.push(claim.job.id);
      assert.deepEqual(new Set(order), new Set(waiting));
      for (const [i, id] of order.entries()) assert.equal(positions.get(id), i + 1, `job claimed ${i + 1}.`);
    } finally {
      await store.close();
    }
  });

  test('queue positions see what another connection wrote at once (they are read once per change, not per poll)', async () => {
    const file = freshFile();
    const reader = SqliteJobStore.open(file);
    const writer = SqliteJobStore.open(file);
    try {
      const a = (await reader.submit({ type: 't', input: { n: 'a' } })).job;
      const b = (await reader.submit({ type: 't', input: { n: 'b' } })).job;
      assert.equal(await reader.queuePosition(b.id), 2);
      assert.equal(await reader.queuePosition(b.id), 2);
      const urgent = (await writer.submit({ type: 't', input: { n: 'urgent' }, priority: 9 })).job;
      assert.equal(await reader.queuePosition(urgent.id), 1);
      assert.equal(await reader.queuePosition(b.id), 3);
      await writer.claim('w', ['t'], 60_000);
      assert.equal(await reader.queuePosition(urgent.id), null);
      assert.equal(await reader.queuePosition(a.id), 1);
      // A local write counts too.
      await reader.cancel(a.id);
      assert.equal(await reader.queuePosition(a.id), null);
      assert.equal(await reader.queuePosition(b.id), 1);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  test('an acknowledged write waits for the WAL to be synced, concurrent ones share a sync; lease renewals do not wait', async () => {
    const file = freshFile();
    const syncs: { path: string; release: () => void }[] = [];
    const store = SqliteJobStore.open(file, {
      syncFile: (path) => new Promise<void>((resolve) => syncs.push({ path, release: resolve })),
    });
    const settled = async (p: Promise<unknown>): Promise<boolean> =>
      Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30))]);
    try {
      const first = store.submit({ type: 't', input: { n: 1 } });
      assert.equal(await settled(first), false, 'submit resolved before its commit was synced');
      assert.deepEqual(syncs.map((s) => s.path), [`${file}-wal`]);
      // Two more while the first sync runs: they need a second sync (the first may have read before them), one for both.
      const second = store.submit({ type: 't', input: { n: 2 } });
      const third = store.submit({ type: 't', input: { n: 3 } });
      syncs[0].release();
      const job = (await first).job;
      assert.equal(await settled(second), false);
      assert.equal(syncs.length, 2);
      syncs[1].release();
      await Promise.all([second, third]);
      assert.equal(syncs.length, 2);

      const claim = await store.claim('w', ['t'], 60_000);
      assert.equal(claim?.job.id, job.id);
      assert.equal(await settled(store.heartbeat(job.id, claim!.leaseToken, 60_000, { stage: 'analyze', percent: 10, message: 'analysing' })), true);
      assert.equal(syncs.length, 2, 'a claim or a heartbeat waited for a sync');
      const done = store.complete(job.id, claim!.leaseToken, { ok: true });
      assert.equal(await settled(done), false, 'complete resolved before its commit was synced');
      syncs[2].release();
      assert.equal((await done).state, 'succeeded');
    } finally {
      for (const s of syncs) s.release();
      await store.close();
    }
  });

  test('daily history outlives purged job rows', async () => {
    let now = Date.UTC(2025, 0, 10, 12);
    const store = SqliteJobStore.open(freshFile(), { now: () => now });
    try {
      for (const outcome of ['ok', 'ok', 'bad', 'cancel'] as const) {
        const { job } = await store.submit({ type: 't', input: {} });
        if (outcome === 'cancel') {
          await store.cancel(job.id);
          continue;
        }
        const claim = await store.claim('w', ['t'], 60_000);
        now += 2000;
        if (outcome === 'ok') await store.complete(job.id, claim!.leaseToken, {});
        else await store.fail(job.id, claim!.leaseToken, { code: 'NO_MATCH', message: 'no', retryable: false });
      }
      now += 31 * 24 * 3600_000;
      assert.equal(await store.purgeFinishedBefore(now - 30 * 24 * 3600_000), 4);
      assert.equal((await store.list({})).jobs.length, 0);
      const history = await store.history();
      assert.equal(history.length, 1);
      assert.equal(history[0].day, '2025-01-10');
      assert.deepEqual([history[0].succeeded, history[0].failed, history[0].cancelled], [2, 1, 1]);
      assert.ok(Math.abs((history[0].successRate ?? 0) - 2 / 3) < 1e-9);
      assert.equal(history[0].meanDurationSeconds, 2);
    } finally {
      await store.close();
    }
  });

  test('remove deletes the row, events and checkpoints; the daily history keeps counting the job', async () => {
    const file = freshFile();
    const store = SqliteJobStore.open(file, { now: () => Date.UTC(2025, 0, 11, 12) });
    try {
      const { job } = await store.submit({ type: 't', input: {}, idempotencyKey: 'k', cacheKey: 'c' });
      const claim = await store.claim('w', ['t'], 60_000);
      await store.saveCheckpoint(job.id, claim!.leaseToken, 'analysis', { ok: true });
      await store.complete(job.id, claim!.leaseToken, {});
      assert.equal(await store.remove(job.id), true);
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        for (const table of ['jobs', 'events', 'checkpoints']) {
          assert.equal((db.prepare(`SELECT count(*) AS c FROM ${table}`).get() as { c: number }).c, 0, table);
        }
      } finally {
        db.close();
      }
      const [day] = await store.history();
      assert.deepEqual([day.day, day.succeeded], ['2025-01-11', 1]);
    } finally {
      await store.close();
    }
  });

  test('reopening keeps the schema; a newer schema is refused', async () => {
    const file = freshFile();
    const first = SqliteJobStore.open(file);
    const { job } = await first.submit({ type: 't', input: { x: 1 } });
    await first.close();
    const second = SqliteJobStore.open(file);
    assert.deepEqual((await second.get(job.id))?.input, { x: 1 });
    await second.close();
    const db = new DatabaseSync(file);
    const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').all().map((r) => r.version);
    assert.deepEqual(versions, Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => SqliteJobStore.open(file), /schema version/);
  });

  test('a write lock held past the busy timeout gives RESOURCE_LIMIT, and nothing half-written', async () => {
    const file = freshFile();
    const store = SqliteJobStore.open(file, { busyTimeoutMs: 50 });
    const other = new DatabaseSync(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      await assert.rejects(store.submit({ type: 't', input: {} }), (e: unknown) => e instanceof BeatSyncError && e.code === 'RESOURCE_LIMIT');
      other.exec('ROLLBACK');
      const { job } = await store.submit({ type: 't', input: {} });
      assert.deepEqual((await store.list({})).jobs.map((j) => j.id), [job.id]);
    } finally {
      other.close();
      await store.close();
    }
  });

  test('bad worker calls are refused with stable codes', async () => {
    const store = SqliteJobStore.open(freshFile());
    try {
      const { job } = await store.submit({ type: 't', input: {} });
      const claim = await store.claim('w', ['t'], 60_000);
      await assert.rejects(store.fail(job.id, claim!.leaseToken, { code: 'NOPE' as never, message: '', retryable: true }),
        (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
      await assert.rejects(store.claim('w', ['t'], 0), (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
      await assert.rejects(store.list({ cursor: 'garbage' }), (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
      await assert.rejects(store.submit({ type: 't', input: { big: 10n } as unknown }), (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
      assert.equal((await store.get(job.id))?.state, 'running');
    } finally {
      await store.close();
    }
  });
});
