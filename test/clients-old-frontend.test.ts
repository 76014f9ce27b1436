// The earlier service's own web frontend (ScarlettYellow/BeatSync, web_service/frontend/script.js), replayed
// request for request as Chromium sends them from the page's own origin to `beatsync serve --cors-origins …`:
// the preflighted health check with its no-cache headers, the XHR upload (upload listeners force a preflight),
// the process form, polling /api/status, the two download buttons, and the error paths the page handles.
// Every check reads a field the way the page reads it (see the comments); the page's code is not copied.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { removeDataDir, startApi } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { headerList, multipartBody, rawRequest } from './helpers/clients.ts';
import type { RawAnswer } from './helpers/clients.ts';
import { songExcerpt } from './helpers/media.ts';

// Where the old page was served from: another origin than the API (its second allowed origin here).
const PAGE_ORIGIN = 'http://192.168.1.20:8000';
const OTHER_ALLOWED = 'https://beatsync.example';
const CHROMIUM = { origin: PAGE_ORIGIN, 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site', 'user-agent': 'Mozilla/5.0 (Linux; Android 14) Chrome/140.0 Mobile' };

interface Status {
  task_id: string; status: string; message: string; progress: number;
  modular_status: string; v2_status: string; modular_output?: string; v2_output?: string; error?: string;
}

describe('the old web frontend, replayed against beatsync serve from another origin', () => {
  let api: RunningApi;
  let pair: ApiSyncPair;
  const state: { danceFileId?: string; bgmFileId?: string; taskId?: string } = {};

  before(async () => {
    pair = await makeApiSyncPair();
    // The README's option for such a page: --cors-origins with the page's origin.
    api = await startApi({ argv: ['--cors-origins', `${OTHER_ALLOWED}, ${PAGE_ORIGIN}/`] });
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  /** What the browser checks before it lets the page see an answer. */
  function assertCorsReadable(res: RawAnswer): void {
    assert.equal(res.headers['access-control-allow-origin'], PAGE_ORIGIN);
  }

  async function preflight(path: string, method: string, requestHeaders?: string, origin = PAGE_ORIGIN): Promise<RawAnswer> {
    const headers: Record<string, string> = { ...CHROMIUM, origin, 'access-control-request-method': method };
    if (requestHeaders) headers['access-control-request-headers'] = requestHeaders;
    return rawRequest(`${api.url}${path}`, { method: 'OPTIONS', headers });
  }

  /** checkBackendHealth(): GET /api/health with Cache-Control and Pragma, which Chromium preflights. */
  async function checkBackendHealth(): Promise<void> {
    const pre = await preflight('/api/health', 'GET', 'cache-control,pragma');
    assert.ok(pre.status === 204 || pre.status === 200, `preflight ${pre.status}`);
    assertCorsReadable(pre);
    const allowed = headerList(pre.headers['access-control-allow-headers']);
    for (const h of ['cache-control', 'pragma']) assert.ok(allowed.includes(h), `${h} allowed (got ${allowed.join(',')})`);
    assert.ok(headerList(pre.headers['access-control-allow-methods']).includes('get'));
    const res = await rawRequest(`${api.url}/api/health`, { headers: { ...CHROMIUM, 'cache-control': 'no-cache', pragma: 'no-cache' } });
    assertCorsReadable(res);
    assert.ok(res.status >= 200 && res.status < 300, 'response.ok');
  }

  /** uploadFile(): XHR POST of FormData `file` then `file_type`; reads file_id and size, or detail/message. */
  async function uploadFile(path: string, fileType: string): Promise<{ ok: true; fileId: string; size: number } | { ok: false; status: number; shown: string }> {
    await checkBackendHealth();
    // Upload progress listeners make Chromium preflight even a simple multipart POST.
    const pre = await preflight('/api/upload', 'POST');
    assertCorsReadable(pre);
    assert.ok(headerList(pre.headers['access-control-allow-methods']).includes('post'));
    const form = await multipartBody([{ field: 'file', path }, { field: 'file_type', value: fileType }]);
    const res = await rawRequest(`${api.url}/api/upload`, { method: 'POST', headers: { ...CHROMIUM, 'content-type': form.contentType }, body: form.body });
    assertCorsReadable(res);
    const body = res.json<Record<string, unknown>>();
    if (res.status < 200 || res.status >= 300) return { ok: false, status: res.status, shown: String(body.detail || body.message || '上传失败') };
    assert.equal(typeof body.file_id, 'string');
    assert.equal(typeof body.size, 'number');
    return { ok: true, fileId: body.file_id as string, size: body.size as number };
  }

  /** processVideo(): fetch POST FormData dance_file_id, bgm_file_id (a simple request: no preflight); reads task_id. */
  async function processVideo(danceFileId: string, bgmFileId: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const form = await multipartBody([{ field: 'dance_file_id', value: danceFileId }, { field: 'bgm_file_id', value: bgmFileId }]);
    const res = await rawRequest(`${api.url}/api/process`, { method: 'POST', headers: { ...CHROMIUM, 'content-type': form.contentType }, body: form.body });
    assertCorsReadable(res);
    return { status: res.status, body: res.json() };
  }

  async function getStatus(taskId: string): Promise<RawAnswer> {
    const res = await rawRequest(`${api.url}/api/status/${taskId}`, { headers: CHROMIUM });
    assertCorsReadable(res);
    return res;
  }

  /** pollTaskStatus(): until `status` is success or failed, or both per-version statuses are done. */
  async function pollTaskStatus(taskId: string): Promise<Status[]> {
    const seen: Status[] = [];
    for (let attempt = 0; attempt < 240; attempt++) {
      const res = await getStatus(taskId);
      assert.equal(res.status, 200);
      const result = res.json<Status>();
      seen.push(result);
      const done = (s: string) => s === 'success' || s === 'failed';
      if (result.status === 'success' || result.status === 'failed' || (done(result.modular_status) && done(result.v2_status))) return seen;
      await sleep(500);
    }
    throw new Error('the task never finished');
  }

  /** A download button: re-reads the status, then fetches the file and reads Content-Length and the bytes. */
  async function downloadButton(taskId: string, version: 'modular' | 'v2'): Promise<Buffer> {
    const latest = (await getStatus(taskId)).json<Status>();
    const output = version === 'modular' ? latest.modular_output : latest.v2_output;
    const versionStatus = version === 'modular' ? latest.modular_status : latest.v2_status;
    assert.ok(versionStatus === 'success' && output, `the ${version} button is shown and enabled`);
    const res = await rawRequest(`${api.url}/api/download/${latest.task_id}?version=${version}`, { headers: CHROMIUM });
    assertCorsReadable(res);
    assert.equal(res.status, 200, 'response.ok');
    assert.equal(Number(res.headers['content-length']), res.body.length, 'Content-Length gives the progress total');
    return res.body;
  }

  test('the sequence: health, upload ×2, process, poll until success, both downloads (answers in zh-CN)', async () => {
    const dance = await uploadFile(pair.dance, 'dance');
    assert.ok(dance.ok);
    state.danceFileId = dance.fileId;
    const bgm = await uploadFile(pair.bgm, 'bgm');
    assert.ok(bgm.ok);
    state.bgmFileId = bgm.fileId;

    const submitted = await processVideo(state.danceFileId, state.bgmFileId);
    assert.equal(submitted.status, 200);
    assert.equal(typeof submitted.body.task_id, 'string');
    assert.equal(submitted.body.message, '任务已提交，即将开始处理', 'no Accept-Language: the old service\'s language');
    state.taskId = submitted.body.task_id as string;

    // Pressed too early, the old service said 404, and so do we.
    const early = await rawRequest(`${api.url}/api/download/${state.taskId}?version=modular`, { headers: CHROMIUM });
    assert.equal(early.status, 404);
    assert.ok(early.json<{ detail?: string }>().detail);

    const answers = await pollTaskStatus(state.taskId);
    for (const a of answers.slice(0, -1)) {
      assert.equal(a.modular_output, undefined, 'no button before the file exists');
      assert.equal(a.v2_output, undefined);
    }
    const last = answers.at(-1)!;
    assert.equal(last.status, 'success');
    assert.equal(last.task_id, state.taskId);
    assert.equal(last.modular_status, 'success');
    assert.equal(last.v2_status, 'success');
    assert.ok(last.modular_output && last.v2_output, 'both buttons appear');
    assert.notEqual(last.modular_output, last.v2_output);
    assert.equal(last.message, '处理完成');

    const modular = await downloadButton(state.taskId, 'modular');
    const v2 = await downloadButton(state.taskId, 'v2');
    const job = await api.system.store.get<unknown, { variants: { variant: string; sizeBytes: number }[] }>(state.taskId);
    const sizeOf = (v: string) => job!.result!.variants.find((x) => x.variant === v)!.sizeBytes;
    assert.equal(modular.length, sizeOf('trimmed'), 'modular is the trimmed variant');
    assert.equal(v2.length, sizeOf('full'), 'v2 is the full variant');
    // The *_output values are download URLs of exactly these files.
    const viaOutput = await rawRequest(`${api.url}${last.v2_output}`, { headers: CHROMIUM });
    assert.deepEqual(viaOutput.body, v2);

    // An unknown `version` fell back to modular in the old service.
    const bogus = await rawRequest(`${api.url}/api/download/${state.taskId}?version=bogus`, { headers: CHROMIUM });
    assert.equal(bogus.status, 200);
    assert.deepEqual(bogus.body, modular);
  });

  test('with Accept-Language: en the legacy routes answer in English', async () => {
    const res = await rawRequest(`${api.url}/api/status/${state.taskId}`, { headers: { ...CHROMIUM, 'accept-language': 'en-US,en;q=0.9' } });
    assert.equal(res.json<Status>().message, 'Processing complete');
  });

  test('error paths the page handles: 404 unknown task (detail), failed with error', async () => {
    const unknown = await getStatus('AAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(unknown.status, 404);
    const detail = unknown.json<{ detail?: string; message?: string }>();
    assert.ok(detail.detail, 'the page shows `任务不存在: ${detail}`');
    assert.equal(detail.detail, '未找到。');

    const other = await songExcerpt('old-frontend-other.wav', 'muldjord-armygeddon.ogg', 30, 12);
    const bgm = await uploadFile(other, 'bgm');
    assert.ok(bgm.ok);
    const submitted = await processVideo(state.danceFileId!, bgm.fileId);
    assert.equal(submitted.status, 200);
    const last = (await pollTaskStatus(submitted.body.task_id as string)).at(-1)!;
    assert.equal(last.status, 'failed');
    assert.equal(last.modular_status, 'failed');
    assert.equal(last.v2_status, 'failed');
    assert.equal(last.error, '这段音乐似乎不是视频中的歌曲，请换一个音乐文件。', 'shown as 处理失败: ${error}');
    assert.equal(last.modular_output, undefined);

    // An upload the server refuses: the page shows `detail`.
    const refused = await uploadFile(pair.bgm, 'video');
    assert.ok(!refused.ok);
    assert.equal(refused.status, 400);
    assert.match(refused.shown, /请求无效/);
  });

  test('preflights: another allowed origin passes with every header real clients send; an unknown origin is not let in', async () => {
    const sent = 'authorization,cache-control,content-type,pragma,tus-resumable,upload-length,upload-metadata,upload-offset,x-request-id,x-requested-with';
    const pre = await preflight('/api/uploads/tus', 'POST', sent, OTHER_ALLOWED);
    assert.equal(pre.headers['access-control-allow-origin'], OTHER_ALLOWED);
    const allowed = headerList(pre.headers['access-control-allow-headers']);
    for (const h of sent.split(',')) assert.ok(allowed.includes(h), `${h} allowed`);
    const patch = await preflight('/api/uploads/tus/x', 'PATCH', 'content-type,tus-resumable,upload-offset', OTHER_ALLOWED);
    assert.ok(headerList(patch.headers['access-control-allow-methods']).includes('patch'));

    // What a cross-origin page may read.
    const health = await rawRequest(`${api.url}/api/health`, { headers: { origin: OTHER_ALLOWED } });
    const exposed = headerList(health.headers['access-control-expose-headers']);
    for (const h of ['location', 'upload-offset', 'upload-length', 'tus-resumable', 'tus-version', 'tus-max-size', 'retry-after', 'x-request-id', 'content-disposition']) {
      assert.ok(exposed.includes(h), `${h} exposed`);
    }

    const stranger = await preflight('/api/health', 'GET', 'cache-control,pragma', 'https://evil.example');
    assert.equal(stranger.headers['access-control-allow-origin'], undefined);
    const strangerGet = await rawRequest(`${api.url}/api/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(strangerGet.headers['access-control-allow-origin'], undefined);
  });
});
