// Job system settings of the test worker processes (worker-process.ts), shared with the tests that
// open the same data directory to submit jobs and check them.
import { join } from 'node:path';
import { JOB_TYPES } from '../../src/jobs/index.ts';
import type { JobSystemConfig } from '../../src/jobs/index.ts';
import { TEST_TYPES } from './job-types.ts';

export function workerConfig(dir: string, kind: 'test' | 'product'): JobSystemConfig {
  return {
    dataDir: dir,
    startWorkers: true,
    concurrency: 2,
    leaseMs: 2_000,
    pollMs: 50,
    killGraceMs: 500,
    minFreeDiskBytes: 0,
    backoff: { baseMs: 50, maxMs: 200, jitter: 0.5 },
    tmpRoot: join(dir, 'work'),
    ...(kind === 'test'
      ? { types: TEST_TYPES, limits: { 'test.ffmpeg': { timeLimitMs: 60_000 } } }
      // Production settings (maxAttempts 3, maxInterruptions 10): kills are interruptions, not attempts.
      // One slot, so a kill interrupts one job rather than two (every job sees fewer of the 22 kills).
      // Plus the poison type, which kills the worker that runs it.
      : { concurrency: 1, types: { ...JOB_TYPES, 'test.poison': TEST_TYPES['test.poison'] } }),
  };
}

