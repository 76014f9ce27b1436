// Measuring one mapping (a line BGM time = offset + speed × dance time) with GCC-PHAT windows:
// windows along the line, a robust fit through their peaks, and the stacked correlation of all of them.
import { GRID, MAX_REFLECTION, MAX_SMEAR, SEARCH_SECONDS, TOLERANCE } from './context.ts';
import type { Context, Hypothesis, Line, Verified } from './context.ts';
import { fftSizeFor } from './fft.ts';
import { fitLine } from './fit.ts';
import { createMatcher, parabolicOffset, stackPeak } from './gcc.ts';
import type { Matcher, Stack, WindowMatch } from './gcc.ts';

/** Stacked-correlation height (noise units) from which it places the line better than the fit. */
export const STACK_TRUSTED_Z = 8;
/** Reach (samples) around the whole stack's peak where the half stacks are read. */
const HALF_REACH = 8;
/** Pass-1 inliers from which the fitted speed is trusted. */
const TRUSTED_INLIERS = 6;

/**
 * The line from the stacked correlation: the whole stack (at the refitted or the measured line,
 * whichever is sharper) places it; the stacks of the first and second halves of the windows, each
 * read at the whole stack's peak, give its slope. Many weak windows thus count together.
 */
export function stackedLine(ctx: Context, v: Verified): { line: Line; z: number } {
  const { sampleRate } = ctx.input;
  const { fit, matches, stack, hypothesis: measured } = v;
  const none = { line: { offset: fit.offset, speed: fit.speed }, z: 0 };
  if (!stack || stack.spectra.length === 0) return none;
  const matcher = ctx.matcher;
  const lines = [{ offset: fit.offset, speed: fit.speed }, { offset: measured.offset, speed: measured.speed }];
  const shiftsTo = (line: Line): number[] =>
    matches.map((m) => ((line.offset + line.speed * m.danceTime - measured.offset - measured.speed * m.danceTime) * sampleRate) / measured.speed);
  let best = { line: lines[0], curve: matcher.stacked(stack, shiftsTo(lines[0])), peak: { lag: 0, z: 0 } };
  best.peak = stackPeak(best.curve, Math.round(MAX_REFLECTION * sampleRate));
  const other = matcher.stacked(stack, shiftsTo(lines[1]));
  const otherPeak = stackPeak(other, Math.round(MAX_REFLECTION * sampleRate));
  if (otherPeak.z > best.peak.z) best = { line: lines[1], curve: other, peak: otherPeak };
  const { line, peak } = best;
  const tc = matches.reduce((sum, m) => sum + m.danceTime, 0) / matches.length;
  const at = (t: number, lag: number): number => line.offset + line.speed * t + (lag * measured.speed) / sampleRate;
  const whole = { line: { offset: at(tc, peak.lag) - line.speed * tc, speed: line.speed }, z: peak.z };
  if (matches.length < 4 || peak.z < STACK_TRUSTED_Z) return whole;
  // Halves, read near the whole stack's peak (the same arrival in both).
  const mid = Math.floor(matches.length / 2);
  const shifts = shiftsTo(line);
  const halfAt = (from: number, to: number): { t: number; lag: number; z: number } => {
    const part: Stack = { spectra: stack.spectra.slice(from, to), shifts: stack.shifts.slice(from, to) };
    const curve = matcher.stacked(part, shifts.slice(from, to));
    const centre = Math.round(peak.lag + matcher.search);
    let k = centre;
    for (let j = centre - HALF_REACH; j <= centre + HALF_REACH; j++) if (j > 0 && j < curve.length - 1 && curve[j] > curve[k]) k = j;
    const t = matches.slice(from, to).reduce((sum, m) => sum + m.danceTime, 0) / (to - from);
    return { t, lag: k + parabolicOffset(curve[k - 1], curve[k], curve[k + 1]) - matcher.search, z: curve[k] };
  };
  const a = halfAt(0, mid);
  const b = halfAt(mid, matches.length);
  if (a.z < STACK_TRUSTED_Z || b.z < STACK_TRUSTED_Z || b.t - a.t < 1) return whole;
  const speed = (at(b.t, b.lag) - at(a.t, a.lag)) / (b.t - a.t);
  if (Math.abs(speed - 1) > ctx.maxSpeedDev) return whole;
  return { line: { offset: at(a.t, a.lag) - speed * a.t, speed }, z: peak.z };
}

/** The longest windows whose peak a speed error of `speedError` smears by at most ~2 samples. */
export async function matcherFor(ctx: Context, speedError: number): Promise<Matcher> {
  if (speedError * ctx.matcher.window <= MAX_SMEAR) return ctx.matcher;
  const { sampleRate } = ctx.input;
  const search = Math.round(SEARCH_SECONDS * sampleRate);
  let size = fftSizeFor(ctx.matcher.window + 2 * search) / 2;
  while (size / 2 >= 4 * search && (size - 2 * search) * speedError > MAX_SMEAR) size /= 2;
  return shortMatcher(ctx, size, SEARCH_SECONDS);
}

