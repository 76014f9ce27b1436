import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignmentSentence, confidenceLevel, driftWords, formatBytes, formatClock, formatExpiry } from './words.ts';

test('drift in words: speed < 1 means the phone clock ran fast', () => {
  assert.equal(driftWords(-100, 'en'), "the phone's clock ran 0.010% fast, corrected");
  assert.equal(driftWords(250, 'en'), "the phone's clock ran 0.025% slow, corrected");
  assert.equal(driftWords(2, 'en'), "the phone's clock kept perfect time");
  assert.equal(driftWords(-100, 'zh-CN'), '手机时钟快了 0.010%，已校正');
});

test('confidence levels and the whole sentence', () => {
  assert.equal(confidenceLevel(0.95), 'high');
  assert.equal(confidenceLevel(0.6), 'fair');
  assert.equal(confidenceLevel(0.2), 'low');
  assert.equal(alignmentSentence({ confidence: 0.9, driftPpm: -100 }, 'en'), "Matched with high confidence; the phone's clock ran 0.010% fast, corrected.");
  assert.match(alignmentSentence({ confidence: 0.9, driftPpm: 0 }, 'zh-CN'), /^匹配可信度高；/);
});

test('sizes, clocks and expiry', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(3_847_800), '3.7 MB');
  assert.equal(formatClock(6.2), '0:06');
  assert.equal(formatClock(3725), '1:02:05');
  assert.equal(formatClock(Number.NaN), '0:00');
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(formatExpiry('2025-01-04T00:00:00Z', now, 'en'), 'expires in 3 days');
  assert.equal(formatExpiry('2025-01-01T05:30:00Z', now, 'en'), 'expires in 5 h');
  assert.equal(formatExpiry('2024-12-31T00:00:00Z', now, 'zh-CN'), '已过期');
  assert.equal(formatExpiry(null, now, 'en'), null);
});
