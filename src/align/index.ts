// The alignment engine: finds where a room recording sits in the clean song (offset, clock drift,
// where the music is heard) with sub-millisecond accuracy, or says that the song is not in it.
// Stages: coarse envelope correlation over all lags → GCC-PHAT verification of the top candidates
// (short windows, then long ones, each stacked) → dense GCC-PHAT windows and a robust line fit,
// refined by the stacked correlation of all windows → presence of the song near the span's edges.
// Confidence comes from the stacked peak's height (in noise units) and how plausible the runner-up
// is (an identically repeated section keeps it in doubt).
import { BeatSyncError } from '../errors.ts';
import { coarseCandidates } from './coarse.ts';
import type { CoarseCandidate } from './coarse.ts';
import { onsetEnvelopes } from './envelope.ts';
import { fftSizeFor } from './fft.ts';
import { fitLine } from './fit.ts';
import type { LineFit } from './fit.ts';
import { createMatcher, parabolicOffset, stackPeak } from './gcc.ts';
import type { Matcher, Stack, WindowMatch } from './gcc.ts';
import type { AlignCandidate, AlignInput, AlignOptions, Alignment } from './types.ts';

export type { AlignCandidate, AlignInput, AlignOptions, AlignSegment, Alignment } from './types.ts';

/** Mono rate (Hz) the pipeline decodes both files at before calling the engine. */
export const ANALYSIS_SAMPLE_RATE = 16000;
/** A runner-up whose relative score reaches this is plausible enough for an `alternate` variant. */
export const ALTERNATE_MIN_SCORE = 0.8;

const DEFAULT_MAX_DRIFT_PPM = 500;
const COARSE_CANDIDATES = 8;
/** Windows within this of the fitted line agree with it (s). */
const TOLERANCE = 0.001;
/** Lags searched around a prediction (s): coarse error plus the latest reflection we expect. */
const SEARCH_SECONDS = 0.12;
/** Latest reflection after the direct sound that the stacked peak looks past (s). */
const MAX_REFLECTION = 0.1;
/** Fewest agreeing windows, and their summed sharpness, for the song to count as found. */
const MIN_INLIERS = 5;
const MIN_EVIDENCE = 20;
/** Largest peak smear (samples) accepted across a window from a speed error. */
const MAX_SMEAR = 2;
/** Pass-1 evidence (relative to the best) that earns a second, long-window look. */
const CONTENDER_FRACTION = 0.3;
/** Pass-1 leaders that always get a second look, and the most that get one. */
const CONTENDERS = 3;
const MAX_CONTENDERS = 5;
/** Pass-1 inliers from which the fitted speed is trusted. */
const TRUSTED_INLIERS = 6;
/** Windows per hypothesis in pass 1 and 2, and for the winner. */
const PASS1_WINDOWS = 16;
const PASS2_WINDOWS = 24;
const FINAL_WINDOWS = 40;
/** Grid of window centres (s), so that dance spectra are shared between hypotheses. */
const GRID = 0.25;
/** Stacked-correlation heights (background RMS units): trusted for placing the line; enough to accept the song on its own. */
const STACK_TRUSTED_Z = 8;
const STACK_MATCH_Z = 14;
/** Confidence: stacked height noise reaches, and the scale over which certainty builds up. */
const STACK_NOISE_Z = 8;
const STACK_SCALE_Z = 10;
/** Confidence lost to an equally plausible runner-up, and the stacked-height gap that rules one out. */
const RIVAL_PENALTY = 0.6;
const RIVAL_RATIO_FROM = 0.5;
const RIVAL_RATIO_TO = 0.85;
const RIVAL_GAP_FREE_Z = 3;
const RIVAL_GAP_Z = 6;
/** Runner-ups re-measured on the winner's windows, and the preliminary plausibility that earns it. */
const RECHECKED_RIVALS = 4;
const RECHECK_FROM = 0.3;
/** Winner evidence outside a runner-up's reach that makes it a third as plausible. */
const CONTRADICTION_SCALE = 10;
/** Reach (samples) around the whole stack's peak where the half stacks are read. */
const HALF_REACH = 8;
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

interface Hypothesis {
  offset: number;
  speed: number;
  /** How far the true speed may be from `speed`. */
  speedError: number;
}

