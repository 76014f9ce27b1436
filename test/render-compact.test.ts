// The `compact` variant on real ffmpeg: a 1080p dance video becomes H.264 High at 1280×720 with AAC
// 128 kb/s and the moov box first, still in sync with the song; alone it leaves only compact.mp4; a
// rotated phone video comes out upright; cancel kills its encoder and leaves nothing behind.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Alignment } from '../src/align/types.ts';
import { alignmentOf } from './helpers/alignment.ts';
import { BeatSyncError } from '../src/errors.ts';
import { parseSyncInput, syncJob } from '../src/jobs/types/beatsync-sync.ts';
import type { UploadMap } from '../src/jobs/job-type.ts';
import { inputArgs, probeMedia, runFfmpeg, runFfprobe } from '../src/media/index.ts';
import { compactSize } from '../src/pipeline/compact.ts';
import { renderWithDetails } from '../src/pipeline/index.ts';
import type { Analysis, RenderedVariant, StageProgress } from '../src/pipeline/index.ts';
import { RATE, decodeMono48k, measureLag, recordingFromSong, writeWav } from './helpers/av-check.ts';
import { fixtureDir, makeVideo, songExcerpt } from './helpers/media.ts';

const SPEED = 1.0002;
const MUSIC_FROM = 0.6;
const MUSIC_TO = 3.6;
const OFFSET = 5 - SPEED * MUSIC_FROM;
const SECONDS = 4;

let work: string;
let bgm: string;
let song48k: Float32Array;
let dance: string;
let analysis: Analysis;

const alignment = (over: Partial<Alignment> = {}): Alignment => alignmentOf({ offsetSeconds: OFFSET, speed: SPEED, from: MUSIC_FROM, to: MUSIC_TO }, over);

async function streamFacts(path: string, selector: string, entries: string): Promise<string[]> {
  const { stdout } = await runFfprobe(['-select_streams', selector, '-show_entries', entries, '-of', 'default=nw=1:nk=1', ...inputArgs(path)]);
  return stdout.trim().split('\n');
}

