// A job's process starts with the render malloc settings and the compile cache of the process that forks it
// (bin/beatsync.js enables the cache).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { enableCompileCache, getCompileCacheDir } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RENDER_MALLOC_ENV, hasRenderMalloc } from '../process-env.ts';
import { childEnv } from './job-run.ts';
import { RUN_MARKER_ENV } from './process-tree.ts';

test('a job process gets the malloc settings, the compile cache directory and its marker', async () => {
  const saved = { ...process.env };
  for (const k of ['NODE_COMPILE_CACHE', ...Object.keys(RENDER_MALLOC_ENV)]) delete process.env[k];
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-child-env-'));
  try {
    if (getCompileCacheDir() === undefined) assert.equal(childEnv('m').NODE_COMPILE_CACHE, undefined);
    enableCompileCache(dir);
    const env = childEnv('marker-1');
    assert.ok(env.NODE_COMPILE_CACHE, 'the cache directory is passed on');
    assert.equal(env.NODE_COMPILE_CACHE, getCompileCacheDir());
    assert.equal(env[RUN_MARKER_ENV], 'marker-1');
    assert.ok(hasRenderMalloc(env));
    assert.equal(env.MALLOC_MMAP_THRESHOLD_, '131072');
    assert.equal(env.PATH, process.env.PATH, 'the rest of the environment is kept');
    process.env.NODE_COMPILE_CACHE = '/somewhere/else';
    process.env.MALLOC_MMAP_THRESHOLD_ = '65536';
    const explicit = childEnv('marker-2');
    assert.equal(explicit.NODE_COMPILE_CACHE, '/somewhere/else', 'an explicit setting wins');
    assert.equal(explicit.MALLOC_MMAP_THRESHOLD_, '65536');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await rm(dir, { recursive: true, force: true });
  }
});
