// Alignment on synthetic recordings with exactly known offset and drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALTERNATE_MIN_SCORE, alignRecording } from './index.ts';
import { addNoise, agc, clip, convolve, makeSong, phoneBand, renderSong, roomImpulse, talkNoise } from './test-signals.ts';

const sr = 16000;
const song = makeSong({ seed: 7, duration: 64, randomNotesPerSecond: 1 });
const bgm = renderSong(song, sr, 64 * sr);
const seconds = (s: number): number => Math.round(s * sr);

const errorMs = (found: number, truth: number): number => Math.abs(found - truth) * 1000;

test('integer delay: recording starts 20.3 s into the song', async () => {
  const a = await alignRecording({ dance: renderSong(song, sr, seconds(30), 20.3), bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 20.3) < 0.05, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.driftPpm) < 2, `drift ${a.driftPpm}`);
  assert.ok(a.confidence > 0.8, `confidence ${a.confidence}`);
  assert.ok(a.windowsUsed > 0.8 * a.windowsTotal);
  assert.ok(a.musicStart < 0.3 && a.musicEnd > 29.7, `span ${a.musicStart}–${a.musicEnd}`);
  // A clean case must not offer an alternate.
  assert.ok(a.candidates.every((c) => c.score < ALTERNATE_MIN_SCORE), JSON.stringify(a.candidates));
});

test('fractional delay of a fraction of a sample', async () => {
  const truth = 33.123456;
  const a = await alignRecording({ dance: renderSong(song, sr, seconds(25), truth), bgm, sampleRate: sr });
  assert.ok(errorMs(a.offsetSeconds, truth) < 0.02, `offset ${a.offsetSeconds}`);
});

test('negative offset: the recording starts before the song', async () => {
  const a = await alignRecording({ dance: renderSong(song, sr, seconds(30), -6.25), bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, -6.25) < 0.05, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.musicStart - 6.25) < 0.3, `musicStart ${a.musicStart}`);
});

for (const ppm of [300, -300]) {
  test(`clock drift of ${ppm} ppm is measured within a few ppm`, async () => {
    const speed = 1 + ppm * 1e-6;
    const a = await alignRecording({ dance: renderSong(song, sr, seconds(40), 12, speed), bgm, sampleRate: sr });
    assert.ok(Math.abs(a.driftPpm - ppm) < 3, `drift ${a.driftPpm}`);
    assert.ok(errorMs(a.offsetSeconds, 12) < 0.2, `offset ${a.offsetSeconds}`);
  });
}

test('talk at 0 dB SNR over the music', async () => {
  const clean = renderSong(song, sr, seconds(30), 30);
  const a = await alignRecording({ dance: addNoise(clean, talkNoise(3, clean.length, sr), 0), bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 30) < 0.5, `offset ${a.offsetSeconds}`);
});

test('room echo with a late reflection stronger than the direct sound', async () => {
  const clean = renderSong(song, sr, seconds(30), 25);
  const a = await alignRecording({ dance: await convolve(clean, roomImpulse(5, sr, 0.035, 1.3)), bgm, sampleRate: sr });
  assert.ok(errorMs(a.offsetSeconds, 25) < 0.5, `offset ${a.offsetSeconds} (a reflection would be 35 ms low)`);
});

test('room, 0 dB talk, phone band-limiting, clipping and AGC together', async () => {
  const clean = renderSong(song, sr, seconds(40), 20, 1.0002);
  const noisy = addNoise(await convolve(clean, roomImpulse(9, sr, 0.05, 1.1)), talkNoise(4, clean.length, sr), 0);
  let peak = 0;
  for (const v of noisy) peak = Math.max(peak, Math.abs(v));
  const dance = agc(clip(phoneBand(noisy, sr), 3 / peak), sr);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 20) < 1, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.driftPpm - 200) < 5, `drift ${a.driftPpm}`);
});

test('periodic music: a bar or a beat away never wins', async () => {
  // Identical bars inside 4-bar sections and no free notes: only the section changes tell bars apart.
  const loop = makeSong({ seed: 21, duration: 50, sectionBars: 4, randomNotesPerSecond: 0 });
  const loopBgm = renderSong(loop, sr, seconds(50));
  const clean = renderSong(loop, sr, seconds(25), 17.77);
  const dance = addNoise(clean, talkNoise(8, clean.length, sr), 3);
  const a = await alignRecording({ dance, bgm: loopBgm, sampleRate: sr });
  assert.ok(errorMs(a.offsetSeconds, 17.77) < 0.5, `offset ${a.offsetSeconds}`);
  // The bar-away offsets are found and reported, but as clearly weaker.
  assert.ok(a.candidates.length > 0);
  assert.ok(a.candidates.every((c) => c.score < ALTERNATE_MIN_SCORE), JSON.stringify(a.candidates));
});
