import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { BeatSyncError } from '../errors.ts';
import type { CliIo } from './commands.ts';
import { errorJson, exitCodeFor, langFromEnv, progressDisplay } from './output.ts';

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
