// Where the song is heard along a mapping: the music span's edges, placed with long windows (bisection)
// and then short ones, erring towards keeping music; nothing is cut where the song itself is silent.
import type { Context, Line, Verified } from './context.ts';
import { round } from './context.ts';
import type { Matcher } from './gcc.ts';

/** Span edges: long-window bisection down to this bracket (s), then short windows every EDGE_STEP. */
const BISECT_SECONDS = 1;
const EDGE_STEP = 0.05;
/** Extra music kept beyond the first/last heard short-window centre (s). */
const EDGE_MARGIN = 0.1;
/** Presence-score sum an edge may give up to keep more music. */
const EDGE_TOLERANCE = 1.5;
const EDGE_CHANCE = 1.5;
/** Presence z (at the line) that counts as neither heard nor absent; scores are z minus this, capped at ±2. */
const PRESENCE_Z = 1.7;
/** …raised up to this where the song shows clearly; NOISE_Z is the typical height without it. */
const PRESENCE_Z_CLEAN = 3;
const NOISE_Z = 1.4;
/** Long windows: heard from this presence z, absent below ABSENT_Z; agreeing windows from HEARD_INLIER_Z. */
const HEARD_Z = 3.2;
const ABSENT_Z = 1;
const HEARD_INLIER_Z = 4.5;
/** The song is too quiet to tell presence below this level (relative to its overall RMS, about −15 dB). */
const QUIET_SONG = 0.18;
/** …and fully from this level (about −6 dB). */
const LOUD_SONG = 0.5;

type Presence = 'heard' | 'absent' | 'unknown';

/**
 * Where the song is heard along the line: from the first and last windows that agree with it, a
 * bisection with long windows brackets each edge, then short windows place it to ~0.1 s, erring
 * towards keeping music. Where the song itself is (nearly) silent, nothing can be told, and the
 * span is not cut there.
 */
export function musicSpan(ctx: Context, line: Line, v: Verified, overlap: { start: number; end: number }): { start: number; end: number } {
  const { fit, matches } = v;
  if (fit.inliers.length === 0) return { start: round(overlap.start, 3), end: round(overlap.end, 3) };
  const times = matches.map((m) => m.danceTime);
  // Anchors: the outermost agreeing windows whose neighbour inward agrees too (a lone agreeing
  // window in the talk can be chance).
  const agrees = new Set(fit.inliers);
  const anchor = (order: number[]): number => {
    for (let k = 0; k < order.length; k++) if (agrees.has(order[k]) && (k + 1 >= order.length || agrees.has(order[k + 1]))) return order[k];
    return order.find((i) => agrees.has(i)) ?? order[0];
  };
  const forward = times.map((_, i) => i);
  const heardFirst = times[anchor(forward)];
  const heardLast = times[anchor([...forward].reverse())];
  // Agreeing windows with a clear peak count as heard when walking outward from the anchors.
  const agreeing = new Set(fit.inliers.filter((i, k) => matches[i].peaks[fit.peakOf[k]].z >= HEARD_INLIER_Z).map((i) => times[i]));
  const start = spanEdge(ctx, line, overlap, heardFirst, times.filter((t) => t < heardFirst).reverse(), agreeing, -1);
  const end = spanEdge(ctx, line, overlap, heardLast, times.filter((t) => t > heardLast), agreeing, 1);
  const s = Math.max(overlap.start, Math.min(start, overlap.end));
  const e = Math.max(s, Math.min(end, overlap.end));
  return { start: round(s, 3), end: round(e, 3) };
}

