import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLine } from './fit.ts';
import type { WindowMatch } from './gcc.ts';

const point = (t: number, ...bgm: number[]): WindowMatch => ({
  danceTime: t,
  bgmTime: bgm[0],
  z: 10,
  peaks: bgm.map((b) => ({ bgmTime: b, z: 10 })),
});
const options = { tolerance: 0.001, priorSpeed: 1, maxSpeedDev: 500e-6 };

test('recovers offset and slope through outliers', () => {
  const speed = 1.00025;
  const points: WindowMatch[] = [];
  for (let i = 0; i < 40; i++) {
    const t = 2 + i * 3;
    const truth = 12.5 + speed * t;
    // Every fourth window is junk anywhere within ±100 ms.
    points.push(point(t, i % 4 === 3 ? truth + 0.1 * Math.sin(i * 7.3) : truth + 1e-5 * Math.sin(i)));
  }
  const fit = fitLine(points, options);
  assert.ok(fit);
  assert.ok(Math.abs(fit.offset - 12.5) < 1e-4, `offset ${fit.offset}`);
  assert.ok(Math.abs(fit.speed - speed) < 1e-6, `speed ${fit.speed}`);
  assert.ok(fit.inliers.length >= 30 && fit.inliers.length <= 31);
});

test('prefers the direct sound when most windows peak on a reflection', () => {
  // A reflection reaches the phone 30 ms late, i.e. it matches a BGM instant 30 ms earlier.
  const points: WindowMatch[] = [];
  for (let i = 0; i < 30; i++) {
    const t = 1 + i;
    const direct = 5 + t;
    points.push(i % 3 === 0 ? point(t, direct, direct - 0.03) : point(t, direct - 0.03, direct));
  }
  const fit = fitLine(points, options);
  assert.ok(fit);
  assert.ok(Math.abs(fit.offset - 5) < 1e-4, `offset ${fit.offset}`);
});

test('returns null for no windows', () => {
  assert.equal(fitLine([], options), null);
});
