// One check on real music: a simulated classroom recording of a song from ../shared/music
// (decoded here with ffmpeg; the engine itself does no I/O), and a different song refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ANALYSIS_SAMPLE_RATE, alignRecording } from './index.ts';
import { addNoise, convolve, phoneBand, resample, roomImpulse, talkNoise } from './test-signals.ts';

const music = fileURLToPath(new URL('../../../shared/music/', import.meta.url));
const sr = ANALYSIS_SAMPLE_RATE;

function decode(file: string, seconds: number): Float32Array {
  const out = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-t', String(seconds), '-i', music + file, '-ac', '1', '-ar', String(sr), '-f', 'f32le', 'pipe:1'], {
    maxBuffer: 64 << 20,
  });
  assert.equal(out.status, 0, String(out.stderr));
  return new Float32Array(out.stdout.buffer, out.stdout.byteOffset, out.stdout.byteLength / 4);
}

const available = existsSync(music + 'nexuiz-desert3.ogg') && existsSync(music + 'muldjord-chaos_god.ogg');

test('real song: a noisy room recording with drift is placed within a millisecond', { skip: !available && 'no ../shared/music' }, async () => {
  const bgm = decode('nexuiz-desert3.ogg', 45);
  const speed = 1 + 150e-6;
  const clean = resample(bgm, sr, 20 * sr, 14.5, speed);
  const room = await convolve(clean, roomImpulse(17, sr, 0.03, 1.1));
  const dance = phoneBand(addNoise(room, talkNoise(18, room.length, sr), 0), sr);
  const a = await alignRecording({ dance, bgm, sampleRate: sr });
  assert.equal(a.matched, true);
  assert.ok(Math.abs(a.offsetSeconds - 14.5) < 0.001, `offset ${a.offsetSeconds}`);
  assert.ok(Math.abs(a.driftPpm - 150) < 10, `drift ${a.driftPpm}`);

  const other = decode('muldjord-chaos_god.ogg', 20);
  const wrong = await alignRecording({ dance: phoneBand(addNoise(other, talkNoise(19, other.length, sr), 6), sr), bgm, sampleRate: sr });
  assert.equal(wrong.matched, false);
});
