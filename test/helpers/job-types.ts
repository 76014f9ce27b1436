// Job types that exist only in tests, to drive the worker pool through sleeps, crashes, time limits,
// checkpoints and a real long-running ffmpeg. They run inside real job processes like product types.
import { appendFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BeatSyncError } from '../../src/errors.ts';
import type { JobContext, JobLimits, JobTypeHandler, JobTypeRegistry } from '../../src/jobs/job-type.ts';
import { runFfmpeg } from '../../src/media/index.ts';

type Raw = Record<string, unknown>;

function testHandler<I extends Raw, R>(name: string, run: (ctx: JobContext<I>) => Promise<R>): JobTypeHandler<I, R> {
  return {
    ref: { url: import.meta.url, name },
    parseInput: (raw) => {
      if (typeof raw !== 'object' || raw === null) throw new BeatSyncError('BAD_REQUEST', 'test input must be an object');
      return raw as I;
    },
    inputFileIds: () => [],
    cacheKey: () => null,
    // Small unless a test asks (the time limit grows with the estimate).
    estimateSeconds: (input) => (typeof input.estimateSeconds === 'number' ? input.estimateSeconds : 0.1),
    resultFileKeys: () => [],
    relocateResult: (result) => result,
    run,
  };
}

/** Appends "start|end <jobId> <attempt> <pid>" lines to `log` and sleeps `ms`. */
export const sleepJob = testHandler<{ ms: number; log?: string }, { slept: number }>('sleepJob', async (ctx) => {
  const { ms, log } = ctx.input;
  if (log) appendFileSync(log, `start ${ctx.jobId} ${ctx.attempt} ${process.pid}\n`);
  ctx.progress({ percent: 10, stage: 'sleep', message: 'sleeping' });
  await sleep(ms);
  if (log) appendFileSync(log, `end ${ctx.jobId} ${ctx.attempt} ${process.pid}\n`);
  return { slept: ms };
});

/** Dies every time: a plain non-zero exit, or running out of its (small) heap. */
export const crashJob = testHandler<{ mode: 'exit' | 'oom' }, never>('crashJob', async (ctx) => {
  if (ctx.input.mode === 'oom') {
    const hoard: number[][] = [];
    for (;;) hoard.push(Array.from({ length: 100_000 }, (_, i) => i * Math.random()));
  }
  process.exit(3);
});

/** A poison job: kills the worker process that runs it (its parent), every time, as a job that crashes the machine would. */
export const poisonJob = testHandler<Raw, never>('poisonJob', async () => {
  process.kill(process.ppid, 'SIGKILL');
  await sleep(60_000);
  throw new Error('the worker survived');
});

/** Throws `code` on attempts before `okFromAttempt` (never succeeds when it is 0). */
export const failJob = testHandler<{ code: 'NO_MATCH' | 'PROCESSING_FAILED'; okFromAttempt?: number }, { attempt: number }>('failJob', async (ctx) => {
  const ok = ctx.input.okFromAttempt ?? 0;
  if (ok === 0 || ctx.attempt < ok) throw new BeatSyncError(ctx.input.code, `attempt ${ctx.attempt}`);
  return { attempt: ctx.attempt };
});

/**
 * Starts a never-ending ffmpeg through src/media (its own process group), writes its pid and waits;
 * with `die`, the job process then SIGKILLs itself, orphaning that ffmpeg (as an OOM kill would).
 */
export const ffmpegJob = testHandler<{ pidFile: string; die?: boolean }, never>('ffmpegJob', async (ctx) => {
  await runFfmpeg(['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000', '-f', 'null', '-'], {
    signal: ctx.signal,
    threads: ctx.threads,
    onSpawn: (pid) => {
      writeFileSync(ctx.input.pidFile, `${process.pid} ${pid}\n`);
      if (ctx.input.die) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);
    },
  });
  throw new Error('ffmpeg ended on its own');
});

/** Saves the "first" checkpoint, then crashes on attempt 1; later attempts report what they found. */
export const stagesJob = testHandler<Raw, { attempt: number; found: unknown }>('stagesJob', async (ctx) => {
  const found = ctx.checkpoints.first ?? null;
  if (!found) {
    await ctx.saveCheckpoint('first', { madeOnAttempt: ctx.attempt });
    process.exit(5);
  }
  return { attempt: ctx.attempt, found };
});

const base: JobLimits = { timeLimitMs: 60_000, maxAttempts: 3, memoryMb: 128, concurrencyShare: 1, retryOnTimeout: true };

export const TEST_LIMITS = {
  'test.sleep': { ...base, maxAttempts: 1 },
  'test.crash': { ...base, memoryMb: 48 },
  'test.fail': base,
  'test.ffmpeg': { ...base, timeLimitMs: 1_500, maxAttempts: 2 },
  'test.stages': base,
  'test.poison': base,
} satisfies Record<string, JobLimits>;

export const TEST_TYPES: JobTypeRegistry = {
  'test.sleep': { handler: sleepJob, limits: TEST_LIMITS['test.sleep'] },
  'test.crash': { handler: crashJob, limits: TEST_LIMITS['test.crash'] },
  'test.fail': { handler: failJob, limits: TEST_LIMITS['test.fail'] },
  'test.ffmpeg': { handler: ffmpegJob, limits: TEST_LIMITS['test.ffmpeg'] },
  'test.stages': { handler: stagesJob, limits: TEST_LIMITS['test.stages'] },
  'test.poison': { handler: poisonJob, limits: TEST_LIMITS['test.poison'] },
};
