import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorFromExit, lastLine, scrubPaths } from './stderr.ts';

const fail = (stderr: string, exitCode: number | null = 1, signal: NodeJS.Signals | null = null) =>
  errorFromExit({ tool: 'ffmpeg', stderr, exitCode, signal });

test('missing input maps to FILE_NOT_FOUND without the host path', () => {
  const e = fail('file:/srv/data/uploads/abc/dance.mp4: No such file or directory\n');
  assert.equal(e.code, 'FILE_NOT_FOUND');
  assert.equal(e.retryable, false);
  assert.ok(!e.detail!.includes('/srv'), e.detail);
  assert.match(e.detail!, /dance\.mp4/);
});

test('corrupt and truncated inputs map to INVALID_FORMAT', () => {
  for (const text of [
    '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d] moov atom not found\n/tmp/x.mp4: Invalid data found when processing input',
    '/tmp/a.mkv: Invalid data found when processing input',
    '[matroska,webm @ 0x1] EBML header parsing failed',
    '[h264 @ 0x1] [IMGUTILS @ 0x2] Picture size 30000x30000 is invalid',
  ]) {
    const e = fail(text);
    assert.equal(e.code, 'INVALID_FORMAT', text);
    assert.equal(e.retryable, false);
  }
});

test('refused demuxers and protocols map to INVALID_FORMAT with a clear reason', () => {
  const e = fail("[hls @ 0x5] Format not on whitelist 'mov,matroska'\nfile:/tmp/x.mp4: Invalid argument");
  assert.equal(e.code, 'INVALID_FORMAT');
  assert.match(e.detail!, /playlists/);
});

test('shortages map to RESOURCE_LIMIT, anything else to retryable PROCESSING_FAILED', () => {
  assert.equal(fail('av_interleaved_write_frame(): No space left on device').code, 'RESOURCE_LIMIT');
  const other = fail('Conversion failed!', 1);
  assert.equal(other.code, 'PROCESSING_FAILED');
  assert.equal(other.retryable, true);
  assert.match(other.detail!, /exit code 1: Conversion failed!/);
  const killed = fail('', null, 'SIGKILL');
  assert.match(killed.detail!, /SIGKILL/);
});

test('lastLine drops the component prefix and blank lines', () => {
  assert.equal(lastLine('first\n[aac @ 0x7f00aa] Too many bits\n\n'), 'Too many bits');
  assert.equal(scrubPaths('open /a/b/c.wav and file:/x/y.mp4'), 'open c.wav and y.mp4');
});
