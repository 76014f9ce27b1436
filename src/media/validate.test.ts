import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBgmInput, checkDanceInput } from './validate.ts';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.ts';

const v: VideoStreamInfo = {
  index: 0, codec: 'h264', width: 1280, height: 720, rotation: 0, frameRate: 30, avgFrameRate: 30,
  variableFrameRate: false, startTime: 0, durationSeconds: 60, pixFmt: 'yuv420p', bitRate: null,
};
const a: AudioStreamInfo = { index: 1, codec: 'aac', sampleRate: 48000, channels: 2, channelLayout: 'stereo', startTime: 0, durationSeconds: 60, bitRate: null };
const info = (over: Partial<MediaInfo>): MediaInfo => ({
  container: 'mov,mp4,m4a,3gp,3g2,mj2', durationSeconds: 60, sizeBytes: 1, bitRate: null, startTime: 0,
  video: [v], audio: [a], otherStreams: 0, tags: {}, kind: 'video', ...over,
});
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('dance: needs video, then audio, then a duration within the limit', () => {
  assert.deepEqual(checkDanceInput(info({})), { video: v, audio: a, note: null });
  assert.throws(() => checkDanceInput(info({ video: [], kind: 'audio' })), code('NO_VIDEO_TRACK'));
  assert.throws(() => checkDanceInput(info({ audio: [] })), code('NO_AUDIO_TRACK'));
  assert.throws(() => checkDanceInput(info({ durationSeconds: 20 * 60 + 1 })), code('DURATION_LIMIT'));
  assert.throws(() => checkDanceInput(info({ durationSeconds: 120 }), { maxDurationSeconds: 60 }), code('DURATION_LIMIT'));
});

test('dance: other decodable codecs pass with a note naming them', () => {
  const r = checkDanceInput(info({ video: [{ ...v, codec: 'prores' }] }));
  assert.match(r.note!, /prores/);
});

test('bgm: audio or video file with sound, a little longer limit than the dance', () => {
  assert.deepEqual(checkBgmInput(info({ video: [], kind: 'audio' })), { audio: a });
  assert.equal(checkBgmInput(info({ durationSeconds: 25 * 60 })).audio, a);
  assert.throws(() => checkBgmInput(info({ audio: [] })), code('NO_AUDIO_TRACK'));
  assert.throws(() => checkBgmInput(info({ durationSeconds: 3 * 3600 })), code('DURATION_LIMIT'));
});
