// S3FileStore against a real S3-compatible server (s3rver in its own process, objects on disk): streamed
// and multipart writes, atomic visibility, size limit, ranges, listing, the local cache, presigned URLs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BeatSyncError } from '../errors.ts';
import { S3FileStore } from './s3.ts';
import { S3_TEST_CREDENTIALS, startS3Server } from './testing/s3-server.ts';
import type { S3Server } from './testing/s3-server.ts';

const MIB = 1024 * 1024;
let server: S3Server;
let cacheDir: string;
let store: S3FileStore;
let counter = 0;

function open(prefix = `t${++counter}`): S3FileStore {
  return new S3FileStore({ bucket: server.bucket, endpoint: server.endpoint, credentials: S3_TEST_CREDENTIALS, prefix, cacheDir, partSize: 5 * MIB });
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function isCode(code: string) {
  return (err: unknown) => err instanceof BeatSyncError && err.code === code;
}

before(async () => {
  server = await startS3Server();
  cacheDir = await mkdtemp(join(tmpdir(), 'beatsync-s3cache-test-'));
  store = open();
});
after(async () => {
  store.close();
  await server.stop();
  await rm(cacheDir, { recursive: true, force: true });
});

describe('S3FileStore on a real S3-compatible server', () => {
  test('a multipart upload streams in, reports size and sha256, and reads back whole and by range', async () => {
    const data = Buffer.alloc(11 * MIB + 123);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) % 251;
    const chunks = Array.from({ length: Math.ceil(data.length / MIB) }, (_, i) => data.subarray(i * MIB, (i + 1) * MIB));
    const put = await store.put('outputs/j1/video.mp4', Readable.from(chunks));
    assert.equal(put.size, data.length);
    assert.equal(put.sha256, createHash('sha256').update(data).digest('hex'));
    assert.equal((await store.stat('outputs/j1/video.mp4'))?.size, data.length);
    assert.ok((await bytesOf(await store.read('outputs/j1/video.mp4'))).equals(data));
    assert.ok((await bytesOf(await store.read('outputs/j1/video.mp4', { start: 6 * MIB - 10, end: 6 * MIB + 9 }))).equals(data.subarray(6 * MIB - 10, 6 * MIB + 10)));
    await assert.rejects(store.read('outputs/j1/video.mp4', { start: 0, end: data.length }), isCode('BAD_REQUEST'));
    await assert.rejects(store.read('outputs/j1/missing.mp4'), isCode('FILE_NOT_FOUND'));
  });

  test('an object is invisible until its write finished, even after parts were sent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(6 * MIB, 1); // more than a part: the multipart upload has begun
      await gate;
      yield Buffer.alloc(MIB, 2);
    }
    const writing = store.put('uploads/u1/data', slow());
    await sleep(300);
    assert.equal(await store.stat('uploads/u1/data'), null);
    const listed: string[] = [];
    for await (const o of store.list('uploads/')) listed.push(o.key);
    assert.deepEqual(listed, []);
    release();
    assert.equal((await writing).size, 7 * MIB);
    assert.equal((await store.stat('uploads/u1/data'))?.size, 7 * MIB);
  });

  test('a failing source, the size limit or an abort leave nothing behind', async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(6 * MIB);
      throw new Error('client went away');
    }
    await assert.rejects(store.put('uploads/u2/data', broken()));
    assert.equal(await store.stat('uploads/u2/data'), null);
    await assert.rejects(store.put('uploads/u3/data', Readable.from([Buffer.alloc(3 * MIB), Buffer.alloc(3 * MIB)]), { maxBytes: 4 * MIB }), isCode('FILE_TOO_LARGE'));
    assert.equal(await store.stat('uploads/u3/data'), null);
    const controller = new AbortController();
    const never = new Readable({ read() {} });
    never.push(Buffer.alloc(1000));
    const writing = store.put('uploads/u4/data', never, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(writing);
    assert.equal(await store.stat('uploads/u4/data'), null);
  });

  test('keys are validated; tmp/ is reserved; list and delete work under the prefix only', async () => {
    for (const bad of ['', '/abs', 'a/../b', 'a//b', 'a\\b', 'a/\u0001']) await assert.rejects(store.stat(bad), isCode('BAD_REQUEST'));
    await assert.rejects(store.put('tmp/x', Readable.from([Buffer.from('x')])), isCode('BAD_REQUEST'));
    const other = open('elsewhere');
    await other.put('outputs/j9/a.json', Readable.from([Buffer.from('{}')]));
    await store.put('outputs/j2/a.json', Readable.from([Buffer.from('{"a":1}')]));
    await store.put('outputs/j2/b.json', Readable.from([Buffer.from('{"b":2}')]));
    const keys: string[] = [];
    for await (const o of store.list('outputs/j2/')) keys.push(o.key);
    assert.deepEqual(keys, ['outputs/j2/a.json', 'outputs/j2/b.json']);
    await store.delete('outputs/j2/a.json');
    await store.delete('outputs/j2/a.json'); // deleting twice is fine
    assert.equal(await store.stat('outputs/j2/a.json'), null);
    assert.ok(await other.stat('outputs/j9/a.json'));
    other.close();
  });

  test('putFile uploads and consumes a local file; localPath downloads once into the cache', async () => {
    const local = join(cacheDir, 'render-out.mp4');
    await writeFile(local, Buffer.alloc(2000, 9));
    const put = await store.putFile('outputs/j3/out.mp4', local);
    assert.equal(put.size, 2000);
    await assert.rejects(readFile(local));
    const path = await store.localPath('outputs/j3/out.mp4');
    assert.ok(path.startsWith(cacheDir) && path.endsWith('.mp4'));
    assert.ok((await readFile(path)).equals(Buffer.alloc(2000, 9)));
    assert.equal(await store.localPath('outputs/j3/out.mp4'), path);
    assert.ok(!(await readdir(cacheDir)).some((n) => n.endsWith('.part')));
    await store.evictLocal('outputs/j3/out.mp4');
    await assert.rejects(readFile(path));
    await assert.rejects(store.localPath('outputs/j3/none.mp4'), isCode('FILE_NOT_FOUND'));
  });

  test('copy is a server-side copy that outlives its source; a missing source is FILE_NOT_FOUND', async () => {
    await store.put('outputs/j5/v.mp4', Readable.from([Buffer.from('copied bytes')]));
    await store.copy('outputs/j5/v.mp4', 'outputs/j6/v.mp4');
    await store.delete('outputs/j5/v.mp4');
    assert.equal((await bytesOf(await store.read('outputs/j6/v.mp4'))).toString(), 'copied bytes');
    await assert.rejects(store.copy('outputs/j5/v.mp4', 'outputs/j7/v.mp4'), (e: unknown) => (e as { code?: string }).code === 'FILE_NOT_FOUND');
  });

  test('presigned URLs serve the object with Range and the asked file name, without credentials', async () => {
    await store.put('outputs/j4/video.mp4', Readable.from([Buffer.from('0123456789')]));
    const url = await store.presignedUrl('outputs/j4/video.mp4', { filename: 'class 1-beatsync.mp4', inline: false, contentType: 'video/mp4' });
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(await whole.text(), '0123456789');
    assert.match(whole.headers.get('content-disposition') ?? '', /attachment; filename\*=UTF-8''class%201-beatsync\.mp4/);
    const part = await fetch(url, { headers: { range: 'bytes=2-4' } });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), '234');
    // (s3rver does not check query signatures, so refusal of a forged URL is not provable here.)
    assert.match(url, /X-Amz-Signature=[0-9a-f]{64}/);
    assert.match(url, /X-Amz-Expires=900/);
  });

  test('freeBytes is unknown (null) but fails when the bucket cannot be reached (readiness)', async () => {
    assert.equal(await store.freeBytes(), null);
    const nowhere = new S3FileStore({ bucket: 'no-such-bucket', endpoint: server.endpoint, credentials: S3_TEST_CREDENTIALS, cacheDir });
    await assert.rejects(nowhere.freeBytes(), isCode('RESOURCE_LIMIT'));
    nowhere.close();
  });
});
