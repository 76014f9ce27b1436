// Hostile uploads against a real server on loopback: each is answered with its code, nothing of a refused
// file is kept, no local file or URL named inside a file is read, and the server keeps serving.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runFfmpeg } from '../src/media/index.ts';
import { fixtureDir, makeAudio, makeVideo } from './helpers/media.ts';
import { multipartBody, rawRequest, startTestServer, uploadFile } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

/** A 1 s rawvideo Matroska file whose picture size fields are rewritten to `side`×`side` (same byte length). */
async function absurdDimensions(side: number): Promise<Buffer> {
  const path = join(fixtureDir(), `dims-${side}.mkv`);
  await runFfmpeg([
    '-y', '-f', 'lavfi', '-i', 'testsrc2=size=300x300:rate=1:duration=1', '-f', 'lavfi', '-i', 'sine=duration=1',
    '-map', '0:v', '-map', '1:a', '-c:v', 'rawvideo', '-pix_fmt', 'yuv420p', '-c:a', 'pcm_s16le', '-t', '1', '-f', 'matroska', path,
  ]);
  const data = await readFile(path);
  // Matroska PixelWidth (0xB0) and PixelHeight (0xBA), 2-byte unsigned values holding 300.
  for (const id of [0xb0, 0xba]) {
    const at = data.indexOf(Buffer.from([id, 0x82, 0x01, 0x2c]));
    assert.ok(at > 0, 'size field found');
    data.writeUInt16BE(side, at + 2);
  }
  return data;
}

async function manyStreams(count: number): Promise<Buffer> {
  const path = join(fixtureDir(), `streams-${count}.mkv`);
  const maps = Array.from({ length: count }, () => ['-map', '0:a']).flat();
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', ...maps, '-c:a', 'pcm_s16le', '-t', '0.2', '-f', 'matroska', path]);
  return readFile(path);
}

