// Crash test of the embedded (SQLite) backend: a real worker process runs real beatsync.sync jobs on
// tiny media and is killed with SIGKILL at random moments more than 20 times, restarted each time.
// The harness and its assertions are in helpers/crash-suite.ts, shared with redis-crash.test.ts.
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openJobSystem } from '../src/jobs/index.ts';
import { KILLS, runCrashSuite } from './helpers/crash-suite.ts';
import { workerConfig } from './helpers/worker-config.ts';

const WORKER = fileURLToPath(new URL('./helpers/worker-process.ts', import.meta.url));

test(`kill -9 of the worker ${KILLS} times: every job succeeds exactly once, nothing partial, no orphan`, async (t) => {
  await runCrashSuite(t, {
    markEnv: 'BEATSYNC_CRASH_TEST',
    open: async (dir) => ({
      sys: await openJobSystem({ ...workerConfig(dir, 'product'), startWorkers: false }),
      workerArgv: [WORKER, dir, 'product'],
      close: async () => {},
    }),
  });
});
