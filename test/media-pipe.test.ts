// Two ffmpegs joined by a pipe (runFfmpegPiped): the same bytes as one ffmpeg, and a failure on either side
// is an error with both processes gone, never a short file taken for a whole one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFfmpeg, runFfmpegPiped, runFfmpegToBuffer } from '../src/media/index.ts';
import { fixtureDir } from './helpers/media.ts';

const SOURCE = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=3'];
const FILTER = ['-af', 'volume=0.5,aformat=sample_fmts=fltp:channel_layouts=stereo'];
const PCM = ['-f', 'f32le', '-ar', '48000', '-ac', '2'];
const ENCODE = ['-c:a', 'aac', '-b:a', '128k'];

const audioHash = async (file: string) => {
  const { stdout } = await runFfmpegToBuffer(['-i', file, '-map', '0:a', '-c', 'copy', '-f', 'framemd5', 'pipe:1']);
  return createHash('sha256').update(stdout).digest('hex');
};

function isDead(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

test('filters in one process, the encoder in the other: the same packets as one ffmpeg', async () => {
  const one = join(fixtureDir(), 'pipe-one.m4a');
  const two = join(fixtureDir(), 'pipe-two.m4a');
  await runFfmpeg([...SOURCE, ...FILTER, ...ENCODE, '-f', 'mp4', '-y', one]);
  const progress: number[] = [];
  await runFfmpegPiped([...SOURCE, ...FILTER, ...PCM, 'pipe:1'], [...PCM, '-i', 'pipe:0', ...ENCODE, '-f', 'mp4', '-y', two], {
    expectedDurationSeconds: 3,
    onProgress: (p) => progress.push(p.fraction ?? -1),
  });
  assert.equal(await audioHash(two), await audioHash(one));
  assert.equal(progress.at(-1), 1, 'progress comes from the consumer and ends at 1');
});

test('a failing producer is the error, even though the consumer saw a clean end of input', async () => {
  const out = join(fixtureDir(), 'pipe-bad-producer.m4a');
  await assert.rejects(
    runFfmpegPiped([...SOURCE, '-af', 'no_such_filter', ...PCM, 'pipe:1'], [...PCM, '-i', 'pipe:0', ...ENCODE, '-f', 'mp4', '-y', out]),
    (e: { code?: string }) => e.code !== undefined && e.code !== 'CANCELLED',
  );
});

test('a failing consumer is the error (not the broken pipe it leaves), and both processes are gone', async () => {
  const pids: number[] = [];
  await assert.rejects(
    runFfmpegPiped(
      ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', ...PCM, 'pipe:1'],
      [...PCM, '-i', 'pipe:0', '-c:a', 'no_such_encoder', '-f', 'mp4', '-y', join(fixtureDir(), 'pipe-bad-consumer.m4a')],
      { onSpawn: (pid) => pids.push(pid) },
    ),
    (e: { code?: string; detail?: string }) => e.code === 'PROCESSING_FAILED' || e.code === 'BAD_REQUEST',
  );
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok(isDead(pid), `ffmpeg ${pid} survived`);
});

test('cancel stops both', async () => {
  const controller = new AbortController();
  const pids: number[] = [];
  const run = runFfmpegPiped(
    ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', ...PCM, 'pipe:1'],
    [...PCM, '-i', 'pipe:0', ...ENCODE, '-f', 'mp4', '-y', join(fixtureDir(), 'pipe-cancel.m4a')],
    { signal: controller.signal, onSpawn: (pid) => pids.push(pid), onProgress: () => controller.abort() },
  );
  await assert.rejects(run, { code: 'CANCELLED' });
  for (const pid of pids) assert.ok(isDead(pid), `ffmpeg ${pid} survived`);
});
