// A disk that fills up during an upload, for real: the server's data directory on a 4 MiB tmpfs (the tests
// run as root). Multipart and tus uploads that meet ENOSPC answer 503 RESOURCE_LIMIT, retryable, with
// Retry-After, log nothing at error level, leave no partial file, and the server works once there is room.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openJobSystem } from '../src/jobs/index.ts';
import type { JobSystem } from '../src/jobs/index.ts';
import { buildServer } from '../src/server/app.ts';
import { loadServerConfig } from '../src/server/config.ts';
import { multipartBody, rawRequest } from './helpers/server.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function canMount(): boolean {
  return process.getuid?.() === 0;
}

describe('a full disk during uploads', { skip: canMount() ? false : 'needs root to mount a tmpfs' }, () => {
  let mountPoint: string;
  let app: FastifyInstance;
  let system: JobSystem;
  let url: string;
  let token: string;
  const logLines: { level: number; msg: string }[] = [];

  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'beatsync-fulldisk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
    const dataDir = join(mountPoint, 'data');
    // Readiness and admission thresholds do not matter here: uploads are what meets the full disk.
    const config = await loadServerConfig({ argv: ['--data-dir', dataDir, '--port', '0', '--max-upload-bytes', '64M', '--quota-storage', '1G'], env: {} });
    system = await openJobSystem({ dataDir, startWorkers: false });
    await system.start();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    app = await buildServer(config, { system, logger: pino({ level: 'info' }, sink) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${address.port}`;
    token = ((await (await fetch(`${url}/api/session`, { method: 'POST' })).json()) as { token: string }).token;
  });
  after(async () => {
    await app?.close();
    await system?.close();
    execFileSync('umount', ['-l', mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  async function leftovers(): Promise<string[]> {
    const entries = await readdir(join(mountPoint, 'data', 'files'), { recursive: true, withFileTypes: true }).catch(() => []);
    // Session records are not uploads.
    return entries.filter((e) => e.isFile() && !e.parentPath.includes('/sessions')).map((e) => join(e.parentPath, e.name));
  }

  function assertShortage(res: { status: number; headers: Record<string, unknown>; body: string }, what: string): void {
    assert.equal(res.status, 503, `${what}: ${res.status} ${res.body}`);
    const { error } = JSON.parse(res.body) as { error: { code: string; retryable: boolean } };
    assert.equal(error.code, 'RESOURCE_LIMIT', what);
    assert.equal(error.retryable, true, what);
    assert.match(String(res.headers['retry-after']), /^\d+$/, `${what}: Retry-After`);
    assert.doesNotMatch(res.body, /ENOSPC|\/tmp\/|at [A-Za-z]+ \(/, what);
  }

  test('a multipart upload bigger than the free space', async () => {
    const { body, contentType } = multipartBody({ filename: 'class.mp4', data: randomBytes(6 * 1024 * 1024) });
    const res = await rawRequest(`${url}/api/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': body.length },
      body,
    });
    assertShortage(res, 'multipart');
    assert.deepEqual(await leftovers(), [], 'no partial file');
  });

  test('a tus PATCH that fills the disk mid-stream keeps the upload resumable', async () => {
    const length = 6 * 1024 * 1024;
    const created = await rawRequest(`${url}/api/uploads/tus`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-length': length, 'upload-metadata': `filename ${b64('class.mp4')}` },
    });
    assert.equal(created.status, 201, created.body);
    const patch = await rawRequest(`${url}${created.headers.location}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-offset': 0, 'content-type': 'application/offset+octet-stream', 'content-length': length },
      body: randomBytes(length),
    });
    assertShortage(patch, 'tus PATCH');
    const head = await rawRequest(`${url}${created.headers.location}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } });
    assert.equal(head.status, 200);
    assert.equal(head.headers['upload-offset'], '0');
    // Its record and quota reservation stay (it can be resumed); no partial part or temp file does.
    assert.deepEqual((await leftovers()).filter((f) => !f.endsWith('info.json') && !f.includes('/reserved/')), [], 'no partial part');
  });

  test('nothing was logged at error level, and the server still answers', async () => {
    assert.equal((await fetch(`${url}/api/health`)).status, 200);
    const errors = logLines.filter((l) => l.level >= 50);
    assert.deepEqual(errors, []);
    assert.ok(logLines.some((l) => l.msg === 'request refused'), 'the refusals were logged as refusals');
  });
});
