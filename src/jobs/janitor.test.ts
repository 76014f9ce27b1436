// Retention against a real SQLite store and a real local file store, on an injected clock.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { LocalFileStore } from '../storage/local.ts';
import { outputKey, quotaMarkerKey, uploadDataKey, uploadMetaKey } from '../storage/types.ts';
import { Janitor } from './janitor.ts';
import type { JanitorReport } from './janitor.ts';
import { SqliteJobStore } from './sqlite-store.ts';
import type { JobRecord } from './types.ts';

const root = mkdtempSync(join(tmpdir(), 'beatsync-janitor-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const TYPE = 'beatsync.sync';

/** The sync job's input shape; the janitor learns it only through this function. */
const inputFileIds = (job: JobRecord): string[] => {
  const input = job.input as { danceFileId: string; bgmFileId: string };
  return [input.danceFileId, input.bgmFileId];
};

async function setup() {
  const dir = join(root, `case-${++counter}`);
  let now = Date.now();
  const clock = { set: (t: number) => { now = t; }, now: () => now };
  const jobs = SqliteJobStore.open(join(dir, 'jobs.db'), { now: clock.now });
  const files = new LocalFileStore(join(dir, 'files'));
  const janitor = new Janitor({ jobs, files, inputFileIds, now: clock.now });
  const upload = async (fileId: string, bytes = 100) => {
    await files.put(uploadDataKey(fileId), Readable.from([Buffer.alloc(bytes)]));
    await files.put(uploadMetaKey(fileId), Readable.from([Buffer.from('{}')]));
  };
  const submit = async (dance: string, bgm: string) => (await jobs.submit({ type: TYPE, input: { danceFileId: dance, bgmFileId: bgm, options: {} } })).job;
  const exists = async (key: string) => (await files.stat(key)) !== null;
  return { dir, clock, jobs, files, janitor, upload, submit, exists };
}

test('retention by age: orphans after 1 h, unused and finished inputs after 24 h, outputs after 3 days, rows after 30 days', async () => {
  const { clock, jobs, files, janitor, upload, submit, exists, dir } = await setup();
  const t0 = clock.now();
  try {
    for (const id of ['liveQ1', 'liveQ2', 'liveR1', 'liveR2', 'retry1', 'retry2', 'done1', 'done2', 'unused', 'bad1', 'bad2']) await upload(id);
    const done = await submit('done1', 'done2');
    const bad = await submit('bad1', 'bad2');
    const retrying = await submit('retry1', 'retry2');
    const running = await submit('liveR1', 'liveR2');
    const queued = await submit('liveQ1', 'liveQ2'); // last in line: stays queued
    const claimNext = async (id: string) => {
      const claim = await jobs.claim('w', [TYPE], 10 * DAY);
      assert.equal(claim?.job.id, id);
      return claim!;
    };
    const cDone = await claimNext(done.id);
    await files.put(outputKey(done.id, 'out.mp4'), Readable.from([Buffer.alloc(500)]));
    await jobs.complete(done.id, cDone.leaseToken, { file: 'out.mp4' });
    const cBad = await claimNext(bad.id);
    await files.put(outputKey(bad.id, 'half.mp4'), Readable.from([Buffer.alloc(300)]));
    await jobs.fail(bad.id, cBad.leaseToken, { code: 'NO_MATCH', message: 'no', retryable: false });
    const cRetry = await claimNext(retrying.id);
    await jobs.fail(retrying.id, cRetry.leaseToken, { code: 'TIMEOUT', message: 'slow', retryable: true });
    await claimNext(running.id);
    await files.put(outputKey(running.id, 'partial.mp4'), Readable.from([Buffer.alloc(200)]));
    await files.put(outputKey('no-such-job-anywhere0', 'x.mp4'), Readable.from([Buffer.alloc(50)]));
    // A crash mid-write leaves a temp file behind.
    mkdirSync(join(dir, 'files', 'tmp'), { recursive: true });
    writeFileSync(join(dir, 'files', 'tmp', 'crashed.part'), Buffer.alloc(70));

    let report = await janitor.run();
    assert.equal(report.temp.files + report.orphanOutputs.files + report.inputs.files + report.outputs.files + report.jobRows, 0, 'nothing is old yet');

    clock.set(t0 + 2 * HOUR);
    report = await janitor.run();
    assert.deepEqual(report.temp, { items: 1, files: 1, bytes: 70 });
    // The unknown job's folder and the failed job's partial output are orphans; the running job's is not.
    assert.deepEqual(report.orphanOutputs, { items: 2, files: 2, bytes: 350 });
    assert.equal(await exists(outputKey(running.id, 'partial.mp4')), true);
    assert.equal(await exists(outputKey(done.id, 'out.mp4')), true);
    assert.equal(report.inputs.files, 0);

    clock.set(t0 + 25 * HOUR);
    report = await janitor.run();
    // done1/2, bad1/2 (finished > 24 h ago) and the never-used upload; two files each.
    assert.deepEqual(report.inputs, { items: 5, files: 10, bytes: 5 * (100 + 2) });
    for (const id of ['done1', 'unused', 'bad2']) assert.equal(await exists(uploadDataKey(id)), false, id);
    for (const id of ['liveQ1', 'liveQ2', 'liveR1', 'liveR2', 'retry1', 'retry2']) assert.equal(await exists(uploadDataKey(id)), true, id);
    assert.equal(report.outputs.files, 0);

    clock.set(t0 + 73 * HOUR);
    report = await janitor.run();
    assert.deepEqual(report.outputs, { items: 1, files: 1, bytes: 500 });
    assert.equal(report.jobRows, 0);

    clock.set(t0 + 31 * DAY);
    report = await janitor.run();
    assert.equal(report.jobRows, 2); // done and bad; the live ones stay
    assert.equal(await jobs.get(done.id), null);
    for (const job of [queued, retrying, running]) assert.ok(await jobs.get(job.id));
    for (const id of ['liveQ1', 'liveQ2', 'liveR1', 'liveR2', 'retry1', 'retry2']) assert.equal(await exists(uploadDataKey(id)), true, id);
    assert.equal(await exists(outputKey(running.id, 'partial.mp4')), true);
    const history = await jobs.history();
    assert.equal(history.reduce((n, d) => n + d.succeeded, 0), 1);
    assert.equal(history.reduce((n, d) => n + d.failed, 0), 1);
  } finally {
    await jobs.close();
  }
});

test('an input is kept for 24 h after the last job using it finished, however old the upload', async () => {
  const { clock, jobs, janitor, upload, submit, exists } = await setup();
  const t0 = clock.now();
  try {
    await upload('old1');
    await upload('old2');
    const job = await submit('old1', 'old2');
    clock.set(t0 + 23 * HOUR);
    const claim = await jobs.claim('w', [TYPE], HOUR);
    await jobs.complete(job.id, claim!.leaseToken, {});
    clock.set(t0 + 30 * HOUR); // upload 30 h old, job finished 7 h ago
    assert.equal((await janitor.run()).inputs.files, 0);
    assert.equal(await exists(uploadDataKey('old1')), true);
    clock.set(t0 + 48 * HOUR);
    assert.equal((await janitor.run()).inputs.items, 2);
  } finally {
    await jobs.close();
  }
});

test('quota markers go when their upload is gone (in the same pass as the upload); the others stay', async () => {
  const { clock, jobs, files, janitor, upload, exists } = await setup();
  const t0 = clock.now();
  const marker = (owner: string, fileId: string) => files.put(quotaMarkerKey(owner, fileId, 100), Readable.from([Buffer.alloc(0)]));
  try {
    await upload('kept1');
    await upload('kept2');
    await marker('tokenA', 'kept1');
    await marker('tokenB', 'kept2');
    await marker('tokenA', 'gone1'); // its upload was deleted (compat route, an older retention run)
    await files.put('quota/tokenA/not-a-marker', Readable.from([Buffer.alloc(0)]));
    let report = await janitor.run();
    assert.deepEqual(report.quotaMarkers, { items: 1, files: 1, bytes: 0 });
    assert.equal(await exists(quotaMarkerKey('tokenA', 'gone1', 100)), false);
    for (const [owner, id] of [['tokenA', 'kept1'], ['tokenB', 'kept2']]) assert.equal(await exists(quotaMarkerKey(owner, id, 100)), true, id);
    assert.equal(await exists('quota/tokenA/not-a-marker'), true, 'only keys that name an upload are touched');

    clock.set(t0 + 25 * HOUR);
    report = await janitor.run();
    assert.equal(report.inputs.items, 2);
    assert.equal(report.quotaMarkers.files, 2);
    const left: string[] = [];
    for await (const o of files.list('quota/')) left.push(o.key);
    assert.deepEqual(left, ['quota/tokenA/not-a-marker']);
  } finally {
    await jobs.close();
  }
});

test('start() runs at once and on schedule, reporting each run; stop() ends it', async () => {
  const { jobs, files } = await setup();
  const reports: JanitorReport[] = [];
  const janitor = new Janitor({ jobs, files, inputFileIds, intervalMs: 20, onReport: (r) => reports.push(r) });
  try {
    janitor.start();
    while (reports.length < 2) await new Promise((r) => setTimeout(r, 5));
    await janitor.stop();
    const seen = reports.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(reports.length, seen);
  } finally {
    await janitor.stop();
    await jobs.close();
  }
});
