// Old-client job creation under the caps (issue #11 item 3): POST /api/process with a token obeys the same
// per-owner live-job quota as POST /api/jobs, and tokenless callers, who all share the legacy owner, are capped
// per client IP (--quota-jobs-ip). No workers run, so every accepted job stays queued and counts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { removeDataDir, upload } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { multipartBody, rawRequest, startApiWithoutWorkers } from './helpers/clients.ts';
import { makeVideo, songExcerpt } from './helpers/media.ts';

const IP_A = '203.0.113.5';
const IP_B = '198.51.100.7';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> & { error?: { code: string; message: string } } }

describe('job caps on the old-client route', () => {
  let api: RunningApi;
  let dance: string;
  const bgms: string[] = [];

  before(async () => {
    dance = await makeVideo('caps-dance.mp4', { seconds: 2, audio: { source: 'noise' } });
    // Different songs make different jobs (identical ones would join the same live job).
    for (let i = 0; i < 5; i++) bgms.push(await songExcerpt(`caps-bgm-${i}.wav`, 'nexuiz-brokenlight.ogg', 20 + 7 * i, 3));
    api = await startApiWithoutWorkers(['--quota-jobs', '2', '--quota-jobs-ip', '2', '--trust-proxy']);
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  async function legacyUpload(path: string, fileType: 'dance' | 'bgm', ip: string): Promise<string> {
    const form = await multipartBody([{ field: 'file', path }, { field: 'file_type', value: fileType }]);
    const res = await rawRequest(`${api.url}/api/upload`, { method: 'POST', headers: { 'content-type': form.contentType, 'x-forwarded-for': ip }, body: form.body });
    assert.equal(res.status, 200, res.body.toString());
    return res.json<{ file_id: string }>().file_id;
  }

  async function processForm(danceId: string, bgmId: string, headers: Record<string, string>): Promise<Answer> {
    const res = await rawRequest(`${api.url}/api/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ dance_file_id: danceId, bgm_file_id: bgmId }).toString(),
    });
    return { status: res.status, headers: res.headers, body: res.json() };
  }

  async function submitJob(danceId: string, bgmId: string, token: string): Promise<Answer> {
    const res = await rawRequest(`${api.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ danceFileId: danceId, bgmFileId: bgmId }),
    });
    return { status: res.status, headers: res.headers, body: res.json() };
  }

  async function newToken(): Promise<string> {
    const res = await rawRequest(`${api.url}/api/session`, { method: 'POST' });
    return res.json<{ token: string }>().token;
  }

  test('tokenless: a cap per client IP, answered 429 TOO_MANY_JOBS with Retry-After in the legacy shape', async () => {
    const danceId = await legacyUpload(dance, 'dance', IP_A);
    const bgmIds = [];
    for (const b of bgms) bgmIds.push(await legacyUpload(b, 'bgm', IP_A));

    const first = await processForm(danceId, bgmIds[0], { 'x-forwarded-for': IP_A });
    const second = await processForm(danceId, bgmIds[1], { 'x-forwarded-for': IP_A });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.notEqual(first.body.task_id, second.body.task_id);

    const over = await processForm(danceId, bgmIds[2], { 'x-forwarded-for': IP_A });
    assert.equal(over.status, 429);
    assert.equal(over.body.error!.code, 'TOO_MANY_JOBS');
    assert.ok(Number(over.headers['retry-after']) > 0, 'Retry-After');
    // The old frontend shows `detail || message`: a sentence in the old service's language.
    assert.equal(over.body.detail, over.body.error!.message);
    assert.match(String(over.body.detail), /[\u4e00-\u9fff]/);
    const overEn = await processForm(danceId, bgmIds[2], { 'x-forwarded-for': IP_A, 'accept-language': 'en' });
    assert.match(String(overEn.body.detail), /wait until some have finished/);

    // Another address has its own cap.
    const other = await processForm(danceId, bgmIds[2], { 'x-forwarded-for': IP_B });
    assert.equal(other.status, 200);

    // A finished (here: cancelled) job stops counting.
    await api.system.store.cancel(first.body.task_id as string);
    const again = await processForm(danceId, bgmIds[3], { 'x-forwarded-for': IP_A });
    assert.equal(again.status, 200);
  });

  test('with a token: /api/process and POST /api/jobs share the per-token quota and refuse alike', async () => {
    const token = await newToken();
    const danceId = await upload(api, token, dance, 'dance');
    const bgmIds = [];
    for (const b of bgms.slice(0, 4)) bgmIds.push(await upload(api, token, b, 'bgm'));
    const bearer = { authorization: `Bearer ${token}` };

    assert.equal((await submitJob(danceId, bgmIds[0], token)).status, 202);
    assert.equal((await processForm(danceId, bgmIds[1], bearer)).status, 200);

    const viaJobs = await submitJob(danceId, bgmIds[2], token);
    const viaProcess = await processForm(danceId, bgmIds[2], bearer);
    assert.ok(viaJobs.status === 429 || viaJobs.status === 503, `main route refuses: ${viaJobs.status}`);
    assert.equal(viaProcess.status, viaJobs.status, 'the same answer as the main route');
    assert.equal(viaProcess.body.error!.code, viaJobs.body.error!.code);
    assert.ok(Number(viaProcess.headers['retry-after']) > 0, 'Retry-After');
    assert.ok(viaProcess.body.detail, 'the legacy `detail` the old frontend shows');
  });

  test('a queued job says how long it waits: the jobs ahead at the pace known (no worker runs here, no run measured yet)', async () => {
    const token = await newToken();
    const danceId = await upload(api, token, dance, 'dance');
    const ids: string[] = [];
    for (const b of bgms.slice(3, 5)) {
      const answer = await submitJob(danceId, await upload(api, token, b, 'bgm'), token);
      assert.equal(answer.status, 202);
      ids.push(answer.body.jobId as string);
    }
    const views = [];
    for (const id of ids) {
      const res = await rawRequest(`${api.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
      views.push(res.json<{ queuePosition: number; queueWaitSeconds: number | null; estimatedSeconds: number }>());
    }
    const [first, second] = views;
    // Fair queueing: this token's second job waits behind every other owner's first.
    assert.ok(second.queuePosition > first.queuePosition);
    assert.ok(first.estimatedSeconds > 0);
    // Nothing runs and no run finished: each job ahead counts as this job's own estimate.
    for (const v of views) assert.equal(v.queueWaitSeconds, Math.round((v.queuePosition - 1) * v.estimatedSeconds), JSON.stringify(v));
    assert.ok(second.queueWaitSeconds! > first.queueWaitSeconds!);
  });
});
