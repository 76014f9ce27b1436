import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BeatSyncError, ERROR_CODES, langFrom, messageFor, toBeatSyncError } from './errors.ts';

test('every code has an English and a Chinese message', () => {
  for (const code of ERROR_CODES) {
    assert.ok(messageFor(code, 'en').length > 3, code);
    assert.match(messageFor(code, 'zh-CN'), /[\u4e00-\u9fff]/, code);
  }
});

test('language comes from Accept-Language', () => {
  assert.equal(langFrom('zh-CN,zh;q=0.9,en;q=0.8'), 'zh-CN');
  assert.equal(langFrom('en-US,en;q=0.9'), 'en');
  assert.equal(langFrom('fr-FR'), 'en');
  assert.equal(langFrom(undefined), 'en');
});

test('unknown failures become retryable PROCESSING_FAILED; known ones keep their code', () => {
  const wrapped = toBeatSyncError(new Error('boom'));
  assert.equal(wrapped.code, 'PROCESSING_FAILED');
  assert.equal(wrapped.retryable, true);
  const known = new BeatSyncError('NO_MATCH');
  assert.equal(toBeatSyncError(known), known);
  assert.deepEqual(known.toJSON('zh-CN').code, 'NO_MATCH');
  assert.equal(known.retryable, false);
});
