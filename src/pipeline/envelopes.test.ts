import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loudnessEnvelopes, MAX_ENVELOPE_POINTS, rmsDb } from './envelopes.ts';

const RATE = 16_000;

/** Loud (0.5 amplitude square, -6 dB) and silent halves of a second, alternating. */
function pulses(seconds: number): Float32Array {
  const out = new Float32Array(seconds * RATE);
  for (let i = 0; i < out.length; i++) if (Math.floor(i / (RATE / 2)) % 2 === 0) out[i] = i % 2 ? 0.5 : -0.5;
  return out;
}

test('rmsDb: dBFS per frame, 0.1 dB steps, silence at the floor, a short last frame', () => {
  const x = new Float32Array(250).fill(0.5);
  x.fill(0, 100, 200);
  assert.deepEqual(rmsDb(x, 0, x.length, 100), [-6, -100, -6]);
  const quiet = new Float32Array(10).fill(0.01234);
  assert.deepEqual(rmsDb(quiet, 0, 10, 10), [-38.2]);
  assert.deepEqual(rmsDb(x, 300, 400, 100), [], 'outside the signal');
});

test('loudnessEnvelopes: 50 ms frames for short files; the song curve starts at the offset and follows it', () => {
  const dance = pulses(6);
  const bgm = pulses(20);
  const env = loudnessEnvelopes(dance, bgm, RATE, { offsetSeconds: 5, speed: 1 });
  assert.equal(env.frameSeconds, 0.05);
  assert.equal(env.dance.length, 120);
  assert.equal(env.bgm.startSeconds, 4.75, 'a quarter second before the offset, for the nudge');
  assert.equal(env.bgm.values.length, 130, '6 s covered plus the margins');
  assert.equal(env.dance[0], -6);
  assert.equal(env.dance[15], -100);
  // BGM 5.0 s (a loud half, like dance 0 s) is frame 5 of the song curve.
  assert.deepEqual(env.bgm.values.slice(5, 25), env.dance.slice(0, 20));
});

test('loudnessEnvelopes: the song span is clipped to the song; long files get longer frames', () => {
  const early = loudnessEnvelopes(pulses(6), pulses(10), RATE, { offsetSeconds: -2, speed: 1 });
  assert.equal(early.bgm.startSeconds, 0);
  assert.equal(early.bgm.values.length, 85, 'BGM 0 .. 4.25 s');
  const late = loudnessEnvelopes(pulses(6), pulses(10), RATE, { offsetSeconds: 8, speed: 1 });
  assert.equal(late.bgm.values.length, 45, 'BGM 7.75 .. 10 s');
  const outside = loudnessEnvelopes(pulses(2), pulses(3), RATE, { offsetSeconds: 10, speed: 1 });
  assert.deepEqual(outside.bgm.values, []);

  const long = loudnessEnvelopes(new Float32Array(RATE * 600), pulses(700), RATE, { offsetSeconds: 30, speed: 1.0001 });
  assert.ok(long.frameSeconds > 0.39 && long.frameSeconds < 0.41, `frame ${long.frameSeconds}`);
  assert.ok(long.dance.length <= MAX_ENVELOPE_POINTS && long.dance.length >= MAX_ENVELOPE_POINTS - 2);
  assert.ok(long.bgm.values.length <= MAX_ENVELOPE_POINTS);
  assert.ok(long.dance.every((v) => v === -100));
  assert.ok(JSON.stringify(long).length < 25_000, 'small JSON');
});
