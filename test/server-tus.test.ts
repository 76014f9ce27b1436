// tus 1.0 resumable uploads against a real server on loopback: chunks, a dropped connection, resume, completion.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeVideo } from './helpers/media.ts';
import { rawRequest, startTestServer } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('tus resumable uploads', () => {
  let server: TestServer;
  let video: Buffer;
  before(async () => {
    server = await startTestServer();
    video = await readFile(await makeVideo('server-tus.mp4', { seconds: 3, width: 320, height: 240 }));
  });
  after(() => server.close());

  const tusHeaders = (token: string, extra: Record<string, string | number> = {}) => ({ 'tus-resumable': '1.0.0', authorization: `Bearer ${token}`, ...extra });

  async function create(token: string, length: number, metadata = `filename ${b64('class.mp4')},purpose ${b64('dance')}`): Promise<string> {
    const res = await rawRequest(`${server.url}/api/uploads/tus`, {
      method: 'POST',
      headers: tusHeaders(token, { 'upload-length': length, 'upload-metadata': metadata }),
    });
    assert.equal(res.status, 201, res.body);
    assert.ok(res.headers['upload-expires']);
    const location = res.headers.location;
    assert.match(String(location), /^\/api\/uploads\/tus\/[A-Za-z0-9_-]{22}$/);
    return `${server.url}${location}`;
  }

  const patch = (url: string, token: string, offset: number, data: Buffer) =>
    rawRequest(url, { method: 'PATCH', headers: tusHeaders(token, { 'upload-offset': offset, 'content-type': 'application/offset+octet-stream', 'content-length': data.length }), body: data });

  const head = async (url: string, token: string) => rawRequest(url, { method: 'HEAD', headers: tusHeaders(token) });

  test('OPTIONS tells the version, extensions and the largest upload', async () => {
    const res = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers['tus-version'], '1.0.0');
    assert.equal(res.headers['tus-resumable'], '1.0.0');
    assert.match(String(res.headers['tus-extension']), /creation/);
    assert.equal(Number(res.headers['tus-max-size']), server.config.maxUploadBytes);
  });

  test('three chunks with a dropped connection in the middle, resumed from HEAD, become a checked upload', async () => {
    const token = await server.session();
    const url = await create(token, video.length);
    const third = Math.floor(video.length / 3);

    const first = await patch(url, token, 0, video.subarray(0, third));
    assert.equal(first.status, 204, first.body);
    assert.equal(Number(first.headers['upload-offset']), third);

    // A PATCH at the wrong offset is a conflict and changes nothing.
    const wrong = await patch(url, token, 5, video.subarray(5, 10));
    assert.equal(wrong.status, 409);
    assert.equal((JSON.parse(wrong.body) as { error: { code: string } }).error.code, 'CONFLICT');

    // The second chunk: half of it goes out, then the connection drops.
    const half = Math.floor(third / 2);
    await new Promise<void>((resolve) => {
      const req = httpRequest(url, {
        method: 'PATCH',
        agent: false,
        headers: tusHeaders(token, { 'upload-offset': third, 'content-type': 'application/offset+octet-stream', 'content-length': third }),
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(video.subarray(third, third + half), () => {
        setTimeout(() => req.destroy(), 200);
      });
    });

    // What arrived before the drop is kept: HEAD says where to go on (once the server has seen the drop).
    let offset = third;
    for (let i = 0; i < 100 && offset === third; i++) {
      const h = await head(url, token);
      assert.equal(h.status, 200);
      assert.equal(h.headers['cache-control'], 'no-store');
      assert.equal(Number(h.headers['upload-length']), video.length);
      offset = Number(h.headers['upload-offset']);
      if (offset === third) await sleep(50);
    }
    assert.ok(offset > third && offset <= third + half, `offset after the drop: ${offset}`);

    const second = await patch(url, token, offset, video.subarray(offset, 2 * third));
    assert.equal(second.status, 204, second.body);
    assert.equal(Number(second.headers['upload-offset']), 2 * third);
    assert.equal(second.headers['beatsync-file-id'], undefined);

    const last = await patch(url, token, 2 * third, video.subarray(2 * third));
    assert.equal(last.status, 204, last.body);
    assert.equal(Number(last.headers['upload-offset']), video.length);
    const fileId = String(last.headers['beatsync-file-id']);
    assert.match(fileId, /^[A-Za-z0-9_-]{22}$/);

    const meta = await fetch(`${server.url}/api/uploads/${fileId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(meta.status, 200);
    const body = (await meta.json()) as Record<string, unknown>;
    assert.equal(body.sha256, sha256(video));
    assert.equal(body.kind, 'video');
    assert.equal(body.filename, 'class.mp4');

    // Asking again after a lost answer still tells the fileId; the parts are gone.
    const again = await head(url, token);
    assert.equal(Number(again.headers['upload-offset']), video.length);
    assert.equal(again.headers['beatsync-file-id'], fileId);
    assert.deepEqual((await server.storedKeys()).filter((k) => k.startsWith(`tus/${fileId}/part-`)), []);

    // Someone else's upload does not exist for another token.
    const other = await head(url, await server.session());
    assert.equal(other.status, 404);
  });

  test('protocol errors: wrong version (412), missing length, too large, bad content type', async () => {
    const token = await server.session();
    const noVersion = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'upload-length': 10 } });
    assert.equal(noVersion.status, 412);
    assert.equal(noVersion.headers['tus-version'], '1.0.0');

    const noLength = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'POST', headers: tusHeaders(token) });
    assert.equal(noLength.status, 400);

    const tooLarge = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'POST', headers: tusHeaders(token, { 'upload-length': server.config.maxUploadBytes + 1 }) });
    assert.equal(tooLarge.status, 413);
    assert.equal((JSON.parse(tooLarge.body) as { error: { code: string } }).error.code, 'FILE_TOO_LARGE');

    const badMeta = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'POST', headers: tusHeaders(token, { 'upload-length': 10, 'upload-metadata': 'filename not base64!' }) });
    assert.equal(badMeta.status, 400);

    const url = await create(token, 100);
    const wrongType = await rawRequest(url, { method: 'PATCH', headers: tusHeaders(token, { 'upload-offset': 0, 'content-type': 'application/json' }), body: Buffer.from('{}') });
    assert.equal(wrongType.status, 415);

    // More bytes than Upload-Length are refused and nothing is kept.
    const over = await patch(url, token, 0, Buffer.alloc(101, 1));
    assert.equal(over.status, 413);
    assert.equal(Number((await head(url, token)).headers['upload-offset']), 0);

    const noToken = await rawRequest(`${server.url}/api/uploads/tus`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': 10 } });
    assert.equal(noToken.status, 401);
  });

  test('a completed upload that is not media is refused with its code and removed; termination removes an upload', async () => {
    const token = await server.session();
    const text = Buffer.from('just some notes about the class, not a video\n'.repeat(20));
    const url = await create(token, text.length);
    const res = await patch(url, token, 0, text);
    assert.equal(res.status, 415);
    assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'INVALID_FORMAT');
    assert.equal((await head(url, token)).status, 404);

    const doomed = await create(token, 1000);
    assert.equal((await patch(doomed, token, 0, Buffer.alloc(100, 3))).status, 204);
    const del = await rawRequest(doomed, { method: 'DELETE', headers: tusHeaders(token) });
    assert.equal(del.status, 204);
    assert.equal((await head(doomed, token)).status, 404);
    const id = doomed.split('/').pop();
    assert.deepEqual((await server.storedKeys()).filter((k) => k.startsWith(`tus/${id}/`)), []);
  });
});

describe('tus expiration', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--tus-expiry', '0.3'] });
  });
  after(() => server.close());

  test('an unfinished upload past its expiry is gone (404) and its parts are removed', async () => {
    const token = await server.session();
    const created = await rawRequest(`${server.url}/api/uploads/tus`, {
      method: 'POST',
      headers: { 'tus-resumable': '1.0.0', authorization: `Bearer ${token}`, 'upload-length': 1000 },
    });
    assert.equal(created.status, 201);
    const url = `${server.url}${created.headers.location}`;
    const expires = Date.parse(String(created.headers['upload-expires']));
    assert.ok(expires > Date.now() - 2000);
    await sleep(600);
    const res = await rawRequest(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0', authorization: `Bearer ${token}` } });
    assert.equal(res.status, 404);
    assert.deepEqual((await server.storedKeys()).filter((k) => k.startsWith('tus/')), []);
  });
});
