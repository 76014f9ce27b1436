// The beatsync.sync job lists the video's packets the way `sync` does: one whole-stream ffprobe beside the
// alignment, whose listing the renderer's cut plans then read, instead of windowed ffprobes after the
// analysis. Every ffprobe the job starts is logged through FFPROBE_PATH (a wrapper around the real one).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { syncJob } from '../src/jobs/types/beatsync-sync.ts';
import type { SyncJobInput } from '../src/jobs/types/beatsync-sync.ts';
import { LocalFileStore } from '../src/storage/local.ts';
import { syncMedia } from './helpers/sync-media.ts';
import { storeUpload } from './helpers/uploads.ts';

/** listVideoPackets' entries: what tells its ffprobe from the probes and the output checks. */
const PACKET_LISTING = 'packet=pts_time,dts_time,duration_time,flags';

test('beatsync.sync lists the video packets once, beside the alignment, and renders from that listing', async (t) => {
  const media = await syncMedia();
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-job-listing-'));
  const previous = process.env.FFPROBE_PATH;
  const restore = () => {
    if (previous === undefined) delete process.env.FFPROBE_PATH;
    else process.env.FFPROBE_PATH = previous;
  };
  t.after(async () => {
    restore();
    await rm(dir, { recursive: true, force: true });
  });
  const real = previous || execFileSync('sh', ['-c', 'command -v ffprobe'], { encoding: 'utf8' }).trim();
  const log = join(dir, 'ffprobe.log');
  const wrapper = join(dir, 'ffprobe.sh');
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`);
  await chmod(wrapper, 0o755);

  const files = new LocalFileStore(join(dir, 'store'));
  const dance = await storeUpload(files, media.dance);
  const bgm = await storeUpload(files, media.bgm);
  const input: SyncJobInput = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed', 'full'] } };
  process.env.FFPROBE_PATH = wrapper;
  const result = await syncJob.run({
    jobId: 'job-listing', type: 'beatsync.sync', attempt: 1, input, files, checkpoints: {},
    saveCheckpoint: async () => undefined, progress: () => undefined,
    signal: new AbortController().signal, threads: 2, tmpDir: await mkdtemp(join(dir, 'work-')),
  });
  restore();

  assert.deepEqual(result.variants.map((v) => v.variant), ['trimmed', 'full']);
  assert.ok(result.report.alignment.matched);
  const listings = (await readFile(log, 'utf8')).split('\n').filter((line) => line.includes(PACKET_LISTING));
  assert.equal(listings.length, 1, `one packet listing, got:\n${listings.join('\n')}`);
  assert.ok(!listings[0].includes('-read_intervals'), `the whole stream is listed: ${listings[0]}`);
});
