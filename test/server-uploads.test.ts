// Multipart uploads against a real server on loopback: streaming, hashing, probing, ownership, size limit, quota.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { makeAudio, makeVideo } from './helpers/media.ts';
import { multipartBody, rawRequest, startTestServer, uploadFile } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('POST /api/uploads', () => {
  let server: TestServer;
  let video: Buffer;
  let audio: Buffer;
  before(async () => {
    server = await startTestServer();
    video = await readFile(await makeVideo('server-upload.mp4', { seconds: 2 }));
    audio = await readFile(await makeAudio('server-upload.m4a', { format: 'm4a', seconds: 2 }));
  });
  after(() => server.close());

  test('a video and an audio file are stored, hashed and probed; their owner reads them back', async () => {
    const token = await server.session();
    const v = await uploadFile(server, token, 'class.mp4', video, '?purpose=dance');
    assert.equal(v.status, 201, JSON.stringify(v.json));
    assert.equal(v.json.kind, 'video');
    assert.equal(v.json.sha256, sha256(video));
    assert.equal(v.json.size, video.length);
    assert.equal(v.json.filename, 'class.mp4');
    assert.ok(Math.abs((v.json.durationSeconds as number) - 2) < 0.2);
    const streams = v.json.streams as { video: { width: number }[]; audio: unknown[] };
    assert.equal(streams.video[0].width, 160);
    assert.equal(streams.audio.length, 1);

    const a = await uploadFile(server, token, 'song.m4a', audio, '?purpose=bgm');
    assert.equal(a.status, 201, JSON.stringify(a.json));
    assert.equal(a.json.kind, 'audio');
    assert.equal(a.json.sha256, sha256(audio));

    const got = await fetch(`${server.url}/api/uploads/${v.json.fileId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(got.status, 200);
    const meta = (await got.json()) as Record<string, unknown>;
    assert.equal(meta.sha256, sha256(video));
    // The stored bytes are the bytes sent.
    const stored = await readFile(await server.system.files.localPath(`uploads/${v.json.fileId}/data`));
    assert.equal(sha256(stored), sha256(video));
  });

  test('another token, no token and a forged token cannot see the upload', async () => {
    const owner = await server.session();
    const other = await server.session();
    const up = await uploadFile(server, owner, 'mine.mp4', video);
    assert.equal(up.status, 201);
    const path = `${server.url}/api/uploads/${up.json.fileId}`;

    const byOther = await fetch(path, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(byOther.status, 404);
    assert.equal(((await byOther.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');

    const anonymous = await fetch(path);
    assert.equal(anonymous.status, 401);

    const [prefix, sid] = owner.split('.');
    const forged = await fetch(path, { headers: { authorization: `Bearer ${prefix}.${sid}.${'A'.repeat(43)}` } });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');

    // The token also works as ?access_token= (for <video src> and EventSource).
    const viaQuery = await fetch(`${path}?access_token=${encodeURIComponent(owner)}`);
    assert.equal(viaQuery.status, 200);
  });

  test('a purpose check refuses a file that cannot serve it: audio as the dance video', async () => {
    const token = await server.session();
    const res = await uploadFile(server, token, 'song.m4a', audio, '?purpose=dance');
    assert.equal(res.status, 422);
    assert.equal((res.json.error as { code: string }).code, 'NO_VIDEO_TRACK');
  });

  test('uploads are refused without a token', async () => {
    const res = await uploadFile(server, null, 'class.mp4', video);
    assert.equal(res.status, 401);
  });
});

describe('upload limits', () => {
  let server: TestServer;
  let video: Buffer;
  before(async () => {
    video = await readFile(await makeVideo('server-limit.mp4', { seconds: 1 }));
    // Room for the small video, not for a big body; the quota holds about two small videos.
    server = await startTestServer({ argv: ['--max-upload-bytes', String(video.length + 1024), '--quota-storage', String(video.length * 2 + 100)] });
  });
  after(() => server.close());

  test('a body past the limit is cut off while streaming with FILE_TOO_LARGE, leaving nothing behind', async () => {
    const token = await server.session();
    const before = await server.storedKeys();
    const boundary = 'bigbodyboundary';
    let sent = 0;
    const total = 64 * 1024 * 1024;
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`);
      const chunk = Buffer.alloc(256 * 1024, 7);
      while (sent < total) {
        sent += chunk.length;
        yield chunk;
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const res = await rawRequest(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' },
      body: body(),
    });
    assert.equal(res.status, 413);
    assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'FILE_TOO_LARGE');
    // The server stopped reading long before the 64 MiB were sent.
    assert.ok(sent < total, `the whole body was sent (${sent} bytes)`);
    assert.deepEqual(await server.storedKeys(), before);
    // And it keeps serving.
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
  });

  test('the per-token storage quota refuses what would not fit (RESOURCE_LIMIT), per token', async () => {
    const token = await server.session();
    assert.equal((await uploadFile(server, token, 'a.mp4', video)).status, 201);
    assert.equal((await uploadFile(server, token, 'b.mp4', video)).status, 201);
    const third = await uploadFile(server, token, 'c.mp4', video);
    assert.equal(third.status, 503);
    assert.equal((third.json.error as { code: string }).code, 'RESOURCE_LIMIT');
    // Another token has its own quota.
    assert.equal((await uploadFile(server, await server.session(), 'd.mp4', video)).status, 201);
  });

  test('JSON bodies are limited too', async () => {
    const { body, contentType } = multipartBody({ filename: 'x.mp4', data: Buffer.alloc(10) });
    assert.ok(body.length > 0 && contentType);
    const res = await rawRequest(`${server.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(`{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`),
    });
    assert.equal(res.status, 413);
  });
});