describe('hostile uploads', () => {
  let server: TestServer;
  let token: string;
  let video: Buffer;
  let wav: Buffer;
  let canary: Server;
  let canaryHits = 0;
  let canaryUrl = '';

  before(async () => {
    server = await startTestServer({ argv: ['--max-duration', '3'] });
    token = await server.session();
    video = await readFile(await makeVideo('hostile.mp4', { seconds: 1 }));
    wav = await readFile(await makeAudio('hostile.wav', { format: 'wav', seconds: 1 }));
    // Anything that fetches this URL proves a playlist was followed.
    canary = createServer((_req, res) => {
      canaryHits++;
      res.end('#EXTM3U\n');
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    const address = canary.address();
    if (!address || typeof address === 'string') throw new Error('no canary port');
    canaryUrl = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await new Promise<void>((r) => canary.close(() => r()));
    await server.close();
  });

  async function refused(name: string, data: Buffer, code: string, query = ''): Promise<void> {
    const before = await server.storedKeys();
    const res = await uploadFile(server, token, name, data, query);
    assert.notEqual(res.status, 201, `${name} was accepted`);
    assert.ok(res.status >= 400 && res.status < 500, `${name}: ${res.status}`);
    assert.equal((res.json.error as { code: string }).code, code, `${name}: ${JSON.stringify(res.json)}`);
    assert.deepEqual(await server.storedKeys(), before, `${name} left something behind`);
  }

  test('path traversal and control characters in names: kept for display only, sanitised', async () => {
    const traversal = await uploadFile(server, token, '../../../../etc/passwd.mp4', video);
    assert.equal(traversal.status, 201);
    assert.equal(traversal.json.filename, 'passwd.mp4');
    const windows = await uploadFile(server, token, '..\\..\\windows\\win.ini.mp4', video);
    assert.equal(windows.json.filename, 'win.ini.mp4');
    const control = await uploadFile(server, token, 'cl\x01as\x1bs\x7f\u202eevil.mp4', video);
    assert.equal(control.status, 201);
    assert.equal(control.json.filename, 'classevil.mp4');
    const long = await uploadFile(server, token, `${'x'.repeat(900)}.mp4`, video);
    assert.equal(long.status, 201);
    assert.ok((long.json.filename as string).length <= 120 && (long.json.filename as string).endsWith('.mp4'));
    // Storage keys come from random ids, never from names.
    for (const key of await server.storedKeys()) assert.match(key, /^(uploads\/[A-Za-z0-9_-]{22}\/(data|meta\.json)|quota\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]{22}\.\d+|sessions\/([A-Za-z0-9_-]{24}|epoch))$/);
  });

  test('zero-byte, truncated, text, wrong extension and polyglot files', async () => {
    await refused('empty.mp4', Buffer.alloc(0), 'INVALID_FORMAT');
    await refused('cut.mp4', video.subarray(0, Math.floor(video.length * 0.6)), 'INVALID_FORMAT');
    await refused('notes.mp4', Buffer.from('These are my class notes.\n'.repeat(50)), 'INVALID_FORMAT');
    await refused('page.mp4', Buffer.concat([Buffer.from('<html><script>alert(1)</script></html>\n'), video]), 'INVALID_FORMAT');
    // A real WAV named .mp4 is judged by its content: accepted as audio.
    const wrongExt = await uploadFile(server, token, 'song.mp4', wav);
    assert.equal(wrongExt.status, 201);
    assert.equal(wrongExt.json.kind, 'audio');
  });

  test('playlists disguised as video never make the server read a local file or a URL', async () => {
    const hls = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${canaryUrl}/segment.ts\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n`;
    await refused('hls.mp4', Buffer.from(hls), 'INVALID_FORMAT');
    // Binary bytes in front get past a text sniff; the demuxer whitelist must still refuse.
    await refused('hls-binary.mp4', Buffer.concat([Buffer.from([0, 1, 2, 0xff]), Buffer.from(hls)]), 'INVALID_FORMAT');
    const concat = `ffconcat version 1.0\nfile '${canaryUrl}/a.mp4'\nfile '/etc/passwd'\n`;
    await refused('concat.mp4', Buffer.from(concat), 'INVALID_FORMAT');
    await refused('concat-binary.mp4', Buffer.concat([Buffer.from([0, 0xfe]), Buffer.from(concat)]), 'INVALID_FORMAT');
    assert.equal(canaryHits, 0);
  });

  test('absurd picture sizes, hundreds of streams, too-long files and names', async () => {
    await refused('huge.mkv', await absurdDimensions(30000), 'INVALID_FORMAT');
    await refused('big.mkv', await absurdDimensions(9000), 'INVALID_FORMAT');
    await refused('streams.mkv', await manyStreams(200), 'INVALID_FORMAT');
    await refused(`${'n'.repeat(5000)}.mp4`, video, 'BAD_REQUEST');
    await refused('long.wav', await readFile(await makeAudio('hostile-long.wav', { format: 'wav', seconds: 4 })), 'DURATION_LIMIT');
  });

  test('oversized multipart part headers and request headers', async () => {
    // A part header block past the 8 KiB the upload route allows.
    const { body, contentType } = multipartBody({ filename: `${'y'.repeat(20_000)}.mp4`, data: video });
    const part = await rawRequest(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-length': body.length, authorization: `Bearer ${token}` },
      body,
    });
    assert.ok(part.status >= 400 && part.status < 500, String(part.status));
    assert.equal((JSON.parse(part.body) as { error: { code: string } }).error.code, 'BAD_REQUEST');

    // Request headers past the server's limit: 431 in our error shape.
    const headers = await rawRequest(`${server.url}/api/health`, { headers: { 'x-filler': 'z'.repeat(server.config.maxHeaderBytes + 100) } });
    assert.equal(headers.status, 431);
    assert.equal((JSON.parse(headers.body) as { error: { code: string } }).error.code, 'BAD_REQUEST');

    // Not multipart at all.
    const notForm = await rawRequest(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: Buffer.from('{"file":"x"}'),
    });
    assert.ok(notForm.status >= 400 && notForm.status < 500, String(notForm.status));
  });

  test('after all that the server still serves, and unknown failures do not leak', async () => {
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
    const ok = await uploadFile(server, token, 'fine.mp4', video);
    assert.equal(ok.status, 201);
    const missing = await fetch(`${server.url}/api/uploads/${'A'.repeat(22)}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await missing.text();
    assert.equal(missing.status, 404);
    assert.doesNotMatch(text, /\/tmp\/|\/work\/|at [A-Za-z]+ \(/);
  });
});

describe('slow clients', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--headers-timeout', '1'] });
  });
  after(() => server.close());

  test('a client that never finishes its headers is cut off (slowloris)', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((r) => socket.once('close', () => r()));
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /"code":"TIMEOUT"/);
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
  });
});
