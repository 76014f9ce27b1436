import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentDisposition, etagFor, etagMatches, fileStem, parseRange } from './serve-object.ts';

test('parseRange reads single byte ranges as RFC 9110 defines them', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 }, 'a suffix longer than the file is the whole file');
  assert.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 }, 'the end is clamped');
  assert.deepEqual(parseRange('BYTES = 5 - 9', 1000), { start: 5, end: 9 });
});

test('parseRange answers 416 for ranges past the end and ignores what it does not understand', () => {
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  assert.equal(parseRange(undefined, 1000), null);
  assert.equal(parseRange('bytes=0-1,5-9', 1000), null, 'several ranges: the whole file (allowed by the RFC)');
  assert.equal(parseRange('items=0-1', 1000), null);
  assert.equal(parseRange('bytes=9-5', 1000), null);
  assert.equal(parseRange('bytes=-', 1000), null);
  assert.equal(parseRange('bytes=abc', 1000), null);
});

test('ETags change with size or time and match If-None-Match lists, * and weak forms', () => {
  const a = etagFor({ size: 1234, mtimeMs: 1_700_000_000_123.4 });
  assert.match(a, /^"[0-9a-f]+-[0-9a-f]+"$/);
  assert.notEqual(a, etagFor({ size: 1235, mtimeMs: 1_700_000_000_123.4 }));
  assert.notEqual(a, etagFor({ size: 1234, mtimeMs: 1_700_000_000_124 }));
  assert.ok(etagMatches(a, a));
  assert.ok(etagMatches(`"x", W/${a}`, a));
  assert.ok(etagMatches('*', a));
  assert.ok(!etagMatches('"other"', a));
  assert.ok(!etagMatches(undefined, a));
});

test('Content-Disposition: inline or attachment, with an RFC 5987 name only when needed', () => {
  assert.equal(contentDisposition('class-beatsync-full.mp4', false), 'inline; filename="class-beatsync-full.mp4"');
  assert.equal(contentDisposition('class-beatsync-full.mp4', true), 'attachment; filename="class-beatsync-full.mp4"');
  const zh = contentDisposition('舞蹈课 "3"-beatsync-trimmed.mp4', true);
  assert.equal(zh, `attachment; filename="___ _3_-beatsync-trimmed.mp4"; filename*=UTF-8''${encodeURIComponent('舞蹈课 "3"-beatsync-trimmed.mp4')}`);
  assert.ok(!/[^\x20-\x7e]/.test(zh), 'the header itself stays ASCII');
  // Characters that encodeURIComponent leaves but RFC 5987 attr-chars exclude.
  assert.match(contentDisposition("é's (mine)*.mp4", false), /filename\*=UTF-8''%C3%A9%27s%20%28mine%29%2A\.mp4$/);
});

test('fileStem keeps a readable name and drops paths, extensions and control characters', () => {
  assert.equal(fileStem('Class 3 — Jazz.MOV'), 'Class 3 — Jazz');
  assert.equal(fileStem('../../etc/passwd'), 'passwd');
  assert.equal(fileStem('C:\\Users\\me\\video.mp4'), 'video');
  assert.equal(fileStem('a\u0000b\u202ec\r\n.mp4'), 'abc');
  assert.equal(fileStem(''), 'video');
  assert.equal(fileStem('...'), 'video');
  assert.equal(fileStem(null), 'video');
  assert.equal(Array.from(fileStem('长'.repeat(300) + '.mp4')).length, 80);
});
