// The ffmpeg/ffprobe runner against real processes: cancel and time limit kill the whole tree, progress, error codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputArgs, runFfmpeg, runFfmpegToBuffer, runFfprobe, withThreads } from '../src/media/index.ts';
import type { FfmpegProgress } from '../src/media/index.ts';
import { fixtureDir, makeVideo } from './helpers/media.ts';

const ENDLESS = ['-f', 'lavfi', '-i', 'sine=frequency=440', '-f', 'lavfi', '-i', 'testsrc2=size=160x120', '-f', 'null', '-'];

/** Gone, or a zombie waiting for its parent (it runs no more). */
function isDead(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** An "ffmpeg" that first starts a child of its own (a sleep) in the same group, then becomes ffmpeg. */
async function ffmpegWithChild(): Promise<{ script: string; childPidFile: string }> {
  const script = join(fixtureDir(), 'ffmpeg-with-child.sh');
  const childPidFile = join(fixtureDir(), `child-${Math.random().toString(36).slice(2)}.pid`);
  await writeFile(script, '#!/bin/sh\nsleep 600 &\necho $! > "$CHILD_PID_FILE"\nexec ffmpeg "$@"\n');
  await chmod(script, 0o755);
  return { script, childPidFile };
}

async function withEnv<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

// A leader-only kill would leave the sleep holding the pipes: the run would hang, hence the time limits.
test('AbortSignal cancels: CANCELLED, and the whole process tree is gone', { timeout: 20_000 }, async () => {
  const { script, childPidFile } = await ffmpegWithChild();
  const controller = new AbortController();
  let pid = 0;
  const run = withEnv({ FFMPEG_PATH: script, CHILD_PID_FILE: childPidFile }, () =>
    runFfmpeg(ENDLESS, {
      signal: controller.signal,
      onSpawn: (p) => { pid = p; },
      onProgress: () => controller.abort(), // ffmpeg is up and working
    }),
  );
  await assert.rejects(run, { code: 'CANCELLED' });
  const childPid = Number(await readFile(childPidFile, 'utf8'));
  assert.ok(pid > 0 && childPid > 0);
  assert.ok(isDead(pid), `ffmpeg ${pid} survived`);
  assert.ok(isDead(childPid), `its child ${childPid} survived`);
});

test('time limit: TIMEOUT, and the whole process tree is gone', { timeout: 20_000 }, async () => {
  const { script, childPidFile } = await ffmpegWithChild();
  let pid = 0;
  const run = withEnv({ FFMPEG_PATH: script, CHILD_PID_FILE: childPidFile }, () =>
    runFfmpeg(ENDLESS, { timeoutMs: 700, onSpawn: (p) => { pid = p; } }),
  );
  await assert.rejects(run, { code: 'TIMEOUT' });
  const childPid = Number(await readFile(childPidFile, 'utf8'));
  assert.ok(isDead(pid), `ffmpeg ${pid} survived`);
  assert.ok(isDead(childPid), `its child ${childPid} survived`);
});

test('an ffmpeg that ignores SIGTERM is killed after the grace period', { timeout: 20_000 }, async () => {
  const script = join(fixtureDir(), 'stubborn.sh');
  await writeFile(script, '#!/bin/sh\ntrap "" TERM\nwhile :; do sleep 0.1; done\n');
  await chmod(script, 0o755);
  let pid = 0;
  const run = withEnv({ FFMPEG_PATH: script }, () => runFfmpeg(['-version'], { timeoutMs: 300, onSpawn: (p) => { pid = p; } }));
  await assert.rejects(run, { code: 'TIMEOUT' });
  assert.ok(isDead(pid));
});

test('an already aborted signal starts nothing', async () => {
  let started = false;
  await assert.rejects(runFfmpeg(ENDLESS, { signal: AbortSignal.abort(), onSpawn: () => { started = true; } }), { code: 'CANCELLED' });
  assert.equal(started, false);
});

test('progress: out time and a fraction of the expected duration, ending at 1', async () => {
  const seen: FfmpegProgress[] = [];
  await runFfmpeg(['-f', 'lavfi', '-i', 'sine=duration=3', '-f', 'null', '-'], {
    expectedDurationSeconds: 3,
    onProgress: (p) => seen.push(p),
  });
  assert.ok(seen.length >= 1);
  const last = seen.at(-1)!;
  assert.equal(last.fraction, 1);
  assert.ok(Math.abs(last.outTimeSeconds - 3) < 0.1, `out time ${last.outTimeSeconds}`);
  for (const p of seen) assert.ok(p.fraction! >= 0 && p.fraction! <= 1);
});

test('without an expected duration the fraction is null', async () => {
  const seen: FfmpegProgress[] = [];
  await runFfmpeg(['-f', 'lavfi', '-i', 'sine=duration=0.5', '-f', 'null', '-'], { onProgress: (p) => seen.push(p) });
  assert.ok(seen.length >= 1 && seen.every((p) => p.fraction === null));
});

test('thread limit goes before every input and the output, once', () => {
  assert.deepEqual(withThreads(['-i', 'a', '-i', 'b', '-c', 'copy', 'out.mp4'], 2), [
    '-filter_threads', '2', '-threads', '2', '-i', 'a', '-threads', '2', '-i', 'b', '-c', 'copy', '-threads', '2', 'out.mp4',
  ]);
  assert.deepEqual(withThreads(['-threads', '4', '-i', 'a', 'o'], 2), ['-threads', '4', '-i', 'a', 'o']);
  assert.deepEqual(withThreads(['-i', 'a', 'o'], undefined), ['-i', 'a', 'o']);
});

test('a real run with a thread limit succeeds', async () => {
  const out = join(fixtureDir(), 'threads.mp4');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:duration=0.5', '-c:v', 'libx264', '-preset', 'ultrafast', out], { threads: 1 });
  assert.ok(existsSync(out));
});

test('stderr is mapped: missing input, corrupt input, bad arguments', async () => {
  await assert.rejects(runFfmpeg([...inputArgs(join(fixtureDir(), 'nope.mp4')), '-f', 'null', '-']), (e: unknown) => {
    const err = e as { code: string; detail: string };
    assert.equal(err.code, 'FILE_NOT_FOUND');
    assert.ok(!err.detail.includes(fixtureDir()), 'no host path in the detail');
    return true;
  });
  const corrupt = join(fixtureDir(), 'corrupt.mp4');
  await writeFile(corrupt, Buffer.concat([(await readFile(await makeVideo('run-src.mp4', { seconds: 1 }))).subarray(0, 40), Buffer.alloc(4000, 7)]));
  await assert.rejects(runFfmpeg([...inputArgs(corrupt), '-f', 'null', '-']), { code: 'INVALID_FORMAT' });
  await assert.rejects(runFfmpeg(['-no-such-option', '-f', 'null', '-']), { code: 'PROCESSING_FAILED', retryable: true });
});

test('a missing ffmpeg or ffprobe binary is a clear PROCESSING_FAILED', async () => {
  await withEnv({ FFMPEG_PATH: '/nonexistent/ffmpeg', FFPROBE_PATH: '/nonexistent/ffprobe' }, async () => {
    await assert.rejects(runFfmpeg(['-version']), { code: 'PROCESSING_FAILED', retryable: false, detail: /ffmpeg is not installed/ });
    await assert.rejects(runFfprobe(['-version']), { code: 'PROCESSING_FAILED', detail: /ffprobe is not installed/ });
  });
});

test('ffprobe output is bounded', async () => {
  const video = await makeVideo('run-packets.mp4', { seconds: 2 });
  const args = ['-show_packets', '-of', 'json', ...inputArgs(video)];
  const { stdout } = await runFfprobe(args);
  assert.ok(stdout.length > 2000);
  await assert.rejects(runFfprobe(args, { maxOutputBytes: 1000 }), { code: 'RESOURCE_LIMIT' });
});

test('runFfmpegToBuffer returns raw output, bounded', async () => {
  const args = ['-f', 'lavfi', '-i', 'sine=duration=0.5:sample_rate=8000', '-f', 's16le', '-ac', '1', 'pipe:1'];
  const { stdout } = await runFfmpegToBuffer(args);
  assert.equal(stdout.length, 8000);
  await assert.rejects(runFfmpegToBuffer(args, { maxOutputBytes: 1000 }), { code: 'RESOURCE_LIMIT' });
});
