// Uploads as clients other than our page send them: the file under any field name (wx.uploadFile lets the caller
// name it) on both upload routes, the token as `?access_token=` or a header, and (issue #11 item 9) an old-client
// upload refused after its file part arrived leaves nothing behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { removeDataDir } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { multipartBody, rawRequest, startApiWithoutWorkers } from './helpers/clients.ts';
import { makeVideo, songExcerpt } from './helpers/media.ts';

describe('uploads from other clients', () => {
  let api: RunningApi;
  let video: string;
  let song: string;

  before(async () => {
    video = await makeVideo('clients-up-dance.mp4', { seconds: 2, audio: { source: 'noise' } });
    song = await songExcerpt('clients-up-song.wav', 'nexuiz-brokenlight.ogg', 30, 2);
    api = await startApiWithoutWorkers();
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  async function stored(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const object of api.system.files.list(prefix)) keys.push(object.key);
    return keys.sort();
  }

  async function newToken(): Promise<string> {
    return (await rawRequest(`${api.url}/api/session`, { method: 'POST' })).json<{ token: string }>().token;
  }

  async function post(path: string, parts: Parameters<typeof multipartBody>[0], headers: Record<string, string> = {}) {
    const form = await multipartBody(parts);
    return rawRequest(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': form.contentType, ...headers }, body: form.body });
  }

  test('POST /api/upload takes the file under any field name, formData before or after it', async () => {
    const after = await post('/api/upload', [{ field: 'video', path: video }, { field: 'file_type', value: 'dance' }]);
    assert.equal(after.status, 200, after.body.toString());
    const before = await post('/api/upload', [{ field: 'file_type', value: 'bgm' }, { field: 'music', path: song, fileName: 'tmp_4a1b.wav' }]);
    assert.equal(before.status, 200, before.body.toString());
    const body = before.json<Record<string, unknown>>();
    assert.equal(body.file_type, 'bgm');
    assert.equal(body.filename, 'tmp_4a1b.wav');
    assert.equal(typeof body.file_id, 'string');
    assert.equal(typeof body.size, 'number');
  });

  test('POST /api/uploads takes the file under any field name, with ?access_token= or the header', async () => {
    const token = await newToken();
    const viaQuery = await post(`/api/uploads?purpose=dance&access_token=${encodeURIComponent(token)}`, [{ field: 'name', value: 'x' }, { field: 'video', path: video }]);
    assert.equal(viaQuery.status, 201, viaQuery.body.toString());
    assert.equal(viaQuery.json<{ kind: string }>().kind, 'video');
    const viaHeader = await post('/api/uploads', [{ field: 'media', path: song }], { authorization: `Bearer ${token}` });
    assert.equal(viaHeader.status, 201, viaHeader.body.toString());
    const fileId = viaHeader.json<{ fileId: string }>().fileId;
    const read = await rawRequest(`${api.url}/api/uploads/${fileId}?access_token=${encodeURIComponent(token)}`);
    assert.equal(read.status, 200);
    const wrong = await post('/api/uploads?access_token=bs1.nope.nope', [{ field: 'media', path: song }]);
    assert.equal(wrong.status, 401);
  });

  test('an old-client upload refused after its file arrived keeps nothing', async () => {
    const before = await stored('uploads/');
    const cases: [string, Parameters<typeof multipartBody>[0]][] = [
      ['bad file_type after the file', [{ field: 'file', path: song }, { field: 'file_type', value: 'video' }]],
      ['too many fields after the file', [{ field: 'file', path: song }, { field: 'file_type', value: 'bgm' }, ...Array.from({ length: 20 }, (_, i) => ({ field: `f${i}`, value: 'x' }))]],
      ['no file_type at all', [{ field: 'file', path: song }]],
      ['music sent as the dance video', [{ field: 'file', path: song }, { field: 'file_type', value: 'dance' }]],
    ];
    for (const [what, parts] of cases) {
      const res = await post('/api/upload', parts);
      assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
      assert.ok(res.json<{ detail?: string }>().detail, `${what}: a detail the old page shows`);
      assert.deepEqual(await stored('uploads/'), before, `${what}: nothing kept`);
    }

    // A body cut off after the file part (no closing boundary).
    const form = await multipartBody([{ field: 'file', path: song }, { field: 'file_type', value: 'bgm' }]);
    const cut = form.body.subarray(0, form.body.lastIndexOf('file_type') - 60);
    const res = await rawRequest(`${api.url}/api/upload`, { method: 'POST', headers: { 'content-type': form.contentType }, body: cut });
    assert.ok(res.status >= 400, `cut body: ${res.status}`);
    assert.deepEqual(await stored('uploads/'), before, 'cut body: nothing kept');

    // With a token the refused file does not stay counted against its storage quota either.
    const token = await newToken();
    const refused = await post('/api/upload', [{ field: 'file', path: song }, { field: 'file_type', value: 'nope' }], { authorization: `Bearer ${token}` });
    assert.equal(refused.status, 400);
    assert.deepEqual(await stored('uploads/'), before);
    assert.deepEqual(await stored(`quota/${token.split('.')[1]}/`), [], 'no quota marker left');
  });
});
