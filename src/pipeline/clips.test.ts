// Run-through clips and the segment timeline's sound, as pure planning (the rendered outputs are checked in
// test/render-clips.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlignSegment, Alignment } from '../align/types.ts';
import { expandClipVariants, runThroughClips, timelineSoundGraph } from './clips.ts';
import { audioFilterGraph, planAudio } from './plan.ts';
import type { MusicMapping } from './plan.ts';

const seg = (danceStart: number, danceEnd: number, offsetSeconds: number): AlignSegment => ({ danceStart, danceEnd, offsetSeconds, speed: 1, driftPpm: 0, confidence: 0.9 });

function alignment(segments: AlignSegment[] | undefined, main: AlignSegment): Alignment {
  return {
    offsetSeconds: main.offsetSeconds, speed: 1, driftPpm: 0, confidence: 0.9, matched: true, musicStart: main.danceStart, musicEnd: main.danceEnd,
    candidates: [], ambiguous: false, windowsUsed: 1, windowsTotal: 1, segments: segments as AlignSegment[],
  };
}

const mapping = (line: { offsetSeconds: number; speed: number }): MusicMapping => ({ ...line, bgmSampleRate: 44100, bgmDurationSeconds: 200 });

test('one segment, or an older analysis without segments: a single trimmed, the alignment itself', () => {
  for (const segments of [undefined, [], [seg(2, 30, 5)]]) {
    const al = alignment(segments, seg(2, 30, 5));
    const clips = runThroughClips(al);
    assert.equal(clips.length, 1);
    assert.equal(clips[0].variant, 'trimmed');
    assert.equal(clips[0].alignment, al, 'the same object, so trimmed shares the mix with full');
    assert.deepEqual(expandClipVariants(['trimmed', 'full'], al), ['trimmed', 'full']);
  }
});

test('three run-throughs: trimmed is the longest, the others follow in time order', () => {
  const a = seg(1, 10, 20);
  const b = seg(12, 40, -5);
  const c = seg(45, 60, -40);
  const al = alignment([c, a, b], b);
  const clips = runThroughClips(al);
  assert.deepEqual(clips.map((k) => [k.variant, k.clip, k.segment.danceStart]), [['trimmed', 1, 12], ['trimmed-2', 2, 1], ['trimmed-3', 3, 45]]);
  assert.deepEqual([clips[1].alignment.musicStart, clips[1].alignment.musicEnd, clips[1].alignment.offsetSeconds], [1, 10, 20]);
  assert.deepEqual(expandClipVariants(['full', 'trimmed', 'trimmed-2'], al), ['full', 'trimmed', 'trimmed-2', 'trimmed-3']);
});

test('the timeline graph: one segment is the plain graph; several give one music chain each, no room between them', () => {
  const one = alignment([seg(2, 30, 5)], seg(2, 30, 5));
  const span = { zeroDance: 0, roomZeroDance: 0, durationSeconds: 40 };
  assert.equal(
    timelineSoundGraph({ ...span, alignment: one, mapping, danceAudioIndex: 1, bgmAudioIndex: 0 }),
    audioFilterGraph(planAudio({ ...span, mapping: mapping(one), musicStart: 2, musicEnd: 30 }), 1, 0),
  );

  const two = alignment([seg(2, 10, 5), seg(14, 30, -10)], seg(14, 30, -10));
  const graph = timelineSoundGraph({ ...span, alignment: two, mapping, danceAudioIndex: 1, bgmAudioIndex: 0 });
  assert.match(graph, /\[1:0\]asetpts=N\/SR\/TB,asplit=2\[bgm0\]\[bgm1\]/);
  assert.match(graph, /\[music0\]/);
  assert.match(graph, /\[music1\]/);
  // Edges facing the other run-through fade over 20 ms, centred; the outer ones crossfade with the room.
  assert.match(graph, /afade=t=out:st=9\.990000:d=0\.02/);
  assert.match(graph, /afade=t=in:st=13\.990000:d=0\.02/);
  assert.match(graph, /\[0:1\].*afade=t=out:st=1\.800000:d=0\.4/);
  assert.match(graph, /afade=t=in:st=29\.800000:d=0\.4\[room1\]/);

  // A clip of the second run-through alone: the first one's music does not reach in, the room only after.
  const clip = timelineSoundGraph({ zeroDance: 13, roomZeroDance: 13, durationSeconds: 17.5, alignment: two, mapping, danceAudioIndex: 1, bgmAudioIndex: 0 });
  assert.doesNotMatch(clip, /asplit=2\[bgm0\]/);
  assert.doesNotMatch(clip, /\[music1\]/);
  assert.match(clip, /afade=t=in:st=0\.990000:d=0\.02/);
});
