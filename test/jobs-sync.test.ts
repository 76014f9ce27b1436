// The real beatsync.sync job end to end, on tiny media cut from a real song: outputs land in the store
// and only the result points to them, an identical resubmission reuses the result, a nudge reuses the
// analysis, and a song that is not in the video fails at once with NO_MATCH.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { Readable } from 'node:stream';
import { openJobSystem } from '../src/jobs/index.ts';
import { analysisCacheKey } from '../src/jobs/types/analysis-cache.ts';
import type { JobSystem } from '../src/jobs/index.ts';
import type { SyncJobResult } from '../src/jobs/types/beatsync-sync.ts';
import type { JobRecord } from '../src/jobs/types.ts';
import { probeMedia } from '../src/media/index.ts';
import type { FileStore } from '../src/storage/types.ts';
import { waitFor } from './helpers/procs.ts';
import { syncMedia } from './helpers/sync-media.ts';
import { storeUpload } from './helpers/uploads.ts';

async function openSystem(t: TestContext): Promise<JobSystem> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-sync-'));
  const sys = await openJobSystem({
    dataDir: dir, startWorkers: true, concurrency: 2, pollMs: 50, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work'),
  });
  t.after(async () => {
    await sys.close();
    await rm(dir, { recursive: true, force: true });
  });
  await sys.start();
  return sys;
}

async function settled(sys: JobSystem, id: string): Promise<JobRecord<unknown, SyncJobResult>> {
  return waitFor(`job ${id} to finish`, async () => {
    const job = await sys.store.get<unknown, SyncJobResult>(id);
    return job && ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : null;
  }, 60_000);
}

async function readStored(files: FileStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await files.read(key)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

async function keysUnder(files: FileStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of files.list(prefix)) keys.push(o.key);
  return keys.sort();
}

test('beatsync.sync renders into the store, resubmission hits the cache, a foreign song fails with NO_MATCH', async (t) => {
  const media = await syncMedia();
  const sys = await openSystem(t);
  const dance = await storeUpload(sys.files, media.dance);
  const bgm = await storeUpload(sys.files, media.bgm);
  const other = await storeUpload(sys.files, media.otherBgm);
  const input = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed', 'full'] } };

  const first = await sys.submit('beatsync.sync', input, { owner: 'alice' });
  assert.ok(first.created);
  assert.ok((first.job.estimatedSeconds ?? 0) > 0);
  const done = await settled(sys, first.job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.attempts, 1);
  const result = done.result!;
  assert.deepEqual(result.variants.map((v) => v.variant), ['trimmed', 'full']);
  assert.ok(result.report.alignment.matched);
  assert.deepEqual(await keysUnder(sys.files, `outputs/${done.id}/`), result.variants.map((v) => v.key).sort());
  for (const v of result.variants) {
    assert.equal(v.key, `outputs/${done.id}/${v.file}`);
    const info = await probeMedia(await sys.files.localPath(v.key));
    assert.equal(info.video.length, 1);
    assert.equal(info.audio.length, 1);
    assert.equal((await sys.files.stat(v.key))?.size, v.sizeBytes);
  }

  // Identical inputs and options (variants in another order) from the same owner: the finished result is reused.
  const again = await sys.submit('beatsync.sync', { ...input, options: { variants: ['full', 'trimmed'] } }, { owner: 'alice' });
  assert.ok(again.created);
  const reused = await settled(sys, again.job.id);
  assert.equal(reused.state, 'succeeded');
  assert.ok(!(await sys.store.events(again.job.id, 0)).some((e) => e.kind === 'progress'), 'no job process ran');
  // The reused result owns copies of the files under its own job, so deleting the first job breaks nothing.
  const ownKeys = result.variants.map((v) => `outputs/${again.job.id}/${v.file}`);
  assert.deepEqual(reused.result, { ...result, variants: result.variants.map((v, i) => ({ ...v, key: ownKeys[i] })) });
  assert.deepEqual(await keysUnder(sys.files, `outputs/${again.job.id}/`), [...ownKeys].sort());
  assert.ok(await sys.deleteJob(done.id));
  for (const key of ownKeys) assert.ok(await sys.files.stat(key), `${key} survives the first job's deletion`);

  // Once the cached outputs are gone, the same inputs are computed again.
  for (const key of ownKeys) await sys.files.delete(key);
  const redo = await settled(sys, (await sys.submit('beatsync.sync', input, { owner: 'alice' })).job.id);
  assert.equal(redo.state, 'succeeded');
  assert.ok(redo.result!.variants.every((v) => v.key.startsWith(`outputs/${redo.id}/`)));
  assert.ok((await sys.store.events(redo.id, 0)).some((e) => e.kind === 'progress'), 'computed, not reused');

  // Another owner's identical pair is never a cache hit: its job runs (a hit's speed would give the first away).
  const foreign = await settled(sys, (await sys.submit('beatsync.sync', input, { owner: 'bob' })).job.id);
  assert.equal(foreign.state, 'succeeded');
  assert.ok((await sys.store.events(foreign.id, 0)).some((e) => e.kind === 'progress'), 'a job process ran for the other owner');

  // A nudge (another job on the same two files) keeps the first job's analysis and only renders again.
  const cacheKey = analysisCacheKey(dance.fileId, bgm.fileId);
  assert.ok(await sys.files.stat(cacheKey), 'the analysis is kept beside the dance upload');
  const nudged = await settled(sys, (await sys.submit('beatsync.sync', { ...input, options: { ...input.options, nudgeMs: 40 } }, { owner: 'alice' })).job.id);
  assert.equal(nudged.state, 'succeeded', JSON.stringify(nudged.error));
  assert.deepEqual(Object.keys(nudged.result!.report.timings).filter((k) => ['probe', 'decode', 'analyze', 'analysis.reused'].includes(k)), ['analysis.reused']);
  assert.deepEqual(nudged.result!.report.alignment, result.report.alignment);
  assert.equal(nudged.result!.report.nudgeMs, 40);
  // A damaged or foreign saved analysis is not used: the job analyses afresh and saves a good one.
  for (const damaged of ['{"engineVersion":', JSON.stringify({ engineVersion: '0.0.1', danceFileId: dance.fileId, bgmFileId: bgm.fileId, analysis: {} })]) {
    await sys.files.put(cacheKey, Readable.from([Buffer.from(damaged)]));
    const fresh = await settled(sys, (await sys.submit('beatsync.sync', { ...input, options: { ...input.options, nudgeMs: 80 + damaged.length } }, { owner: 'alice' })).job.id);
    assert.equal(fresh.state, 'succeeded', JSON.stringify(fresh.error));
    assert.ok('decode' in fresh.result!.report.timings && !('analysis.reused' in fresh.result!.report.timings), 'analysed afresh');
    assert.deepEqual(fresh.result!.report.alignment, result.report.alignment);
    assert.equal(JSON.parse((await readStored(sys.files, cacheKey))).engineVersion, result.report.engineVersion);
  }

  const wrong = await sys.submit('beatsync.sync', { danceFileId: dance.fileId, bgmFileId: other.fileId, options: {} }, { owner: 'alice' });
  const failed = await settled(sys, wrong.job.id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'NO_MATCH');
  assert.equal(failed.attempts, 1);
  assert.deepEqual(await keysUnder(sys.files, `outputs/${wrong.job.id}/`), []);
});

