import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loudnessEnvelopes } from '../pipeline/envelopes.ts';
import { envelope, fileEnvelope, mono, pictureCurves, serverEnvelopes, similarity, valueAt } from './envelope.ts';

const RATE = 8000;

/** A "song": noise bursts of varying loudness, seeded, so its envelope has a shape to recognise. */
function song(seconds: number, seed = 3): Float32Array {
  const out = new Float32Array(seconds * RATE);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < out.length; i++) {
    const beat = Math.floor(i / (RATE * 0.25));
    const level = [0.9, 0.05, 0.4, 0.01, 0.7, 0.2][(beat * 7 + (beat >> 2)) % 6];
    out[i] = rand() * level;
  }
  return out;
}

test('envelope: loud windows are higher than quiet ones, silence is 0, outside the signal is 0', () => {
  const x = new Float32Array(RATE * 2);
  for (let i = 0; i < RATE; i++) x[i] = Math.sin(i / 5) * 0.8;
  const env = envelope(x, RATE, 4, 0, 3);
  assert.ok(env[0] > 0.8);
  assert.equal(env[2], 0);
  assert.equal(env[3], 0);
});

test('fileEnvelope: 50 ms steps for short files, at most ~4000 values for long ones', () => {
  const short = fileEnvelope(new Float32Array(RATE * 3), RATE);
  assert.equal(short.step, 0.05);
  assert.equal(short.values.length, 60);
  const long = fileEnvelope(new Float32Array(RATE * 600), RATE);
  assert.ok(long.values.length <= 4001 && long.step > 0.1);
});

test('valueAt interpolates between steps and is 0 outside the file', () => {
  const env = { step: 1, values: [0, 1] };
  assert.equal(valueAt(env, 0.5), 0);
  assert.equal(valueAt(env, 1), 0.5);
  assert.equal(valueAt(env, 1.5), 1);
  assert.equal(valueAt(env, 5), 0);
  assert.equal(valueAt(env, -2), 0);
});

test('pictureCurves: at the true offset the two curves look alike; at a wrong one they do not', () => {
  const music = song(20);
  const offset = 6.3;
  // The recording: 8 s of the song from `offset`, quieter, plus room noise.
  const rec = new Float32Array(8 * RATE);
  let s = 99;
  for (let i = 0; i < rec.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    rec[i] = 0.5 * music[Math.round(offset * RATE) + i] + ((s / 2 ** 32) * 2 - 1) * 0.01;
  }
  const recEnv = fileEnvelope(rec, RATE);
  const musicEnv = fileEnvelope(music, RATE);
  const right = pictureCurves(recEnv, musicEnv, { offsetSeconds: offset, speed: 1 }, 0, 200);
  const wrong = pictureCurves(recEnv, musicEnv, { offsetSeconds: offset + 1.1, speed: 1 }, 0, 200);
  assert.ok(similarity(right.recording, right.music) > 0.9, `right ${similarity(right.recording, right.music)}`);
  assert.ok(similarity(wrong.recording, wrong.music) < 0.5, `wrong ${similarity(wrong.recording, wrong.music)}`);
  assert.ok(Math.abs(right.seconds - 8) < 0.06);
  // A nudge moves the music later: curves shifted by 1.1 s of nudge match the "wrong" offset.
  const nudged = pictureCurves(recEnv, musicEnv, { offsetSeconds: offset + 1.1, speed: 1 }, 1100, 200);
  assert.ok(similarity(nudged.recording, nudged.music) > 0.9);
});

test('serverEnvelopes: the server dB curves (the song one starting near the offset) draw the same picture', () => {
  const music = song(20);
  const offset = 6.3;
  const rec = music.slice(Math.round(offset * RATE), Math.round((offset + 8) * RATE)).map((v) => v * 0.5);
  const { recording, music: musicEnv } = serverEnvelopes(loudnessEnvelopes(rec, music, RATE, { offsetSeconds: offset, speed: 1 }));
  assert.ok(musicEnv.start! > 5 && musicEnv.start! < offset, 'the song curve covers only the recording\'s span');
  assert.ok(recording.values.every((v) => v >= 0 && v <= 1));
  const right = pictureCurves(recording, musicEnv, { offsetSeconds: offset, speed: 1 }, 0, 200);
  assert.ok(similarity(right.recording, right.music) > 0.9, `right ${similarity(right.recording, right.music)}`);
  assert.ok(Math.abs(right.seconds - 8) < 0.06);
  const wrong = pictureCurves(recording, musicEnv, { offsetSeconds: offset, speed: 1 }, 150, 200);
  assert.ok(similarity(wrong.recording, wrong.music) < similarity(right.recording, right.music));
});

test('mono averages channels', () => {
  assert.deepEqual(Array.from(mono([new Float32Array([1, 0]), new Float32Array([0, 1])])), [0.5, 0.5]);
});
