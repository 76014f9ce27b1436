// The alignment engine: finds where a room recording sits in the clean song (offset, clock drift,
// where the music is heard) with sub-millisecond accuracy, or says that the song is not in it.
// Stages: coarse envelope correlation over all lags → GCC-PHAT verification of the top candidates
// → dense GCC-PHAT windows and a robust line fit → presence of the song near the span's edges.
import { BeatSyncError } from '../errors.ts';
import { coarseCandidates } from './coarse.ts';
import type { CoarseCandidate } from './coarse.ts';
import { onsetEnvelopes } from './envelope.ts';
import { fftSizeFor } from './fft.ts';
import { fitLine } from './fit.ts';
import type { LineFit } from './fit.ts';
import { createMatcher } from './gcc.ts';
import type { Matcher, WindowMatch } from './gcc.ts';
import type { AlignCandidate, AlignInput, AlignOptions, Alignment } from './types.ts';

export type { AlignCandidate, AlignInput, AlignOptions, Alignment } from './types.ts';

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
/** Fewest agreeing windows, and their summed sharpness, for the song to count as found. */
const MIN_INLIERS = 5;
const MIN_EVIDENCE = 20;
/** Largest peak smear (samples) accepted across a window from a speed error. */
const MAX_SMEAR = 2;
/** Pass-1 evidence (relative to the best) that earns a second, long-window look. */
const CONTENDER_FRACTION = 0.3;
/** Pass-1 leaders that always get a second look. */
const CONTENDERS = 3;
/** Pass-1 inliers from which the fitted speed is trusted. */
const TRUSTED_INLIERS = 6;

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
}

interface Context {
  input: AlignInput;
  danceSeconds: number;
  bgmSeconds: number;
  maxSpeedDev: number;
  /** Long windows: for lines whose speed is known well. */
  matcher: Matcher;
  shortMatchers: Map<number, Matcher>;
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
  return {
    input,
    danceSeconds: dance.length / sampleRate,
    bgmSeconds: bgm.length / sampleRate,
    maxSpeedDev: maxDriftPpm * 1e-6,
    matcher,
    shortMatchers: new Map(),
    progress,
  };
}

