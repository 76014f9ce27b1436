// A frozen Redis (issue 11.13): the test's own redis-server is SIGSTOP'd under a real server on loopback
// (Redis job backend, Redis rate-limit counters, a real worker running a real sync job). While it is frozen,
// requests that need Redis answer 503 RESOURCE_LIMIT with Retry-After instead of hanging, the rate limiter
// lets requests through, uploads work, /api/health stays 200 and /api/ready says 503. After SIGCONT the same
// calls work again without a restart; the same holds for a Redis killed and restarted; and the job accepted
// before the freeze completes. A job that ends while Redis is
// down (killed, then restarted) keeps its result: the worker records it once Redis is back (no re-run, no
// interruption, no attempt).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { openJobSystem } from '../src/jobs/index.ts';
import type { JobSystem } from '../src/jobs/index.ts';
import { hasRedisServer, killRedisServer, restartRedisServer, startRedisServer } from '../src/jobs/testing/redis-server.ts';
import type { RedisServer } from '../src/jobs/testing/redis-server.ts';
import { makeApiSyncPair } from './helpers/api-media.ts';
import { auth, postFile, waitFor } from './helpers/api.ts';
import { TEST_TYPES } from './helpers/job-types.ts';
import { startTestServer } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

const DEADLINE_MS = 1000;
/** A request still unanswered after this is a hang: the test fails instead of waiting for ever. */
const HANG_MS = 10_000;

