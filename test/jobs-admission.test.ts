// Queue, don't refuse (issue 11.4), through the real HTTP server: a token queues up to its cap (20 by
// default) and is then told 429 TOO_MANY_JOBS with Retry-After and a message that says what to do;
// other tokens are not affected; a full service answers 503 RESOURCE_LIMIT, also with Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postFile, sendJson } from './helpers/api.ts';
import { startTestServer } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';
import { syncMedia } from './helpers/sync-media.ts';

interface Answer { jobId?: string; error?: { code: string; message: string; retryable: boolean } }

async function uploadPair(server: TestServer, token: string): Promise<{ danceFileId: string; bgmFileId: string }> {
  const media = await syncMedia(4, 14);
  const ids: string[] = [];
  for (const [path, purpose] of [[media.dance, 'dance'], [media.bgm, 'bgm']] as const) {
    const res = await postFile(`${server.url}/api/uploads?purpose=${purpose}`, path, { token });
    const body = (await res.json()) as { fileId?: string };
    assert.equal(res.status, 201, JSON.stringify(body));
    ids.push(body.fileId!);
  }
  return { danceFileId: ids[0], bgmFileId: ids[1] };
}

// Different nudges make different jobs (the same request would join the first one's run).
const submit = (server: TestServer, token: string, files: object, nudgeMs: number, lang = 'en') =>
  sendJson<Answer>('POST', `${server.url}/api/jobs`, { ...files, options: { nudgeMs } }, token, { 'accept-language': lang });

describe('per-token job cap and fair queueing answers', () => {
  let server: TestServer;
  before(async () => {
    // No workers: every accepted job stays queued, so the cap is what decides.
    server = await startTestServer({ system: { minFreeDiskBytes: 0 } });
  });
  after(async () => server?.close());

  test('a token queues 20 jobs by default; the 21st is 429 TOO_MANY_JOBS with Retry-After and a message naming the cap', async () => {
    const teacher = await server.session();
    const files = await uploadPair(server, teacher);
    for (let i = 0; i < 20; i++) {
      const res = await submit(server, teacher, files, i);
      assert.equal(res.status, 202, `job ${i + 1}: ${JSON.stringify(res.body)}`);
    }
    const refused = await submit(server, teacher, files, 20);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error?.code, 'TOO_MANY_JOBS');
    assert.equal(refused.body.error?.retryable, true);
    assert.match(refused.body.error?.message ?? '', /already have 20 videos waiting/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After on 429');
    const zh = await submit(server, teacher, files, 21, 'zh-CN');
    assert.equal(zh.status, 429);
    assert.match(zh.body.error?.message ?? '', /20 个视频/);

    // Another token is not held up by the first one's batch.
    const other = await server.session();
    const otherFiles = await uploadPair(server, other);
    assert.equal((await submit(server, other, otherFiles, 0)).status, 202);

    // Once one of the teacher's jobs is gone (cancelled here), there is room again.
    const list = await sendJson<{ jobs: { jobId: string }[] }>('GET', `${server.url}/api/jobs?limit=1`, undefined, teacher);
    const cancel = await sendJson('POST', `${server.url}/api/jobs/${list.body.jobs[0].jobId}/cancel`, {}, teacher);
    assert.equal(cancel.status, 200);
    assert.equal((await submit(server, teacher, files, 22)).status, 202);
  });
});

describe('a full service answers 503 with Retry-After', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ system: { minFreeDiskBytes: 0, maxQueueDepth: 2 } });
  });
  after(async () => server?.close());

  test('queue depth reached: 503 RESOURCE_LIMIT, retryable, Retry-After', async () => {
    const a = await server.session();
    const files = await uploadPair(server, a);
    assert.equal((await submit(server, a, files, 0)).status, 202);
    assert.equal((await submit(server, a, files, 1)).status, 202);
    const busy = await submit(server, a, files, 2);
    assert.equal(busy.status, 503);
    assert.equal(busy.body.error?.code, 'RESOURCE_LIMIT');
    assert.equal(busy.body.error?.retryable, true);
    assert.ok(Number(busy.headers.get('retry-after')) > 0, 'Retry-After on 503');
  });
});
