// The benchmark trusts the corpus's ground truth: this checks it by measuring a tiny generated case independently
// (time-domain cross-correlation of the decoded dance video's sound against the decoded BGM file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCase, runsOf, timeline } from '../bench/lib/cases.ts';
import { generateCase } from '../bench/lib/generate.ts';
import { checkTruth, bestLag } from '../bench/lib/measure.ts';
import { decodeMono, ffmpeg, runTool } from '../bench/lib/proc.ts';
import { drrOf, hallImpulse, makeRng, meanPower, withDrr } from '../bench/lib/dsp.ts';

test('timeline: offset = bgmStart − speed × lead-in, music span and duration', () => {
  const spec = makeCase({ id: 'x', song: 's', bgmStart: 20, leadIn: 3, musicSeconds: 20, tail: 2 });
  assert.deepEqual(timeline(spec, 100), { truth: { offsetSeconds: 17, speed: 1, musicStart: 3, musicEnd: 23 }, durationSeconds: 25 });
  // Until the song's end: 10 s of song left, read 1.0002 times faster, lasts 10 / 1.0002 dance seconds.
  const drift = makeCase({ id: 'y', song: 's', bgmStart: 90, leadIn: 5, musicSeconds: null, driftPpm: 200 });
  const t = timeline(drift, 100);
  assert.ok(Math.abs(t.truth.offsetSeconds - (90 - 1.0002 * 5)) < 1e-12);
  assert.ok(Math.abs(t.truth.musicEnd - (5 + 10 / 1.0002)) < 1e-12);
});

