import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProbe, type FfprobeJson } from './probe.ts';
import { BeatSyncError } from '../errors.ts';

const video = (extra: Record<string, unknown> = {}) => ({
  index: 0, codec_type: 'video', codec_name: 'h264', width: 1920, height: 1080,
  r_frame_rate: '30000/1001', avg_frame_rate: '30000/1001', duration: '10.0', bit_rate: '8000000', ...extra,
});
const audio = (extra: Record<string, unknown> = {}) => ({
  index: 1, codec_type: 'audio', codec_name: 'aac', sample_rate: '48000', channels: 2, channel_layout: 'stereo', duration: '10.0', bit_rate: '128000', ...extra,
});
const file = (streams: unknown[], format: Record<string, unknown> = {}): FfprobeJson =>
  ({ format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '10.0', size: '20000000', ...format }, streams } as FfprobeJson);

function refuses(json: FfprobeJson, code: string, detail: RegExp) {
  assert.throws(() => parseProbe(json), (e: unknown) => e instanceof BeatSyncError && e.code === code && detail.test(e.detail ?? ''));
}

test('typed facts from a phone video', () => {
  const info = parseProbe(file([video({ side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }] }), audio()]));
  assert.equal(info.kind, 'video');
  assert.equal(info.durationSeconds, 10);
  assert.equal(info.video[0].rotation, 90);
  assert.ok(Math.abs(info.video[0].frameRate - 29.97) < 0.01);
  assert.equal(info.video[0].variableFrameRate, false);
  assert.equal(info.audio[0].sampleRate, 48000);
  assert.equal(info.audio[0].channels, 2);
});

test('rotate tag, VFR and Matroska DURATION tags', () => {
  const info = parseProbe(file([
    video({ tags: { rotate: '270' }, avg_frame_rate: '24/1', r_frame_rate: '30/1', duration: undefined }),
    audio({ duration: undefined, tags: { DURATION: '00:01:02.500000000' } }),
  ], { format_name: 'matroska,webm' }));
  assert.equal(info.video[0].rotation, 270);
  assert.equal(info.video[0].variableFrameRate, true);
  assert.equal(info.audio[0].durationSeconds, 62.5);
});

test('cover art does not make an audio file a video', () => {
  const info = parseProbe(file([
    audio({ index: 0 }),
    video({ index: 1, codec_name: 'mjpeg', width: 600, height: 600, disposition: { attached_pic: 1 } }),
  ], { format_name: 'mp3' }));
  assert.equal(info.kind, 'audio');
  assert.equal(info.video.length, 0);
  assert.equal(info.otherStreams, 1);
});

test('limits: dimensions, stream count, duration, missing streams, truncation', () => {
  refuses(file([video({ width: 30000, height: 30000 })]), 'INVALID_FORMAT', /30000×30000/);
  refuses(file([video({ width: 0, height: 0 })]), 'INVALID_FORMAT', /picture size/);
  refuses(file(Array.from({ length: 200 }, (_, i) => audio({ index: i }))), 'INVALID_FORMAT', /200 streams/);
  refuses(file([audio()], { duration: '0' }), 'INVALID_FORMAT', /duration/);
  refuses(file([audio({ duration: 'N/A' })], { duration: 'N/A' }), 'INVALID_FORMAT', /duration/);
  refuses(file([{ index: 0, codec_type: 'subtitle', codec_name: 'mov_text' }]), 'INVALID_FORMAT', /no audio or video/);
  refuses(file([audio({ sample_rate: '0' })]), 'INVALID_FORMAT', /sample rate/);
  // 8 Mb/s for 10 s promises 10 MB; a 2 MB file lost its end.
  refuses(file([video(), audio()], { size: '2000000' }), 'INVALID_FORMAT', /truncated/);
  refuses({} as FfprobeJson, 'INVALID_FORMAT', /container/);
});

test('limits are configurable', () => {
  const info = parseProbe(file([video({ width: 10000, height: 100 })]), { maxDimension: 16384 });
  assert.equal(info.video[0].width, 10000);
  assert.throws(() => parseProbe(file([video(), audio()]), { maxStreams: 1 }), /2 streams/);
});
