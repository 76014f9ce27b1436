// Slow-body uploads: a body slower than the minimum rate over the window is cut off and leaves no partial
// file; one address may have only so many uploads open at once. Real sockets on loopback, a 2 s window.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest, startTestServer } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Trickle {
  socket: Socket;
  /** Resolves with what the server sent, when the connection closes. */
  closed: Promise<{ answer: string; afterMs: number }>;
  stop(): void;
}

/** Sends `head`, then `bytesPerTick` bytes every `everyMs` until the server closes the connection (or stop()). */
async function trickle(port: number, head: string, bytesPerTick: number, everyMs: number): Promise<Trickle> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const started = Date.now();
  socket.write(head);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  socket.on('error', () => undefined);
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(Buffer.alloc(bytesPerTick, 0x41));
  }, everyMs);
  const closed = new Promise<{ answer: string; afterMs: number }>((resolve) => socket.once('close', () => {
    clearInterval(timer);
    resolve({ answer, afterMs: Date.now() - started });
  }));
  return { socket, closed, stop: () => { clearInterval(timer); socket.destroy(); } };
}

function multipartHead(token: string, length: number): string {
  const preamble = '--b0und\r\nContent-Disposition: form-data; name="file"; filename="slow.mp4"\r\nContent-Type: video/mp4\r\n\r\n';
  return `POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: multipart/form-data; boundary=b0und\r\nContent-Length: ${preamble.length + length}\r\n\r\n${preamble}`;
}

async function noTempFiles(server: TestServer): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if (!(await server.storedKeys()).some((k) => k.startsWith('tmp/') || k.includes('/part-'))) return;
    await sleep(50);
  }
  assert.deepEqual((await server.storedKeys()).filter((k) => k.startsWith('tmp/') || k.includes('/part-')), []);
}

describe('minimum upload rate', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startTestServer({ argv: ['--upload-min-rate', '1K', '--upload-rate-window', '2'] });
    token = await server.session();
  });
  after(() => server.close());

  test('a multipart body trickling in below the rate is closed after about one window, leaving no partial file', async () => {
    const slow = await trickle(server.port, multipartHead(token, 1_000_000), 10, 250);
    // Arriving at all: the first bytes reach the store's temp file before the cut.
    const { afterMs } = await slow.closed;
    assert.ok(afterMs >= 1_900 && afterMs < 5_000, `closed after ${afterMs} ms`);
    await noTempFiles(server);
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
  });

  test('a tus PATCH trickling in below the rate is closed too, and the upload stays resumable at offset 0', async () => {
    const created = await rawRequest(`${server.url}/api/uploads/tus`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-length': 1_000_000, 'upload-metadata': `filename ${b64('slow.mp4')}` },
    });
    assert.equal(created.status, 201, created.body);
    const head = `PATCH ${created.headers.location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nTus-Resumable: 1.0.0\r\n` +
      'Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000000\r\n\r\n';
    const slow = await trickle(server.port, head, 10, 250);
    const { afterMs } = await slow.closed;
    assert.ok(afterMs >= 1_900 && afterMs < 5_000, `closed after ${afterMs} ms`);
    await noTempFiles(server);
    const state = await rawRequest(`${server.url}${created.headers.location}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } });
    assert.equal(state.headers['upload-offset'], '0');
  });

  test('a body faster than the rate goes on past the window and gets its answer', async () => {
    // 4 KiB every 250 ms (16 KiB/s) for ~3 s, then the end of the form: answered (the bytes are no video: 415).
    const data = 48 * 1024;
    const steady = await trickle(server.port, multipartHead(token, data + '\r\n--b0und--\r\n'.length), 4096, 250);
    await sleep(12 * 250 + 100);
    steady.socket.write('\r\n--b0und--\r\n');
    const { answer, afterMs } = await steady.closed;
    assert.ok(afterMs > 2_500, `lasted ${afterMs} ms`);
    assert.match(answer, /^HTTP\/1\.1 (415|400)/, answer.slice(0, 200));
  });
});

describe('concurrent uploads per address', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startTestServer({ argv: ['--uploads-per-ip', '2'] });
    token = await server.session();
  });
  after(() => server.close());

  test('past the cap an upload is refused with 429 and Retry-After; closing one makes room', async () => {
    const first = await trickle(server.port, multipartHead(token, 1_000_000), 2048, 200);
    const second = await trickle(server.port, multipartHead(token, 1_000_000), 2048, 200);
    await sleep(300);
    const { body, contentType } = { body: Buffer.from('--b0und--\r\n'), contentType: 'multipart/form-data; boundary=b0und' };
    const third = await rawRequest(`${server.url}/api/uploads`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': body.length }, body,
    });
    assert.equal(third.status, 429, third.body);
    assert.equal((JSON.parse(third.body) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    assert.ok(third.headers['retry-after']);
    // Other requests from the same address are not uploads and are not capped.
    assert.equal((await fetch(`${server.url}/api/jobs`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    first.stop();
    await first.closed;
    await sleep(200);
    const fourth = await rawRequest(`${server.url}/api/uploads`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': body.length }, body,
    });
    assert.equal(fourth.status, 400, fourth.body);
    second.stop();
    await second.closed;
    await noTempFiles(server);
  });
});