interface Verified {
  /** The hypothesis that led here. */
  hypothesis: Hypothesis;
  fit: LineFit;
  matches: WindowMatch[];
  /** Summed (capped) sharpness of the agreeing windows. */
  evidence: number;
  /** Highest point of the stacked correlation around the fitted line (0 when not stacked). */
  stackZ: number;
  stack?: Stack;
}

interface Context {
  input: AlignInput;
  danceSeconds: number;
  bgmSeconds: number;
  maxSpeedDev: number;
  /** Long windows: for lines whose speed is known well. */
  matcher: Matcher;
  shortMatchers: Map<number, Matcher>;
  /** Short windows that place the span's edges. */
  edgeMatcher: Matcher;
  bgmRms: number;
  progress: (fraction: number) => void;
}

export async function alignRecording(input: AlignInput, options: AlignOptions = {}): Promise<Alignment> {
  const ctx = await makeContext(input, options);
  if (!ctx) return unmatched(input);
  const { sampleRate } = input;
  const danceEnv = await onsetEnvelopes(input.dance, sampleRate);
  ctx.progress(0.1);
  const bgmEnv = await onsetEnvelopes(input.bgm, sampleRate);
  ctx.progress(0.2);
  const coarse = await coarseCandidates(danceEnv, bgmEnv, ctx.maxSpeedDev * 1e6, COARSE_CANDIDATES);
  ctx.progress(0.35);
  return chooseAndFinish(ctx, coarse.map((c: CoarseCandidate) => ({ offset: c.offsetSeconds, speed: c.speed, speedError: c.speedError })), 0.35);
}

/**
 * Runs the fine stages around one coarse offset (BGM time at dance time 0), trying speeds across
 * the drift range; the pipeline uses it to build the `alternate` variant from a runner-up.
 */
export async function refineCandidate(input: AlignInput, coarseOffsetSeconds: number, options: AlignOptions = {}): Promise<Alignment> {
  const ctx = await makeContext(input, options);
  if (!ctx) return unmatched(input);
  // Speeds close enough that the prediction stays within ~40 ms over the whole recording.
  const step = 0.08 / Math.max(1, ctx.danceSeconds);
  const half = Math.min(8, Math.ceil(ctx.maxSpeedDev / step));
  const hypotheses: Hypothesis[] = [];
  for (let i = -half; i <= half; i++) {
    hypotheses.push({
      offset: coarseOffsetSeconds,
      speed: 1 + (half === 0 ? 0 : (i * ctx.maxSpeedDev) / half),
      speedError: half === 0 ? ctx.maxSpeedDev : ctx.maxSpeedDev / half / 2,
    });
  }
  const result = await chooseAndFinish(ctx, hypotheses, 0);
  result.candidates = [];
  return result;
}

async function makeContext(input: AlignInput, options: AlignOptions): Promise<Context | null> {
  const { dance, bgm, sampleRate } = input;
  if (!(dance instanceof Float32Array) || !(bgm instanceof Float32Array)) {
    throw new BeatSyncError('PROCESSING_FAILED', 'alignment input must be Float32Array PCM');
  }
  if (!Number.isFinite(sampleRate) || sampleRate < 4000 || sampleRate > 192000) {
    throw new BeatSyncError('PROCESSING_FAILED', `unsupported analysis sample rate ${sampleRate}`);
  }
  const maxDriftPpm = options.maxDriftPpm ?? DEFAULT_MAX_DRIFT_PPM;
  if (!Number.isFinite(maxDriftPpm) || maxDriftPpm < 0 || maxDriftPpm > 5000) {
    throw new BeatSyncError('PROCESSING_FAILED', `unsupported maxDriftPpm ${maxDriftPpm}`);
  }
  const onProgress = options.onProgress;
  const progress = (fraction: number): void => onProgress?.(Math.max(0, Math.min(1, fraction)));
  // Less than ~2 s on either side cannot be placed reliably.
  if (dance.length < 2 * sampleRate || bgm.length < 2 * sampleRate) {
    progress(1);
    return null;
  }
  const matcher = await createMatcher(sampleRate, fftSizeFor(1.5 * sampleRate), SEARCH_SECONDS);
  const edgeMatcher = await createMatcher(sampleRate, fftSizeFor(0.5 * sampleRate), 0.003);
  let energy = 0;
  for (let i = 0; i < bgm.length; i += 4) energy += bgm[i] * bgm[i];
  const bgmRms = Math.sqrt(energy / Math.ceil(bgm.length / 4)) || 1e-12;
  return {
    input,
    danceSeconds: dance.length / sampleRate,
    bgmSeconds: bgm.length / sampleRate,
    maxSpeedDev: maxDriftPpm * 1e-6,
    matcher,
    shortMatchers: new Map(),
    edgeMatcher,
    bgmRms,
    progress,
  };
}