test('a generated case (lead-in, mid-song start, +300 ppm drift) sits exactly where its ground truth says', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-corpus-test-'));
  try {
    // A broadband "song" gives a sharp, unambiguous correlation peak.
    await ffmpeg(['-f', 'lavfi', '-i', 'anoisesrc=color=white:seed=7:sample_rate=44100:amplitude=0.3:duration=10', '-af', 'lowpass=f=8000:poles=2,lowpass=f=8000:poles=2', '-c:a', 'pcm_s16le', join(dir, 'song.wav')]);
    const spec = makeCase({
      id: 'tiny', song: 'song.wav', bgmFormat: 'wav', bgmStart: 2, leadIn: 1.5, musicSeconds: 5, tail: 0.5,
      driftPpm: 300, video: { width: 160, height: 120, fps: 10 }, seed: 42,
    });
    const ctx = { musicDir: dir, corpusDir: join(dir, 'corpus'), cacheDir: join(dir, 'cache'), log: () => {} };
    const entry = await generateCase(spec, ctx);
    assert.ok(entry.truth);
    const truth = entry.truth;
    assert.ok(Math.abs(truth.offsetSeconds - (2 - 1.0003 * 1.5)) < 1e-9);
    assert.equal(truth.musicStart, 1.5);

    const rate = 48000;
    const dance = (await decodeMono(join(ctx.corpusDir, entry.dance), rate)).pcm;
    const bgm = (await decodeMono(join(ctx.corpusDir, entry.bgm), rate)).pcm;
    assert.ok(Math.abs(dance.length / rate - 7) < 0.03, `dance lasts ${dance.length / rate} s`);

    // Wide search in one window: the global peak is where the truth says, not merely a local one.
    const t = 4;
    const predicted = (truth.offsetSeconds + truth.speed * t) * rate;
    const wide = bestLag(dance, t * rate, bgm, Math.round(predicted), 2400, 24000);
    assert.ok(Math.abs(Math.round(predicted) + wide.lag - predicted) < 1, `wide search found ${wide.lag} samples off`);
    assert.ok(wide.corr > 0.8, `wide search correlation ${wide.corr.toFixed(3)}`);

    // (AAC at 128 kb/s on broadband noise keeps the correlation near 0.87.)
    // Across the music: residuals stay under a sample, so both offset and drift (and their signs) are right.
    const check = checkTruth(dance, bgm, rate, truth, { windows: 8, halfSeconds: 0.1, maxLagSeconds: 0.01 });
    for (const w of check.windows) {
      assert.ok(Math.abs(w.residual) < 1 / rate, `window at ${w.t.toFixed(2)} s is ${(w.residual * 1e6).toFixed(1)} µs off`);
      assert.ok(w.corr > 0.8, `window at ${w.t.toFixed(2)} s correlates only ${w.corr.toFixed(3)}`);
    }
    assert.ok(Math.abs(check.offsetError) < 10e-6, `offset error ${check.offsetError * 1e6} µs`);
    assert.ok(Math.abs(check.speedError) < 2e-6, `speed error ${check.speedError * 1e6} ppm`);

    // The music is heard exactly in [musicStart, musicEnd): silence before and after (no talk or noise here).
    const inside = meanPower(dance, 2 * rate, 6 * rate);
    assert.ok(meanPower(dance, 0, Math.round((truth.musicStart - 0.05) * rate)) < inside * 1e-4);
    assert.ok(meanPower(dance, Math.round((truth.musicEnd + 0.05) * rate)) < inside * 1e-4);
    assert.ok(meanPower(dance, Math.round((truth.musicStart + 0.02) * rate), Math.round((truth.musicStart + 0.3) * rate)) > inside * 0.3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('timeline of a restart: two runs, each with its own offset; the top level is the longer run', () => {
  const spec = makeCase({ id: 'r', song: 's', leadIn: 4, bgmStart: 0, musicSeconds: 20, restart: { gapSeconds: 6, bgmStart: 0, musicSeconds: 30 }, tail: 2 });
  const { truth, durationSeconds } = timeline(spec, 100);
  assert.deepEqual(runsOf(truth), [
    { offsetSeconds: -4, speed: 1, musicStart: 4, musicEnd: 24 },
    { offsetSeconds: -30, speed: 1, musicStart: 30, musicEnd: 60 },
  ]);
  assert.equal(truth.offsetSeconds, -30);
  assert.equal(durationSeconds, 62);
});

/** Schroeder backward integration: the time the energy decay curve takes from −5 to −35 dB, times two. */
function rt60Of(ir: Float32Array, rate: number): number {
  const edc = new Float64Array(ir.length);
  let sum = 0;
  for (let i = ir.length - 1; i >= 0; i--) edc[i] = sum += ir[i] * ir[i];
  const at = (db: number): number => edc.findIndex((e) => 10 * Math.log10(e / edc[0]) <= db);
  return (2 * (at(-35) - at(-5))) / rate;
}

test('a modelled room has the asked reverberation time and direct-to-reverberant ratio', async () => {
  const rate = 16000;
  for (const [rt60, drr] of [[0.8, -4], [1.5, -10]] as const) {
    const ir = withDrr(await hallImpulse({ kind: 'modelled', rt60, drrDb: drr }, rate, makeRng(3)), rate, drr);
    assert.ok(Math.abs(drrOf(ir, rate) - drr) < 0.1, `DRR ${drrOf(ir, rate)} dB`);
    const measured = rt60Of(ir, rate);
    assert.ok(measured > 0.7 * rt60 && measured < 1.3 * rt60, `RT60 ${measured} s for ${rt60} s`);
    // The direct sound is the first arrival and the early reflections come within the room's size (< 60 ms).
    assert.ok(Math.abs(ir[0]) > 0);
    const early = ir.subarray(1, Math.round(0.06 * rate)).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    assert.ok(early >= 6, `${early} early reflections`);
  }
});

test('a generated restart case, re-encoded once more and recorded in mono, sits where both runs\' truths say', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-corpus-test-'));
  try {
    await ffmpeg(['-f', 'lavfi', '-i', 'anoisesrc=color=white:seed=9:sample_rate=44100:amplitude=0.3:duration=8', '-af', 'lowpass=f=8000:poles=2', '-c:a', 'pcm_s16le', join(dir, 'song.wav')]);
    const spec = makeCase({
      id: 'restart', song: 'song.wav', bgmFormat: 'mp3-96k-mono', leadIn: 1, musicSeconds: 3, restart: { gapSeconds: 1, bgmStart: 0.5, musicSeconds: 3 },
      tail: 0.5, aacGenerations: 1, monoPhone: true, video: { width: 160, height: 120, fps: 10 }, seed: 43,
    });
    const ctx = { musicDir: dir, corpusDir: join(dir, 'corpus'), cacheDir: join(dir, 'cache'), log: () => {} };
    const entry = await generateCase(spec, ctx);
    assert.ok(entry.truth?.segments);
    assert.ok(entry.conditions.includes('mono-phone') && entry.conditions.includes('aac-generations+1'), entry.conditions.join(' '));
    const probe = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=channels', '-of', 'csv=p=0', join(ctx.corpusDir, entry.dance)]);
    assert.equal(probe.stdout.toString().trim(), '1');
    const rate = 48000;
    const dance = (await decodeMono(join(ctx.corpusDir, entry.dance), rate)).pcm;
    const bgm = (await decodeMono(join(ctx.corpusDir, entry.bgm), rate)).pcm;
    for (const run of entry.truth.segments) {
      const check = checkTruth(dance, bgm, rate, run, { windows: 4, halfSeconds: 0.1, maxLagSeconds: 0.01 });
      for (const w of check.windows) {
        assert.ok(Math.abs(w.residual) < 1 / rate, `run at ${run.musicStart} s: window at ${w.t.toFixed(2)} s is ${(w.residual * 1e6).toFixed(1)} µs off`);
        assert.ok(w.corr > 0.6, `run at ${run.musicStart} s: window at ${w.t.toFixed(2)} s correlates only ${w.corr.toFixed(3)}`);
      }
    }
    // The gap between the runs holds no music.
    assert.ok(meanPower(dance, Math.round(4.1 * rate), Math.round(4.9 * rate)) < meanPower(dance, Math.round(2 * rate), Math.round(3 * rate)) * 1e-3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
