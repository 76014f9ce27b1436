// Scale-out on loopback: a private Redis (AOF), an S3-compatible server, 2 API nodes and 3 worker nodes,
// all real `beatsync serve` processes. 50 real sync jobs go round-robin to both APIs; two workers and one
// API are killed with SIGKILL mid-way (the workers are restarted, as a supervisor would). Every job ends
// succeeded exactly once, status and SSE answer from the surviving API for jobs submitted anywhere, no
// process of a killed node survives, and retention leaves nothing in Redis or the bucket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Janitor } from '../src/jobs/janitor.ts';
import { BullMqJobStore } from '../src/jobs/bullmq-store.ts';
import { inputFileIdsOf } from '../src/jobs/registry.ts';
import { hasRedisServer } from '../src/jobs/testing/redis-server.ts';
import type { SyncJobResult } from '../src/jobs/types/beatsync-sync.ts';
import type { JobRecord } from '../src/jobs/types.ts';
import { probeMedia } from '../src/media/index.ts';
import { S3FileStore } from '../src/storage/s3.ts';
import { S3_TEST_CREDENTIALS } from '../src/storage/testing/s3-server.ts';
import { auth, getJson, newToken, openSse, postFile, sendJson } from './helpers/api.ts';
import type { SseMessage } from './helpers/api.ts';
import { makeApiSyncPair } from './helpers/api-media.ts';
import { killNode, startCluster } from './helpers/cluster.ts';
import type { ClusterNode } from './helpers/cluster.ts';
import { processesWithEnv } from './helpers/procs.ts';

const JOBS = 50;
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