/** Verifies each hypothesis with GCC-PHAT windows, keeps the best, and measures it densely. */
async function chooseAndFinish(ctx: Context, hypotheses: Hypothesis[], progressFrom: number): Promise<Alignment> {
  // Pass 1: windows short enough that the hypothesis's speed error cannot smear the peak.
  const verifySpan = (0.7 - progressFrom) / Math.max(1, hypotheses.length);
  const first: Verified[] = [];
  for (let i = 0; i < hypotheses.length; i++) {
    const h = hypotheses[i];
    const matcher = await matcherFor(ctx, h.speedError);
    const v = verify(ctx, matcher, h, windowCount(ctx, h, 2, 6, 20));
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
  // speed was loose, at speeds across its uncertainty), on equal terms.
  const verified: Verified[] = [];
  for (let rank = 0; rank < first.length; rank++) {
    const v = first[rank];
    const contender = rank < CONTENDERS || v.evidence >= CONTENDER_FRACTION * top.evidence;
    verified.push(contender && v.fit.inliers.length > 0 ? longLook(ctx, v) : v);
  }
  verified.sort((a, b) => b.evidence - a.evidence);
  const best = verified[0];
  ctx.progress(0.75);

  const line = { offset: best.fit.offset, speed: best.fit.speed };
  const final = verify(ctx, ctx.matcher, { ...line, speedError: 0 }, windowCount(ctx, line, 1, 8, 100)) ?? best;
  ctx.progress(0.9);
  const fit = final.fit;
  const overlap = overlapOf(ctx, fit);
  const span = await musicSpan(ctx, final, overlap);
  ctx.progress(1);

  const inlierZ = fit.inliers.map((i, k) => final.matches[i].peaks[fit.peakOf[k]].z).sort((a, b) => a - b);
  const medianZ = inlierZ.length ? inlierZ[Math.floor(inlierZ.length / 2)] : 0;
  const inSpan = final.matches.filter((m) => m.danceTime >= span.start && m.danceTime <= span.end).length;
  const agreement = Math.min(1, fit.inliers.length / Math.max(1, inSpan));
  const matched = fit.inliers.length >= MIN_INLIERS && final.evidence >= MIN_EVIDENCE;
  const sharpness = Math.max(0, Math.min(1, (medianZ - 4) / 8));
  const strength = Math.min(1, final.evidence / (2 * MIN_EVIDENCE));
  let confidence = Math.sqrt(agreement) * sharpness * strength;
  if (!matched) confidence = Math.min(confidence, 0.2);

  const mid = ctx.danceSeconds / 2;
  const at = (f: LineFit): number => f.offset + f.speed * mid;
  const candidates: AlignCandidate[] = verified
    .slice(1)
    .filter((v) => Math.abs(at(v.fit) - at(fit)) > 0.02)
    .filter((v, i, all) => all.findIndex((w) => Math.abs(at(w.fit) - at(v.fit)) <= 0.02) === i)
    .slice(0, COARSE_CANDIDATES - 1)
    .map((v) => ({ offsetSeconds: v.fit.offset, score: Math.min(1, v.evidence / Math.max(1e-9, best.evidence)) }));

  return {
    offsetSeconds: fit.offset,
    speed: fit.speed,
    driftPpm: (fit.speed - 1) * 1e6,
    confidence: round(confidence, 4),
    matched,
    musicStart: span.start,
    musicEnd: span.end,
    candidates,
    windowsUsed: fit.inliers.length,
    windowsTotal: final.matches.length,
  };
}

/** The longest windows whose peak a speed error of `speedError` smears by at most ~2 samples. */
async function matcherFor(ctx: Context, speedError: number): Promise<Matcher> {
  if (speedError * ctx.matcher.window <= MAX_SMEAR) return ctx.matcher;
  const { sampleRate } = ctx.input;
  const search = Math.round(SEARCH_SECONDS * sampleRate);
  let size = fftSizeFor(ctx.matcher.window + 2 * search) / 2;
  while (size / 2 >= 4 * search && (size - 2 * search) * speedError > MAX_SMEAR) size /= 2;
  let m = ctx.shortMatchers.get(size);
  if (!m) {
    m = await createMatcher(sampleRate, size, SEARCH_SECONDS);
    ctx.shortMatchers.set(size, m);
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

/** Measures `count` windows spread over the overlap along the line and fits a line to them. */
function verify(ctx: Context, matcher: Matcher, line: Hypothesis, count: number): Verified | null {
  const { input } = ctx;
  const { sampleRate } = input;
  const { start, end } = overlapOf(ctx, line);
  const half = matcher.window / 2 / sampleRate;
  const first = Math.max(start, half);
  const last = Math.min(end, ctx.danceSeconds - half - 1 / sampleRate);
  if (last < first) return null;
  const matches: WindowMatch[] = [];
  for (let i = 0; i < count; i++) {
    const t = count === 1 ? (first + last) / 2 : first + ((last - first) * i) / (count - 1);
    const center = Math.round(t * sampleRate);
    const predicted = (line.offset + line.speed * (center / sampleRate)) * sampleRate;
    const m = matcher.measure(input.dance, input.bgm, center, predicted, line.speed);
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
  return { hypothesis: line, fit, matches, evidence };
}

/** Long windows at the fitted speed and, when pass 1 could not pin the speed, across its range. */
function longLook(ctx: Context, v: Verified): Verified {
  const count = windowCount(ctx, v.fit, 2, 6, 32);
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
  let best = v;
  for (const speed of speeds) {
    const line = { offset: anchor - speed * mid, speed, speedError: 0 };
    const again = verify(ctx, ctx.matcher, line, count);
    if (again && again.evidence > best.evidence) best = { ...again, hypothesis: h };
  }
  return best;
}

/**
 * Where the song is heard: the first and last runs of windows that agree with the line, each
 * edge then placed to ~0.1 s with short windows checked at the fitted lag.
 */
async function musicSpan(ctx: Context, v: Verified, overlap: { start: number; end: number }): Promise<{ start: number; end: number }> {
  const { fit, matches } = v;
  const agrees = new Array<boolean>(matches.length).fill(false);
  for (const i of fit.inliers) agrees[i] = true;
  const firstRun = (order: number[]): number => {
    for (let k = 0; k < order.length; k++) {
      let count = 0;
      for (let j = k; j < Math.min(order.length, k + 4); j++) if (agrees[order[j]]) count++;
      if (agrees[order[k]] && count >= Math.min(2, fit.inliers.length)) return k;
    }
    return -1;
  };
  const forward = matches.map((_, i) => i);
  const kStart = firstRun(forward);
  const kEnd = firstRun([...forward].reverse());
  if (kStart < 0 || kEnd < 0) return overlap;
  const iStart = kStart;
  const iEnd = matches.length - 1 - kEnd;

  const { sampleRate } = ctx.input;
  const short = await createMatcher(sampleRate, fftSizeFor(0.25 * sampleRate), 0.003);
  const longHalf = ctx.matcher.window / 2 / sampleRate;
  const startFrom = iStart > 0 ? matches[iStart - 1].danceTime : overlap.start;
  const start = edge(ctx, short, fit, Math.max(overlap.start, startFrom - longHalf), matches[iStart].danceTime + longHalf, 'start');
  const endTo = iEnd < matches.length - 1 ? matches[iEnd + 1].danceTime : overlap.end;
  const end = edge(ctx, short, fit, matches[iEnd].danceTime - longHalf, Math.min(overlap.end, endTo + longHalf), 'end');
  const s = Math.max(overlap.start, Math.min(start, overlap.end));
  const e = Math.max(s, Math.min(end, overlap.end));
  return { start: round(s, 3), end: round(e, 3) };
}

/** Best split of short-window presence over [from, to]: quiet before it and heard after (or the reverse). */
function edge(ctx: Context, short: Matcher, fit: LineFit, from: number, to: number, kind: 'start' | 'end'): number {
  const { input } = ctx;
  const { sampleRate } = input;
  const step = 0.05;
  const times: number[] = [];
  const score: number[] = [];
  for (let t = from; t <= to + 1e-9; t += step) {
    const center = Math.round(t * sampleRate);
    const predicted = (fit.offset + fit.speed * (center / sampleRate)) * sampleRate;
    const z = short.presence(input.dance, input.bgm, center, predicted, fit.speed);
    if (z === null) continue;
    times.push(t);
    // Capped so one loud window cannot outvote its neighbours.
    score.push(Math.max(-2, Math.min(2, z - 4)));
  }
  if (times.length === 0) return kind === 'start' ? from : to;
  let total = 0;
  for (const s of score) total += s;
  let bestK = 0;
  let best = -Infinity;
  let before = 0;
  for (let k = 0; k <= times.length; k++) {
    // start: maximise heard-after minus heard-before; end: the mirror image.
    const value = kind === 'start' ? total - 2 * before : 2 * before - total;
    if (value > best) {
      best = value;
      bestK = k;
    }
    if (k < times.length) before += score[k];
  }
  if (kind === 'start') return bestK >= times.length ? to : bestK === 0 ? from : (times[bestK - 1] + times[bestK]) / 2;
  return bestK === 0 ? from : bestK >= times.length ? to : (times[bestK - 1] + times[bestK]) / 2;
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
    windowsUsed: 0,
    windowsTotal: 0,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
