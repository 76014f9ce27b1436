import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIO_ENCODER_ARGS, audioFilterGraph, canCopyVideo, cleanEndCut, inputDurationFor, keyframeAtOrBefore, metadataArgs, mixSliceGraph, planAudio, videoCodecArgs } from './plan.ts';
import type { PacketTiming } from './plan.ts';
import { packetShift } from './render.ts';

const F = 1 / 30;
/** x264-like decode order with B-frames: I P B B P B B … (pts in frames), keyframe every `gop`. */
function gopPackets(frames: number, gop: number): PacketTiming[] {
  const order: number[] = [];
  for (let g = 0; g < frames; g += gop) {
    order.push(g);
    for (let f = g + 3; f < Math.min(g + gop, frames) + 2; f += 3) {
      const anchor = Math.min(f, Math.min(g + gop, frames) - 1);
      if (!order.includes(anchor)) order.push(anchor);
      for (let b = anchor - 2; b < anchor; b++) if (b > g && !order.includes(b)) order.push(b);
    }
  }
  return order.map((f, i) => ({ pts: f * F, dts: (i - 2) * F, keyframe: f % gop === 0, duration: F }));
}

test('keyframeAtOrBefore picks the last keyframe not after the target', () => {
  const packets = gopPackets(90, 30);
  assert.equal(keyframeAtOrBefore(packets, 1.5)?.pts, 1);
  assert.equal(keyframeAtOrBefore(packets, 1)?.pts, 1);
  assert.equal(keyframeAtOrBefore(packets, 0.999)?.pts, 0);
  assert.equal(keyframeAtOrBefore(packets.slice(30), 0.5), null);
});

test('cleanEndCut keeps a decode-order prefix that shows without holes, ending at or after the target', () => {
  const packets = gopPackets(60, 30);
  for (const target of [0.4, 0.5, 1.1, 1.55]) {
    const cut = cleanEndCut(packets, target);
    assert.ok(cut, `cut for ${target}`);
    const kept = packets.slice(0, cut.beforeIndex).map((p) => p.pts).sort((a, b) => a - b);
    const dropped = packets.slice(cut.beforeIndex).map((p) => p.pts);
    assert.ok(Math.max(...kept) < Math.min(...dropped), 'every kept frame shows before every dropped one');
    kept.forEach((pts, i) => assert.ok(Math.abs(pts - i * F) < 1e-9, 'no frame missing'));
    assert.ok(cut.endMedia >= target - 1e-9 && cut.endMedia < target + 4 * F, `ends at ${cut.endMedia} for ${target}`);
    assert.ok(Math.abs(cut.endMedia - (Math.max(...kept) + F)) < 1e-9);
    // ffmpeg's -t compares dts: the chosen duration lies between the last kept and first dropped dts.
    const t = inputDurationFor(packets, cut.beforeIndex, 0);
    assert.ok(packets[cut.beforeIndex - 1].dts < t && t < packets[cut.beforeIndex].dts);
  }
  assert.equal(cleanEndCut(packets, 10), null, 'no cut past the window');
});

test('planAudio: song sample placement, silence before the song, drift labels', () => {
  const mapping = { offsetSeconds: -0.5, speed: 1.0003, bgmSampleRate: 44100, bgmDurationSeconds: 60 };
  // Output starts at dance 0: the song starts 0.5/1.0003 s later.
  const p = planAudio({ zeroDance: 0, roomZeroDance: 0, durationSeconds: 10, mapping, musicStart: 1, musicEnd: 9 });
  assert.equal(p.totalSamples, 480000);
  assert.equal(p.music?.leadSamples, Math.ceil((0.5 / 1.0003) * 48000));
  assert.equal(p.music?.bgmStartSample, 0);
  assert.ok(Math.abs(p.music!.rateIn / p.music!.rateOut - (1.0003 * 44100) / 48000) < 1e-8, 'stretch ratio exact to < 0.01 ppm');
  assert.equal(p.musicFrom, 1);
  assert.equal(p.musicTo, 9);

  // Mid-song: output zero at dance 2 → song 2·1.0003 − 0.5.
  const q = planAudio({ zeroDance: 2, roomZeroDance: 2, durationSeconds: 5, mapping, musicStart: 1, musicEnd: 20 });
  const songAtZero = -0.5 + 1.0003 * 2;
  assert.equal(q.music?.leadSamples, 0);
  const placed = q.music!.bgmStartSample / 44100 + (q.music!.fineSkipSamples / 48000) * 1.0003;
  assert.ok(Math.abs(placed - songAtZero) <= 0.5 / 48000 + 1e-12, 'placed to half an output sample');
  assert.equal(q.musicFrom, null, 'music already playing at the start');
  assert.equal(q.musicTo, null, 'and still playing at the end');
  assert.equal(q.roomDelaySamples, 0);

  // The song is over before the output starts.
  const r = planAudio({ zeroDance: 100, roomZeroDance: 100, durationSeconds: 2, mapping, musicStart: 1, musicEnd: 9 });
  assert.equal(r.music, null);
  assert.match(audioFilterGraph(r, 1, 0), /^\[0:1\].*\[room0\];\[room0\]anull\[aout\]$/);
});

