import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreementWords, alignmentSentence, confidenceLevel, driftWords, formatBytes, formatClock, formatExpiry, isDoubtful, placeWords, segmentWords } from './words.ts';

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

test('doubt: below the line or ambiguous, and old jobs without the new fields', () => {
  assert.equal(isDoubtful({ confidence: 0.95, ambiguous: false }), false);
  assert.equal(isDoubtful({ confidence: 0.95, ambiguous: true }), true);
  assert.equal(isDoubtful({ confidence: 0.79 }), true);
  assert.equal(isDoubtful({ confidence: 0.8 }), false);
  assert.equal(isDoubtful({ confidence: Number.NaN }), true);
  assert.equal(isDoubtful(null), false);
  assert.equal(confidenceLevel(0.78), 'fair', 'the sentence agrees with the doubt line');
});

test('plain words instead of offsets and check counts', () => {
  assert.equal(placeWords(-3.259, 'en'), 'Your recording starts 3.3 s before the song');
  assert.equal(placeWords(-3.259, 'zh-CN'), '录像比歌曲早开始 3.3 秒');
  assert.equal(placeWords(62.4, 'en'), 'Your recording starts at 1:02 of the song');
  assert.equal(placeWords(0.01, 'zh-CN'), '录像和歌曲同时开始');
  assert.equal(agreementWords(22, 39, 'zh-CN'), '录像只有约一半与这个位置吻合');
  assert.equal(agreementWords(38, 39, 'en'), 'most of the recording fits this place');
  assert.equal(agreementWords(3, 39, 'en'), 'only a small part of the recording fits this place');
  assert.equal(agreementWords(undefined, undefined, 'en'), '');
  assert.equal(segmentWords({ danceStart: 4, danceEnd: 40, offsetSeconds: 58 }, 'en'), '0:04–0:40 of your video, song from 1:02');
});
