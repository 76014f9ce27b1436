import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sanitizeFilename } from './filename.ts';

test('file names keep only a safe last segment', () => {
  assert.equal(sanitizeFilename('../../etc/passwd'), 'passwd');
  assert.equal(sanitizeFilename('C:\\Users\\me\\class.mp4'), 'class.mp4');
  assert.equal(sanitizeFilename('a\u0000b\u0007c\u001b[31m.mp4'), 'abc[31m.mp4');
  assert.equal(sanitizeFilename('evil\u202egnp.mp4'), 'evilgnp.mp4');
  assert.equal(sanitizeFilename('what?<is>this*.mov'), 'what__is_this_.mov');
  assert.equal(sanitizeFilename('..'), 'upload');
  assert.equal(sanitizeFilename('   .hidden.mp4  '), 'hidden.mp4');
  assert.equal(sanitizeFilename(''), 'upload');
  assert.equal(sanitizeFilename(undefined, 'music'), 'music');
  assert.equal(sanitizeFilename('舞蹈课 第3节.mp4'), '舞蹈课 第3节.mp4');
});

test('long names are cut to 120 characters, keeping the extension', () => {
  const name = sanitizeFilename(`${'x'.repeat(500)}.mp4`);
  assert.equal(name.length, 120);
  assert.ok(name.endsWith('.mp4'));
});
