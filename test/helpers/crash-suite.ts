// The crash harness shared by the backends' crash tests (jobs-crash, redis-crash): a real worker
// process runs real beatsync.sync jobs on tiny media and is killed with SIGKILL at random moments,
// restarted each time, with production settings (maxAttempts 3, maxInterruptions 10). In the end every
// job succeeded exactly once with valid outputs, only those outputs are visible, no process of any
// worker is left, and every run is counted: a killed one as an interruption, never as an attempt.
// Then a poison job that kills its worker every time still ends, failed INTERRUPTED_TOO_OFTEN.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobSystem } from '../../src/jobs/index.ts';
import type { SyncJobResult } from '../../src/jobs/types/beatsync-sync.ts';
import type { JobRecord } from '../../src/jobs/types.ts';
import { DEFAULT_MAX_INTERRUPTIONS } from '../../src/jobs/store-common.ts';
import { probeMedia } from '../../src/media/index.ts';
import { processesMentioning, processesWithEnv, waitFor } from './procs.ts';
import { syncMedia } from './sync-media.ts';
import { storeUpload } from './uploads.ts';

export const KILLS = 22;
const JOBS = 4;

/** What differs between backends: how the submitting side opens, and how a worker process starts. */
export interface CrashBackend {
  /** Environment variable marking every process of this test's workers. */
  markEnv: string;
  /** Opens the submit-and-read side on `dir` (it runs no workers and takes nothing back). */
  open(dir: string): Promise<{ sys: JobSystem; workerArgv: string[]; poisonWorkerArgv?: string[]; close(): Promise<void> }>;
}

