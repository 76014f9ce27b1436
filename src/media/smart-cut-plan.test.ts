import assert from 'node:assert/strict';
import { test } from 'node:test';
import { levelOf } from './smart-cut-match.ts';
import { planHead } from './smart-cut-plan.ts';
import type { TickPacket } from './smart-cut-plan.ts';

/** x264-like decode order I P B B … with a decode delay of 2 frames, keyframe every `gop` frames (1 tick = 1 frame). */
function closedGop(frames: number, gop: number): TickPacket[] {
  const out: TickPacket[] = [];
  for (let g = 0; g < frames; g += gop) {
    const n = Math.min(gop, frames - g);
    const order = [0];
    for (let f = 1; f < n; f += 3) order.push(...[f + 2, f, f + 1].filter((x) => x < n));
    order.forEach((f) => out.push({ pts: g + f, dts: out.length - 2, duration: 1, keyframe: f === 0 }));
  }
  return out;
}

test('planHead: the frames from the cut to the next keyframe, then the copy', () => {
  const d = planHead(closedGop(60, 30), 10.5, 60, 60);
  assert.equal(d.kind, 'plan');
  if (d.kind !== 'plan') return;
  assert.deepEqual(d.plan.headPts, Array.from({ length: 20 }, (_, i) => 10 + i));
  assert.equal(d.plan.tailFrom?.pts, 30);
  assert.equal(d.plan.headEnd, 30);
  assert.equal(d.plan.tailPackets.length, 30);
});

test('planHead: an end before the next keyframe keeps only the frames shown before it', () => {
  const d = planHead(closedGop(60, 30), 10, 15, 60);
  assert.ok(d.kind === 'plan' && d.plan.tailFrom === null);
  if (d.kind !== 'plan') return;
  assert.deepEqual(d.plan.headPts, [10, 11, 12, 13, 14]);
  assert.equal(d.plan.headEnd, 15);
});

test('planHead: keyframe cut, open GOP and a too short look-ahead', () => {
  assert.equal(planHead(closedGop(60, 30), 30, 60, 60).kind, 'keyframe');
  const open = closedGop(60, 30).map((p) => (p.pts === 31 ? { ...p, pts: 29.5 } : p));
  const o = planHead(open, 10, 60, 60);
  assert.ok(o.kind === 'skip' && /open GOP/.test(o.reason));
  const s = planHead(closedGop(20, 20), 5, 60, 20);
  assert.ok(s.kind === 'skip' && /look-ahead/.test(s.reason));
});

test('levelOf: ffprobe levels as the encoders take them', () => {
  assert.equal(levelOf('h264', 41), '4.1');
  assert.equal(levelOf('h264', 9), '1b');
  assert.equal(levelOf('hevc', 123), '4.1');
  assert.equal(levelOf('hevc', 120), '4.0');
  assert.equal(levelOf('hevc', undefined), null);
});