async function uploadTo(api: ClusterNode, token: string, path: string, purpose: 'dance' | 'bgm'): Promise<string> {
  const res = await postFile(`${api.url}/api/uploads?purpose=${purpose}`, path, { token });
  const body = (await res.json()) as { fileId?: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.fileId!;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, limitMs: number): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

test(`scale-out: ${JOBS} jobs over 2 APIs and 3 workers survive kill -9 of two workers and one API`, {
  skip: hasRedisServer() ? false : 'redis-server is not installed',
  timeout: 300_000,
}, async (t) => {
  const pair = await makeApiSyncPair({ name: 'scale', danceSeconds: 4, bgmSeconds: 10, offsetSeconds: 2 });
  const cluster = await startCluster({
    flags: ['--public-metrics', '--lease', '3', '--quota-jobs', '1000', '--rate-limit-token', '100000', '--rate-limit-ip', '100000'],
  });
  t.after(() => cluster.stop());
  const [apiA, apiB] = await Promise.all([cluster.startNode('api'), cluster.startNode('api')]);
  const workers = await Promise.all([cluster.startNode('worker'), cluster.startNode('worker'), cluster.startNode('worker')]);
  const apis = [apiA, apiB];

  // One session; its token is valid on every API node (shared secret). One upload pair through each API.
  const token = await newToken(apiA.url);
  const pairs = await Promise.all(apis.map(async (api) => ({
    dance: await uploadTo(api, token, pair.dance, 'dance'),
    bgm: await uploadTo(api, token, pair.bgm, 'bgm'),
  })));

  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const api = apis[i % 2];
    const files = pairs[(i >> 1) % 2];
    // Distinct nudges: fifty separate runs, not one shared cached result.
    const res = await sendJson<{ jobId: string; status: string }>('POST', `${api.url}/api/jobs`, {
      danceFileId: files.dance, bgmFileId: files.bgm, options: { variants: ['trimmed'], nudgeMs: i + 1 },
    }, token);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    ids.push(res.body.jobId);
  }
  assert.equal(new Set(ids).size, JOBS);

  // A live SSE stream on API A for a job submitted through API B (which will die): events written by
  // worker nodes must reach it.
  const watched = ids[JOBS - 1];
  const live = await openSse(`${apiA.url}/api/jobs/${watched}/events`, token);
  assert.equal(live.status, 200);
  const liveMessages: SseMessage[] = [];
  const liveDone = (async () => {
    for await (const m of live.messages) liveMessages.push(m);
  })();

  const states = async (api: ClusterNode) => Promise.all(ids.map(async (id) => (await getJson<{ status: string }>(`${api.url}/api/jobs/${id}`, token)).body.status));
  // Mid-way: a fifth done, every worker busy. Kill two workers and API B.
  await until('a fifth of the jobs to succeed', async () => (await states(apiA)).filter((s) => s === 'succeeded').length >= JOBS / 5, 120_000);
  const runningBefore = (await states(apiA)).filter((s) => s === 'running').length;
  await Promise.all([killNode(workers[0]), killNode(workers[1]), killNode(apiB)]);
  t.diagnostic(`killed 2 workers and 1 API with ${runningBefore} jobs running`);
  await assert.rejects(fetch(`${apiB.url}/api/health`));
  // A supervisor (systemd Restart=always, compose restart) brings the workers back.
  await Promise.all([cluster.startNode('worker'), cluster.startNode('worker')]);

  await until('every job to finish', async () => (await states(apiA)).every((s) => TERMINAL.includes(s)), 240_000);

  // Readiness (Redis + bucket) and per-node metrics on both roles.
  const survivor = workers[2];
  assert.equal((await fetch(`${survivor.url}/api/ready`)).status, 200);
  assert.match(await (await fetch(`${survivor.url}/metrics`)).text(), new RegExp(`beatsync_worker_slots\\{node="${survivor.name}"\\} 1`));
  assert.match(await (await fetch(`${apiA.url}/metrics`)).text(), new RegExp(`node="${apiA.name}"`));
  const ready = await getJson<{ ready: boolean; checks: Record<string, { state: string }> }>(`${apiA.url}/api/ready`);
  assert.equal(ready.body.ready, true);
  assert.equal(ready.body.checks.jobs.state, 'ok');
  assert.equal(ready.body.checks.storage.state, 'ok');

  // Exactly once, read through the shared store (what every API node reads).
  const store = await BullMqJobStore.open({ url: cluster.redis.url, prefix: cluster.prefix });
  const files = new S3FileStore({ bucket: cluster.s3.bucket, endpoint: cluster.s3.endpoint, credentials: S3_TEST_CREDENTIALS, cacheDir: `${cluster.dir}/check-cache` });
  t.after(async () => {
    await store.close();
    files.close();
  });
  const jobs = await Promise.all(ids.map(async (id) => (await store.get<unknown, SyncJobResult>(id))!));
  const expectedKeys: string[] = [];
  for (const job of jobs) {
    assert.equal(job.state, 'succeeded', `job ${job.id}: ${JSON.stringify(job.error)}`);
    const events = await store.events(job.id, 0);
    const stateNames = events.filter((e) => e.kind === 'state').map((e) => e.state);
    assert.equal(stateNames.filter((s) => s === 'succeeded').length, 1, `succeeded exactly once: ${stateNames.join(' ')}`);
    // A run on a killed worker node is an interruption, not an attempt.
    assert.equal(job.attempts + job.interruptions, stateNames.filter((s) => s === 'running').length);
    assert.equal(job.attempts, 1);
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
    for (const v of (job as JobRecord<unknown, SyncJobResult>).result!.variants) expectedKeys.push(v.key);
  }
  const interruptions = jobs.reduce((n, j) => n + j.interruptions, 0);
  t.diagnostic(`interruptions: ${interruptions} for ${JOBS} jobs`);
  assert.ok(interruptions > 0, 'the killed workers were running jobs, and those runs were counted as interruptions and redone');
  // Only the outputs the results point to exist (a killed attempt left nothing visible), and they play.
  const visible: string[] = [];
  for await (const o of files.list('outputs/')) visible.push(o.key);
  assert.deepEqual(visible.sort(), [...expectedKeys].sort());
  for (const key of expectedKeys.slice(0, 3)) {
    const info = await probeMedia(await files.localPath(key));
    assert.equal(info.video.length, 1);
    assert.equal(info.audio.length, 1);
  }

  // Status, replay and download from the surviving API for a job submitted through the dead one.
  const fromB = ids[1];
  const status = await getJson<{ status: string }>(`${apiA.url}/api/jobs/${fromB}`, token);
  assert.equal(status.body.status, 'succeeded');
  const replay = await openSse(`${apiA.url}/api/jobs/${fromB}/events`, token, { 'last-event-id': '1' });
  const replayed: SseMessage[] = [];
  for await (const m of replay.messages) replayed.push(m);
  assert.equal(replayed[0]?.id, '2');
  assert.match(replayed.at(-1)?.data ?? '', /succeeded/);
  const download = await fetch(`${apiA.url}/api/jobs/${fromB}/outputs/trimmed`, { headers: { ...auth(token), range: 'bytes=0-99' } });
  assert.equal(download.status, 206);
  assert.equal((await download.arrayBuffer()).byteLength, 100);

  await liveDone;
  const seqs = liveMessages.map((m) => Number(m.id));
  assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), 'live events arrive in order without gaps');
  assert.match(liveMessages.at(-1)?.data ?? '', /succeeded/);

  // Every node stops; nothing of the killed ones (job processes, ffmpeg) is left.
  for (const n of cluster.nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
  await Promise.all(cluster.nodes.map((n) => n.exited));
  await until('no process of any node left', async () => processesWithEnv(cluster.markEnv, cluster.mark).length === 0, 10_000);

  // Retention with everything expired: the janitor empties the bucket and purges every job from Redis.
  await sleep(20);
  const report = await new Janitor({
    jobs: store, files, inputFileIds: (job) => inputFileIdsOf(job),
    retention: { inputsMs: 0, outputsMs: 0, jobsMs: 0, orphansMs: 0 },
  }).run();
  assert.equal(report.jobRows, JOBS);
  assert.deepEqual(report.errors, []);
  const left: string[] = [];
  // Session records (expiry, revocation) belong to tokens, not to jobs: retention leaves them.
  for await (const o of files.list('')) if (!o.key.startsWith('sessions/')) left.push(o.key);
  // The upload service's per-token quota markers go in the same pass as their uploads.
  assert.deepEqual(left, []);
  assert.equal(report.quotaMarkers.files, 4);
  const redis = new Redis(cluster.redis.url);
  t.after(() => redis.quit());
  const keys = (await redis.keys(`${cluster.prefix}*`)).map((k) => k.slice(cluster.prefix.length)).sort();
  // Only the insertion counter, the set of job types, the per-day history, BullMQ's per-queue
  // bookkeeping (never a job) and the API nodes' shared rate-limit counters (each expires with its window) remain.
  const bullQueueKeys = new Set(['meta', 'events', 'pc', 'marker', 'stalled-check', 'id']);
  for (const key of keys.filter((k) => k.startsWith('rl:'))) assert.ok((await redis.pttl(cluster.prefix + key)) > 0, `${key} expires`);
  const ours = keys.filter((k) => !k.startsWith('hist:') && !k.startsWith('rl:') && !(k.startsWith('bull:') && bullQueueKeys.has(k.split(':').slice(2).join(':'))));
  assert.deepEqual(ours, ['n', 'types']);
  assert.ok(keys.some((k) => k.startsWith('hist:')));
  const history = await store.history();
  assert.equal(history.reduce((n, d) => n + d.succeeded, 0), JOBS);
});