/** One edge of the span, searched outward (direction −1: towards the start) from a heard time. */
function spanEdge(ctx: Context, line: Line, overlap: { start: number; end: number }, heardAt: number, outward: number[], agreeing: Set<number>, direction: -1 | 1): number {
  const { sampleRate } = ctx.input;
  const half = ctx.matcher.window / 2 / sampleRate;
  const limit = direction < 0 ? overlap.start : overlap.end;
  let heard = heardAt;
  let absent = limit;
  // Walk outward over the measured windows until one clearly lacks the song.
  for (const t of outward) {
    const p = agreeing.has(t) ? 'heard' : presenceAt(ctx, ctx.matcher, line, t);
    if (p === 'heard') heard = t;
    else if (p === 'absent') {
      absent = t;
      break;
    }
  }
  // Bisect with long windows while the bracket is wide.
  while (Math.abs(heard - absent) > 2 * BISECT_SECONDS) {
    const m = (heard + absent) / 2;
    if (m - half < 0 || m + half > ctx.danceSeconds) break;
    const p = presenceAt(ctx, ctx.matcher, line, m);
    if (p === 'heard') heard = m;
    else if (p === 'absent') absent = m;
    else break;
  }
  // Short windows over the bracket (with a long window's reach beyond the heard point): the best
  // split between mostly-absent outside and mostly-heard inside.
  const short = ctx.edgeMatcher;
  const shortHalf = short.window / 2 / sampleRate;
  const inner = heard - direction * half;
  const outer = absent + direction * (absent === limit ? 0 : half);
  const from = Math.max(overlap.start, Math.min(inner, outer));
  const to = Math.min(overlap.end, Math.max(inner, outer));
  const ts: number[] = [];
  const raw: { z: number; weight: number }[] = [];
  for (let t = from; t <= to + 1e-9; t += EDGE_STEP) {
    ts.push(t);
    raw.push(presence(ctx, short, line, t));
  }
  // Threshold between the noise level and how high the song shows here (the windows next to the
  // heard point): a clean recording gets a high one (talk is cut cleanly), a drowned one a low one.
  const near = raw.filter((_, i) => (direction < 0 ? ts[i] >= heard : ts[i] <= heard) && raw[i].weight > 0.5).map((p) => p.z).sort((x, y) => x - y);
  const heardZ = near.length ? near[Math.floor(near.length / 2)] : PRESENCE_Z;
  const threshold = Math.max(PRESENCE_Z, Math.min(PRESENCE_Z_CLEAN, (heardZ + NOISE_Z) / 2));
  const score = raw.map((p) => p.weight * Math.max(-2, Math.min(2, p.z - threshold)));
  if (ts.length === 0) return direction < 0 ? from : to;
  // From the outside in: the split maximises heard-inside minus heard-outside; ties keep more music.
  if (direction > 0) {
    ts.reverse();
    score.reverse();
  }
  const value: number[] = [];
  let total = 0;
  for (const s of score) total += s;
  let outside = 0;
  for (let k = 0; k < ts.length; k++) {
    // Cutting k windows must beat what chance fluctuations of k undecided windows reach (~√k).
    value.push(total - 2 * outside - EDGE_CHANCE * Math.sqrt(k));
    outside += score[k];
  }
  // The outermost split nearly as good as the best: a few doubtful windows do not cut music.
  const best = value.reduce((m, v) => Math.max(m, v), -Infinity);
  const k = value.findIndex((v) => v >= best - EDGE_TOLERANCE);
  // A window is heard once a small part of it (clean sound) to about half of it (noisy room) holds
  // music, so the edge sits near the first heard centre; a margin keeps the music's first notes.
  return ts[k] + direction * (k > 0 ? EDGE_MARGIN : shortHalf);
}

/** Is the song heard in the long window at dance time t (at the line)? */
function presenceAt(ctx: Context, matcher: Matcher, line: Line, t: number): Presence {
  const p = presence(ctx, matcher, line, t);
  if (p.weight < 0.5) return 'unknown';
  return p.z >= HEARD_Z ? 'heard' : p.z <= ABSENT_Z ? 'absent' : 'unknown';
}

/**
 * The correlation height at the line for the window at dance time t, and how much it counts:
 * nothing where the window does not fit in both signals or the song is silent there, less where
 * the song is quiet (a missing peak says little there).
 */
export function presence(ctx: Context, matcher: Matcher, line: Line, t: number): { z: number; weight: number } {
  const { input } = ctx;
  const { sampleRate } = input;
  const center = Math.round(t * sampleRate);
  const predicted = (line.offset + line.speed * t) * sampleRate;
  const span = (matcher.window / 2) * line.speed;
  const nothing = { z: 0, weight: 0 };
  if (center - matcher.window / 2 < 0 || center + matcher.window / 2 > input.dance.length) return nothing;
  if (predicted - span < 0 || predicted + span > input.bgm.length) return nothing;
  const weight = Math.min(1, (bgmLevel(ctx, predicted - span, predicted + span) - QUIET_SONG) / (LOUD_SONG - QUIET_SONG));
  if (weight <= 0) return nothing;
  // null: a silent dance window, where the song is certainly not heard.
  return { z: matcher.presence(input.dance, input.bgm, center, predicted, line.speed) ?? 0, weight };
}

/** RMS of the BGM over [from, to) samples relative to the song's overall RMS. */
function bgmLevel(ctx: Context, from: number, to: number): number {
  const { bgm } = ctx.input;
  const a = Math.max(0, Math.floor(from));
  const b = Math.min(bgm.length, Math.ceil(to));
  if (b - a < 16) return 0;
  // Every 4th sample is plenty for a level.
  let sum = 0;
  let n = 0;
  for (let i = a; i < b; i += 4) {
    sum += bgm[i] * bgm[i];
    n++;
  }
  return Math.sqrt(sum / n) / ctx.bgmRms;
}
