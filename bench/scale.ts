// npm run bench:scale — scale-out on this machine: real beatsync.sync jobs per minute through one API node
// with 1, 2 and 3 worker nodes (real `beatsync serve` processes on a private Redis + S3-compatible server),
// then the queue's own cost per job (submit + claim + heartbeat + complete of a no-op job, direct store
// calls) on BullMQ/Redis versus the embedded SQLite backend.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BullMqJobStore } from '../src/jobs/bullmq-store.ts';
import { SqliteJobStore } from '../src/jobs/sqlite-store.ts';
import { hasRedisServer, startRedisServer } from '../src/jobs/testing/redis-server.ts';
import type { JobStore } from '../src/jobs/types.ts';
import { newToken, postFile, sendJson, getJson } from '../test/helpers/api.ts';
import { makeApiSyncPair } from '../test/helpers/api-media.ts';
import { startCluster } from '../test/helpers/cluster.ts';

const JOBS_PER_ROUND = Number(process.env.BENCH_SCALE_JOBS ?? 12);
const NOOP_JOBS = Number(process.env.BENCH_NOOP_JOBS ?? 1000);
const PARALLEL = 8;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function jobsPerMinute(): Promise<{ workers: number; jobs: number; seconds: number; perMinute: number; medianJobSeconds: number }[]> {
  const pair = await makeApiSyncPair({ name: 'bench-scale', danceSeconds: 6, bgmSeconds: 12, offsetSeconds: 2 });
  const cluster = await startCluster({ flags: ['--quota-jobs', '10000', '--rate-limit-token', '1000000', '--rate-limit-ip', '1000000'] });
  const rows = [];
  try {
    const api = await cluster.startNode('api');
    const token = await newToken(api.url);
    const up = async (path: string, purpose: string) => ((await (await postFile(`${api.url}/api/uploads?purpose=${purpose}`, path, { token })).json()) as { fileId: string }).fileId;
    const dance = await up(pair.dance, 'dance');
    const bgm = await up(pair.bgm, 'bgm');
    let nudge = 0;
    for (let workers = 1; workers <= 3; workers++) {
      await cluster.startNode('worker');
      const t0 = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < JOBS_PER_ROUND; i++) {
        // Distinct nudges: separate runs, never a cached result.
        const res = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, { danceFileId: dance, bgmFileId: bgm, options: { nudgeMs: ++nudge } }, token);
        if (res.status !== 202) throw new Error(`submit → ${res.status} ${JSON.stringify(res.body)}`);
        ids.push(res.body.jobId);
      }
      const durations: number[] = [];
      for (const id of ids) {
        for (;;) {
          const { body } = await getJson<{ status: string; startedAt?: string; finishedAt?: string }>(`${api.url}/api/jobs/${id}`, token);
          if (body.status === 'succeeded') break;
          if (body.status === 'failed' || body.status === 'cancelled') throw new Error(`job ${id} ${body.status}`);
          await sleep(200);
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      const store = await BullMqJobStore.open({ url: cluster.redis.url, prefix: cluster.prefix });
      for (const id of ids) {
        const j = await store.get(id);
        if (j?.startedAt && j.finishedAt) durations.push((j.finishedAt - j.startedAt) / 1000);
      }
      await store.close();
      rows.push({ workers, jobs: ids.length, seconds, perMinute: (ids.length / seconds) * 60, medianJobSeconds: median(durations) });
      process.stdout.write(`  ${workers} worker(s): ${ids.length} jobs in ${seconds.toFixed(1)} s = ${((ids.length / seconds) * 60).toFixed(1)} jobs/min (median job ${median(durations).toFixed(2)} s)\n`);
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}

/** Milliseconds of queue work per job: sequential (latency) and with PARALLEL callers (throughput). */
async function queueOverhead(store: JobStore): Promise<{ sequentialMs: number; parallelMs: number }> {
  const oneJob = async (i: number, worker: string) => {
    await store.submit({ type: 'bench.noop', input: { i }, owner: 'bench' });
    const claim = await store.claim(worker, ['bench.noop'], 30_000);
    if (!claim) throw new Error('nothing to claim');
    await store.heartbeat(claim.job.id, claim.leaseToken, 30_000, { percent: 50, stage: 'noop', message: '' });
    await store.complete(claim.job.id, claim.leaseToken, { ok: true });
  };
  let t0 = performance.now();
  for (let i = 0; i < NOOP_JOBS; i++) await oneJob(i, 'w');
  const sequentialMs = (performance.now() - t0) / NOOP_JOBS;
  t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, async (_, w) => {
    for (let i = w; i < NOOP_JOBS; i += PARALLEL) await oneJob(i, `w${w}`);
  }));
  const parallelMs = (performance.now() - t0) / NOOP_JOBS;
  return { sequentialMs, parallelMs };
}

async function main(): Promise<void> {
  if (!hasRedisServer()) {
    process.stderr.write('bench:scale needs redis-server on PATH\n');
    process.exit(2);
  }
  process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; 1-min load ${loadavg()[0].toFixed(1)} at start\n`);
  process.stdout.write(`Real jobs (${JOBS_PER_ROUND} per round, 6 s dance video, 12 s song, 2 variants), 1 API + N workers (1 job at a time each):\n`);
  const rows = await jobsPerMinute();

  process.stdout.write(`Queue overhead per no-op job (submit + claim + heartbeat + complete), ${NOOP_JOBS} jobs:\n`);
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-bench-scale-'));
  const redis = await startRedisServer();
  try {
    const sqlite = SqliteJobStore.open(join(dir, 'noop.db'));
    const embedded = await queueOverhead(sqlite);
    await sqlite.close();
    const store = await BullMqJobStore.open({ url: redis.url, prefix: 'bench:' });
    const distributed = await queueOverhead(store);
    await store.close();
    for (const [name, r] of [['SQLite (WAL, synchronous=FULL)', embedded], ['BullMQ on Redis (AOF appendfsync always)', distributed]] as const) {
      process.stdout.write(`  ${name}: ${r.sequentialMs.toFixed(2)} ms/job one at a time, ${r.parallelMs.toFixed(2)} ms/job with ${PARALLEL} callers\n`);
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`Speed-up vs 1 worker: ${rows.map((r) => `${r.workers}: ×${(r.perMinute / rows[0].perMinute).toFixed(2)}`).join(', ')}\n`);
  process.stdout.write(`1-min load at end ${loadavg()[0].toFixed(1)}\n`);
}

await main();