test('submit refuses bad input, missing or foreign uploads, and a full queue before writing anything', async (t) => {
  const media = await syncMedia();
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-sync-'));
  const sys = await openJobSystem({ dataDir: dir, startWorkers: false, maxQueueDepth: 1, minFreeDiskBytes: 0 });
  t.after(async () => {
    await sys.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dance = await storeUpload(sys.files, media.dance, 'alice');
  const bgm = await storeUpload(sys.files, media.bgm, 'alice');
  const ok = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: {} };
  const code = async (promise: Promise<unknown>) => promise.then(() => 'accepted', (e: { code?: string }) => e.code);

  assert.equal(await code(sys.submit('no.such.type', ok)), 'BAD_REQUEST');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, options: { nudgeMs: 'soon' } }, { owner: 'alice' })), 'BAD_REQUEST');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, danceFileId: '../etc' }, { owner: 'alice' })), 'BAD_REQUEST');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, extra: 1 }, { owner: 'alice' })), 'BAD_REQUEST');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, bgmFileId: 'missing' }, { owner: 'alice' })), 'FILE_NOT_FOUND');
  assert.equal(await code(sys.submit('beatsync.sync', ok, { owner: 'mallory' })), 'FILE_NOT_FOUND');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, danceFileId: bgm.fileId }, { owner: 'alice' })), 'NO_VIDEO_TRACK');
  assert.equal((await sys.store.stats()).queueDepth, 0, 'no refused submit left a job behind');

  assert.equal(await code(sys.submit('beatsync.sync', ok, { owner: 'alice' })), 'accepted');
  assert.equal(await code(sys.submit('beatsync.sync', { ...ok, options: { nudgeMs: 5 } }, { owner: 'alice' })), 'RESOURCE_LIMIT');
  assert.equal((await sys.store.stats()).queueDepth, 1);
});
