// Decoding to PCM (length, rate, channels, seeking, encoder priming) and video packet listing on generated media.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeAudio, ffmpegVersion, hasEncoder, listVideoPackets, probeMedia } from '../src/media/index.ts';
import { fixtureDir, makeAudio, makeVideo, songExcerpt, songs } from './helpers/media.ts';

/** Lag (samples) of `b` against `a` maximising their correlation over `a[from, from + n)`. */
function bestLag(a: Float32Array, b: Float32Array, from: number, n: number, maxLag: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let score = 0;
    for (let i = from; i < from + n; i++) score += a[i] * (b[i + lag] ?? 0);
    if (score > bestScore) {
      bestScore = score;
      best = lag;
    }
  }
  return best;
}

test('decodes mono float PCM of the right length and sample rate', async () => {
  const wav = await makeAudio('dec.wav', { format: 'wav', seconds: 2, sampleRate: 44100, channels: 2 });
  for (const rate of [16000, 22050, 48000]) {
    const pcm = await decodeAudio(wav, { sampleRate: rate });
    assert.ok(pcm instanceof Float32Array);
    assert.ok(Math.abs(pcm.length - 2 * rate) <= 2, `${pcm.length} samples at ${rate} Hz`);
  }
  const stereo = await decodeAudio(wav, { sampleRate: 8000, channels: 2 });
  assert.ok(Math.abs(stereo.length - 2 * 2 * 8000) <= 4);
});

test('the decoded sine has the right frequency and level', async () => {
  const pcm = await decodeAudio(await makeAudio('dec-sine.flac', { format: 'flac', seconds: 1, sampleRate: 48000, channels: 1 }), { sampleRate: 48000 });
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1] < 0 && pcm[i] >= 0) crossings++;
  assert.ok(Math.abs(crossings - 440) <= 2, `${crossings} cycles`);
  const peak = pcm.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assert.ok(peak > 0.1 && peak <= 1, `peak ${peak}`);
});

test('start and duration cut sample-accurately', async () => {
  const src = await makeAudio('dec-noise.wav', { format: 'wav', source: 'noise', seconds: 3, sampleRate: 48000, channels: 1 });
  const whole = await decodeAudio(src, { sampleRate: 48000 });
  const part = await decodeAudio(src, { sampleRate: 48000, startSeconds: 1.25, durationSeconds: 0.5 });
  assert.equal(part.length, 24000);
  const at = 1.25 * 48000;
  for (let i = 0; i < part.length; i += 997) assert.equal(part[i], whole[at + i]);
});

test('picks a stream by index, and the sound of a video', async () => {
  const video = await makeVideo('dec-video.mkv', { container: 'mkv', seconds: 1, audio: { source: 'noise', sampleRate: 48000 } });
  const info = await probeMedia(video);
  const pcm = await decodeAudio(video, { sampleRate: 16000, streamIndex: info.audio[0].index, expectedSeconds: info.durationSeconds });
  assert.ok(Math.abs(pcm.length - 16000) < 16000 * 0.05, `${pcm.length}`);
  await assert.rejects(decodeAudio(await makeVideo('dec-silent.mp4', { audio: false, seconds: 0.5 }), { sampleRate: 16000 }), { code: 'NO_AUDIO_TRACK' });
  await assert.rejects(decodeAudio(video, { sampleRate: 16000, streamIndex: info.video[0].index }), { code: 'NO_AUDIO_TRACK' });
});

// Encoders add priming samples (AAC 1024, MP3 ~1105, Opus 312); ffmpeg removes them from edit lists,
// LAME headers and Opus pre-skip. Without that the lag would be hundreds of samples.
for (const format of ['m4a', 'mp3', 'opus', 'aac'] as const) {
  test(`${format}: priming is removed, sound starts where the source starts`, async () => {
    const ref = await makeAudio('prime-src.wav', { format: 'wav', source: 'noise', seconds: 2, sampleRate: 48000, channels: 1 });
    const coded = await makeAudio(`prime.${format}`, { format, source: ref, seconds: 2, sampleRate: 48000, channels: 1 });
    const a = await decodeAudio(ref, { sampleRate: 48000 });
    const b = await decodeAudio(coded, { sampleRate: 48000 });
    const lag = bestLag(a, b, 24000, 4096, 1500);
    // Raw ADTS carries no priming information: there ffmpeg cannot trim it (documented limit).
    if (format === 'aac') assert.equal(lag, 1024);
    else assert.ok(Math.abs(lag) <= 2, `${format} is off by ${lag} samples`);
  });
}

test('a real song excerpt decodes to its length', async () => {
  const song = songs()[0];
  const wav = await songExcerpt('excerpt.wav', song, 20, 3);
  const pcm = await decodeAudio(wav, { sampleRate: 22050 });
  assert.ok(Math.abs(pcm.length - 3 * 22050) <= 2);
  const rms = Math.sqrt(pcm.reduce((s, x) => s + x * x, 0) / pcm.length);
  assert.ok(rms > 0.01, `the excerpt is silent (rms ${rms})`);
});

test('cancel while decoding', async () => {
  const src = await makeAudio('dec-long.flac', { format: 'flac', source: 'noise', seconds: 20, sampleRate: 48000, channels: 1 });
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(decodeAudio(src, { sampleRate: 48000, signal: controller.signal }), { code: 'CANCELLED' });
  await assert.rejects(decodeAudio(src, { sampleRate: 7 }), { code: 'BAD_REQUEST' });
});

test('video packets: keyframes every GOP, times in seconds, only the asked range read', async () => {
  const video = await makeVideo('packets.mp4', { seconds: 4, fps: 25, gop: 25 });
  const all = await listVideoPackets(video);
  assert.equal(all.length, 100);
  assert.deepEqual(all.filter((p) => p.keyframe).map((p) => Math.round(p.pts * 25)), [0, 25, 50, 75]);
  assert.ok(all.every((p) => Math.abs(p.duration - 0.04) < 1e-6));

  const part = await listVideoPackets(video, { fromSeconds: 2.3, toSeconds: 2.6 });
  assert.ok(part[0].keyframe, 'starts at the keyframe before fromSeconds');
  assert.ok(Math.abs(part[0].pts - 2) < 1e-6, `first pts ${part[0].pts}`);
  assert.ok(part.length < 30 && part.at(-1)!.pts >= 2.5, `${part.length} packets to ${part.at(-1)!.pts}`);
});

test('video packets of B-frame H.264 carry pts and dts', async () => {
  const out = join(fixtureDir(), 'bframes.mp4');
  const { runFfmpeg } = await import('../src/media/index.ts');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25:duration=2', '-c:v', 'libx264', '-preset', 'fast', '-bf', '2', '-g', '25', out]);
  const packets = await listVideoPackets(out);
  assert.equal(packets.length, 50);
  assert.ok(packets.some((p) => p.pts !== p.dts), 'B-frames reorder');
});

test('version and encoders', async () => {
  assert.match(await ffmpegVersion(), /^\d+\.\d+/);
  assert.equal(await hasEncoder('aac'), true);
  assert.equal(await hasEncoder('pcm_s16le'), true);
  assert.equal(await hasEncoder('no-such-encoder'), false);
});
