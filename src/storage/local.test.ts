import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { BeatSyncError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { LocalFileStore, validateKey } from './local.ts';

const root = mkdtempSync(join(tmpdir(), 'beatsync-filestore-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshStore = () => new LocalFileStore(join(root, `store-${++counter}`));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const isCode = (code: ErrorCode) => (e: unknown) => e instanceof BeatSyncError && e.code === code;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function keys(store: LocalFileStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** Yields `chunks` pieces of `size` bytes, then optionally fails; records what it produced. */
async function* chunks(data: Buffer, size: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  for (let i = 0, n = 0; i < data.length; i += size, n++) {
    if (failAfter !== undefined && n === failAfter) throw new Error('source broke');
    yield data.subarray(i, i + size);
  }
}

describe('LocalFileStore', () => {
  test('put streams in, reports size and sha256; read returns the bytes, with inclusive ranges', async () => {
    const store = freshStore();
    const data = randomBytes(300_000);
    const put = await store.put('uploads/f1/data', Readable.from(chunks(data, 64 * 1024)));
    assert.deepEqual(put, { key: 'uploads/f1/data', size: data.length, sha256: sha(data) });
    assert.deepEqual(await readAll(await store.read('uploads/f1/data')), data);
    assert.deepEqual(await readAll(await store.read('uploads/f1/data', { start: 0, end: 0 })), data.subarray(0, 1));
    assert.deepEqual(await readAll(await store.read('uploads/f1/data', { start: 1000, end: 199_999 })), data.subarray(1000, 200_000));
    const last = data.length - 1;
    assert.deepEqual(await readAll(await store.read('uploads/f1/data', { start: last, end: last })), data.subarray(last));
    await assert.rejects(store.read('uploads/f1/data', { start: 10, end: data.length }), isCode('BAD_REQUEST'));
    await assert.rejects(store.read('uploads/f1/data', { start: 10, end: 9 }), isCode('BAD_REQUEST'));
    await assert.rejects(store.read('uploads/nope/data'), isCode('FILE_NOT_FOUND'));
    const stat = await store.stat('uploads/f1/data');
    assert.equal(stat?.size, data.length);
    assert.equal(await store.stat('uploads/f1'), null); // a folder is not an object
    assert.deepEqual(await readFile(await store.localPath('uploads/f1/data')), data);
    await assert.rejects(store.localPath('uploads/f1/missing'), isCode('FILE_NOT_FOUND'));
  });

  test('an object is invisible until its write finished', async () => {
    const store = freshStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let wrote = false;
    const source = (async function* () {
      yield Buffer.alloc(1000, 1);
      wrote = true;
      await gate;
      yield Buffer.alloc(1000, 2);
    })();
    const pending = store.put('outputs/j1/out.mp4', source);
    while (!wrote) await new Promise((r) => setImmediate(r));
    assert.equal(await store.stat('outputs/j1/out.mp4'), null);
    await assert.rejects(store.read('outputs/j1/out.mp4'), isCode('FILE_NOT_FOUND'));
    assert.equal((await keys(store, 'tmp/')).length, 1); // the write is under way in tmp/
    release();
    assert.equal((await pending).size, 2000);
    assert.equal((await store.stat('outputs/j1/out.mp4'))?.size, 2000);
    assert.deepEqual(await keys(store, 'tmp/'), []);
  });

  test('a source that errors leaves nothing behind and keeps the previous version', async () => {
    const store = freshStore();
    const old = Buffer.from('previous version');
    await store.put('uploads/f2/data', Readable.from([old]));
    await assert.rejects(store.put('uploads/f2/data', chunks(randomBytes(50_000), 1000, 10)), isCode('PROCESSING_FAILED'));
    assert.deepEqual(await readAll(await store.read('uploads/f2/data')), old);
    await assert.rejects(store.put('uploads/f3/data', Readable.from(chunks(randomBytes(50_000), 1000, 3))), isCode('PROCESSING_FAILED'));
    assert.equal(await store.stat('uploads/f3/data'), null);
    assert.deepEqual(await keys(store, 'tmp/'), []);
  });

  test('maxBytes: FILE_TOO_LARGE while streaming, temp removed; exactly maxBytes is fine', async () => {
    const store = freshStore();
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled += 1;
        this.push(Buffer.alloc(16 * 1024, 7));
      },
    });
    await assert.rejects(store.put('uploads/big/data', endless, { maxBytes: 100_000 }), isCode('FILE_TOO_LARGE'));
    assert.ok(pulled < 20, 'stops reading soon after the limit');
    assert.ok(endless.destroyed);
    assert.equal(await store.stat('uploads/big/data'), null);
    assert.deepEqual(await keys(store, 'tmp/'), []);
    const exact = await store.put('uploads/ok/data', Readable.from([Buffer.alloc(100_000)]), { maxBytes: 100_000 });
    assert.equal(exact.size, 100_000);
  });

  test('an abort stops a waiting write with CANCELLED and removes the temp file', async () => {
    const store = freshStore();
    const stalled = new Readable({ read() {} });
    stalled.push(Buffer.alloc(5000));
    const controller = new AbortController();
    const pending = store.put('uploads/slow/data', stalled, { signal: controller.signal });
    while ((await keys(store, 'tmp/')).length === 0) await new Promise((r) => setImmediate(r));
    controller.abort();
    await assert.rejects(pending, isCode('CANCELLED'));
    assert.equal(await store.stat('uploads/slow/data'), null);
    assert.deepEqual(await keys(store, 'tmp/'), []);
    const already = new AbortController();
    already.abort();
    await assert.rejects(store.put('uploads/x/data', Readable.from([Buffer.from('x')]), { signal: already.signal }), isCode('CANCELLED'));
  });

  test('putFile moves a finished file in with its hash', async () => {
    const store = freshStore();
    const data = randomBytes(10_000);
    const src = join(root, `render-${counter}.mp4`);
    writeFileSync(src, data);
    const put = await store.putFile('outputs/j2/out.mp4', src);
    assert.deepEqual(put, { key: 'outputs/j2/out.mp4', size: data.length, sha256: sha(data) });
    assert.equal(existsSync(src), false);
    assert.deepEqual(await readAll(await store.read('outputs/j2/out.mp4')), data);
    await assert.rejects(store.putFile('outputs/j2/again.mp4', src), isCode('FILE_NOT_FOUND'));
  });

  test('putFile copies across filesystems (EXDEV) and still consumes the source', async (t) => {
    const store = freshStore();
    await store.put('probe/x', Readable.from([Buffer.from('x')]));
    if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(store.rootDir).dev) {
      t.skip('no second filesystem here');
      return;
    }
    const src = join(mkdtempSync('/dev/shm/beatsync-'), 'render.mp4');
    const data = randomBytes(70_000);
    writeFileSync(src, data);
    try {
      const put = await store.putFile('outputs/j3/out.mp4', src);
      assert.equal(put.sha256, sha(data));
      assert.equal(existsSync(src), false);
      assert.deepEqual(await readAll(await store.read('outputs/j3/out.mp4')), data);
      assert.deepEqual(await keys(store, 'tmp/'), []);
    } finally {
      rmSync(dirname(src), { recursive: true, force: true });
    }
  });

  test('list by prefix; delete is idempotent and prunes empty folders', async () => {
    const store = freshStore();
    for (const key of ['uploads/a/data', 'uploads/a/meta.json', 'uploads/b/data', 'outputs/j/out.mp4']) await store.put(key, Readable.from([Buffer.from(key)]));
    assert.deepEqual(await keys(store, 'uploads/'), ['uploads/a/data', 'uploads/a/meta.json', 'uploads/b/data']);
    assert.deepEqual(await keys(store, 'uploads/a/'), ['uploads/a/data', 'uploads/a/meta.json']);
    assert.deepEqual(await keys(store, 'uploads/b'), ['uploads/b/data']);
    assert.deepEqual(await keys(store, 'nothing/'), []);
    const listed = [];
    for await (const o of store.list('outputs/')) listed.push(o);
    assert.equal(listed[0].size, 'outputs/j/out.mp4'.length);
    await store.delete('uploads/b/data');
    await store.delete('uploads/b/data');
    assert.equal(readdirSync(join(store.rootDir, 'uploads')).includes('b'), false);
    assert.deepEqual(await keys(store, 'uploads/'), ['uploads/a/data', 'uploads/a/meta.json']);
    // A write into a folder that a delete just pruned still lands.
    await store.put('uploads/b/data', Readable.from([Buffer.from('again')]));
    assert.equal((await store.stat('uploads/b/data'))?.size, 5);
  });

  test('keys are validated on every call', async () => {
    const store = freshStore();
    const bad = ['', '../escape', 'uploads/../../etc/passwd', '/abs/path', 'a//b', 'a/./b', 'a/', 'bad\u0000name', 'bad\nname', 'back\\slash'];
    for (const key of bad) {
      assert.throws(() => validateKey(key), isCode('BAD_REQUEST'), JSON.stringify(key));
      await assert.rejects(store.put(key, Readable.from([Buffer.from('x')])), isCode('BAD_REQUEST'), JSON.stringify(key));
      await assert.rejects(store.read(key), isCode('BAD_REQUEST'));
      await assert.rejects(store.stat(key), isCode('BAD_REQUEST'));
      await assert.rejects(store.delete(key), isCode('BAD_REQUEST'));
    }
    await assert.rejects(store.put('tmp/mine', Readable.from([Buffer.from('x')])), isCode('BAD_REQUEST'));
    await assert.rejects(async () => { for await (const _ of store.list('../')) void _; }, isCode('BAD_REQUEST'));
    assert.equal(existsSync(join(root, 'escape')), false);
  });

  test('freeBytes reports the free space of the store', async () => {
    const free = await freshStore().freeBytes();
    assert.ok(free !== null && free > 0);
  });
});

test('copy makes an independent object that outlives its source; a missing source is FILE_NOT_FOUND', async () => {
  const store = freshStore();
  await store.put('outputs/a/v.mp4', Readable.from([Buffer.from('video bytes')]));
  await store.copy('outputs/a/v.mp4', 'outputs/b/v.mp4');
  await store.delete('outputs/a/v.mp4');
  assert.equal((await readAll(await store.read('outputs/b/v.mp4'))).toString(), 'video bytes');
  assert.deepEqual(await keys(store, 'tmp/'), []);
  await assert.rejects(store.copy('outputs/a/v.mp4', 'outputs/c/v.mp4'), isCode('FILE_NOT_FOUND'));
  await assert.rejects(store.copy('outputs/b/v.mp4', 'tmp/x'), isCode('BAD_REQUEST'));
  assert.equal(await store.stat('outputs/c/v.mp4'), null);
});
