// The worker pool with real child processes and a real ffmpeg, driven through test-only job types:
// time limits kill the whole tree, cancel, retries and backoff, poison jobs, concurrency limits,
// checkpoints, graceful shutdown, and no orphan when the worker process itself is killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { JOB_NICENESS } from '../src/jobs/job-run.ts';
import { openJobSystem } from '../src/jobs/index.ts';
import type { JobSystem, JobSystemConfig } from '../src/jobs/index.ts';
import type { JobRecord, JobState, JobStore } from '../src/jobs/types.ts';
import type { FileStoreSpec } from '../src/jobs/file-spec.ts';
import { timeLimitFor, WorkerPool } from '../src/jobs/worker-pool.ts';
import type { FileStore } from '../src/storage/types.ts';
import { TEST_LIMITS, TEST_TYPES } from './helpers/job-types.ts';
import { groupMembers, isRunning, waitFor } from './helpers/procs.ts';

const TERMINAL: JobState[] = ['succeeded', 'failed', 'cancelled'];

async function openSystem(t: TestContext, config: Partial<JobSystemConfig> = {}): Promise<{ sys: JobSystem; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-pool-'));
  const sys = await openJobSystem({
    dataDir: dir,
    startWorkers: true,
    types: TEST_TYPES,
    concurrency: 2,
    pollMs: 50,
    leaseMs: 3_000,
    killGraceMs: 500,
    backoff: { baseMs: 150, maxMs: 1_000, jitter: 0 },
    minFreeDiskBytes: 0,
    tmpRoot: join(dir, 'work'),
    ...config,
  });
  t.after(async () => {
    await sys.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { sys, dir };
}

async function settled(sys: JobSystem, id: string, timeoutMs = 20_000): Promise<JobRecord> {
  return waitFor(`job ${id} to finish`, async () => {
    const job = await sys.store.get(id);
    return job && TERMINAL.includes(job.state) ? job : null;
  }, timeoutMs);
}

async function statesOf(sys: JobSystem, id: string): Promise<JobState[]> {
  return (await sys.store.events(id, 0)).filter((e) => e.kind === 'state').map((e) => e.state);
}

/** Largest number of [start, end] intervals covering one instant. */
function maxOverlap(intervals: Array<[number, number]>): number {
  const points = intervals.flatMap(([s, e]) => [[s, 1], [e, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, (now += d));
  return max;
}

/** "<jobPid> <ffmpegPid>" lines written by test.ffmpeg, one per attempt. */
/** The niceness field of /proc/<pid>/stat (after the parenthesised command name). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

function pidsFrom(file: string): number[] {
  return readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
}

test('a job runs in its own process, reports progress, and leaves no temp directory', async (t) => {
  const { sys, dir } = await openSystem(t);
  await sys.start();
  const { job } = await sys.submit('test.sleep', { ms: 50 });
  const done = await settled(sys, job.id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, { slept: 50 });
  assert.equal(done.attempts, 1);
  const events = await sys.store.events(job.id, 0);
  assert.ok(events.some((e) => e.kind === 'progress' && e.progress.stage === 'sleep'), 'progress from the child reached the store');
  assert.deepEqual(readdirSync(join(dir, 'work')), []);
});

test('concurrency never goes above the pool size, nor a type above its share', async (t) => {
  const { sys, dir } = await openSystem(t, { concurrency: 2 });
  const log = join(dir, 'runs.log');
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await sys.submit('test.sleep', { ms: 300, log })).job.id);
  await sys.start();
  const jobs = await Promise.all(ids.map((id) => settled(sys, id)));
  assert.ok(jobs.every((j) => j.state === 'succeeded'));
  // Slot occupancy as the store saw it (claim → end), and the child processes' own lifetimes.
  assert.equal(maxOverlap(jobs.map((j) => [j.startedAt!, j.finishedAt!])), 2);
  let running = 0;
  let most = 0;
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    running += line.startsWith('start') ? 1 : -1;
    most = Math.max(most, running);
  }
  assert.equal(most, 2);

  const { sys: shared } = await openSystem(t, {
    concurrency: 4,
    limits: { 'test.sleep': { concurrencyShare: 0.5 } },
  });
  const sharedIds: string[] = [];
  for (let i = 0; i < 5; i++) sharedIds.push((await shared.submit('test.sleep', { ms: 300 })).job.id);
  await shared.start();
  const sharedJobs = await Promise.all(sharedIds.map((id) => settled(shared, id)));
  assert.equal(maxOverlap(sharedJobs.map((j) => [j.startedAt!, j.finishedAt!])), 2);
});

test('a job estimated to need longer than its type\'s time limit gets that long (the estimate times ESTIMATE_HEADROOM)', async (t) => {
  // test.sleep's limit is lowered to 1 s; this job sleeps 2.5 s and is estimated at 1 s, so it may run 4 s.
  const { sys } = await openSystem(t, { limits: { 'test.sleep': { timeLimitMs: 1_000 } } });
  await sys.start();
  const { job } = await sys.submit('test.sleep', { ms: 2_500, estimateSeconds: 1 });
  assert.equal(job.estimatedSeconds, 1);
  assert.equal((await settled(sys, job.id)).state, 'succeeded');
  // Without the estimate the type's 1 s stands.
  const short = await sys.submit('test.sleep', { ms: 2_500 });
  const ended = await settled(sys, short.job.id);
  assert.equal(ended.state, 'failed');
  assert.equal(ended.error?.code, 'TIMEOUT');
  assert.equal(timeLimitFor(900_000, 300), 1_200_000);
  assert.equal(timeLimitFor(900_000, 30), 900_000);
  assert.equal(timeLimitFor(900_000, null), 900_000);
});

test('the time limit kills the whole tree (ffmpeg included) and fails with TIMEOUT after the allowed attempts', async (t) => {
  const { sys, dir } = await openSystem(t);
  const pidFile = join(dir, 'pids');
  await sys.start();
  const { job } = await sys.submit('test.ffmpeg', { pidFile });
  const done = await settled(sys, job.id);
  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'TIMEOUT');
  assert.equal(done.attempts, TEST_LIMITS['test.ffmpeg'].maxAttempts);
  assert.deepEqual(await statesOf(sys, job.id), ['queued', 'running', 'retrying', 'running', 'failed']);
  const [jobPid, ffmpegPid] = pidsFrom(pidFile);
  await waitFor('the job process and its ffmpeg to be gone', () => !isRunning(jobPid) && !isRunning(ffmpegPid), 5_000);
  assert.deepEqual(groupMembers(jobPid), []);
  assert.deepEqual(groupMembers(ffmpegPid), []);
});

test('an ffmpeg orphaned by its job process dying abruptly is still killed', async (t) => {
  const { sys, dir } = await openSystem(t, { limits: { 'test.ffmpeg': { maxAttempts: 1, timeLimitMs: 60_000 } } });
  const pidFile = join(dir, 'pids');
  await sys.start();
  const { job } = await sys.submit('test.ffmpeg', { pidFile, die: true });
  const done = await settled(sys, job.id);
  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'PROCESSING_FAILED');
  const [, ffmpegPid] = pidsFrom(pidFile);
  await waitFor('the orphaned ffmpeg to be gone', () => !isRunning(ffmpegPid), 5_000);
  assert.deepEqual(groupMembers(ffmpegPid), []);
});

test('a cancelled queued job never runs; a running one stops within a heartbeat and is never retried', async (t) => {
  const { sys, dir } = await openSystem(t, { limits: { 'test.ffmpeg': { timeLimitMs: 60_000 } } });
  const queued = (await sys.submit('test.sleep', { ms: 10 })).job;
  const cancelled = await sys.store.cancel(queued.id);
  assert.equal(cancelled?.state, 'cancelled');

  const pidFile = join(dir, 'pids');
  await sys.start();
  const { job } = await sys.submit('test.ffmpeg', { pidFile });
  await waitFor('ffmpeg to start', () => existsSync(pidFile));
  const [jobPid, ffmpegPid] = pidsFrom(pidFile);
  assert.ok(isRunning(ffmpegPid));
  await sys.store.cancel(job.id);
  const done = await settled(sys, job.id, 5_000);
  assert.equal(done.state, 'cancelled');
  assert.equal(done.error?.code, 'CANCELLED');
  assert.equal(done.attempts, 1);
  await waitFor('the cancelled tree to be gone', () => !isRunning(jobPid) && !isRunning(ffmpegPid), 5_000);

  // The pool keeps working, and neither cancelled job was picked up again.
  const after = (await sys.submit('test.sleep', { ms: 10 })).job;
  assert.equal((await settled(sys, after.id)).state, 'succeeded');
  assert.equal((await sys.store.get(queued.id))?.attempts, 0);
  assert.deepEqual(await statesOf(sys, job.id), ['queued', 'running', 'cancelled']);
});

test('retryable errors retry with exponential backoff; input errors fail at once with their code', async (t) => {
  const { sys } = await openSystem(t);
  await sys.start();
  const { job } = await sys.submit('test.fail', { code: 'PROCESSING_FAILED', okFromAttempt: 3 });
  const done = await settled(sys, job.id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, { attempt: 3 });
  const events = (await sys.store.events(job.id, 0)).filter((e) => e.kind === 'state');
  assert.deepEqual(events.map((e) => e.state), ['queued', 'running', 'retrying', 'running', 'retrying', 'running', 'succeeded']);
  // Jitter is 0 here: each retry waits at least base * 2^(attempt-1) after the failure.
  assert.ok(events[3].at - events[2].at >= 150, `first backoff ${events[3].at - events[2].at} ms`);
  assert.ok(events[5].at - events[4].at >= 300, `second backoff ${events[5].at - events[4].at} ms`);

  const input = (await sys.submit('test.fail', { code: 'NO_MATCH' })).job;
  const failed = await settled(sys, input.id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'NO_MATCH');
  assert.equal(failed.error?.retryable, false);
  assert.equal(failed.attempts, 1);
});

test('a job that crashes its process every time (exit or out of memory) ends failed after maxAttempts', async (t) => {
  const { sys } = await openSystem(t);
  await sys.start();
  const exits = (await sys.submit('test.crash', { mode: 'exit' })).job;
  const oom = (await sys.submit('test.crash', { mode: 'oom' })).job;
  for (const id of [exits.id, oom.id]) {
    const done = await settled(sys, id, 40_000);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'PROCESSING_FAILED');
    assert.equal(done.attempts, TEST_LIMITS['test.crash'].maxAttempts);
    assert.equal((await statesOf(sys, id)).filter((s) => s === 'running').length, TEST_LIMITS['test.crash'].maxAttempts);
  }
});

test('a restarted job resumes from its saved checkpoint', async (t) => {
  const { sys } = await openSystem(t);
  await sys.start();
  const { job } = await sys.submit('test.stages', {});
  const done = await settled(sys, job.id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, { attempt: 2, found: { madeOnAttempt: 1 } });
});

test('graceful shutdown lets short jobs finish and hands the rest back to the queue', async (t) => {
  const { sys, dir } = await openSystem(t, { limits: { 'test.ffmpeg': { timeLimitMs: 60_000 } } });
  const pidFile = join(dir, 'pids');
  await sys.start();
  const long = (await sys.submit('test.ffmpeg', { pidFile })).job;
  await waitFor('ffmpeg to start', () => existsSync(pidFile));
  // Job processes and their ffmpeg run below the server's priority.
  for (const pid of pidsFrom(pidFile)) assert.equal(niceOf(pid), JOB_NICENESS, `niceness of ${pid}`);
  const short = (await sys.submit('test.sleep', { ms: 300 })).job;
  await waitFor('the short job to run', async () => (await sys.store.get(short.id))?.state === 'running');
  // The grace is generous: on a loaded machine a job process takes a second or more to load before its 300 ms.
  await sys.stop({ graceMs: 4_000 });

  assert.equal((await sys.store.get(short.id))?.state, 'succeeded');
  const handedBack = (await sys.store.get(long.id))!;
  const [jobPid, ffmpegPid] = pidsFrom(pidFile);
  await waitFor('the handed-back tree to be gone', () => !isRunning(jobPid) && !isRunning(ffmpegPid), 5_000);
  assert.equal(handedBack.state, 'queued');
  assert.equal(handedBack.attempts, 0, 'a shutdown does not use up an attempt');
});

test('kill -9 of the worker process leaves no job process or ffmpeg behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-pool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'pids');
  const script = fileURLToPath(new URL('./helpers/worker-process.ts', import.meta.url));
  const worker = spawn(process.execPath, [script, dir, 'test'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => worker.kill('SIGKILL'));
  worker.send({ submit: { type: 'test.ffmpeg', input: { pidFile } } });
  await waitFor('ffmpeg to start', () => existsSync(pidFile));
  const [jobPid, ffmpegPid] = pidsFrom(pidFile);
  worker.kill('SIGKILL');
  await waitFor('the job process and its ffmpeg to be gone', () => !isRunning(jobPid) && !isRunning(ffmpegPid), 5_000);
  assert.deepEqual(groupMembers(jobPid), []);
});

test('stop() ends within the grace although a claim never answers (a backend that hangs, e.g. Redis down)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-pool-hang-'));
  try {
    let claims = 0;
    // Only claim is reached: the pool never gets a job, so no other store or file call happens.
    const store = { claim: () => (claims++, new Promise<never>(() => {})) } as unknown as JobStore;
    const pool = new WorkerPool({ store, files: { kind: 'local', root: dir } as unknown as FileStoreSpec, fileStore: {} as FileStore, types: TEST_TYPES, concurrency: 1, tmpRoot: join(dir, 'work'), pollMs: 50 });
    await pool.start();
    await waitFor('the first claim', () => claims > 0 || null, 5_000);
    const t0 = performance.now();
    await pool.stop({ graceMs: 300 });
    const ms = performance.now() - t0;
    assert.ok(ms >= 250 && ms < 5_000, `stop took ${ms.toFixed(0)} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
