// The cases a teacher meets most: music built from bars that repeat sample for sample, echoing halls,
// and the music stopped and started again ("from the top").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignRecording, alignWithAlternate } from './index.ts';
import { addNoise, convolve, makeSong, renderSong, rng, talkNoise } from './test-signals.ts';

const sr = 16000;
const seconds = (s: number): number => Math.round(s * sr);
const errorMs = (found: number, truth: number): number => Math.abs(found - truth) * 1000;

/** A unique 6 s intro, then one 4 s bar repeated exactly (a loop-based track), 54 s in all. */
function loopSong(): Float32Array {
  const intro = renderSong(makeSong({ seed: 41, duration: 8, randomNotesPerSecond: 2 }), sr, seconds(6));
  const bar = renderSong(makeSong({ seed: 42, duration: 8, bpm: 120, randomNotesPerSecond: 2 }), sr, seconds(4), 1);
  const out = new Float32Array(seconds(54));
  out.set(intro);
  for (let at = seconds(6); at < out.length; at += bar.length) out.set(bar.subarray(0, Math.min(bar.length, out.length - at)), at);
  return out;
}
const loops = loopSong();

/** A measured-hall-like response: the direct sound, then a diffuse exponential tail (RT60 `rt60`) `drrDb` stronger. */
function hall(seed: number, rt60: number, drrDb: number): Float32Array {
  const random = rng(seed);
  const ir = new Float32Array(seconds(rt60));
  const decay = Math.log(1000) / rt60;
  let tail = 0;
  for (let i = seconds(0.005); i < ir.length; i++) {
    ir[i] = (random() * 2 - 1) * Math.exp((-decay * i) / sr);
    tail += ir[i] * ir[i];
  }
  ir[0] = Math.sqrt(tail * 10 ** (drrDb / 10));
  return ir;
}

/** `length` s of talk with the music (clean song from BGM time `from`) mixed in over [start, end). */
function withTalk(bgm: Float32Array, length: number, parts: { start: number; end: number; from: number }[], seed = 3): Float32Array {
  const dance = Float32Array.from(talkNoise(seed, seconds(length), sr), (v) => 0.3 * v);
  for (const p of parts) {
    for (let i = seconds(p.start); i < seconds(p.end); i++) dance[i] += bgm[i - seconds(p.start) + seconds(p.from)] ?? 0;
  }
  return dance;
}

test('a loop-based song played from its very beginning after talk is placed by its intro', async () => {
  const dance = withTalk(loops, 34, [{ start: 6, end: 34, from: 0 }]);
  const a = await alignRecording({ dance, bgm: loops, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.equal(a.ambiguous, false);
  assert.ok(errorMs(a.offsetSeconds, -6) < 1, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.musicStart - 6) < 0.5, `musicStart ${a.musicStart}`);
  assert.ok(a.confidence >= 0.9, `confidence ${a.confidence}`);
});

test('a recording wholly inside the loop is ambiguous, with both places, never surely one', async () => {
  const dance = withTalk(loops, 9, [{ start: 0, end: 9, from: 22 }]);
  const { alignment: a, alternate } = await alignWithAlternate({ dance, bgm: loops, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.equal(a.ambiguous, true);
  assert.ok(a.confidence < 0.9, `confidence ${a.confidence}`);
  assert.ok(alternate, 'an alternate reading');
  for (const o of [a.offsetSeconds, alternate.offsetSeconds]) {
    // Both are places of the loop: 22 s plus a whole number of bars, within the song's loop.
    const bars = (o - 22) / 4;
    assert.ok(Math.abs(bars - Math.round(bars)) * 4000 < 1, `offset ${o}`);
  }
  assert.notEqual(Math.round(a.offsetSeconds), Math.round(alternate.offsetSeconds));
});

test('an echoing hall (1.2 s tail, direct sound 8 dB below it, 10 dB talk) is found, not refused', async () => {
  const song = makeSong({ seed: 7, duration: 64, randomNotesPerSecond: 1 });
  const bgm = renderSong(song, sr, seconds(64));
  const wet = await convolve(renderSong(song, sr, seconds(25), 23), hall(5, 1.2, -8));
  const dance = addNoise(wet.subarray(0, seconds(25)), talkNoise(8, seconds(25), sr), 10);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(errorMs(a.offsetSeconds, 23) < 1, `offset ${a.offsetSeconds}`);
  assert.ok(a.confidence >= 0.9, `confidence ${a.confidence}`);
});

test('music stopped and restarted from the top gives two segments, each with its own mapping', async () => {
  const song = makeSong({ seed: 9, duration: 64, randomNotesPerSecond: 1 });
  const bgm = renderSong(song, sr, seconds(64));
  const dance = withTalk(bgm, 48, [
    { start: 3, end: 17, from: 10 },
    { start: 21, end: 43, from: 10 },
  ]);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.equal(a.segments.length, 2, JSON.stringify(a.segments));
  const [first, second] = a.segments;
  assert.ok(errorMs(first.offsetSeconds, 10 - 3) < 1, `first ${first.offsetSeconds}`);
  assert.ok(errorMs(second.offsetSeconds, 10 - 21) < 1, `second ${second.offsetSeconds}`);
  assert.ok(Math.abs(first.danceStart - 3) < 0.5 && Math.abs(first.danceEnd - 17) < 0.5, JSON.stringify(first));
  assert.ok(Math.abs(second.danceStart - 21) < 0.5 && Math.abs(second.danceEnd - 43) < 0.5, JSON.stringify(second));
  // The top-level fields describe the longest segment.
  assert.ok(errorMs(a.offsetSeconds, 10 - 21) < 1, `offset ${a.offsetSeconds}`);
});
