// Renderer integration: real ffmpeg on tiny generated clips built from a real song with a known
// offset and clock drift. Checks A/V sync against the song to < 1 ms, bit-identical video packets,
// keyframe-exact cuts, rotation/metadata, other codecs, nudge, cancel and clean-up.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after, describe, test } from 'node:test';
import type { Alignment } from '../src/align/types.ts';
import { alignmentOf } from './helpers/alignment.ts';
import { BeatSyncError } from '../src/errors.ts';
import { inputArgs, listVideoPackets, probeMedia, runFfmpeg, runFfprobe } from '../src/media/index.ts';
import { ENGINE_VERSION, renderVariants, renderWithDetails, syncFiles } from '../src/pipeline/index.ts';
import type { Analysis, RenderedVariant, StageProgress, SyncReport } from '../src/pipeline/index.ts';
import { RATE, danceVideo, decodeMono48k, measureLag, readJson, recordingFromSong, videoPacketHashes } from './helpers/av-check.ts';
import { makeVideo, songExcerpt } from './helpers/media.ts';

const SPEED = 1.00025; // +250 ppm: the phone's clock runs slow against the song's
const MUSIC_FROM = 1.5; // dance s: between keyframes (GOP = 1 s)
const MUSIC_TO = 6.2;
const OFFSET = 2.0 - SPEED * MUSIC_FROM; // the song is 2.0 s in when the class hears it
const SECONDS = 7;

let work: string;
let bgm: string;
let dance: string;
let song48k: Float32Array;
let analysis: Analysis;

const alignment = (over: Partial<Alignment> = {}): Alignment => alignmentOf({ offsetSeconds: OFFSET, speed: SPEED, from: MUSIC_FROM, to: MUSIC_TO }, over);

async function analysisFor(dancePath: string, al: Alignment): Promise<Analysis> {
  return { alignment: al, dance: await probeMedia(dancePath), bgm: await probeMedia(bgm), alternate: null, timings: {} };
}

/** Asserts that output time τ plays song time offset + speed·(danceStart + τ − nudge) within 1 ms. */
async function assertInSync(outPath: string, v: RenderedVariant, al: Alignment, taus: number[], nudgeMs = 0): Promise<void> {
  const out = await decodeMono48k(outPath);
  for (const tau of taus) {
    const songTime = al.offsetSeconds + al.speed * (v.danceStart + tau - nudgeMs / 1000);
    const m = measureLag(out, Math.round(tau * RATE), song48k, songTime * RATE);
    assert.ok(m.peak > 0.9, `${v.variant} τ=${tau}: the output should be the clean song there (correlation ${m.peak.toFixed(3)})`);
    assert.ok(Math.abs(m.errorSeconds) < 0.001, `${v.variant} τ=${tau}: ${(m.errorSeconds * 1000).toFixed(3)} ms off`);
  }
}

/**
 * Asserts the output's video packets are the input's, bit for bit, from the keyframe at danceStart on,
 * and that nothing shown inside [danceStart, danceEnd) was dropped. `audioStart` = media time of dance time 0.
 */
async function assertPacketsCopied(inPath: string, outPath: string, v: RenderedVariant, audioStart = 0): Promise<void> {
  const [inHashes, outHashes, inPackets, outPackets] = await Promise.all([
    videoPacketHashes(inPath), videoPacketHashes(outPath), listVideoPackets(inPath), listVideoPackets(outPath),
  ]);
  const startMedia = v.danceStart + audioStart;
  const endMedia = v.danceEnd + audioStart;
  const first = inPackets.findIndex((p) => p.keyframe && Math.abs(p.pts - startMedia) < 1e-5);
  assert.ok(first >= 0, `the cut starts on a keyframe at danceStart ${v.danceStart}`);
  assert.deepEqual(outHashes, inHashes.slice(first, first + outHashes.length), 'video packets are copied bit for bit');
  inPackets.forEach((p, i) => {
    const kept = i >= first && i < first + outHashes.length;
    if (!kept) assert.ok(p.pts < startMedia + 1e-6 || p.pts >= endMedia - 1e-3, `packet at ${p.pts} dropped from the span`);
  });
  // The first kept frame (the keyframe, first in decode order) is shown at output time 0, with the sound's start.
  assert.equal(outPackets[0].pts, 0);
  assert.ok(outPackets[0].keyframe);
}

