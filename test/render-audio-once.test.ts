// trimmed and full share one alignment, so their sound is encoded once: trimmed carries a run of the
// very AAC packets of full (hidden pre-roll included), and still plays in sync to the sample.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Alignment } from '../src/align/types.ts';
import { inputArgs, probeMedia, runFfmpegStream } from '../src/media/index.ts';
import { renderWithDetails } from '../src/pipeline/index.ts';
import { RATE, danceVideo, decodeMono48k, measureLag, recordingFromSong } from './helpers/av-check.ts';
import { songExcerpt } from './helpers/media.ts';

const SPEED = 0.9998;
const MUSIC_FROM = 1.37;
const MUSIC_TO = 5.9;
const OFFSET = 3.0 - SPEED * MUSIC_FROM;
const SECONDS = 7;

let work: string;

before(async () => { work = await mkdtemp(join(tmpdir(), 'beatsync-render-audio-')); });
after(async () => { await rm(work, { recursive: true, force: true }); });

async function audioPacketHashes(path: string): Promise<string[]> {
  const chunks: Buffer[] = [];
  await runFfmpegStream([...inputArgs(path), '-map', '0:a:0', '-c', 'copy', '-f', 'framemd5', 'pipe:1'], (c) => chunks.push(c));
  return Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').map((s) => s.trim())[5]);
}

test('trimmed copies its AAC packets from full\'s single encode and stays in sync to < 1 ms', async () => {
  const bgm = await songExcerpt('render-once-bgm.wav', 'muldjord-armygeddon.ogg', 20, 10);
  const song = await decodeMono48k(bgm);
  const sound = recordingFromSong(song, { seconds: SECONDS, offset: OFFSET, speed: SPEED, musicFrom: MUSIC_FROM, musicTo: MUSIC_TO, seed: 5 });
  const dance = await danceVideo('render-once-dance.mp4', sound);
  const alignment: Alignment = {
    offsetSeconds: OFFSET, speed: SPEED, driftPpm: (SPEED - 1) * 1e6, confidence: 1, matched: true,
    musicStart: MUSIC_FROM, musicEnd: MUSIC_TO, candidates: [], windowsUsed: 10, windowsTotal: 10, ambiguous: false,
    segments: [{ danceStart: MUSIC_FROM, danceEnd: MUSIC_TO, offsetSeconds: OFFSET, speed: SPEED, driftPpm: (SPEED - 1) * 1e6, confidence: 1 }],
  };
  const analysis = { alignment, dance: await probeMedia(dance), bgm: await probeMedia(bgm), alternate: null, timings: {} };
  const dir = join(work, 'out');
  const result = await renderWithDetails(dance, bgm, analysis, dir, { variants: ['trimmed', 'full'] });
  const [trimmed, full] = result.variants;
  assert.ok(trimmed.danceStart > 0.5, 'the trim starts inside the file, so its sound is a sub-span');

  const t = await audioPacketHashes(join(dir, 'trimmed.mp4'));
  const f = await audioPacketHashes(join(dir, 'full.mp4'));
  const at = f.indexOf(t[0]);
  assert.ok(at > 0, 'trimmed\'s first AAC packet is one of full\'s');
  assert.deepEqual(t, f.slice(at, at + t.length), 'every AAC packet of trimmed is full\'s, in order: encoded once');

  // The hidden pre-roll and the last frame's overhang stay within one AAC frame around the picture.
  const info = await probeMedia(join(dir, 'trimmed.mp4'));
  assert.equal(info.audio[0].startTime, 0);
  const overhang = (info.audio[0].durationSeconds ?? 0) - trimmed.durationSeconds;
  assert.ok(overhang >= -1e-3 && overhang < 1024 / RATE + 1e-3, `audio ends ${(overhang * 1000).toFixed(1)} ms after the picture`);

  // In sync with the song, just after the start (first decoded frames) and later on.
  const out = await decodeMono48k(join(dir, 'trimmed.mp4'));
  for (const tau of [MUSIC_FROM - trimmed.danceStart + 0.25, 1.5, 3.5]) {
    const songTime = OFFSET + SPEED * (trimmed.danceStart + tau);
    const m = measureLag(out, Math.round(tau * RATE), song, songTime * RATE);
    assert.ok(m.peak > 0.9, `τ=${tau}: correlation ${m.peak.toFixed(3)}`);
    assert.ok(Math.abs(m.errorSeconds) < 0.001, `τ=${tau}: ${(m.errorSeconds * 1000).toFixed(3)} ms off`);
  }
  assert.equal(full.danceStart, 0);
});
