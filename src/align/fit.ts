// Robust straight-line fit of measured BGM time against dance time (offset + speed × t):
// sample consensus over the windows (each window may support a line with any of its few
// strongest peaks), least squares on the inliers, then a move to a parallel line just above when
// it is well supported too: a reflection reaches the phone later, so it matches an earlier BGM
// instant, and the direct sound is the upper line.
import type { WindowMatch } from './gcc.ts';

export interface LineFit {
  offset: number;
  speed: number;
  /** Indices (into the input) of the windows with a peak within tolerance of the line. */
  inliers: number[];
  /** For each inlier, the peak (index into that window's peaks) on the line. */
  peakOf: number[];
}

export interface FitOptions {
  /** Inlier tolerance (s). */
  tolerance: number;
  /** Slope used for single-point hypotheses and when the inliers span too little time. */
  priorSpeed: number;
  /** Largest |speed − 1| allowed. */
  maxSpeedDev: number;
}

/** Line pairs tried at most (spread evenly over all pairs). */
const MAX_PAIRS = 3000;
/** Strength (relative to the line below) a direct-sound line needs. */
const DIRECT_STRENGTH = 0.35;
/** Furthest a direct-sound line may sit above a reflection's (s). */
const MAX_REFLECTION = 0.1;

export function fitLine(points: WindowMatch[], options: FitOptions): LineFit | null {
  const n = points.length;
  if (n === 0) return null;
  const { priorSpeed, maxSpeedDev } = options;

  let bestOffset = points[0].bgmTime - priorSpeed * points[0].danceTime;
  let bestSpeed = priorSpeed;
  let bestScore = -1;
  const consider = (offset: number, speed: number): void => {
    const s = support(points, offset, speed, options.tolerance);
    if (s > bestScore) {
      bestScore = s;
      bestOffset = offset;
      bestSpeed = speed;
    }
  };
  for (const p of points) for (const peak of p.peaks) consider(peak.bgmTime - priorSpeed * p.danceTime, priorSpeed);
  const pairCount = (n * (n - 1)) / 2;
  const stride = Math.max(1, Math.floor(pairCount / MAX_PAIRS));
  let pair = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (pair++ % stride !== 0) continue;
      const pi = points[i], pj = points[j];
      const dt = pj.danceTime - pi.danceTime;
      if (dt < 1e-6) continue;
      const speed = (pj.bgmTime - pi.bgmTime) / dt;
      if (Math.abs(speed - 1) > maxSpeedDev) continue;
      consider(pi.bgmTime - speed * pi.danceTime, speed);
    }
  }

  let fit = refine(points, bestOffset, bestSpeed, options);
  for (let round = 0; round < 2; round++) {
    const upper = directLine(points, fit, options);
    if (!upper) break;
    fit = upper;
  }
  return fit;
}

/** Soft count of windows with a peak near the line. */
function support(points: WindowMatch[], offset: number, speed: number, tolerance: number): number {
  const tol2 = tolerance * tolerance;
  let s = 0;
  for (const p of points) {
    const base = offset + speed * p.danceTime;
    let best = 0;
    for (const peak of p.peaks) {
      const r = peak.bgmTime - base;
      if (r * r < tol2) best = Math.max(best, 1 - (r * r) / tol2);
    }
    s += best;
  }
  return s;
}

function inliersOf(points: WindowMatch[], offset: number, speed: number, tolerance: number): { inliers: number[]; peakOf: number[] } {
  const inliers: number[] = [];
  const peakOf: number[] = [];
  for (let i = 0; i < points.length; i++) {
    const base = offset + speed * points[i].danceTime;
    let bestK = -1;
    let bestR = tolerance;
    points[i].peaks.forEach((peak, k) => {
      const r = Math.abs(peak.bgmTime - base);
      if (r <= bestR) {
        bestR = r;
        bestK = k;
      }
    });
    if (bestK >= 0) {
      inliers.push(i);
      peakOf.push(bestK);
    }
  }
  return { inliers, peakOf };
}

/** Least squares on the inliers, repeated until the inlier set settles. */
function refine(points: WindowMatch[], offset: number, speed: number, options: FitOptions): LineFit {
  let set = inliersOf(points, offset, speed, options.tolerance);
  for (let iter = 0; iter < 6 && set.inliers.length > 0; iter++) {
    const { inliers, peakOf } = set;
    const y = (k: number): number => points[inliers[k]].peaks[peakOf[k]].bgmTime;
    let st = 0, sy = 0;
    for (let k = 0; k < inliers.length; k++) {
      st += points[inliers[k]].danceTime;
      sy += y(k);
    }
    const mt = st / inliers.length;
    const my = sy / inliers.length;
    let stt = 0, sty = 0;
    for (let k = 0; k < inliers.length; k++) {
      const dt = points[inliers[k]].danceTime - mt;
      stt += dt * dt;
      sty += dt * (y(k) - my);
    }
    // A slope needs inliers spread over a few seconds; otherwise keep the prior one.
    let nextSpeed = stt > 4 * inliers.length ? sty / stt : options.priorSpeed;
    nextSpeed = Math.max(1 - options.maxSpeedDev, Math.min(1 + options.maxSpeedDev, nextSpeed));
    const nextOffset = my - nextSpeed * mt;
    const next = inliersOf(points, nextOffset, nextSpeed, options.tolerance);
    const same = next.inliers.length === inliers.length && next.inliers.every((v, k) => v === inliers[k]);
    offset = nextOffset;
    speed = nextSpeed;
    set = next;
    if (same) break;
  }
  return { offset, speed, ...set };
}

/** A parallel line 2–100 ms above `fit` that many windows also support (the direct sound), or null. */
function directLine(points: WindowMatch[], fit: LineFit, options: FitOptions): LineFit | null {
  const { tolerance } = options;
  const residuals: number[] = [];
  for (const p of points) {
    for (const peak of p.peaks) {
      const r = peak.bgmTime - fit.offset - fit.speed * p.danceTime;
      if (r > 2 * tolerance && r < MAX_REFLECTION) residuals.push(r);
    }
  }
  residuals.sort((a, b) => a - b);
  let bestCount = 0;
  let bestCentre = 0;
  let j = 0;
  for (let i = 0; i < residuals.length; i++) {
    while (residuals[i] - residuals[j] > 2 * tolerance) j++;
    if (i - j + 1 > bestCount) {
      bestCount = i - j + 1;
      bestCentre = residuals[j + Math.floor((i - j) / 2)];
    }
  }
  if (bestCount < Math.max(4, 0.3 * fit.inliers.length)) return null;
  const upper = refine(points, fit.offset + bestCentre, fit.speed, options);
  // The direct sound is weaker than the reflection but of the same order; weak side peaks of a
  // clean correlation are not.
  const here = strength(points, fit);
  const there = strength(points, upper);
  return upper.offset > fit.offset + tolerance && there >= DIRECT_STRENGTH * here ? upper : null;
}

/** Summed (capped) height of the peaks on the line. */
function strength(points: WindowMatch[], fit: LineFit): number {
  let s = 0;
  fit.inliers.forEach((i, k) => {
    s += Math.min(points[i].peaks[fit.peakOf[k]].z, 40);
  });
  return s;
}
