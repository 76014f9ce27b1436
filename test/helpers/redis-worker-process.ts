// A real worker process on the Redis backend for the crash test: the job system with workers on
// <dataDir> (local files) and Redis at <url>/<prefix>, up until killed. SIGTERM stops it gracefully.
// Usage: node redis-worker-process.ts <dataDir> <redisUrl> <prefix> [poison-only]
import { openJobSystem } from '../../src/jobs/index.ts';
import { redisWorkerConfig } from './worker-config-redis.ts';

const [dataDir, url, prefix, only] = process.argv.slice(2);
if (!dataDir || !url || !prefix) {
  console.error('usage: redis-worker-process.ts <dataDir> <redisUrl> <prefix>');
  process.exit(2);
}
const sys = await openJobSystem(redisWorkerConfig(dataDir, url, prefix, true, only === 'poison-only'));
await sys.start();
process.on('SIGTERM', () => {
  void sys.stop({ graceMs: 5_000 }).then(() => sys.close()).then(() => process.exit(0));
});
