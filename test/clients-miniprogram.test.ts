// A WeChat mini-program as a client (issue #12 item 2), in the exact request shapes its APIs produce:
// wx.request (JSON body, custom headers, no cookies, no Origin), wx.uploadFile (multipart with one file under a
// caller-chosen `name`, `formData` fields, custom headers) and wx.downloadFile (a GET with optional headers).
// The token goes in the Authorization header or as ?access_token=, on the new and on the old routes; a task
// made before the client had a token stays its own. Every answer that is not a file is JSON.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { removeDataDir, startApi } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { multipartBody, rawRequest } from './helpers/clients.ts';
import type { RawAnswer } from './helpers/clients.ts';

// What WeChat adds to every request of a mini-program (no Origin, no cookies).
const WX = {
  'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN',
  referer: 'https://servicewechat.com/wx1234567890abcdef/1/page-frame.html',
};

describe('a WeChat mini-program as a client', () => {
  let api: RunningApi;
  let pair: ApiSyncPair;
  let token: string;
  const q = (path: string): string => `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
  const bearer = (): Record<string, string> => ({ authorization: `Bearer ${token}` });

  before(async () => {
    pair = await makeApiSyncPair();
    api = await startApi();
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  /** A non-file answer: JSON, always. */
  function json<T = Record<string, unknown>>(res: RawAnswer): T {
    assert.match(String(res.headers['content-type']), /^application\/json/, `JSON answer (${res.status})`);
    return res.json<T>();
  }

  /** wx.request({ url, method, data, header }): JSON-encodes `data`, content-type application/json by default. */
  async function wxRequest(path: string, options: { method?: string; data?: unknown; header?: Record<string, string> } = {}): Promise<RawAnswer> {
    const method = options.method ?? 'GET';
    const body = method === 'GET' || options.data === undefined ? undefined : JSON.stringify(options.data);
    return rawRequest(`${api.url}${path}`, { method, headers: { ...WX, 'content-type': 'application/json', ...(options.header ?? {}) }, body });
  }

  /** wx.uploadFile({ url, filePath, name, formData, header }). */
  async function wxUploadFile(path: string, filePath: string, name: string, formData: Record<string, string>, header: Record<string, string> = {}): Promise<RawAnswer> {
    const form = await multipartBody([
      ...Object.entries(formData).map(([field, value]) => ({ field, value })),
      // WeChat names the temp file itself (wxfile://tmp_…).
      { field: name, path: filePath, fileName: `tmp_${name}_${Date.now()}${filePath.slice(filePath.lastIndexOf('.'))}` },
    ]);
    return rawRequest(`${api.url}${path}`, { method: 'POST', headers: { ...WX, ...header, 'content-type': form.contentType }, body: form.body });
  }

  /** wx.downloadFile({ url, header }): statusCode and the bytes saved to tempFilePath. */
  async function wxDownloadFile(path: string, header: Record<string, string> = {}): Promise<RawAnswer> {
    return rawRequest(`${api.url}${path}`, { headers: { ...WX, ...header } });
  }

  async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    for (let i = 0; i < 240; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(500);
    }
    throw new Error('never finished');
  }

  test('wx.request without data: an empty JSON body is no body', async () => {
    // wx.request sends content-type application/json even when `data` is left out.
    const session = await wxRequest('/api/session', { method: 'POST' });
    assert.equal(session.status, 201, session.body.toString());
    const own = json<{ token: string }>(session).token;
    const cancel = await wxRequest('/api/jobs/job_0000000000000000/cancel', { method: 'POST', header: { authorization: `Bearer ${own}` } });
    assert.equal(json<{ error: { code: string } }>(cancel).error.code, 'NOT_FOUND');
    const broken = await rawRequest(`${api.url}/api/session`, { method: 'POST', headers: { ...WX, 'content-type': 'application/json' }, body: '{"a":' });
    assert.equal(json<{ error: { code: string } }>(broken).error.code, 'BAD_REQUEST');
    const signOut = await wxRequest('/api/session', { method: 'DELETE', header: { authorization: `Bearer ${own}` } });
    assert.ok(signOut.status < 300, signOut.body.toString());
  });

  test('session, uploads under chosen names, job, polling and downloads on the new API', async () => {
    const session = await wxRequest('/api/session', { method: 'POST', data: {} });
    assert.equal(session.status, 201);
    token = json<{ token: string }>(session).token;

    const dance = await wxUploadFile('/api/uploads?purpose=dance', pair.dance, 'video', { note: 'class 1' }, bearer());
    assert.equal(dance.status, 201, dance.body.toString());
    const danceId = json<{ fileId: string }>(dance).fileId;
    const bgm = await wxUploadFile(q('/api/uploads?purpose=bgm'), pair.bgm, 'music', {});
    assert.equal(bgm.status, 201, bgm.body.toString());
    const bgmId = json<{ fileId: string; kind: string }>(bgm).fileId;

    // Resumable uploads take the query token too.
    const tus = await rawRequest(`${api.url}${q('/api/uploads/tus')}`, { method: 'POST', headers: { ...WX, 'tus-resumable': '1.0.0', 'upload-length': '10' } });
    assert.equal(tus.status, 201, tus.body.toString());
    assert.ok(tus.headers.location);

    const submitted = await wxRequest('/api/jobs', { method: 'POST', data: { danceFileId: danceId, bgmFileId: bgmId }, header: bearer() });
    assert.equal(submitted.status, 202, submitted.body.toString());
    const { jobId, links } = json<{ jobId: string; links: { self: string } }>(submitted);

    interface JobAnswer { status: string; result: { variants: { variant: string; downloadUrl: string; sizeBytes: number }[]; reportUrl: string } | null }
    const job = await pollUntil(async () => {
      const res = await wxRequest(links.self, { header: bearer() });
      assert.equal(res.status, 200);
      return json<JobAnswer>(res);
    }, (j) => j.status === 'succeeded' || j.status === 'failed');
    assert.equal(job.status, 'succeeded');
    const viaQuery = await wxRequest(q(`/api/jobs/${jobId}`));
    assert.equal(json<JobAnswer>(viaQuery).status, 'succeeded');
    const list = await wxRequest(q('/api/jobs'));
    assert.equal(json<{ jobs: { id: string }[] }>(list).jobs.length, 1);

    for (const v of job.result!.variants) {
      const withHeader = await wxDownloadFile(v.downloadUrl, bearer());
      assert.equal(withHeader.status, 200);
      assert.equal(withHeader.body.length, v.sizeBytes);
      const withQuery = await wxDownloadFile(q(v.downloadUrl));
      assert.equal(withQuery.status, 200);
      assert.equal(withQuery.body.length, v.sizeBytes);
    }
    const report = await wxDownloadFile(q(job.result!.reportUrl));
    assert.equal(report.status, 200);
    assert.ok(json<Record<string, unknown>>(report));
    const events = await rawRequest(`${api.url}${q(`/api/jobs/${jobId}/events`)}`, { headers: WX });
    assert.equal(events.status, 200);
    assert.match(events.body.toString(), /event: state[\s\S]*succeeded/);

    // Without the token, or with a wrong one: JSON errors, not someone else's job.
    assert.equal(json<{ error: { code: string } }>(await wxRequest(`/api/jobs/${jobId}`)).error.code, 'UNAUTHORIZED');
    const wrong = await wxRequest(`/api/jobs/${jobId}?access_token=bs1.nope.nope`);
    assert.equal(wrong.status, 401);
    assert.equal(json<{ error: { code: string } }>(wrong).error.code, 'UNAUTHORIZED');
  });

  test('the old routes with the token in the header or the query', async () => {
    const dance = await wxUploadFile('/api/upload', pair.dance, 'video', { file_type: 'dance' }, bearer());
    assert.equal(dance.status, 200, dance.body.toString());
    const bgm = await wxUploadFile(q('/api/upload'), pair.bgm, 'audio', { file_type: 'bgm' });
    assert.equal(bgm.status, 200, bgm.body.toString());
    const danceId = json<{ file_id: string }>(dance).file_id;
    const bgmId = json<{ file_id: string }>(bgm).file_id;

    // wx.request's default JSON body.
    const processed = await wxRequest('/api/process', { method: 'POST', data: { dance_file_id: danceId, bgm_file_id: bgmId }, header: bearer() });
    assert.equal(processed.status, 200, processed.body.toString());
    const taskId = json<{ task_id: string }>(processed).task_id;

    const status = await pollUntil(async () => json<{ status: string; v2_output?: string }>(await wxRequest(q(`/api/status/${taskId}`))), (s) => s.status === 'success' || s.status === 'failed');
    assert.equal(status.status, 'success');
    assert.ok(status.v2_output);
    assert.equal(json<{ status: string }>(await wxRequest(`/api/task/${taskId}`, { header: bearer() })).status, 'SUCCESS');
    // The task is the token's: a tokenless caller does not see it.
    assert.equal((await wxRequest(`/api/status/${taskId}`)).status, 404);

    const viaHeader = await wxDownloadFile(`/api/download/${taskId}?version=v2`, bearer());
    assert.equal(viaHeader.status, 200);
    assert.equal(viaHeader.headers['content-type'], 'video/mp4');
    const viaQuery = await wxDownloadFile(q(status.v2_output!));
    assert.equal(viaQuery.status, 200);
    assert.deepEqual(viaQuery.body, viaHeader.body);
  });

  test('a task made before the client had a token stays visible once it sends one', async () => {
    const dance = await wxUploadFile('/api/upload', pair.dance, 'file', { file_type: 'dance' });
    const bgm = await wxUploadFile('/api/upload', pair.bgm, 'file', { file_type: 'bgm' });
    const processed = await wxRequest('/api/process', {
      method: 'POST',
      data: { dance_file_id: json<{ file_id: string }>(dance).file_id, bgm_file_id: json<{ file_id: string }>(bgm).file_id },
    });
    assert.equal(processed.status, 200, processed.body.toString());
    const taskId = json<{ task_id: string }>(processed).task_id;

    // Later the same client has a token and sends it with everything.
    const status = await pollUntil(async () => {
      const res = await wxRequest(`/api/status/${taskId}`, { header: bearer() });
      assert.equal(res.status, 200, 'a legacy task is not hidden by a token');
      return json<{ status: string }>(res);
    }, (s) => s.status === 'success' || s.status === 'failed');
    assert.equal(status.status, 'success');
    assert.equal((await wxRequest(q(`/api/task/${taskId}`))).status, 200);
    assert.equal((await wxDownloadFile(`/api/download/${taskId}?version=modular`, bearer())).status, 200);
    assert.equal((await wxDownloadFile(q(`/api/download/${taskId}?version=v2`))).status, 200);
  });
});