async function shortMatcher(ctx: Context, size: number, searchSeconds: number): Promise<Matcher> {
  const key = size * 1e3 + Math.round(searchSeconds * 1e3);
  let m = ctx.shortMatchers.get(key);
  if (!m) {
    m = await createMatcher(ctx.input.sampleRate, size, searchSeconds);
    ctx.shortMatchers.set(key, m);
  }
  return m;
}

/** Dance-time range (s) where the line maps into the song. */
export function overlapOf(ctx: Context, line: Line): { start: number; end: number } {
  const start = Math.max(0, -line.offset / line.speed);
  const end = Math.min(ctx.danceSeconds, (ctx.bgmSeconds - line.offset) / line.speed);
  return { start, end };
}

/** About one window per `spacing` seconds of the range, within [min, max]. */
export function windowCount(range: { start: number; end: number }, spacing: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.round((range.end - range.start) / spacing)));
}

export interface VerifyOptions {
  /** Keep the windows' cross-spectra and stack them. */
  stacking?: boolean;
  /** Dance-time range the windows are spread over (default: where the line maps into the song). */
  range?: { start: number; end: number };
}

/**
 * Measures `count` windows spread over a range along the line and fits a line to them. Window
 * centres sit on a fixed grid, so the dance windows' spectra are reused across hypotheses.
 */
export function verify(ctx: Context, matcher: Matcher, line: Hypothesis, count: number, options: VerifyOptions = {}): Verified | null {
  const { input } = ctx;
  const { sampleRate } = input;
  const stacking = options.stacking === true;
  const { start, end } = options.range ?? overlapOf(ctx, line);
  const half = matcher.window / 2 / sampleRate;
  const first = Math.max(start, half);
  const last = Math.min(end, ctx.danceSeconds - half - 1 / sampleRate);
  if (last < first) return null;
  const matches: WindowMatch[] = [];
  const stack: Stack | undefined = stacking ? { spectra: [], shifts: [] } : undefined;
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const t = count === 1 ? (first + last) / 2 : first + ((last - first) * i) / (count - 1);
    const center = Math.round(Math.max(first, Math.min(last, Math.round(t / GRID) * GRID)) * sampleRate);
    if (center === previous) continue;
    previous = center;
    const predicted = (line.offset + line.speed * (center / sampleRate)) * sampleRate;
    const m = matcher.measure(input.dance, input.bgm, center, predicted, line.speed, stack);
    if (m) matches.push(m);
  }
  const fit = fitLine(matches, { tolerance: TOLERANCE, priorSpeed: line.speed, maxSpeedDev: ctx.maxSpeedDev });
  if (!fit) return null;
  // Sharpness above what noise alone reaches (~4), capped so that a few loud windows cannot
  // outvote many agreeing ones.
  let evidence = 0;
  fit.inliers.forEach((i, k) => {
    evidence += Math.max(0, Math.min(matches[i].peaks[fit.peakOf[k]].z, 40) - 4);
  });
  return { hypothesis: line, fit, matches, evidence, stack };
}

/**
 * Long windows at the fitted speed and, when pass 1 could not pin the speed, across its range; spread
 * over the whole recording, so that the evidence of different places is comparable.
 */
export function longLook(ctx: Context, v: Verified, count: number): Verified {
  const whole = { start: 0, end: ctx.danceSeconds };
  const overlap = overlapOf(ctx, v.fit);
  const mid = (overlap.start + overlap.end) / 2;
  const anchor = v.fit.offset + v.fit.speed * mid;
  const speeds = [v.fit.speed];
  const h = v.hypothesis;
  // Where the agreeing windows span too little time to give a slope, the coarse speed is all there is,
  // and on a short clip the envelopes cannot tell speeds apart: the whole drift range is swept.
  const speedError = slopeMeasured(v) ? h.speedError : Math.max(h.speedError, ctx.maxSpeedDev);
  if ((v.fit.inliers.length < TRUSTED_INLIERS || !slopeMeasured(v)) && speedError * ctx.matcher.window > MAX_SMEAR) {
    const step = (2 * MAX_SMEAR) / ctx.matcher.window;
    const n = Math.ceil(speedError / step);
    for (let i = -n; i <= n; i++) speeds.push(h.speed + (i * speedError) / n);
  }
  let best: Verified | null = null;
  for (const speed of speeds) {
    const line = { offset: anchor - speed * mid, speed, speedError: 0 };
    const again = verify(ctx, ctx.matcher, line, count, { range: whole });
    if (again && (!best || again.evidence > best.evidence)) best = { ...again, hypothesis: h };
  }
  return best ?? v;
}

/** The fit measured its own slope: the inliers spread over a few seconds (as `fitLine` requires). */
function slopeMeasured(v: Verified): boolean {
  const times = v.fit.inliers.map((i) => v.matches[i].danceTime);
  const mean = times.reduce((a, t) => a + t, 0) / Math.max(1, times.length);
  const variance = times.reduce((a, t) => a + (t - mean) ** 2, 0) / Math.max(1, times.length);
  return variance > 4;
}
