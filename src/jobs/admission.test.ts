import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BeatSyncError } from '../errors.ts';
import { LocalFileStore } from '../storage/local.ts';
import { checkAdmission, checkOwnerJobs } from './admission.ts';
import { SqliteJobStore } from './sqlite-store.ts';

const root = mkdtempSync(join(tmpdir(), 'beatsync-admission-'));
after(() => rmSync(root, { recursive: true, force: true }));
const refused = (e: unknown) => e instanceof BeatSyncError && e.code === 'RESOURCE_LIMIT' && e.retryable;

test('admission refuses with RESOURCE_LIMIT when the queue is full, and lets jobs in again as it drains', async () => {
  const jobs = SqliteJobStore.open(join(root, 'q.db'));
  const files = new LocalFileStore(join(root, 'files'));
  const limits = { maxQueueDepth: 3, minFreeBytes: 0 };
  try {
    for (let i = 0; i < 3; i++) {
      await checkAdmission(jobs, files, limits);
      await jobs.submit({ type: 't', input: { i } });
    }
    await assert.rejects(checkAdmission(jobs, files, limits), refused);
    const claim = await jobs.claim('w', ['t'], 60_000);
    assert.ok(claim);
    await checkAdmission(jobs, files, limits);
  } finally {
    await jobs.close();
  }
});

test('admission refuses with RESOURCE_LIMIT when free disk is below the threshold', async () => {
  const jobs = SqliteJobStore.open(join(root, 'd.db'));
  const files = new LocalFileStore(join(root, 'files'));
  try {
    const free = await files.freeBytes();
    assert.ok(free !== null);
    await checkAdmission(jobs, files, { maxQueueDepth: 10, minFreeBytes: Math.floor(free / 2) });
    await assert.rejects(checkAdmission(jobs, files, { maxQueueDepth: 10, minFreeBytes: free * 2 }), refused);
  } finally {
    await jobs.close();
  }
});

test('checkOwnerJobs: TOO_MANY_JOBS (Retry-After, the cap in the message) once an owner has `limit` live jobs; finished ones free a place', async () => {
  const jobs = SqliteJobStore.open(join(root, 'o.db'));
  const tooMany = (e: unknown) => e instanceof BeatSyncError && e.code === 'TOO_MANY_JOBS' && e.retryable
    && (e.retryAfterSeconds ?? 0) > 0 && e.toJSON('en').message.includes('2 videos');
  try {
    for (let i = 0; i < 2; i++) {
      await checkOwnerJobs(jobs, 'a', 2);
      await jobs.submit({ type: 't', input: { i }, owner: 'a' });
    }
    await assert.rejects(checkOwnerJobs(jobs, 'a', 2), tooMany);
    // Other owners, and tokenless jobs, have their own count.
    await checkOwnerJobs(jobs, 'b', 2);
    await checkOwnerJobs(jobs, null, 2);
    const claim = await jobs.claim('w', ['t'], 60_000);
    await assert.rejects(checkOwnerJobs(jobs, 'a', 2), tooMany, 'a running job still counts');
    await jobs.complete(claim!.job.id, claim!.leaseToken, {});
    await checkOwnerJobs(jobs, 'a', 2);
  } finally {
    await jobs.close();
  }
});
