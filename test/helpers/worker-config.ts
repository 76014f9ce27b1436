// Job system settings of the test worker processes (worker-process.ts), shared with the tests that
// open the same data directory to submit jobs and check them.
import { join } from 'node:path';
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
      // Every kill -9 while a job runs costs it an attempt: allow plenty so kills alone never fail it.
      : { limits: { 'beatsync.sync': { maxAttempts: 100 } } }),
  };
}

