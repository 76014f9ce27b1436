// "The sync is off" from the result page: POST /api/jobs/:id/feedback records the user's nudge with the job
// (owner only, finished jobs only, validated), and GET /api/admin/feedback lists them for the admin token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeApiSyncPair } from './helpers/api-media.ts';
import { getJson, newToken, removeDataDir, sendJson, startApi, upload, waitFor } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';

const ADMIN = 'feedback-admin-token-0123456789';

interface Entry { jobId: string; nudgeMs: number | null; jobNudgeMs: number; offsetSeconds: number | null; variant: string | null; owner: string | null }

describe('sync feedback', { timeout: 120_000 }, () => {
  let api: RunningApi;
  let token: string;
  let jobId: string;

  before(async () => {
    const pair = await makeApiSyncPair();
    api = await startApi({ argv: ['--admin-token', ADMIN] });
    token = await newToken(api.url);
    const danceFileId = await upload(api, token, pair.dance, 'dance');
    const bgmFileId = await upload(api, token, pair.bgm, 'bgm');
    const submitted = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, { danceFileId, bgmFileId }, token);
    jobId = submitted.body.jobId;
    await waitFor(async () => {
      const { body } = await getJson<{ status: string }>(`${api.url}/api/jobs/${jobId}`, token);
      return body.status === 'succeeded' ? true : undefined;
    });
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  const feedbackUrl = () => `${api.url}/api/jobs/${jobId}/feedback`;

  test('the owner records a nudge; the admin sees it with the engine\'s answer', async () => {
    const sent = await sendJson('POST', feedbackUrl(), { nudgeMs: -2700, variant: 'trimmed' }, token);
    assert.equal(sent.status, 201);
    const second = await sendJson('POST', feedbackUrl(), { nudgeMs: null }, token);
    assert.equal(second.status, 201);
    const list = await getJson<{ feedback: Entry[] }>(`${api.url}/api/admin/feedback`, ADMIN);
    assert.equal(list.status, 200);
    assert.equal(list.body.feedback.length, 2);
    const [newest, oldest] = list.body.feedback;
    assert.equal(newest.nudgeMs, null, 'newest first');
    assert.equal(oldest.nudgeMs, -2700);
    assert.equal(oldest.jobId, jobId);
    assert.equal(oldest.variant, 'trimmed');
    assert.equal(oldest.jobNudgeMs, 0);
    assert.equal(typeof oldest.offsetSeconds, 'number');
  });

  test('someone else\'s job is not found, no token is 401, the list needs the admin token', async () => {
    const other = await newToken(api.url);
    const foreign = await sendJson<{ error: { code: string } }>('POST', feedbackUrl(), { nudgeMs: 10 }, other);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'NOT_FOUND');
    const anonymous = await sendJson<{ error: { code: string } }>('POST', feedbackUrl(), { nudgeMs: 10 });
    assert.equal(anonymous.status, 401);
    const asUser = await getJson<{ error: { code: string } }>(`${api.url}/api/admin/feedback`, token);
    assert.equal(asUser.status, 404);
    const asNobody = await getJson<{ error: { code: string } }>(`${api.url}/api/admin/feedback`);
    assert.equal(asNobody.status, 401);
  });

  test('bad input is a 400 with its code and a translated message, never a 500', async () => {
    for (const body of [{ nudgeMs: 'soon' }, { nudgeMs: 1e9 }, { nudgeMs: 1.5 }, { variant: '../x' }, { extra: 1 }]) {
      const res = await sendJson<{ error: { code: string; message: string } }>('POST', feedbackUrl(), body, token, { 'accept-language': 'zh-CN' });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'BAD_REQUEST');
      assert.match(res.body.error.message, /请求无效/);
    }
    const missing = await sendJson<{ error: { code: string } }>('POST', `${api.url}/api/jobs/nope/feedback`, { nudgeMs: 1 }, token);
    assert.equal(missing.status, 404);
    const list = await getJson<{ feedback: Entry[] }>(`${api.url}/api/admin/feedback`, ADMIN);
    assert.equal(list.body.feedback.length, 2, 'nothing stored for refused requests');
  });
});
