// The earlier service's API replayed the way its web client called it (no token): upload the dance video and
// the music, process, poll /api/status every second until done, download both versions; /api/task; errors.
// Field names are compared byte for byte.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeMedia } from '../src/media/index.ts';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { getJson, newToken, postFile, removeDataDir, startApi } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { songExcerpt } from './helpers/media.ts';

const STATUS_KEYS = ['task_id', 'status', 'message', 'progress', 'modular_status', 'v2_status'];
const OLD_STATUSES = ['pending', 'processing', 'success', 'failed'];

const keys = (o: object): string[] => Object.keys(o).sort();

interface StatusAnswer { task_id: string; status: string; message: string; progress: number; modular_status: string; v2_status: string; error?: string }

describe('compatibility routes, replayed as the old web client calls them', () => {
  let api: RunningApi;
  let pair: ApiSyncPair;
  let danceId: string;
  let bgmId: string;
  let taskId: string;
  const scratch: string[] = [];

  before(async () => {
    pair = await makeApiSyncPair();
    api = await startApi();
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  /** Polls like the old page did, every second, until the task is done; returns every answer seen. */
  async function pollStatus(id: string, headers: Record<string, string> = {}): Promise<StatusAnswer[]> {
    const seen: StatusAnswer[] = [];
    for (;;) {
      const res = await getJson<StatusAnswer>(`${api.url}/api/status/${id}`, null, headers);
      assert.equal(res.status, 200);
      seen.push(res.body);
      if (res.body.status === 'success' || res.body.status === 'failed') return seen;
      await sleep(1000);
    }
  }

  test('POST /api/upload (multipart file + file_type, either order) answers the old fields', async () => {
    // The old page appended the file first, then its type.
    const dance = await postFile(`${api.url}/api/upload`, pair.dance, { fieldsAfter: [['file_type', 'dance']], fileName: 'class.mp4' });
    assert.equal(dance.status, 200);
    const d = (await dance.json()) as Record<string, unknown>;
    assert.deepEqual(keys(d), ['file_id', 'file_type', 'filename', 'message', 'size']);
    assert.equal(d.file_type, 'dance');
    assert.equal(d.filename, 'class.mp4');
    assert.equal(typeof d.file_id, 'string');
    assert.equal(typeof d.size, 'number');
    danceId = d.file_id as string;

    const bgm = await postFile(`${api.url}/api/upload`, pair.bgm, { fields: [['file_type', 'bgm']], fileName: 'song.wav' });
    assert.equal(bgm.status, 200);
    const b = (await bgm.json()) as Record<string, unknown>;
    assert.deepEqual(keys(b), ['file_id', 'file_type', 'filename', 'message', 'size']);
    assert.equal(b.file_type, 'bgm');
    bgmId = b.file_id as string;
  });

  test('process, poll /api/status every second until success, download modular and v2', async () => {
    const form = new FormData();
    form.append('dance_file_id', danceId);
    form.append('bgm_file_id', bgmId);
    const processed = await fetch(`${api.url}/api/process`, { method: 'POST', body: form });
    assert.equal(processed.status, 200);
    const p = (await processed.json()) as Record<string, unknown>;
    assert.deepEqual(keys(p), ['message', 'status', 'task_id']);
    assert.equal(p.status, 'pending');
    taskId = p.task_id as string;

    const answers = await pollStatus(taskId);
    for (const a of answers) {
      const outputs = a.status === 'success' ? ['modular_output', 'v2_output'] : [];
      assert.deepEqual(keys(a), [...STATUS_KEYS, ...outputs].sort(), 'no error field while not failed; the *_output fields once done');
      assert.equal(a.task_id, taskId);
      assert.ok(OLD_STATUSES.includes(a.status), a.status);
      assert.ok(OLD_STATUSES.includes(a.modular_status));
      assert.ok(OLD_STATUSES.includes(a.v2_status));
      assert.ok(Number.isInteger(a.progress) && a.progress >= 0 && a.progress <= 100);
      if (a.status !== 'success') assert.equal(a.modular_status, a.status, 'per-version status follows the task until it is done');
    }
    const last = answers.at(-1)!;
    assert.equal(last.status, 'success');
    assert.equal(last.progress, 100);
    assert.equal(last.modular_status, 'success');
    assert.equal(last.v2_status, 'success');
    assert.equal((last as unknown as Record<string, string>).modular_output, `/api/download/${taskId}?version=modular`);
    assert.equal((last as unknown as Record<string, string>).v2_output, `/api/download/${taskId}?version=v2`);

    const task = await getJson<Record<string, unknown>>(`${api.url}/api/task/${taskId}`);
    assert.equal(task.status, 200);
    assert.deepEqual(keys(task.body), ['message', 'output_file', 'progress', 'status']);
    assert.equal(task.body.status, 'SUCCESS');
    assert.equal(task.body.progress, 100);
    assert.equal(task.body.output_file, `/api/download/${taskId}?version=modular`);

    const job = await api.system.store.get<unknown, { variants: { variant: string; sizeBytes: number }[] }>(taskId);
    const sizeOf = (v: string) => job!.result!.variants.find((x) => x.variant === v)!.sizeBytes;
    const dir = await mkdtemp(join(tmpdir(), 'beatsync-compat-'));
    scratch.push(dir);
    for (const [version, variant] of [['modular', 'trimmed'], ['v2', 'full']]) {
      const dl = await fetch(`${api.url}/api/download/${taskId}?version=${version}`);
      assert.equal(dl.status, 200);
      assert.equal(dl.headers.get('content-type'), 'video/mp4');
      assert.equal(dl.headers.get('content-disposition'), `attachment; filename="class-beatsync-${variant}.mp4"`);
      const bytes = Buffer.from(await dl.arrayBuffer());
      assert.equal(bytes.length, sizeOf(variant), `${version} is the ${variant} variant`);
      const file = join(dir, `${version}.mp4`);
      await writeFile(file, bytes);
      const info = await probeMedia(file);
      assert.equal(info.video.length, 1);
      assert.equal(info.audio.length, 1);
    }
    const plain = await fetch(`${api.url}/api/download/${taskId}`);
    assert.equal(Buffer.from(await plain.arrayBuffer()).length, sizeOf('trimmed'), 'no version = modular');
  });

  test('urlencoded /api/process works too; a song that does not match fails with the old fields', async () => {
    const other = await songExcerpt('compat-other.wav', 'muldjord-armygeddon.ogg', 30, 12);
    const up = await postFile(`${api.url}/api/upload`, other, { fields: [['file_type', 'bgm']] });
    const otherId = ((await up.json()) as { file_id: string }).file_id;
    const processed = await fetch(`${api.url}/api/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ dance_file_id: danceId, bgm_file_id: otherId }).toString(),
    });
    assert.equal(processed.status, 200);
    const id = ((await processed.json()) as { task_id: string }).task_id;
    const last = (await pollStatus(id, { 'accept-language': 'en' })).at(-1)!;
    assert.deepEqual(keys(last), [...STATUS_KEYS, 'error'].sort());
    assert.equal(last.status, 'failed');
    assert.equal(last.modular_status, 'failed');
    assert.equal(last.v2_status, 'failed');
    assert.match(last.error!, /does not seem to be the song/);

    const task = await getJson<Record<string, unknown>>(`${api.url}/api/task/${id}`, null, { 'accept-language': 'zh-CN' });
    assert.deepEqual(keys(task.body), ['error', 'message', 'progress', 'status']);
    assert.equal(task.body.status, 'FAILED');
    assert.equal(task.body.error, '这段音乐似乎不是视频中的歌曲，请换一个音乐文件。');

    // As the old service: no file yet (or ever) is 404.
    const dl = await getJson<{ error: { code: string }; detail: string }>(`${api.url}/api/download/${id}?version=v2`);
    assert.equal(dl.status, 404);
    assert.equal(dl.body.error.code, 'NOT_FOUND');
  });

  test('errors: a clear code and the old `detail` text', async () => {
    const noType = await postFile(`${api.url}/api/upload`, pair.bgm);
    assert.equal(noType.status, 400);
    const body = (await noType.json()) as { error: { code: string }; detail: string };
    assert.equal(body.error.code, 'BAD_REQUEST');
    assert.match(body.detail, /file_type/);

    const wrongType = await postFile(`${api.url}/api/upload`, pair.bgm, { fields: [['file_type', 'video']] });
    assert.equal(wrongType.status, 400);

    // Music sent as the dance video: refused by the dance checks even when the type comes after the file.
    const audioAsDance = await postFile(`${api.url}/api/upload`, pair.bgm, { fieldsAfter: [['file_type', 'dance']] });
    assert.equal(audioAsDance.status, 422);
    assert.equal(((await audioAsDance.json()) as { error: { code: string } }).error.code, 'NO_VIDEO_TRACK');

    const missing = await fetch(`${api.url}/api/process`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'dance_file_id=' });
    assert.equal(missing.status, 400);
    const unknown = await fetch(`${api.url}/api/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `dance_file_id=${'A'.repeat(22)}&bgm_file_id=${bgmId}`,
    });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'FILE_NOT_FOUND');

    const noTask = await getJson<{ error: { code: string }; detail: string }>(`${api.url}/api/status/nope`, null, { 'accept-language': 'en' });
    assert.equal(noTask.status, 404);
    assert.equal(noTask.body.detail, 'Not found.');
    // The old service fell back to modular for an unknown version.
    assert.equal((await fetch(`${api.url}/api/download/${taskId}?version=v3`)).status, 200);
  });

  test('token uploads are invisible to legacy callers; a legacy task stays readable on the old routes once a token is sent', async () => {
    const token = await newToken(api.url);
    const asToken = await getJson(`${api.url}/api/jobs/${taskId}`, token);
    assert.equal(asToken.status, 404);
    const statusWithToken = await getJson(`${api.url}/api/status/${taskId}`, token);
    assert.equal(statusWithToken.status, 200, 'a client that got a token later keeps its tokenless task');
    const theirs = await postFile(`${api.url}/api/upload`, pair.bgm, { token, fields: [['file_type', 'bgm']] });
    const theirId = ((await theirs.json()) as { file_id: string }).file_id;
    const legacy = await fetch(`${api.url}/api/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `dance_file_id=${danceId}&bgm_file_id=${theirId}`,
    });
    assert.equal(legacy.status, 404);
  });
});
