import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUploadMetadata, untilDisconnect } from './tus.ts';

test('Upload-Metadata: base64 values, empty values, malformed pairs refused', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(parseUploadMetadata(`filename ${b64('舞蹈.mp4')},purpose ${b64('dance')},is_confidential`), { filename: '舞蹈.mp4', purpose: 'dance', is_confidential: '' });
  assert.deepEqual(parseUploadMetadata(undefined), {});
  assert.throws(() => parseUploadMetadata('filename a b'), { code: 'BAD_REQUEST' });
  assert.throws(() => parseUploadMetadata('filename %%%'), { code: 'BAD_REQUEST' });
});

test('a body cut by a dropped connection ends where it was cut; other errors still fail', async () => {
  async function* dropped() {
    yield Buffer.from('abc');
    throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  }
  const got: string[] = [];
  for await (const chunk of untilDisconnect(dropped())) got.push(Buffer.from(chunk).toString());
  assert.deepEqual(got, ['abc']);
  async function* broken() {
    yield Buffer.from('x');
    throw new Error('disk on fire');
  }
  await assert.rejects(async () => {
    for await (const _ of untilDisconnect(broken())) void _;
  }, /disk on fire/);
});