/** Verifies each hypothesis with GCC-PHAT windows, keeps the best, and measures it densely. */
async function chooseAndFinish(ctx: Context, hypotheses: Hypothesis[], progressFrom: number): Promise<Alignment> {
  // Pass 1: windows short enough that the hypothesis's speed error cannot smear the peak.
  const verifySpan = (0.6 - progressFrom) / Math.max(1, hypotheses.length);
  const first: Verified[] = [];
  for (let i = 0; i < hypotheses.length; i++) {
    const h = hypotheses[i];
    const matcher = await matcherFor(ctx, h.speedError);
    const v = verify(ctx, matcher, h, windowCount(ctx, h, 2, 6, PASS1_WINDOWS));
    if (v) first.push({ ...v, hypothesis: h });
    ctx.progress(progressFrom + (i + 1) * verifySpan);
  }
  first.sort((a, b) => b.evidence - a.evidence);
  const top = first[0];
  if (!top || top.fit.inliers.length === 0) {
    ctx.progress(1);
    return unmatched(ctx.input);
  }
  // Pass 2: the contenders again with long windows at their fitted speeds (and, where the coarse
  // speed was loose, at speeds across its uncertainty), on equal terms, each also stacked.
  const verified: Verified[] = [];
  for (let rank = 0; rank < first.length; rank++) {
    const v = first[rank];
    const contender = rank < CONTENDERS || (rank < MAX_CONTENDERS && v.evidence >= CONTENDER_FRACTION * top.evidence);
    if (contender && v.fit.inliers.length > 0) verified.push(longLook(ctx, v));
  }
  verified.sort((a, b) => b.evidence - a.evidence);
  const best = verified[0] ?? top;
  ctx.progress(0.75);

  const line = { offset: best.fit.offset, speed: best.fit.speed };
  const final = verify(ctx, ctx.matcher, { ...line, speedError: 0 }, windowCount(ctx, line, 1, 8, FINAL_WINDOWS), true) ?? best;
  ctx.progress(0.9);
  const fit = final.fit;
  // All windows stacked place the line more surely than any single window's peak.
  const stacked = stackedLine(ctx, final);
  const result = stacked.z >= STACK_TRUSTED_Z ? stacked.line : { offset: fit.offset, speed: fit.speed };
  const overlap = overlapOf(ctx, result);
  const span = musicSpan(ctx, result, final, overlap);
  ctx.progress(1);

  const matched = (fit.inliers.length >= MIN_INLIERS && final.evidence >= MIN_EVIDENCE) || stacked.z >= STACK_MATCH_Z;

  const mid = ctx.danceSeconds / 2;
  const at = (f: { offset: number; speed: number }): number => f.offset + f.speed * mid;
  const others = verified.filter((v) => v !== best && Math.abs(at(v.fit) - at(result)) > 0.02);
  const candidates: AlignCandidate[] = others
    .filter((v, i, all) => all.findIndex((w) => Math.abs(at(w.fit) - at(v.fit)) <= 0.02) === i)
    .map((v) => ({ v, score: plausibility(best.stackZ, v.stackZ) * contradiction(ctx, final, v) }))
    .sort((x, y) => y.score - x.score)
    .slice(0, COARSE_CANDIDATES - 1)
    .map(({ v, score }, rank) => {
      // A close runner-up is measured again on the winner's own final windows: a like-for-like comparison.
      const fair = rank < RECHECKED_RIVALS && score >= RECHECK_FROM ? plausibility(stacked.z, stackOnWindows(ctx, final, v.fit)) * contradiction(ctx, final, v) : score;
      return { offsetSeconds: v.fit.offset, score: round(fair, 4) };
    })
    .sort((x, y) => y.score - x.score);

  // Confidence: is the song there (stacked peak height), and is this the only place it fits.
  const strength = 1 - Math.exp(-Math.max(0, stacked.z - STACK_NOISE_Z) / STACK_SCALE_Z);
  const rival = candidates.length ? candidates[0].score : 0;
  let confidence = strength * (1 - RIVAL_PENALTY * rival);
  if (!matched) confidence = Math.min(confidence, 0.05);

  return {
    offsetSeconds: result.offset,
    speed: result.speed,
    driftPpm: (result.speed - 1) * 1e6,
    confidence: round(confidence, 4),
    matched,
    musicStart: span.start,
    musicEnd: span.end,
    candidates,
    ambiguous: false,
    segments: matched ? [{ danceStart: span.start, danceEnd: span.end, offsetSeconds: result.offset, speed: result.speed, driftPpm: (result.speed - 1) * 1e6, confidence: round(confidence, 4) }] : [],
    windowsUsed: fit.inliers.length,
    windowsTotal: final.matches.length,
  };
}