test('audioFilterGraph: music crossfaded with the room sound, exact length', () => {
  const mapping = { offsetSeconds: 1, speed: 1, bgmSampleRate: 48000, bgmDurationSeconds: 60 };
  const p = planAudio({ zeroDance: 0, roomZeroDance: 0, durationSeconds: 6, mapping, musicStart: 1.5, musicEnd: 5 });
  const g = audioFilterGraph(p, 1, 0);
  assert.match(g, /\[1:0\]asetpts=N\/SR\/TB/);
  assert.match(g, /amix=inputs=3:normalize=0/);
  assert.match(g, /afade=t=in:st=1\.300000:d=0\.4/);
  assert.match(g, /afade=t=out:st=4\.800000:d=0\.4/);
  assert.ok(g.endsWith('apad=whole_len=288000,atrim=end_sample=288000,asetpts=N/SR/TB[aout]'));
});

test('codec choice: MP4-compatible codecs are copied (hevc tagged hvc1), others re-encoded', () => {
  for (const c of ['h264', 'hevc', 'vp9', 'av1', 'mpeg4']) assert.ok(canCopyVideo(c), c);
  for (const c of ['mjpeg', 'prores', 'vp8', 'theora']) assert.ok(!canCopyVideo(c), c);
  assert.deepEqual(videoCodecArgs('hevc', true), ['-c:v', 'copy', '-tag:v', 'hvc1']);
  assert.equal(videoCodecArgs('mjpeg', false)[1], 'libx264');
  assert.deepEqual(metadataArgs({ creation_time: '2024-05-01T10:00:00.000000Z' }).slice(2), ['-metadata', 'creation_time=2024-05-01T10:00:00.000000Z']);
  assert.deepEqual(metadataArgs({ creation_time: 'x; rm -rf' }), ['-map_metadata', '0']);
});

test('packetShift: constant offset of corresponding packets, null when they do not correspond', () => {
  const input = gopPackets(30, 30).map((p) => ({ ...p, pts: p.pts + 2 }));
  const output = input.map((p) => ({ ...p, pts: p.pts - 2 + 0.001 }));
  assert.ok(Math.abs(packetShift(input, output, 2)! - 0.001) < 1e-9);
  const shuffled = [...output].reverse();
  assert.equal(packetShift(input, shuffled, 2), null);
});

test('mixSliceGraph: the sound of a variant is an exact-length slice of the shared mix, silence where it starts before it', () => {
  assert.equal(mixSliceGraph(48_000, 96_000), '[1:a]atrim=start_sample=48000,asetpts=N/SR/TB,apad=whole_len=96000,atrim=end_sample=96000,asetpts=N/SR/TB[aout]');
  assert.match(mixSliceGraph(-12, 500), /^\[1:a\]adelay=delays=12S:all=1,apad=whole_len=500,atrim=end_sample=500,/);
});

test('AAC output: AAC-LC at 48 kHz stereo and at least 192 kb/s', () => {
  const arg = (name: string) => AUDIO_ENCODER_ARGS[AUDIO_ENCODER_ARGS.indexOf(name as never) + 1];
  assert.equal(arg('-c:a'), 'aac');
  assert.equal(arg('-ar'), '48000');
  assert.equal(arg('-ac'), '2');
  assert.ok(Number.parseInt(arg('-b:a'), 10) >= 192, arg('-b:a'));
});