async function outDir(name: string): Promise<string> {
  return join(work, name);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-render-'));
  bgm = await songExcerpt('render-bgm.wav', 'muldjord-armygeddon.ogg', 50, 10);
  song48k = await decodeMono48k(bgm);
  const sound = recordingFromSong(song48k, { seconds: SECONDS, offset: OFFSET, speed: SPEED, musicFrom: MUSIC_FROM, musicTo: MUSIC_TO });
  dance = await danceVideo('render-dance.mp4', sound);
  analysis = await analysisFor(dance, alignment());
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('renderVariants', () => {
  test('trimmed and full: picture copied, cut on the keyframe, sound in sync with the song to < 1 ms', async () => {
    const dir = await outDir('basic');
    // The keyframe cut (test/render-smart-cut.test.ts covers the frame-exact start).
    const result = await renderWithDetails(dance, bgm, analysis, dir, { smartCut: false });
    assert.equal(result.videoCopied, true);
    assert.deepEqual(result.variants.map((v) => v.file), ['trimmed.mp4', 'full.mp4']);
    assert.deepEqual((await readdir(dir)).sort(), ['full.mp4', 'trimmed.mp4'], 'no temporary file is left');
    const [trimmed, full] = result.variants;

    // Keyframes every second: the music starts at 1.5 s, so the cut starts at 1.0 s.
    assert.equal(trimmed.danceStart, 1);
    assert.ok(trimmed.danceEnd >= MUSIC_TO && trimmed.danceEnd < MUSIC_TO + 0.2, `trimmed ends just after the music (${trimmed.danceEnd})`);
    await assertPacketsCopied(dance, join(dir, 'trimmed.mp4'), trimmed);
    await assertInSync(join(dir, 'trimmed.mp4'), trimmed, analysis.alignment, [0.8, 2, 3.5, 5.0]);

    assert.equal(full.danceStart, 0);
    assert.ok(Math.abs(full.durationSeconds - SECONDS) < 0.05);
    await assertPacketsCopied(dance, join(dir, 'full.mp4'), full);
    await assertInSync(join(dir, 'full.mp4'), full, analysis.alignment, [2, 4, 5.8]);

    // full keeps the room sound (the talk) outside the music, in place.
    const out = await decodeMono48k(join(dir, 'full.mp4'));
    const room = await decodeMono48k(dance);
    for (const tau of [0.4, 6.6]) {
      const m = measureLag(out, Math.round(tau * RATE), room, tau * RATE, 4096, 240);
      assert.ok(m.peak > 0.9 && Math.abs(m.errorSeconds) < 0.001, `room sound kept at ${tau} s (corr ${m.peak.toFixed(2)}, ${(m.errorSeconds * 1000).toFixed(2)} ms)`);
    }

    const info = await probeMedia(join(dir, 'trimmed.mp4'));
    assert.equal(info.audio[0].codec, 'aac');
    assert.equal(info.audio[0].sampleRate, 48000);
    assert.equal(info.audio[0].channels, 2);
    assert.ok((info.audio[0].bitRate ?? 0) >= 192_000, `audio bit rate ${info.audio[0].bitRate}`);
    assert.equal(info.audio[0].startTime, 0);
  });

  test('moov atom first (+faststart)', async () => {
    const dir = await outDir('faststart');
    await renderVariants(dance, bgm, analysis, dir, { variants: ['trimmed'] });
    const bytes = await readFile(join(dir, 'trimmed.mp4'));
    const moov = bytes.indexOf('moov');
    const mdat = bytes.indexOf('mdat');
    assert.ok(moov > 0 && mdat > 0 && moov < mdat, `moov at ${moov}, mdat at ${mdat}`);
  });

  test('nudge: positive nudgeMs plays the music later', async () => {
    const dir = await outDir('nudge');
    const [v] = await renderVariants(dance, bgm, analysis, dir, { variants: ['trimmed'], nudgeMs: 25, smartCut: false });
    await assertInSync(join(dir, 'trimmed.mp4'), v, analysis.alignment, [1.2, 3, 4.8], 25);
  });

  test('alternate: rendered like trimmed at the second alignment and flagged', async () => {
    const dir = await outDir('alternate');
    const alt = alignment({ offsetSeconds: OFFSET + 0.75, musicStart: 2.4, musicEnd: 5.5 });
    const [v] = await renderVariants(dance, bgm, { ...analysis, alternate: alt }, dir, { variants: ['alternate'] });
    assert.equal(v.flagged, true);
    assert.equal(v.file, 'alternate.mp4');
    assert.equal(v.danceStart, 2);
    await assertInSync(join(dir, 'alternate.mp4'), v, alt, [1, 2.5]);
    await assertPacketsCopied(dance, join(dir, 'alternate.mp4'), v);
  });

  test('rotation (display matrix) and creation_time are kept', async () => {
    const rotated = await makeVideo('render-rot-plain.mp4', { seconds: 3, rotation: 90, gop: 15, audio: { source: 'noise' } });
    const tagged = join(work, 'rot.mp4');
    await runFfmpeg(['-y', ...inputArgs(rotated), '-map', '0', '-c', 'copy', '-metadata', 'creation_time=2024-05-01T10:00:00Z', tagged]);
    const before = await probeMedia(tagged);
    assert.equal(before.video[0].rotation, 90, 'fixture is rotated');
    const dir = await outDir('rot');
    const al = alignment({ offsetSeconds: 1, speed: 1, musicStart: 0.7, musicEnd: 2.6 });
    const [v] = await renderVariants(tagged, bgm, await analysisFor(tagged, al), dir, { variants: ['trimmed'], smartCut: false });
    assert.equal(v.danceStart, 0.5);
    const info = await probeMedia(join(dir, 'trimmed.mp4'));
    assert.equal(info.video[0].rotation, 90);
    assert.match(info.tags.creation_time ?? '', /^2024-05-01T10:00:00/);
    await assertPacketsCopied(tagged, join(dir, 'trimmed.mp4'), v);
  });

  for (const spec of [
    { name: 'H.265 in Matroska', file: 'render-hevc.mkv', codec: 'hevc' as const, container: 'mkv' as const, tag: 'hvc1' },
    { name: 'VP9 in WebM', file: 'render-vp9.webm', codec: 'vp9' as const, container: 'webm' as const, tag: 'vp09' },
  ]) {
    test(`${spec.name}: copied into MP4 as it is`, async () => {
      const path = await makeVideo(spec.file, { seconds: 3, codec: spec.codec, container: spec.container, gop: 15, audio: { source: 'noise' } });
      const dir = await outDir(spec.codec);
      const al = alignment({ offsetSeconds: 1, speed: 1.0001, musicStart: 0.8, musicEnd: 2.4 });
      const a = await analysisFor(path, al);
      const result = await renderWithDetails(path, bgm, a, dir, { variants: ['trimmed'] });
      assert.equal(result.videoCopied, true);
      const [v] = result.variants;
      const { stdout } = await runFfprobe(['-select_streams', 'v:0', '-show_entries', 'stream=codec_name,codec_tag_string', '-of', 'csv=p=0', ...inputArgs(join(dir, 'trimmed.mp4'))]);
      assert.equal(stdout.trim(), `${spec.codec},${spec.tag}`);
      const audioStart = a.dance.audio[0].startTime;
      const keyframe = (await listVideoPackets(path)).filter((p) => p.keyframe && p.pts <= audioStart + al.musicStart).at(-1);
      assert.ok(keyframe && keyframe.pts > 0.4, 'a keyframe near 0.5 s');
      assert.ok(Math.abs(v.danceStart - (keyframe.pts - audioStart)) < 1e-6, `cut on the keyframe at ${keyframe.pts} s (danceStart ${v.danceStart}, audio starts at ${audioStart})`);
      await assertPacketsCopied(path, join(dir, 'trimmed.mp4'), v, audioStart);
      await assertInSync(join(dir, 'trimmed.mp4'), v, al, [0.6, 1.4]);
    });
  }

  test('a codec MP4 cannot carry (MJPEG in AVI) is re-encoded, still in sync, and said so', async () => {
    const path = join(work, 'mjpeg.avi');
    await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25:duration=3', '-f', 'lavfi', '-i', 'anoisesrc=seed=2:amplitude=0.2:duration=3',
      '-c:v', 'mjpeg', '-q:v', '5', '-c:a', 'pcm_s16le', '-t', '3', path]);
    const dir = await outDir('mjpeg');
    const al = alignment({ offsetSeconds: 1, speed: 0.9998, musicStart: 0.7, musicEnd: 2.5 });
    const result = await renderWithDetails(path, bgm, await analysisFor(path, al), dir, { variants: ['trimmed'] });
    assert.equal(result.videoCopied, false);
    const [v] = result.variants;
    assert.equal(v.danceStart, 0.7, 'a re-encode cuts exactly at the music');
    const info = await probeMedia(join(dir, 'trimmed.mp4'));
    assert.equal(info.video[0].codec, 'h264');
    await assertInSync(join(dir, 'trimmed.mp4'), v, al, [0.4, 1.2]);
  });

  test('cancel: stops ffmpeg, leaves no file behind', async () => {
    const dir = await outDir('cancel');
    const controller = new AbortController();
    const seen: StageProgress[] = [];
    await assert.rejects(
      renderVariants(dance, bgm, analysis, dir, {
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.percent > 35) controller.abort();
        },
      }),
      (e: unknown) => e instanceof BeatSyncError && e.code === 'CANCELLED',
    );
    assert.ok(seen.length > 0);
    assert.deepEqual(await readdir(dir), []);
  });

  test('a failing ffmpeg run leaves no partial output and gives a BeatSyncError', async () => {
    const dir = await outDir('fail');
    const broken = join(work, 'broken.wav');
    await writeFile(broken, Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEjunkjunkjunk'));
    await assert.rejects(renderVariants(dance, broken, analysis, dir, { variants: ['trimmed'] }), (e: unknown) => e instanceof BeatSyncError);
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('syncFiles', () => {
  test('finds the song, renders both variants in sync, writes report.json', async () => {
    const dir = await outDir('sync');
    const progress: StageProgress[] = [];
    const result = await syncFiles(dance, bgm, dir, { onProgress: (p) => progress.push(p) });
    const report = (await readJson(join(dir, 'report.json'))) as SyncReport;
    assert.deepEqual(report, JSON.parse(JSON.stringify(result.report)));
    assert.equal(report.engineVersion, ENGINE_VERSION);
    // (An `alternate` may come too: this song repeats its bars, and a 7 s clip leaves two readings plausible.)
    assert.deepEqual(report.variants.slice(0, 2).map((v) => v.variant), ['trimmed', 'full']);
    for (const v of report.variants.slice(2)) assert.ok(v.variant === 'alternate' && v.flagged === true);
    for (const key of ['probe', 'decode', 'analyze', 'render.trimmed', 'render.full']) assert.equal(typeof report.timings[key], 'number', key);
    assert.equal(report.videoCopied, true);
    const trimmed = report.variants[0];
    // Inside the music the engine heard (well clear of the crossfades).
    const from = report.alignment.musicStart - trimmed.danceStart + 0.3;
    const to = report.alignment.musicEnd - trimmed.danceStart - 0.4;
    assert.ok(to > from, 'the engine heard the music for a while');
    await assertInSync(join(dir, 'trimmed.mp4'), trimmed, report.alignment, [from, (from + to) / 2, to]);
    // And the found alignment is the true one where the music plays (the engine's accuracy, not the renderer's).
    const mid = (MUSIC_FROM + MUSIC_TO) / 2;
    const truth = OFFSET + SPEED * mid;
    const found = report.alignment.offsetSeconds + report.alignment.speed * mid;
    assert.ok(Math.abs(found - truth) < 0.001, `song time at ${mid} s: found ${found}, true ${truth}`);
    // Progress only goes up, through every stage, and ends at 100.
    assert.deepEqual(progress.map((p) => p.percent), [...progress.map((p) => p.percent)].sort((a, b) => a - b));
    assert.deepEqual([...new Set(progress.map((p) => p.stage))], ['probe', 'decode', 'analyze', 'render', 'finish']);
    assert.equal(progress.at(-1)?.percent, 100);
    assert.deepEqual((await readdir(dir)).sort(), [...report.variants.map((v) => v.file), 'report.json'].sort());
  });
});