/**
 * How plausible a runner-up is next to the winner, 0..1, from their stacked heights over the same
 * number of long windows: nearly as high and only a few noise units below means the recording fits
 * both places (a repeat in the song); far below in noise units rules it out, however many windows
 * (repeated sections) it also explains.
 */
function plausibility(bestZ: number, otherZ: number): number {
  const ratio = otherZ / Math.max(1e-9, bestZ);
  const near = Math.max(0, Math.min(1, (ratio - RIVAL_RATIO_FROM) / (RIVAL_RATIO_TO - RIVAL_RATIO_FROM)));
  const gap = Math.max(0, bestZ - otherZ - RIVAL_GAP_FREE_Z);
  return near * Math.exp(-gap / RIVAL_GAP_Z);
}

/** Stacked height of another line on the same dance windows as `v` (windows it cannot reach count as nothing). */
function stackOnWindows(ctx: Context, v: Verified, line: { offset: number; speed: number }): number {
  const { input } = ctx;
  const { sampleRate } = input;
  const stack: Stack = { spectra: [], shifts: [] };
  for (const m of v.matches) {
    const center = Math.round(m.danceTime * sampleRate);
    ctx.matcher.measure(input.dance, input.bgm, center, (line.offset + line.speed * m.danceTime) * sampleRate, line.speed, stack);
  }
  if (stack.spectra.length === 0) return 0;
  let z = 0;
  for (const x of ctx.matcher.stacked(stack)) z = Math.max(z, x);
  return z * Math.sqrt(stack.spectra.length / Math.max(1, v.matches.length));
}

/**
 * 0..1: how little the winner's agreeing windows contradict a runner-up. Where the runner-up's line
 * leaves the song (before its start or after its end) but the winner hears it, the runner-up
 * cannot be right (a long repeated section can otherwise make it look as good).
 */
function contradiction(ctx: Context, winner: Verified, other: Verified): number {
  const { start, end } = overlapOf(ctx, other.fit);
  const half = ctx.matcher.window / 2 / ctx.input.sampleRate;
  let against = 0;
  winner.fit.inliers.forEach((i, k) => {
    const t = winner.matches[i].danceTime;
    if (t < start - half || t > end + half) against += Math.max(0, Math.min(winner.matches[i].peaks[winner.fit.peakOf[k]].z, 40) - 4);
  });
  return Math.exp(-against / CONTRADICTION_SCALE);
}

/**
 * The line from the stacked correlation: the whole stack (at the refitted or the measured line,
 * whichever is sharper) places it; the stacks of the first and second halves of the windows, each
 * read at the whole stack's peak, give its slope. Many weak windows thus count together.
 */