/** Processes whose command line mentions `text` (our own ffmpeg children). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-compact-'));
  bgm = await songExcerpt('compact-bgm.wav', 'nexuiz-digital-pursuit.ogg', 30, 12);
  song48k = await decodeMono48k(bgm);
  const sound = recordingFromSong(song48k, { seconds: SECONDS, offset: OFFSET, speed: SPEED, musicFrom: MUSIC_FROM, musicTo: MUSIC_TO });
  const wav = await writeWav(join(fixtureDir(), 'compact-sound.wav'), sound);
  dance = join(fixtureDir(), 'compact-1080p.mp4');
  await runFfmpeg([
    '-y', '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=30:duration=${SECONDS}`, ...inputArgs(wav),
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-t', String(SECONDS), dance,
  ]);
  analysis = { alignment: alignment(), dance: await probeMedia(dance), bgm: await probeMedia(bgm), alternate: null, timings: {} };
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('compact', () => {
  test('H.264 High ≤ 1280 px, AAC 128 kb/s, moov first, in sync; its own progress after the copies', async () => {
    const dir = join(work, 'with-trimmed');
    const progress: StageProgress[] = [];
    const { variants, timings } = await renderWithDetails(dance, bgm, analysis, dir, { variants: ['trimmed', 'compact'], onProgress: (p) => progress.push(p) });
    assert.deepEqual(variants.map((v) => v.variant), ['trimmed', 'compact']);
    assert.deepEqual((await readdir(dir)).sort(), ['compact.mp4', 'trimmed.mp4']);
    const [trimmed, compact] = variants as [RenderedVariant, RenderedVariant];
    const path = join(dir, 'compact.mp4');

    assert.deepEqual([compact.width, compact.height], [1280, 720]);
    assert.deepEqual(await streamFacts(path, 'v:0', 'stream=codec_name,profile,width,height'), ['h264', 'High', '1280', '720']);
    const [codec, sampleRate, channels, bitRate] = await streamFacts(path, 'a:0', 'stream=codec_name,sample_rate,channels,bit_rate');
    assert.deepEqual([codec, sampleRate, channels], ['aac', '48000', '2']);
    assert.ok(Math.abs(Number(bitRate) - 128_000) < 16_000, `AAC at 128 kb/s (${bitRate})`);
    const bytes = await readFile(path);
    const moov = bytes.indexOf('moov');
    const mdat = bytes.indexOf('mdat');
    assert.ok(moov > 0 && mdat > 0 && moov < mdat, `moov at ${moov}, mdat at ${mdat} (+faststart)`);
    assert.equal(compact.sizeBytes, bytes.length);
    assert.ok(compact.sizeBytes < trimmed.sizeBytes, 'smaller than the lossless clip');
    // 2.5 MB a minute, plus the one VBV buffer (380 kbit) a clip this short may spend on its first keyframe.
    const allowed = (2.5e6 / 60) * compact.durationSeconds + 380_000 / 8;
    assert.ok(compact.sizeBytes <= allowed, `${compact.sizeBytes} bytes in ${compact.durationSeconds} s (allowed ${Math.round(allowed)})`);

    // Same span as trimmed, and the music still where the alignment puts it.
    assert.equal(compact.danceStart, trimmed.danceStart);
    assert.ok(Math.abs((await probeMedia(path)).durationSeconds - trimmed.durationSeconds) < 0.05);
    const out = await decodeMono48k(path);
    for (const tau of [0.8, 1.8, 2.8]) {
      const songTime = OFFSET + SPEED * (compact.danceStart + tau);
      const m = measureLag(out, Math.round(tau * RATE), song48k, songTime * RATE);
      assert.ok(m.peak > 0.8 && Math.abs(m.errorSeconds) < 0.001, `compact τ=${tau}: corr ${m.peak.toFixed(3)}, ${(m.errorSeconds * 1000).toFixed(3)} ms`);
    }

    assert.equal(typeof timings['render.compact'], 'number');
    const compactSteps = progress.filter((p) => /phone-size/.test(p.message));
    assert.ok(compactSteps.length >= 2, 'compact reports its own progress');
    assert.ok(compactSteps.some((p) => /about \d+ s left/.test(p.message)) || compactSteps.length < 4, 'with the time left once it runs');
    const firstCompact = progress.indexOf(compactSteps[0]);
    assert.ok(progress.slice(0, firstCompact).every((p) => p.percent < 99), 'the copies do not use up the render stage');
    assert.deepEqual(progress.map((p) => p.percent), [...progress.map((p) => p.percent)].sort((a, b) => a - b), 'progress never goes back');
  });

  test('compact alone leaves only compact.mp4 (its source trimmed is removed)', async () => {
    const dir = join(work, 'alone');
    const { variants } = await renderWithDetails(dance, bgm, analysis, dir, { variants: ['compact'] });
    assert.deepEqual(variants.map((v) => v.variant), ['compact']);
    assert.deepEqual(await readdir(dir), ['compact.mp4']);
  });

  test('a rotated phone video comes out upright (display orientation), never upscaled', async () => {
    const rotated = await makeVideo('compact-rot.mp4', { seconds: 2, rotation: 90, gop: 15, audio: { source: 'noise' } });
    const dir = join(work, 'rot');
    const al = alignment({ offsetSeconds: 1, speed: 1, musicStart: 0.3, musicEnd: 1.8, segments: [] });
    const a: Analysis = { ...analysis, alignment: al, dance: await probeMedia(rotated) };
    const { variants } = await renderWithDetails(rotated, bgm, a, dir, { variants: ['compact'], compactLongSide: 1920 });
    assert.deepEqual([variants[0].width, variants[0].height], [120, 160]);
    const info = await probeMedia(join(dir, 'compact.mp4'));
    assert.deepEqual([info.video[0].width, info.video[0].height, info.video[0].rotation], [120, 160, 0]);
    assert.deepEqual(compactSize(1080, 1920, 1280), { width: 720, height: 1280 });
    assert.deepEqual(compactSize(1920, 1080, 1920), { width: 1920, height: 1080 });
    assert.deepEqual(compactSize(3840, 2160, 1920), { width: 1920, height: 1080 });
  });

  test('cancel kills the compact encoder and leaves no file behind', async () => {
    const dir = join(work, 'cancel');
    const controller = new AbortController();
    let encoders: number[] = [];
    await assert.rejects(
      renderWithDetails(dance, bgm, analysis, dir, {
        variants: ['trimmed', 'compact'],
        signal: controller.signal,
        onProgress: (p) => {
          if (controller.signal.aborted || !/phone-size/.test(p.message)) return;
          // Once the encoder runs (it reports progress), cancel.
          encoders = processesMentioning(join(dir, '.compact.'));
          if (encoders.length > 0) controller.abort();
        },
      }),
      (e: unknown) => e instanceof BeatSyncError && e.code === 'CANCELLED',
    );
    assert.ok(encoders.length > 0, 'the compact encoder was running when cancelled');
    assert.deepEqual(processesMentioning(join(dir, '.compact.')), [], 'no encoder left running');
    assert.deepEqual(await readdir(dir), [], 'no output left behind');
  });
});

describe('compact in the job', () => {
  test('options.variants takes compact, compactLongSide 1280 or 1920; the estimate grows with the pixels', () => {
    const input = parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['compact', 'trimmed'], compactLongSide: 1920 } });
    assert.deepEqual(input.options, { variants: ['trimmed', 'compact'], compactLongSide: 1920 });
    assert.throws(() => parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { compactLongSide: 720 } }), (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
    const upload = (width: number, height: number) =>
      ({ durationSeconds: 180, sha256: 'x', kind: 'video', media: { video: [{ width, height }], audio: [{}] } }) as unknown as UploadMap[string];
    const uploads = (w: number, h: number): UploadMap => ({ d: upload(w, h), b: { ...upload(0, 0), media: { video: [], audio: [{}] } } as unknown as UploadMap[string] });
    const plain = syncJob.estimateSeconds(parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['trimmed'] } }), uploads(1920, 1080));
    const withCompact = syncJob.estimateSeconds(parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['trimmed', 'compact'] } }), uploads(1920, 1080));
    const small = syncJob.estimateSeconds(parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['trimmed', 'compact'] } }), uploads(640, 360));
    assert.ok(withCompact > plain + 30, `compact adds its encode time (${plain} → ${withCompact} s)`);
    assert.ok(small < withCompact, 'a smaller picture is quicker');
    assert.notEqual(
      syncJob.cacheKey(parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['compact'], compactLongSide: 1920 } }), uploads(1920, 1080)),
      syncJob.cacheKey(parseSyncInput({ danceFileId: 'd', bgmFileId: 'b', options: { variants: ['compact'] } }), uploads(1920, 1080)),
      'the size is part of the cache key',
    );
  });
});
