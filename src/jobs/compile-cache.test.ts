// A job's process starts with the compile cache of the process that forks it (bin/beatsync.js enables it).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { enableCompileCache, getCompileCacheDir } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileCacheEnv } from './job-run.ts';

test('a job process inherits the compile cache directory', async () => {
  const saved = process.env.NODE_COMPILE_CACHE;
  delete process.env.NODE_COMPILE_CACHE;
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-compile-cache-'));
  try {
    if (getCompileCacheDir() === undefined) assert.deepEqual(compileCacheEnv(), {});
    enableCompileCache(dir);
    const env = compileCacheEnv();
    assert.ok(env.NODE_COMPILE_CACHE, 'the cache directory is passed on');
    assert.equal(env.NODE_COMPILE_CACHE, getCompileCacheDir());
    process.env.NODE_COMPILE_CACHE = '/somewhere/else';
    assert.deepEqual(compileCacheEnv(), { NODE_COMPILE_CACHE: '/somewhere/else' }, 'an explicit setting wins');
  } finally {
    if (saved === undefined) delete process.env.NODE_COMPILE_CACHE;
    else process.env.NODE_COMPILE_CACHE = saved;
    await rm(dir, { recursive: true, force: true });
  }
});
