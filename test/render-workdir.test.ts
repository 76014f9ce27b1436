// A job's render writes its temporary files (the shared music mix) only under the attempt's private
// directory, so a killed attempt leaves nothing in os.tmpdir() that no sweep would remove.
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openJobSystem } from '../src/jobs/index.ts';
import type { SyncJobResult } from '../src/jobs/types/beatsync-sync.ts';
import { waitFor } from './helpers/procs.ts';
import { syncMedia } from './helpers/sync-media.ts';
import { storeUpload } from './helpers/uploads.ts';

test('a sync job writes nothing into os.tmpdir(): its mix goes under the attempt directory', async (t) => {
  const media = await syncMedia();
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-workdir-'));
  // The job's child processes inherit this TMPDIR: anything they make through os.tmpdir() lands here.
  const watched = join(dir, 'tmp');
  await mkdir(watched);
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = watched;
  const seen: string[] = [];
  const watcher = watch(watched, (_event, name) => { if (name) seen.push(name); });
  const sys = await openJobSystem({
    dataDir: join(dir, 'data'), startWorkers: true, concurrency: 1, pollMs: 50, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work'),
  });
  t.after(async () => {
    watcher.close();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await sys.close();
    await rm(dir, { recursive: true, force: true });
  });
  await sys.start();
  const dance = await storeUpload(sys.files, media.dance);
  const bgm = await storeUpload(sys.files, media.bgm);
  // trimmed + full share one alignment, so the render makes its shared mix file.
  const submitted = await sys.submit('beatsync.sync', { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed', 'full'] } }, { owner: 'alice' });
  const done = await waitFor('the job to finish', async () => {
    const job = await sys.store.get<unknown, SyncJobResult>(submitted.job.id);
    return job && ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : null;
  }, 60_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.ok(done.result!.report.timings['render.mix'] !== undefined, 'the shared mix was made');
  assert.deepEqual(seen, [], 'nothing was created in os.tmpdir() during the job');
  assert.deepEqual(await readdir(watched), []);
});
