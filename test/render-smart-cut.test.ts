// The renderer's trimmed clip on a long-GOP video (real ffmpeg, a real song): it starts within one frame of
// the music instead of at the keyframe seconds before, its sound stays within 1 ms of the song, the picture
// decodes cleanly and keeps its rotation; smartCut: false keeps the keyframe cut.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Alignment } from '../src/align/types.ts';
import { inputArgs, listVideoPackets, probeMedia, runFfmpeg } from '../src/media/index.ts';
import { renderWithDetails } from '../src/pipeline/index.ts';
import type { Analysis, RenderedVariant } from '../src/pipeline/index.ts';
import { RATE, danceVideo, decodeMono48k, measureLag, recordingFromSong } from './helpers/av-check.ts';
import { songExcerpt } from './helpers/media.ts';

const FPS = 30;
const GOP = 150; // 5 s: keyframes at 0 and 5 s only
const SPEED = 1.0002;
const MUSIC_FROM = 2.3; // dance s, 2.3 s after the keyframe
const MUSIC_TO = 7.4;
const OFFSET = 1.0 - SPEED * MUSIC_FROM;
const SECONDS = 9;

let work: string;
let bgm: string;
let dance: string;
let song48k: Float32Array;

const alignment: Alignment = {
  offsetSeconds: OFFSET, speed: SPEED, driftPpm: (SPEED - 1) * 1e6, confidence: 1, matched: true,
  musicStart: MUSIC_FROM, musicEnd: MUSIC_TO, candidates: [], windowsUsed: 10, windowsTotal: 10, ambiguous: false,
  segments: [{ danceStart: MUSIC_FROM, danceEnd: MUSIC_TO, offsetSeconds: OFFSET, speed: SPEED, driftPpm: (SPEED - 1) * 1e6, confidence: 1 }],
};

async function analysisFor(path: string): Promise<Analysis> {
  return { alignment, dance: await probeMedia(path), bgm: await probeMedia(bgm), alternate: null, timings: {} };
}

async function assertInSync(outPath: string, v: RenderedVariant, taus: number[]): Promise<void> {
  const out = await decodeMono48k(outPath);
  for (const tau of taus) {
    const songTime = OFFSET + SPEED * (v.danceStart + tau);
    const m = measureLag(out, Math.round(tau * RATE), song48k, songTime * RATE);
    assert.ok(m.peak > 0.9, `τ=${tau}: the clean song (correlation ${m.peak.toFixed(3)})`);
    assert.ok(Math.abs(m.errorSeconds) < 0.001, `τ=${tau}: ${(m.errorSeconds * 1000).toFixed(3)} ms off`);
  }
}

/** The clip's picture: starts within a frame of the music, decodes without an error. */
async function assertFrameExact(outPath: string, v: RenderedVariant): Promise<void> {
  assert.ok(v.smartCut?.applied, `smart cut applied (${v.smartCut?.reason ?? ''})`);
  assert.ok(v.danceStart <= MUSIC_FROM + 1e-6 && v.danceStart > MUSIC_FROM - 1 / FPS, `starts within one frame of the music (${v.danceStart})`);
  assert.equal(v.smartCut?.reencodedFrames, GOP - Math.floor(MUSIC_FROM * FPS + 1e-6));
  const packets = await listVideoPackets(outPath);
  assert.equal(Math.min(...packets.map((p) => p.pts)), 0, 'the first frame is at output time 0');
  const { stderr } = await runFfmpeg([...inputArgs(outPath), '-map', '0:v', '-f', 'null', '-']);
  assert.equal(stderr.trim(), '', 'decodes without errors');
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-render-smart-'));
  bgm = await songExcerpt('render-smart-bgm.wav', 'muldjord-armygeddon.ogg', 40, 12);
  song48k = await decodeMono48k(bgm);
  const sound = recordingFromSong(song48k, { seconds: SECONDS, offset: OFFSET, speed: SPEED, musicFrom: MUSIC_FROM, musicTo: MUSIC_TO });
  dance = await danceVideo('render-smart-dance.mp4', sound, { fps: FPS, gop: GOP });
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('trimmed with a smart cut', () => {
  test('with full (shared mix): frame-exact start, sound in sync to < 1 ms', async () => {
    const dir = join(work, 'both');
    const { variants } = await renderWithDetails(dance, bgm, await analysisFor(dance), dir, { variants: ['trimmed', 'full'] });
    const [trimmed, full] = variants;
    await assertFrameExact(join(dir, 'trimmed.mp4'), trimmed);
    await assertInSync(join(dir, 'trimmed.mp4'), trimmed, [0.3, 2, 4.5]);
    assert.equal(full.smartCut, undefined, 'full is copied whole');
  });

  test('alone (its own sound graph), on a rotated video: in sync, rotation kept', async () => {
    const rotated = join(work, 'rotated.mp4');
    await runFfmpeg(['-y', ...inputArgs(dance), '-map', '0', '-c', 'copy', '-metadata:s:v:0', 'rotate=270', rotated]);
    const analysis = await analysisFor(rotated);
    assert.equal(analysis.dance.video[0].rotation, 90);
    const dir = join(work, 'alone');
    const [trimmed] = (await renderWithDetails(rotated, bgm, analysis, dir, { variants: ['trimmed'] })).variants;
    await assertFrameExact(join(dir, 'trimmed.mp4'), trimmed);
    await assertInSync(join(dir, 'trimmed.mp4'), trimmed, [0.3, 2, 4.5]);
    assert.equal((await probeMedia(join(dir, 'trimmed.mp4'))).video[0].rotation, 90);
  });

  test('smartCut: false keeps the keyframe cut', async () => {
    const dir = join(work, 'off');
    const [trimmed] = (await renderWithDetails(dance, bgm, await analysisFor(dance), dir, { variants: ['trimmed'], smartCut: false })).variants;
    assert.equal(trimmed.danceStart, 0);
    assert.equal(trimmed.smartCut, undefined);
  });
});
