// npm run bench:jobs — the embedded job backend: submit / claim+complete throughput with direct store
// calls, then status-read (store.get) latency while 2 real beatsync.sync jobs render on generated media.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { openJobSystem } from '../src/jobs/index.ts';
import { SqliteJobStore } from '../src/jobs/sqlite-store.ts';
import { TEST_TYPES } from '../test/helpers/job-types.ts';
import { syncMedia } from '../test/helpers/sync-media.ts';
import { storeUpload } from '../test/helpers/uploads.ts';

const SUBMITS = Number(process.env.BENCH_JOBS ?? 2000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latencySummary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const f = (x: number) => `${x.toFixed(3)} ms`;
  return `n=${s.length} p50=${f(percentile(s, 50))} p99=${f(percentile(s, 99))} max=${f(s[s.length - 1])}`;
}

async function storeThroughput(dir: string): Promise<void> {
  const store = SqliteJobStore.open(join(dir, 'throughput.db'));
  try {
    let t0 = performance.now();
    for (let i = 0; i < SUBMITS; i++) await store.submit({ type: 'bench.noop', input: { i }, owner: 'bench' });
    const submitS = (performance.now() - t0) / 1000;

    t0 = performance.now();
    let n = 0;
    for (;;) {
      const claim = await store.claim('bench', ['bench.noop'], 30_000);
      if (!claim) break;
      await store.complete(claim.job.id, claim.leaseToken, { ok: true });
      n++;
    }
    const cycleS = (performance.now() - t0) / 1000;
    console.log(`submit:           ${SUBMITS} jobs in ${submitS.toFixed(2)} s = ${Math.round(SUBMITS / submitS)} jobs/s (${((submitS * 1000) / SUBMITS).toFixed(2)} ms each)`);
    console.log(`claim + complete: ${n} jobs in ${cycleS.toFixed(2)} s = ${Math.round(n / cycleS)} jobs/s (${((cycleS * 1000) / n).toFixed(2)} ms each)`);
  } finally {
    await store.close();
  }
}

/** What running a job in its own process costs: claim → fork → import → IPC → complete, for an empty job. */
async function processOverhead(dir: string): Promise<void> {
  const sys = await openJobSystem({ dataDir: join(dir, 'overhead'), startWorkers: true, concurrency: 1, pollMs: 20, types: TEST_TYPES, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work') });
  try {
    await sys.start();
    const spans: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { job } = await sys.submit('test.sleep', { ms: 0 });
      let done = await sys.store.get(job.id);
      while (done && done.state !== 'succeeded') {
        await sleep(5);
        done = await sys.store.get(job.id);
      }
      spans.push(done!.finishedAt! - done!.startedAt!);
    }
    console.log(`empty job in its own process (claim → finish): ${latencySummary(spans)}`);
  } finally {
    await sys.close();
  }
}

async function readLatencyWhileRendering(dir: string): Promise<void> {
  const media = await syncMedia(45, 60);
  const sys = await openJobSystem({ dataDir: join(dir, 'system'), startWorkers: true, concurrency: 2, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work') });
  try {
    const dance = await storeUpload(sys.files, media.dance);
    const bgm = await storeUpload(sys.files, media.bgm);
    const ids: string[] = [];
    for (const nudgeMs of [0, 40]) {
      const input = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed', 'full'], nudgeMs } };
      ids.push((await sys.submit('beatsync.sync', input, { owner: 'bench' })).job.id);
    }

    const idle: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await sys.store.get(ids[i % 2]);
      idle.push(performance.now() - t0);
    }

    const busy: number[] = [];
    const started = performance.now();
    await sys.start();
    for (;;) {
      const t0 = performance.now();
      const job = await sys.store.get(ids[busy.length % 2]);
      busy.push(performance.now() - t0);
      if (busy.length % 50 === 0) {
        const states = await Promise.all(ids.map(async (id) => (await sys.store.get(id))!.state));
        if (states.every((s) => s === 'succeeded' || s === 'failed')) break;
      }
      if (!job) throw new Error('job vanished');
      await sleep(5);
    }
    const wall = (performance.now() - started) / 1000;
    const finals = await Promise.all(ids.map(async (id) => (await sys.store.get(id))!));
    console.log(`store.get idle:             ${latencySummary(idle)}`);
    console.log(`store.get during 2 renders: ${latencySummary(busy)}`);
    console.log(`2 jobs (45 s dance, 60 s song, 2 variants each): ${finals.map((j) => `${j.state} in ${((j.finishedAt! - j.startedAt!) / 1000).toFixed(1)} s, estimated ${j.estimatedSeconds} s`).join('; ')}; wall ${wall.toFixed(1)} s`);
  } finally {
    await sys.close();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'beatsync-bench-jobs-'));
try {
  console.log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, data in ${tmpdir()}`);
  await storeThroughput(dir);
  await processOverhead(dir);
  await readLatencyWhileRendering(dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
