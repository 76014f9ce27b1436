// Job system settings of the Redis crash test: the embedded crash test's product settings
// (worker-config.ts) on the Redis backend, with a short lease (a killed worker's job runs again once
// its lease runs out: no single process may take back everything at start-up on a shared backend).
import type { JobSystemConfig } from '../../src/jobs/index.ts';
import { TEST_TYPES } from './job-types.ts';
import { workerConfig } from './worker-config.ts';

export function redisWorkerConfig(dir: string, redisUrl: string, redisPrefix: string, startWorkers: boolean, poisonOnly = false): JobSystemConfig {
  const config: JobSystemConfig = { ...workerConfig(dir, 'product'), backend: 'redis', redisUrl, redisPrefix, leaseMs: 1_000, heartbeatMs: 250, startWorkers };
  // A worker that serves only the poison type (the crash test runs it beside the product worker).
  if (poisonOnly) config.types = { 'test.poison': TEST_TYPES['test.poison'] };
  return config;
}
