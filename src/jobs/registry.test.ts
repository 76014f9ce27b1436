import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UploadMeta } from '../storage/types.ts';
import { inputFileIdsOf, JOB_HANDLERS, JOB_LIMITS, JOB_TYPES, jobTypeOf, withLimitOverrides } from './registry.ts';
import { parseSyncInput, syncJob } from './types/beatsync-sync.ts';

const upload = (fileId: string, sha256: string): UploadMeta => ({
  fileId, owner: null, filename: 'x', size: 1, sha256, kind: 'video', durationSeconds: 10, createdAt: 0,
  media: { container: 'mp4', durationSeconds: 10, sizeBytes: 1, bitRate: null, startTime: 0, video: [], audio: [], otherStreams: 0, tags: {}, kind: 'video' },
});

test('every job type has a handler and a row of limits, and its handler names its own module', () => {
  assert.deepEqual(Object.keys(JOB_HANDLERS).sort(), Object.keys(JOB_LIMITS).sort());
  for (const [type, entry] of Object.entries(JOB_TYPES)) {
    assert.ok(entry.limits.timeLimitMs > 0 && entry.limits.maxAttempts >= 1, type);
    assert.ok(entry.limits.concurrencyShare > 0 && entry.limits.concurrencyShare <= 1, type);
    assert.ok(entry.handler.ref.url.startsWith('file:'), type);
  }
  assert.throws(() => jobTypeOf(JOB_TYPES, 'toString'), { code: 'BAD_REQUEST' });
  assert.equal(withLimitOverrides(JOB_TYPES, { 'beatsync.sync': { maxAttempts: 9 } })['beatsync.sync'].limits.maxAttempts, 9);
});

test('beatsync.sync input is checked and normalised', () => {
  assert.deepEqual(parseSyncInput({ danceFileId: 'a', bgmFileId: 'b', options: { variants: ['full', 'trimmed', 'full'], nudgeMs: 0 } }),
    { danceFileId: 'a', bgmFileId: 'b', options: { variants: ['trimmed', 'full'] } });
  for (const bad of [null, [], { danceFileId: 'a' }, { danceFileId: 'a/..', bgmFileId: 'b' }, { danceFileId: 'a', bgmFileId: 'b', options: { variants: [] } },
    { danceFileId: 'a', bgmFileId: 'b', options: { variants: ['best'] } }, { danceFileId: 'a', bgmFileId: 'b', options: { nudgeMs: Infinity } },
    { danceFileId: 'a', bgmFileId: 'b', options: { speed: 2 } }, { danceFileId: 'a', bgmFileId: 'b', more: 1 }]) {
    assert.throws(() => parseSyncInput(bad), { code: 'BAD_REQUEST' }, JSON.stringify(bad));
  }
});

test('the cache key follows content and options, not ids or option order', () => {
  const uploads = { a: upload('a', 'h1'), b: upload('b', 'h2'), c: upload('c', 'h1') };
  const key = (raw: unknown) => syncJob.cacheKey(parseSyncInput(raw), uploads);
  const base = key({ danceFileId: 'a', bgmFileId: 'b', options: { variants: ['trimmed', 'full'] } });
  assert.equal(key({ danceFileId: 'c', bgmFileId: 'b', options: { variants: ['full', 'trimmed'] } }), base);
  assert.notEqual(key({ danceFileId: 'a', bgmFileId: 'b', options: { variants: ['trimmed', 'full'], nudgeMs: 5 } }), base);
  assert.notEqual(key({ danceFileId: 'b', bgmFileId: 'a', options: { variants: ['trimmed', 'full'] } }), base);
});

test('input file ids of stored jobs, even ones this release cannot parse, are kept for retention', () => {
  assert.deepEqual(inputFileIdsOf({ type: 'beatsync.sync', input: { danceFileId: 'a', bgmFileId: 'b', options: {} } }), ['a', 'b']);
  assert.deepEqual(inputFileIdsOf({ type: 'beatsync.sync', input: { danceFileId: 'a', bgmFileId: 'b', legacy: true } }), ['a', 'b']);
  assert.deepEqual(inputFileIdsOf({ type: 'gone.type', input: { songFileId: 'z', n: 1 } }), ['z']);
});
