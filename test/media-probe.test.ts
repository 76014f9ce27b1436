// Probing real generated media: every accepted container/codec, audio formats, rotation, VFR, cover art, odd names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputArgs, probeMedia, runFfmpeg, runFfmpegStream } from '../src/media/index.ts';
import { fixtureDir, makeAudio, makeVideo, videoEncoder, type AudioFormat, type VideoCodec, type VideoContainer } from './helpers/media.ts';

const COMBOS: Array<[VideoCodec, VideoContainer, string]> = [
  ['h264', 'mp4', 'aac'], ['h264', 'mov', 'aac'], ['h264', 'mkv', 'aac'], ['h264', 'avi', 'mp3'],
  ['hevc', 'mp4', 'aac'], ['hevc', 'mov', 'aac'], ['hevc', 'mkv', 'aac'],
  ['vp9', 'webm', 'opus'], ['vp9', 'mkv', 'aac'], ['vp9', 'mp4', 'aac'],
  ['av1', 'mp4', 'aac'], ['av1', 'webm', 'opus'], ['av1', 'mkv', 'aac'],
  ['mpeg4', 'mp4', 'aac'], ['mpeg4', 'avi', 'mp3'], ['mpeg4', 'mkv', 'aac'],
];
const CONTAINER_NAME: Record<VideoContainer, RegExp> = { mp4: /^mov,mp4/, mov: /^mov,mp4/, mkv: /^matroska/, webm: /^matroska/, avi: /^avi$/ };

for (const [codec, container, audioCodec] of COMBOS) {
  test(`probe ${codec} in ${container}`, { skip: (await videoEncoder(codec)) ? false : `no ${codec} encoder in this ffmpeg` }, async () => {
    const path = await makeVideo(`probe-${codec}.${container}`, { codec, container, width: 160, height: 120, fps: 25, seconds: 1.5 });
    const info = await probeMedia(path);
    assert.equal(info.kind, 'video');
    assert.match(info.container, CONTAINER_NAME[container]);
    assert.equal(info.video.length, 1);
    assert.equal(info.video[0].codec, codec);
    assert.equal(info.video[0].width, 160);
    assert.equal(info.video[0].height, 120);
    assert.ok(Math.abs(info.video[0].avgFrameRate - 25) < 0.5, `avg fps ${info.video[0].avgFrameRate}`);
    assert.equal(info.video[0].variableFrameRate, false);
    assert.equal(info.audio.length, 1);
    assert.equal(info.audio[0].codec, audioCodec);
    assert.equal(info.audio[0].channels, 2);
    assert.ok(Math.abs(info.durationSeconds - 1.5) < 0.1, `duration ${info.durationSeconds}`);
  });
}

const AUDIO: Array<[AudioFormat, RegExp, string]> = [
  ['wav', /^wav$/, 'pcm_s16le'], ['flac', /^flac$/, 'flac'], ['mp3', /^mp3$/, 'mp3'], ['m4a', /^mov,mp4/, 'aac'],
  ['ogg', /^ogg$/, 'vorbis'], ['opus', /^ogg$/, 'opus'], ['aac', /^aac$/, 'aac'],
];
for (const [format, container, codec] of AUDIO) {
  test(`probe ${format} audio`, async () => {
    const info = await probeMedia(await makeAudio(`probe.${format}`, { format, seconds: 1.5, sampleRate: 48000, channels: 2 }));
    assert.equal(info.kind, 'audio');
    assert.match(info.container, container);
    assert.equal(info.video.length, 0);
    assert.equal(info.audio[0].codec, codec);
    assert.equal(info.audio[0].sampleRate, 48000);
    assert.ok(Math.abs(info.durationSeconds - 1.5) < 0.1, `duration ${info.durationSeconds}`);
  });
}

test('a video without sound reports no audio stream', async () => {
  const info = await probeMedia(await makeVideo('silent.mp4', { audio: false, seconds: 1 }));
  assert.equal(info.kind, 'video');
  assert.equal(info.audio.length, 0);
});

/** First frame as 8-bit gray bytes, through ffmpeg's autorotate unless `filter` is given. */
async function grayFrame(path: string, filter?: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const args = filter ? ['-noautorotate', ...inputArgs(path), '-vf', filter] : inputArgs(path);
  await runFfmpegStream([...args, '-frames:v', '1', '-pix_fmt', 'gray', '-f', 'rawvideo', 'pipe:1'], (c) => chunks.push(c));
  return Buffer.concat(chunks);
}

for (const rotation of [90, 180, 270] as const) {
  test(`rotation ${rotation}° is reported clockwise, as ffmpeg turns the picture for display`, async () => {
    const path = await makeVideo(`rot${rotation}.mp4`, { rotation, seconds: 0.5 });
    const info = await probeMedia(path);
    assert.equal(info.video[0].rotation, rotation);
    const turn = { 90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock' }[rotation];
    assert.ok((await grayFrame(path)).equals(await grayFrame(path, turn)), 'autorotated frame differs from the clockwise turn');
  });
}

test('variable frame rate is flagged, constant is not', async () => {
  const vfr = await probeMedia(await makeVideo('vfr.mp4', { vfr: true, seconds: 3, fps: 30 }));
  assert.equal(vfr.video[0].variableFrameRate, true);
  assert.ok(vfr.video[0].avgFrameRate < 25, `avg ${vfr.video[0].avgFrameRate}`);
  const cfr = await probeMedia(await makeVideo('cfr.mkv', { container: 'mkv', seconds: 3, fps: 30 }));
  assert.equal(cfr.video[0].variableFrameRate, false);
});

for (const format of ['mp3', 'm4a'] as const) {
  test(`cover art in ${format} does not make it a video`, async () => {
    const plain = await makeAudio(`cover-src.${format}`, { format, seconds: 1 });
    const out = join(fixtureDir(), `with-cover.${format}`);
    await runFfmpeg([
      '-y', ...inputArgs(plain), '-f', 'lavfi', '-i', 'testsrc2=size=64x64:duration=0.04',
      '-map', '0:a', '-map', '1:v', '-c:a', 'copy', '-c:v', 'mjpeg', '-frames:v', '1', '-disposition:v', 'attached_pic',
      '-f', format === 'mp3' ? 'mp3' : 'ipod', out,
    ]);
    const info = await probeMedia(out);
    assert.equal(info.kind, 'audio');
    assert.equal(info.video.length, 0);
    assert.equal(info.otherStreams, 1, 'the picture is counted as another stream');
    assert.equal(info.audio.length, 1);
  });
}

test('file names that look like options or protocols are read as plain local files', async () => {
  const real = await makeVideo('plain-name.mp4', { seconds: 0.5 });
  for (const name of ['-i.mp4', 'concat:a.mp4|b.mp4', 'http:example.mp4', 'pipe:0']) {
    const odd = join(fixtureDir(), name);
    await copyFile(real, odd);
    const info = await probeMedia(odd);
    assert.equal(info.kind, 'video', name);
  }
});

test('a missing file is FILE_NOT_FOUND', async () => {
  await assert.rejects(probeMedia(join(fixtureDir(), 'does-not-exist.mp4')), { code: 'FILE_NOT_FOUND' });
});