function stackedLine(ctx: Context, v: Verified): { line: { offset: number; speed: number }; z: number } {
  const { sampleRate } = ctx.input;
  const { fit, matches, stack, hypothesis: measured } = v;
  const none = { line: { offset: fit.offset, speed: fit.speed }, z: 0 };
  if (!stack || stack.spectra.length === 0) return none;
  const matcher = ctx.matcher;
  const lines = [{ offset: fit.offset, speed: fit.speed }, { offset: measured.offset, speed: measured.speed }];
  const shiftsTo = (line: { offset: number; speed: number }): number[] =>
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
async function matcherFor(ctx: Context, speedError: number): Promise<Matcher> {
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
function overlapOf(ctx: Context, line: { offset: number; speed: number }): { start: number; end: number } {
  const start = Math.max(0, -line.offset / line.speed);
  const end = Math.min(ctx.danceSeconds, (ctx.bgmSeconds - line.offset) / line.speed);
  return { start, end };
}

function windowCount(ctx: Context, line: { offset: number; speed: number }, spacing: number, min: number, max: number): number {
  const { start, end } = overlapOf(ctx, line);
  return Math.max(min, Math.min(max, Math.round((end - start) / spacing)));
}

/**
 * Measures `count` windows spread over the overlap along the line and fits a line to them. Window
 * centres sit on a fixed grid, so the dance windows' spectra are reused across hypotheses.
 */
function verify(ctx: Context, matcher: Matcher, line: Hypothesis, count: number, stacking = false): Verified | null {
  const { input } = ctx;
  const { sampleRate } = input;
  const { start, end } = overlapOf(ctx, line);
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
  let stackZ = 0;
  if (stack && stack.spectra.length > 0) {
    // Re-aimed at the refitted line: its speed is known better than the measured line's.
    const extra = matches.map((m) => ((fit.offset + fit.speed * m.danceTime - line.offset - line.speed * m.danceTime) * sampleRate) / line.speed);
    for (const z of matcher.stacked(stack, extra)) stackZ = Math.max(stackZ, z);
  }
  return { hypothesis: line, fit, matches, evidence, stackZ, stack };
}

/** Long windows at the fitted speed and, when pass 1 could not pin the speed, across its range. */
function longLook(ctx: Context, v: Verified): Verified {
  const count = windowCount(ctx, v.fit, 2, 6, PASS2_WINDOWS);
  const overlap = overlapOf(ctx, v.fit);
  const mid = (overlap.start + overlap.end) / 2;
  const anchor = v.fit.offset + v.fit.speed * mid;
  const speeds = [v.fit.speed];
  const h = v.hypothesis;
  if (v.fit.inliers.length < TRUSTED_INLIERS && h.speedError * ctx.matcher.window > MAX_SMEAR) {
    const step = (2 * MAX_SMEAR) / ctx.matcher.window;
    const n = Math.ceil(h.speedError / step);
    for (let i = -n; i <= n; i++) speeds.push(h.speed + (i * h.speedError) / n);
  }
  let best: Verified | null = null;
  for (const speed of speeds) {
    const line = { offset: anchor - speed * mid, speed, speedError: 0 };
    const again = verify(ctx, ctx.matcher, line, count, true);
    // The windows' spectra are only needed for the winner's final stack.
    if (again && (!best || again.evidence > best.evidence)) best = { ...again, hypothesis: h, stack: undefined };
  }
  return best ?? { ...v, stackZ: 0 };
}

type Presence = 'heard' | 'absent' | 'unknown';

/**
 * Where the song is heard along the line: from the first and last windows that agree with it, a
 * bisection with long windows brackets each edge, then short windows place it to ~0.1 s, erring
 * towards keeping music. Where the song itself is (nearly) silent, nothing can be told, and the
 * span is not cut there.
 */
function musicSpan(ctx: Context, line: { offset: number; speed: number }, v: Verified, overlap: { start: number; end: number }): { start: number; end: number } {
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
function spanEdge(ctx: Context, line: { offset: number; speed: number }, overlap: { start: number; end: number }, heardAt: number, outward: number[], agreeing: Set<number>, direction: -1 | 1): number {
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
function presenceAt(ctx: Context, matcher: Matcher, line: { offset: number; speed: number }, t: number): Presence {
  const p = presence(ctx, matcher, line, t);
  if (p.weight < 0.5) return 'unknown';
  return p.z >= HEARD_Z ? 'heard' : p.z <= ABSENT_Z ? 'absent' : 'unknown';
}

/**
 * The correlation height at the line for the window at dance time t, and how much it counts:
 * nothing where the window does not fit in both signals or the song is silent there, less where
 * the song is quiet (a missing peak says little there).
 */
function presence(ctx: Context, matcher: Matcher, line: { offset: number; speed: number }, t: number): { z: number; weight: number } {
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

function unmatched(input: AlignInput): Alignment {
  return {
    offsetSeconds: 0,
    speed: 1,
    driftPpm: 0,
    confidence: 0,
    matched: false,
    musicStart: 0,
    musicEnd: input.sampleRate > 0 ? input.dance.length / input.sampleRate : 0,
    candidates: [],
    ambiguous: false,
    segments: [],
    windowsUsed: 0,
    windowsTotal: 0,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
