// Alignment on synthetic recordings: where the music is heard, refusals, refinement and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BeatSyncError } from '../errors.ts';
import { alignRecording, refineCandidate } from './index.ts';
import { addNoise, convolve, makeSong, phoneBand, renderSong, roomImpulse, talkNoise } from './test-signals.ts';

const sr = 16000;
const song = makeSong({ seed: 7, duration: 64, randomNotesPerSecond: 1 });
const bgm = renderSong(song, sr, 64 * sr);
const seconds = (s: number): number => Math.round(s * sr);

const errorMs = (found: number, truth: number): number => Math.abs(found - truth) * 1000;

test('a minute of talk before the music starts', async () => {
  const talk = talkNoise(11, seconds(85), sr);
  const music = renderSong(song, sr, seconds(25), 12);
  const dance = new Float32Array(seconds(85));
  for (let i = 0; i < dance.length; i++) dance[i] = 0.3 * talk[i] + (i >= seconds(60) ? music[i - seconds(60)] : 0);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 12 - 60) < 0.5, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.musicStart - 60) < 0.5, `musicStart ${a.musicStart}`);
  assert.ok(a.musicEnd > 84.5, `musicEnd ${a.musicEnd}`);
});

test('music starting late and stopped early inside the recording', async () => {
  const talk = talkNoise(12, seconds(40), sr);
  const music = renderSong(song, sr, seconds(40), 10);
  const dance = new Float32Array(seconds(40));
  for (let i = 0; i < dance.length; i++) dance[i] = 0.3 * talk[i] + (i >= seconds(8) && i < seconds(31) ? music[i] : 0);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.ok(errorMs(a.offsetSeconds, 10) < 0.5, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.musicStart - 8) < 0.5, `musicStart ${a.musicStart}`);
  assert.ok(Math.abs(a.musicEnd - 31) < 0.5, `musicEnd ${a.musicEnd}`);
});

test('the song ending before the recording does: musicEnd is the song end', async () => {
  const a = await alignRecording({ dance: addNoise(renderSong(song, sr, seconds(30), 50), talkNoise(2, seconds(30), sr), 10), bgm, sampleRate: sr });
  assert.ok(errorMs(a.offsetSeconds, 50) < 0.5, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.musicEnd - 14) < 0.5, `musicEnd ${a.musicEnd}`);
});

test('a different song is refused, clean or in a noisy room', async () => {
  const other = makeSong({ seed: 99, duration: 40, bpm: 126, randomNotesPerSecond: 1 });
  const clean = renderSong(other, sr, seconds(35), 2);
  const room = addNoise(phoneBand(await convolve(clean, roomImpulse(3, sr)), sr), talkNoise(5, clean.length, sr), 0);
  for (const dance of [clean, room]) {
    const a = await alignRecording({ dance, bgm, sampleRate: sr });
    assert.equal(a.matched, false);
    assert.ok(a.confidence < 0.3, `confidence ${a.confidence}`);
  }
});

test('refineCandidate finds the exact line from a rough offset', async () => {
  const speed = 1 - 250e-6;
  const dance = renderSong(song, sr, seconds(40), 15, speed);
  const a = await refineCandidate({ dance, bgm, sampleRate: sr }, 15.03);
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 15) < 0.2, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.driftPpm + 250) < 3, `drift ${a.driftPpm}`);
});

test('progress rises to 1; bad or empty input is handled', async () => {
  const seen: number[] = [];
  await alignRecording({ dance: renderSong(song, sr, seconds(10), 5), bgm, sampleRate: sr }, { onProgress: (f) => seen.push(f) });
  assert.equal(seen.at(-1), 1);
  assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]));

  const short = await alignRecording({ dance: new Float32Array(sr), bgm, sampleRate: sr });
  assert.equal(short.matched, false);
  const silent = await alignRecording({ dance: new Float32Array(seconds(10)), bgm, sampleRate: sr });
  assert.equal(silent.matched, false);
  await assert.rejects(alignRecording({ dance: [] as unknown as Float32Array, bgm, sampleRate: sr }), BeatSyncError);
  await assert.rejects(alignRecording({ dance: bgm, bgm, sampleRate: 0 }), (e: unknown) => e instanceof BeatSyncError && e.code === 'PROCESSING_FAILED');
});
