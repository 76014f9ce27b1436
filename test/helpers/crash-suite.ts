// The crash harness shared by the backends' crash tests (jobs-crash, redis-crash): a real worker
// process runs real beatsync.sync jobs on tiny media and is killed with SIGKILL at random moments,
// restarted each time. In the end every job succeeded exactly once with valid outputs, only those
// outputs are visible, no process of any worker is left, and every attempt (killed ones too) is counted.
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
  open(dir: string): Promise<{ sys: JobSystem; workerArgv: string[]; close(): Promise<void> }>;
}

export async function runCrashSuite(t: TestContext, backend: CrashBackend): Promise<void> {
  const media = await syncMedia(4, 14);
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-crash-'));
  const mark = randomUUID();
  const { sys, workerArgv, close } = await backend.open(dir);
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

  const startWorker = () => {
    const child = spawn(process.execPath, workerArgv, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, [backend.markEnv]: mark } });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, exited };
  };
  const jobs = async () => Promise.all(ids.map(async (id) => (await sys.store.get<unknown, SyncJobResult>(id))!));
  const delays: number[] = [];

  for (let kill = 0; kill < KILLS; kill++) {
    const worker = startWorker();
    t.after(() => worker.child.kill('SIGKILL'));
    // Half the kills land anywhere from start-up on; the others once a job is running.
    if (kill % 2 === 1) {
      await waitFor('a job to run', async () => {
        const now = await jobs();
        return now.some((j) => j.state === 'running') || now.every((j) => j.state === 'succeeded');
      }, 15_000);
    }
    const delay = Math.floor(Math.random() * (kill % 2 === 1 ? 900 : 1_500));
    delays.push(delay);
    await sleep(delay);
    worker.child.kill('SIGKILL');
    await worker.exited;
  }

  const last = startWorker();
  await waitFor('every job to finish', async () => (await jobs()).every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state)), 60_000);
  last.child.kill('SIGTERM');
  await last.exited;

  const done = await jobs();
  t.diagnostic(`kill delays (ms): ${delays.join(' ')}; attempts: ${done.map((j) => j.attempts).join(' ')}`);
  const expectedKeys: string[] = [];
  for (const job of done) {
    assert.equal(job.state, 'succeeded', `job ${job.id}: ${JSON.stringify(job.error)}`);
    const states = (await sys.store.events(job.id, 0)).filter((e) => e.kind === 'state').map((e) => e.state);
    assert.equal(states.filter((s) => s === 'succeeded').length, 1, `succeeded exactly once: ${states.join(' ')}`);
    // Each claim is an attempt, the killed ones included.
    assert.equal(job.attempts, states.filter((s) => s === 'running').length, `attempts of ${states.join(' ')}`);
    for (const v of (job as JobRecord<unknown, SyncJobResult>).result!.variants) {
      expectedKeys.push(v.key);
      const info = await probeMedia(await sys.files.localPath(v.key));
      assert.equal(info.video.length, 1);
      assert.equal(info.audio.length, 1);
      assert.ok(Math.abs(info.durationSeconds - v.durationSeconds) < 0.5);
    }
  }
  assert.ok(done.reduce((n, j) => n + j.attempts, 0) > JOBS, 'some kills interrupted running jobs, and those attempts counted');

  // Only finished outputs the results point to are visible; temp work is gone.
  const visible: string[] = [];
  for await (const o of sys.files.list('outputs/')) visible.push(o.key);
  assert.deepEqual(visible.sort(), expectedKeys.sort());
  assert.deepEqual(readdirSync(join(dir, 'work')), []);

  // No job process or ffmpeg of any of the killed workers survived.
  await waitFor('every worker process tree to be gone', () => processesWithEnv(backend.markEnv, mark).length === 0 && processesMentioning(dir).length === 0, 5_000);
}
