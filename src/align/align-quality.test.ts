// Alignment quality beyond the offset: span edges that keep the music, confidence that orders
// clean > noisy > ambiguous > wrong song, an alternate for an exactly repeated section, and drift
// on a short clip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALTERNATE_MIN_SCORE, alignRecording } from './index.ts';
import { addNoise, convolve, makeSong, renderSong, roomImpulse, talkNoise } from './test-signals.ts';

const sr = 16000;
const song = makeSong({ seed: 7, duration: 64, randomNotesPerSecond: 1 });
const bgm = renderSong(song, sr, 64 * sr);
const seconds = (s: number): number => Math.round(s * sr);

/** Talk over the whole recording, the song (from BGM time `from`) only in [start, end). */
function talkThenMusic(length: number, start: number, end: number, from: number, speed = 1): Float32Array {
  const talk = talkNoise(31, seconds(length), sr);
  const music = renderSong(song, sr, seconds(length), from - speed * start, speed);
  const dance = new Float32Array(seconds(length));
  for (let i = 0; i < dance.length; i++) dance[i] = 0.3 * talk[i] + (i >= seconds(start) && i < seconds(end) ? music[i] : 0);
  return dance;
}

test('span edges of a 7 s clip: talk cut, the music kept', async () => {
  // The song plays from 1.5 s to 6.2 s of a 7 s recording, with +250 ppm clock drift.
  const speed = 1 + 250e-6;
  const dance = talkThenMusic(7, 1.5, 6.2, 30, speed);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(a.musicStart <= 1.55 && a.musicStart >= 1.1, `musicStart ${a.musicStart}`);
  assert.ok(a.musicEnd >= 6.15 && a.musicEnd <= 6.6, `musicEnd ${a.musicEnd}`);
  // Drift over so short a clip: whatever speed is reported, the timing stays well within 0.2 ms over the music.
  const truthOffset = 30 - speed * 1.5;
  for (const t of [1.5, 3.85, 6.2]) {
    const error = Math.abs(a.offsetSeconds + a.speed * t - (truthOffset + speed * t)) * 1000;
    assert.ok(error < 0.2, `error ${error} ms at ${t} s (drift ${a.driftPpm} ppm)`);
  }
});

test('span edges in a long recording: 20 s of talk, music, then talk again', async () => {
  const dance = talkThenMusic(50, 20, 41, 12);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.ok(a.musicStart <= 20.05 && a.musicStart >= 19.6, `musicStart ${a.musicStart}`);
  assert.ok(a.musicEnd >= 40.95 && a.musicEnd <= 41.4, `musicEnd ${a.musicEnd}`);
});

test('confidence orders a clean, a noisy-room and a wrong-song recording', async () => {
  const clean = renderSong(song, sr, seconds(25), 20);
  const room = addNoise(await convolve(clean, roomImpulse(4, sr, 0.05, 1.4, 0.3)), talkNoise(6, clean.length, sr), -3);
  const other = renderSong(makeSong({ seed: 55, duration: 30, bpm: 131, randomNotesPerSecond: 1 }), sr, seconds(25), 2);
  const [a, b, c] = [
    await alignRecording({ dance: clean, bgm, sampleRate: sr }),
    await alignRecording({ dance: room, bgm, sampleRate: sr }),
    await alignRecording({ dance: other, bgm, sampleRate: sr }),
  ];
  assert.ok(a.confidence >= 0.95, `clean ${a.confidence}`);
  assert.equal(b.matched, true);
  assert.ok(Math.abs(b.offsetSeconds - 20) < 0.001, `noisy offset ${b.offsetSeconds}`);
  assert.ok(b.confidence >= 0.5 && b.confidence <= a.confidence, `noisy ${b.confidence}`);
  assert.equal(c.matched, false);
  assert.ok(c.confidence <= 0.05, `wrong song ${c.confidence}`);
});

test('an exactly repeated section gives an alternate and a lower confidence, never a sure wrong answer', async () => {
  // The song's 20–30 s section comes back, sample for sample, at 40–50 s.
  const looped = Float32Array.from(bgm);
  looped.set(bgm.subarray(seconds(20), seconds(30)), seconds(40));
  const dance = renderSong(song, sr, seconds(7), 21.5);
  const a = await alignRecording({ dance, bgm: looped, sampleRate: sr });
  assert.equal(a.matched, true);
  const places = [a.offsetSeconds, ...a.candidates.filter((c) => c.score >= ALTERNATE_MIN_SCORE).map((c) => c.offsetSeconds)];
  assert.ok(places.some((o) => Math.abs(o - 21.5) < 0.001), `offsets ${JSON.stringify(places)}`);
  assert.ok(places.some((o) => Math.abs(o - 41.5) < 0.001), `offsets ${JSON.stringify(places)}`);
  assert.ok(a.confidence < 0.8 && a.confidence > 0.2, `confidence ${a.confidence}`);
});