interface Answer {
  status: number;
  /** Wall time of the call, for the diagnostics only (no timed assertion). */
  ms: number;
  headers: Headers;
  body: { error?: { code: string; retryable: boolean }; jobId?: string; status?: string; token?: string };
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  let res: Response;
  const started = performance.now();
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(HANG_MS) });
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${url}: no answer within ${HANG_MS} ms (${(err as Error).name})`);
  }
  const text = await res.text();
  return { status: res.status, ms: Math.round(performance.now() - started), headers: res.headers, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

function assertShortage(answer: Answer, what: string, t: TestContext): void {
  t.diagnostic(`${what}: ${answer.status} in ${answer.ms} ms (deadline ${DEADLINE_MS} ms)`);
  assert.equal(answer.status, 503, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.error?.code, 'RESOURCE_LIMIT', what);
  assert.equal(answer.body.error?.retryable, true, what);
  assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
}

describe('a frozen Redis (SIGSTOP, then SIGCONT)', { skip: hasRedisServer() ? false : 'redis-server is not installed' }, () => {
  let redis: RedisServer | undefined;
  let server: TestServer | undefined;

  before(async () => {
    redis = await startRedisServer();
    const prefix = `freeze-${process.pid}:`;
    server = await startTestServer({
      argv: ['--redis-timeout-ms', String(DEADLINE_MS), '--min-free-disk', '0'],
      system: {
        backend: 'redis', redisUrl: redis.url, redisPrefix: prefix, redisTimeoutMs: DEADLINE_MS,
        startWorkers: true, concurrency: 1, leaseMs: 3_000, heartbeatMs: 500, pollMs: 50, minFreeDiskBytes: 0,
      },
      build: { rateLimitRedis: { url: redis.url, prefix } },
    });
  });

  after(async () => {
    // Never leave a stopped process behind, whatever failed.
    if (redis) {
      try {
        process.kill(redis.pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await server?.close();
    await redis?.stop();
  });

  test('requests answer 503 RESOURCE_LIMIT instead of hanging; health stays up; all works again after SIGCONT', async (t) => {
    const { url } = server!;
    const pair = await makeApiSyncPair({ name: 'redis-freeze' });
    const token = await server!.session();
    const fileIds: string[] = [];
    for (const [path, purpose] of [[pair.dance, 'dance'], [pair.bgm, 'bgm']] as const) {
      const res = await postFile(`${url}/api/uploads?purpose=${purpose}`, path, { token });
      assert.equal(res.status, 201, await res.clone().text());
      fileIds.push(((await res.json()) as { fileId: string }).fileId);
    }
    const submit = (): Promise<Answer> => call(`${url}/api/jobs`, {
      method: 'POST',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify({ danceFileId: fileIds[0], bgmFileId: fileIds[1] }),
    });
    const accepted = await submit();
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const jobId = accepted.body.jobId!;
    const status = (): Promise<Answer> => call(`${url}/api/jobs/${jobId}`, { headers: auth(token) });

    process.kill(redis!.pid, 'SIGSTOP');
    assertShortage(await submit(), 'submit while Redis is frozen', t);
    assertShortage(await status(), 'job status while Redis is frozen', t);
    // Sessions need no Redis: the rate limiter in front of them lets the request through.
    const session = await call(`${url}/api/session`, { method: 'POST' });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    t.diagnostic(`session while Redis is frozen (rate limiter fails open): ${session.status} in ${session.ms} ms`);
    // Uploads need no Redis either.
    const uploaded = await postFile(`${url}/api/uploads?purpose=bgm`, pair.bgm, { token });
    assert.equal(uploaded.status, 201, await uploaded.text());
    assert.equal((await call(`${url}/api/health`)).status, 200);
    const ready = await call(`${url}/api/ready`);
    assert.equal(ready.status, 503);
    t.diagnostic(`ready while Redis is frozen: ${ready.status} in ${ready.ms} ms`);
    process.kill(redis!.pid, 'SIGCONT');

    // Back without a restart: the same calls succeed.
    await waitFor(async () => ((await call(`${url}/api/ready`)).status === 200 ? true : undefined), 30_000);
    const again = await submit();
    assert.ok(again.status === 200 || again.status === 202, JSON.stringify(again.body));
    assert.equal((await status()).status, 200);

    // Down rather than frozen (killed, restarted from its AOF): the same answers, at once.
    await killRedisServer(redis!);
    assertShortage(await status(), 'job status while Redis is down', t);
    assertShortage(await submit(), 'submit while Redis is down', t);
    assert.equal((await call(`${url}/api/session`, { method: 'POST' })).status, 201);
    assert.equal((await call(`${url}/api/health`)).status, 200);
    assert.equal((await call(`${url}/api/ready`)).status, 503);
    redis = await restartRedisServer(redis!);
    await waitFor(async () => ((await call(`${url}/api/ready`)).status === 200 ? true : undefined), 30_000);
    assert.equal((await status()).status, 200);

    const done = await waitFor(async () => {
      const job = await status();
      return job.body.status === 'succeeded' || job.body.status === 'failed' ? job.body : undefined;
    }, 120_000, 250);
    assert.equal(done.status, 'succeeded', `the job accepted before the freeze: ${JSON.stringify(done)}`);
  });
});

describe('a job that ends while Redis is down', { skip: hasRedisServer() ? false : 'redis-server is not installed' }, () => {
  let redis: RedisServer | undefined;
  let sys: JobSystem | undefined;
  let dir: string | undefined;

  after(async () => {
    await sys?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A write refused while the connection is down is not queued for later (no offline queue): the worker
  // itself writes the end again once Redis is back, so finished work is kept.
  test('its end is recorded once Redis is back: it runs once, with no interruption and one attempt', async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'beatsync-freeze-'));
    const runLog = join(dir, 'runs.log');
    const messages: string[] = [];
    sys = await openJobSystem({
      dataDir: dir, backend: 'redis', redisUrl: redis.url, redisPrefix: 'freeze-worker:', redisTimeoutMs: DEADLINE_MS,
      startWorkers: true, types: TEST_TYPES, concurrency: 1, pollMs: 50, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work'),
      // A lease that outlasts the outage, and no heartbeat during it: the end is the call that meets it.
      leaseMs: 30_000, heartbeatMs: 60_000,
      log: (_level, message) => messages.push(message),
    });
    const { job } = await sys.submit('test.sleep', { ms: 2_000, log: runLog });
    await sys.start();
    const store = sys.store;
    // Its first progress has reached Redis (the heartbeat that carries it is over).
    await waitFor(async () => ((await store.get(job.id))?.progress.stage === 'sleep' ? true : undefined), 30_000, 50);

    await killRedisServer(redis);
    // The job process ends on its own; the worker's attempt to record that fails.
    await waitFor(async () => (messages.some((m) => m.startsWith('could not record the end of a job')) ? true : undefined), HANG_MS, 50);
    redis = await restartRedisServer(redis);

    const done = await waitFor(async () => {
      const j = await store.get(job.id).catch(() => null);
      return j && (j.state === 'succeeded' || j.state === 'failed') ? j : undefined;
    }, 90_000, 100);
    const starts = (await readFile(runLog, 'utf8')).split('\n').filter((l) => l.startsWith('start ')).length;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(starts, 1, 'the job ran once');
    assert.equal(done.interruptions, 0);
    assert.equal(done.attempts, 1);
  });
});
