// The crash test of the embedded backend (jobs-crash.test.ts), on the Redis backend: a real worker
// process runs real beatsync.sync jobs from a private AOF Redis and is killed with SIGKILL at random
// moments more than 20 times, restarted each time. The harness and its assertions are in
// helpers/crash-suite.ts; this file only says how the Redis side starts.
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openJobSystem } from '../src/jobs/index.ts';
import { hasRedisServer, startRedisServer } from '../src/jobs/testing/redis-server.ts';
import { KILLS, runCrashSuite } from './helpers/crash-suite.ts';
import { redisWorkerConfig } from './helpers/worker-config-redis.ts';

const WORKER = fileURLToPath(new URL('./helpers/redis-worker-process.ts', import.meta.url));
const PREFIX = 'crash:';

test(`redis backend: kill -9 of the worker ${KILLS} times: every job succeeds exactly once, nothing partial, no orphan`, {
  skip: hasRedisServer() ? false : 'redis-server is not installed',
}, async (t) => {
  await runCrashSuite(t, {
    markEnv: 'BEATSYNC_REDIS_CRASH_TEST',
    open: async (dir) => {
      const redis = await startRedisServer();
      return {
        sys: await openJobSystem(redisWorkerConfig(dir, redis.url, PREFIX, false)),
        workerArgv: [WORKER, dir, redis.url, PREFIX],
        // On a shared backend a worker's start takes back only expired leases, so the poison job gets
        // a worker of its own and runs alongside the kills.
        poisonWorkerArgv: [WORKER, dir, redis.url, PREFIX, 'poison-only'],
        close: () => redis.stop(),
      };
    },
  });
});