export async function runCrashSuite(t: TestContext, backend: CrashBackend): Promise<void> {
  const media = await syncMedia(4, 14);
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-crash-'));
  const mark = randomUUID();
  const { sys, workerArgv, poisonWorkerArgv, close } = await backend.open(dir);
  t.after(async () => {
    await sys.close();
    await close();
    await rm(dir, { recursive: true, force: true });
  });

  const dance = await storeUpload(sys.files, media.dance);
  const bgm = await storeUpload(sys.files, media.bgm);
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    // Different nudges: four separate runs rather than one shared result.
    const input = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed', 'full'], nudgeMs: 20 * i } };
    ids.push((await sys.submit('beatsync.sync', input)).job.id);
  }

  const startWorker = (argv = workerArgv) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, [backend.markEnv]: mark } });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, exited };
  };
  // A poison job kills its worker every time: restarted workers take it back until the interruption limit
  // ends it. With a worker of its own (a shared backend, where one worker's start takes back only expired
  // leases) it runs alongside the kills; otherwise after them.
  const poisonRun = async (argv: string[]) => {
    const poison = (await sys.submit('test.poison', {})).job.id;
    let starts = 0;
    for (;;) {
      const state = (await sys.store.get(poison))!.state;
      if (state === 'failed' || state === 'succeeded' || state === 'cancelled') break;
      assert.ok(++starts <= DEFAULT_MAX_INTERRUPTIONS + 3, 'the poison job keeps coming back');
      const worker = startWorker(argv);
      t.after(() => worker.child.kill('SIGKILL'));
      // The poison kills it, or this start's take-back was the last one and the job ended: stop the worker then.
      let exited = false;
      void worker.exited.then(() => { exited = true; });
      const deadline = Date.now() + 20_000;
      while (!exited) {
        const now = (await sys.store.get(poison))!.state;
        if (now === 'failed' || now === 'succeeded' || now === 'cancelled' || Date.now() > deadline) worker.child.kill('SIGTERM');
        await Promise.race([worker.exited, sleep(50)]);
      }
    }
    const ended = (await sys.store.get(poison))!;
    const runs = (await sys.store.events(poison, 0)).filter((e) => e.kind === 'state' && e.state === 'running').length;
    t.diagnostic(`poison job: ${starts} worker starts, ${runs} runs, ${ended.interruptions} interruptions`);
    assert.equal(ended.state, 'failed');
    assert.equal(ended.error?.code, 'INTERRUPTED_TOO_OFTEN');
    assert.equal(ended.interruptions, DEFAULT_MAX_INTERRUPTIONS);
    assert.equal(runs, DEFAULT_MAX_INTERRUPTIONS);
    assert.equal(ended.attempts, 0);
  };
  const poisonAlongside = poisonWorkerArgv ? poisonRun(poisonWorkerArgv) : null;
  // Reported when awaited below, not as an unhandled rejection meanwhile.
  poisonAlongside?.catch(() => {});
  const phaseStart = Date.now();

  const jobs = async () => Promise.all(ids.map(async (id) => (await sys.store.get<unknown, SyncJobResult>(id))!));
  const delays: number[] = [];

  for (let kill = 0; kill < KILLS; kill++) {
    const spawnedAt = Date.now();
    const worker = startWorker();
    t.after(() => worker.child.kill('SIGKILL'));
    // Half the kills land anywhere from start-up on; the others once this worker runs a job (a state
    // left `running` by the previous, killed worker does not count). Every fourth worker first finishes a
    // job: on a slow machine a schedule of kills alone could interrupt the same job past the limit, which
    // is what the limit is for, not what this test is about.
    if (kill % 4 === 3) {
      const doneBefore = (await jobs()).filter((j) => j.state === 'succeeded').length;
      await waitFor('a job to finish', async () => {
        const now = await jobs();
        return now.every((j) => j.state === 'succeeded') || now.filter((j) => j.state === 'succeeded').length > doneBefore;
      }, 60_000);
    } else if (kill % 2 === 1) {
      await waitFor('a job to run', async () => {
        const now = await jobs();
        if (now.every((j) => j.state === 'succeeded')) return true;
        for (const j of now) {
          if (j.state === 'running' && (await sys.store.events(j.id, 0)).some((e) => e.state === 'running' && e.at >= spawnedAt)) return true;
        }
        return false;
        // A wait, not a timing goal: on a loaded 2-core machine a new worker may take longer to claim.
      }, 45_000);
    }
    const delay = Math.floor(Math.random() * (kill % 2 === 1 ? 3_000 : 1_200));
    delays.push(delay);
    await sleep(delay);
    worker.child.kill('SIGKILL');
    await worker.exited;
  }

  const last = startWorker();
  await waitFor('every job to finish', async () => (await jobs()).every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state)), 60_000);
  last.child.kill('SIGTERM');
  await last.exited;
  t.diagnostic(`kill phase: ${Date.now() - phaseStart} ms`);
  await (poisonAlongside ?? poisonRun(workerArgv));

  const done = await jobs();
  t.diagnostic(`kill delays (ms): ${delays.join(' ')}; attempts: ${done.map((j) => j.attempts).join(' ')}; interruptions: ${done.map((j) => j.interruptions).join(' ')}`);
  const expectedKeys: string[] = [];
  const lastRunMs: number[] = [];
  for (const job of done) {
    assert.equal(job.state, 'succeeded', `job ${job.id}: ${JSON.stringify(job.error)}`);
    const stateEvents = (await sys.store.events(job.id, 0)).filter((e) => e.kind === 'state');
    const states = stateEvents.map((e) => e.state);
    lastRunMs.push(job.finishedAt! - stateEvents.filter((e) => e.state === 'running').at(-1)!.at);
    assert.equal(states.filter((s) => s === 'succeeded').length, 1, `succeeded exactly once: ${states.join(' ')}`);
    // Each claim is an attempt or, when its worker was killed, an interruption; the kills used no attempt.
    assert.equal(job.attempts + job.interruptions, states.filter((s) => s === 'running').length, `runs of ${states.join(' ')}`);
    assert.equal(job.attempts, 1, 'only the run that finished is an attempt');
    assert.equal(job.maxAttempts, 3);
    for (const v of (job as JobRecord<unknown, SyncJobResult>).result!.variants) {
      expectedKeys.push(v.key);
      const info = await probeMedia(await sys.files.localPath(v.key));
      assert.equal(info.video.length, 1);
      assert.equal(info.audio.length, 1);
      assert.ok(Math.abs(info.durationSeconds - v.durationSeconds) < 0.5);
    }
  }
  t.diagnostic(`the successful runs took (ms): ${lastRunMs.join(' ')}`);
  assert.ok(done.reduce((n, j) => n + j.interruptions, 0) > 0, 'some kills interrupted running jobs, and were counted');

  // Only finished outputs the results point to are visible; temp work is gone.
  const visible: string[] = [];
  for await (const o of sys.files.list('outputs/')) visible.push(o.key);
  assert.deepEqual(visible.sort(), expectedKeys.sort());
  assert.deepEqual(readdirSync(join(dir, 'work')), []);

  // No job process or ffmpeg of any of the killed workers survived.
  await waitFor('every worker process tree to be gone', () => processesWithEnv(backend.markEnv, mark).length === 0 && processesMentioning(dir).length === 0, 5_000);

  await waitFor('every worker process tree to be gone', () => processesWithEnv(backend.markEnv, mark).length === 0, 5_000);
}
