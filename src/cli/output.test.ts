import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Alignment } from '../align/types.ts';
import { BeatSyncError } from '../errors.ts';
import type { CliIo } from './commands.ts';
import { describeAnalysis, describeDoubts, errorJson, exitCodeFor, langFromEnv, progressDisplay } from './output.ts';

function io(tty: boolean): { io: CliIo; err: () => string } {
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 80 });
  const chunks: string[] = [];
  stderr.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { io: { stdout: new PassThrough(), stderr, lang: 'en', signal: new AbortController().signal }, err: () => chunks.join('') };
}

test('language from the locale: LC_ALL, then LC_MESSAGES, then LANG', () => {
  assert.equal(langFromEnv({ LANG: 'zh_CN.UTF-8' }), 'zh-CN');
  assert.equal(langFromEnv({ LANG: 'zh_TW.UTF-8', LC_ALL: 'en_US.UTF-8' }), 'en');
  assert.equal(langFromEnv({ LC_MESSAGES: 'zh_CN', LANG: 'en_US' }), 'zh-CN');
  assert.equal(langFromEnv({}), 'en');
});

test('exit codes and JSON errors', () => {
  assert.equal(exitCodeFor(new BeatSyncError('NO_MATCH')), 3);
  assert.equal(exitCodeFor(new BeatSyncError('INVALID_FORMAT')), 2);
  assert.deepEqual(errorJson(new BeatSyncError('NO_AUDIO_TRACK', 'x'), 'zh-CN'), { error: { code: 'NO_AUDIO_TRACK', message: '该文件没有音轨。', detail: 'x' } });
});

test('progress: a redrawn bar on a terminal, plain lines otherwise', async () => {
  const term = io(true);
  const bar = progressDisplay(term.io);
  bar.update({ percent: 10, stage: 'probe', message: 'Reading' });
  bar.update({ percent: 50, stage: 'render', message: 'Rendering' });
  bar.done();
  await new Promise((r) => setImmediate(r));
  assert.match(term.err(), /^\r\[###-+\] {2}10% Reading *\r\[#{14}-{14}\] {2}50% Rendering *\n$/);

  const pipe = io(false);
  const lines = progressDisplay(pipe.io);
  for (const percent of [0, 1, 2, 12, 13, 100]) lines.update({ percent, stage: percent < 100 ? 'render' : 'finish', message: 'm' });
  lines.done();
  await new Promise((r) => setImmediate(r));
  assert.equal(pipe.err(), '0% render: m\n12% render: m\n100% finish: m\n');
});

function alignment(over: Partial<Alignment> = {}): Alignment {
  const base: Alignment = {
    offsetSeconds: 12.3, speed: 1.0001, driftPpm: 100, confidence: 0.97, matched: true, musicStart: 2, musicEnd: 40,
    candidates: [], ambiguous: false, segments: [], windowsUsed: 38, windowsTotal: 40,
  };
  const a = { ...base, ...over };
  if (!over.segments) a.segments = [{ danceStart: a.musicStart, danceEnd: a.musicEnd, offsetSeconds: a.offsetSeconds, speed: a.speed, driftPpm: a.driftPpm, confidence: a.confidence }];
  return a;
}

test('a plain answer: the figures, confidence in words, no doubts', () => {
  const a = alignment();
  assert.deepEqual(describeDoubts(a, null, 'en'), []);
  assert.equal(describeAnalysis(a, null, 'en'), [
    'Offset: 12.300000 s (song time at the start of the video)',
    'Drift: 100.0 ppm',
    'Music in the video: 2.00 s – 40.00 s',
    'Confidence: 97% (sure)',
    '',
  ].join('\n'));
  assert.match(describeAnalysis(alignment({ confidence: 0.3 }), null, 'en'), /Confidence: 30% \(doubtful: listen before you use it\)/);
  assert.match(describeAnalysis(alignment({ confidence: 0.6 }), null, 'zh-CN'), /置信度: 60%（找到了，但请听一下确认）/);
});

test('ambiguous: both places named, the alternate said once', () => {
  const a = alignment({ ambiguous: true, confidence: 0.5, candidates: [{ offsetSeconds: 31.49, score: 1 }] });
  const alternate = alignment({ offsetSeconds: 31.49, confidence: 0.5 });
  const en = describeDoubts(a, alternate, 'en');
  assert.equal(en.length, 1);
  assert.equal(en[0], 'Ambiguous: two places in the song fit equally well: the video starts at song time 12.300 s and 31.490 s. Listen to both (sync renders the other one as the alternate variant).');
  assert.match(describeDoubts(a, alternate, 'zh-CN')[0], /^无法确定：歌曲中有 2 个位置同样吻合：视频开头对应歌曲的 12\.300 s、31\.490 s。/);
  // A looped song: three places, no alternate measured.
  const three = alignment({ ambiguous: true, candidates: [{ offsetSeconds: 31.49, score: 0.98 }, { offsetSeconds: 50.68, score: 0.95 }, { offsetSeconds: 70, score: 0.01 }] });
  assert.match(describeDoubts(three, null, 'en')[0], /^Ambiguous: 3 places .* 12\.300 s, 31\.490 s and 50\.680 s\. Listen to each\.$/);
});

test('a weaker second place and other rivals, each once', () => {
  const a = alignment({ confidence: 0.85, candidates: [{ offsetSeconds: 31.49, score: 0.2 }, { offsetSeconds: 8.1, score: 0.07 }, { offsetSeconds: 3, score: 0.001 }] });
  const alternate = alignment({ offsetSeconds: 31.49, confidence: 0.15 });
  assert.deepEqual(describeDoubts(a, alternate, 'en'), [
    'Another place fits less well: the video would start at song time 31.490 s (15% likely; sync renders it as the alternate variant).',
    'Other places considered (song time at the start of the video): 8.100 s (7% as likely).',
  ]);
});

test('several run-throughs and a dropped stretch, in plain words', () => {
  const a = alignment({
    offsetSeconds: -20, musicStart: 30, musicEnd: 65,
    segments: [
      { danceStart: 1, danceEnd: 25, offsetSeconds: 9, speed: 1, driftPpm: 0, confidence: 0.93 },
      { danceStart: 30, danceEnd: 65, offsetSeconds: -20, speed: 1, driftPpm: 0, confidence: 0.99 },
    ],
    droppedSegments: [{ danceStart: 26, danceEnd: 29.1 }],
  });
  assert.deepEqual(describeDoubts(a, null, 'en'), [
    '2 run-throughs (the music starts again):',
    '  1. video 1.00–25.00 s = song 10.00–34.00 s, confidence 93%',
    '  2. video 30.00–65.00 s = song 10.00–45.00 s, confidence 99% (the longest: the figures above)',
    'Dropped a 3.1 s stretch of music at 26.00–29.10 s of the video: too short to count as a run-through.',
  ]);
  const zh = describeDoubts(a, null, 'zh-CN');
  assert.equal(zh[0], '共 2 遍（音乐重新开始过）：');
  assert.equal(zh[3], '忽略了视频 26.00–29.10 s 处一段 3.1 s 的音乐：太短，不算一遍。');
});
