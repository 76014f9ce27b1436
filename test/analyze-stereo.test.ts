// Sound that a mono downmix loses: a song whose stereo channels are in anti-phase is still found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runFfmpeg } from '../src/media/index.ts';
import { analyzeFiles } from '../src/pipeline/index.ts';
import { fixtureDir, makeVideo, songExcerpt } from './helpers/media.ts';

test('a song whose stereo channels are in anti-phase (the downmix is silence) is still found', async () => {
  const danceSound = await songExcerpt('antiphase-dance.wav', 'nexuiz-stairs.ogg', 40, 6);
  const dance = await makeVideo('antiphase-dance.mp4', { seconds: 6, audio: { source: danceSound } });
  const plain = await songExcerpt('antiphase-plain.wav', 'nexuiz-stairs.ogg', 30, 20);
  const bgm = join(fixtureDir(), 'antiphase-bgm.flac');
  await runFfmpeg(['-y', '-i', plain, '-af', 'pan=stereo|c0=0.5*c0+0.5*c1|c1=-0.5*c0-0.5*c1', '-c:a', 'flac', bgm]);
  const analysis = await analyzeFiles(dance, bgm);
  assert.equal(analysis.alignment.matched, true);
  // The excerpts are cut by seeking in the Ogg file (not sample-exact): the plain song is the reference.
  const reference = await analyzeFiles(dance, plain);
  assert.ok(Math.abs(reference.alignment.offsetSeconds - 10) < 0.05, `reference offset ${reference.alignment.offsetSeconds}`);
  assert.ok(Math.abs(analysis.alignment.offsetSeconds - reference.alignment.offsetSeconds) < 1e-4, `offset ${analysis.alignment.offsetSeconds} vs ${reference.alignment.offsetSeconds}`);
});
