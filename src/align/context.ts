// What every stage of the engine shares: the input, its matchers, and the shapes of a measured mapping.
import { BeatSyncError } from '../errors.ts';
import { fftSizeFor } from './fft.ts';
import type { LineFit } from './fit.ts';
import { createMatcher } from './gcc.ts';
import type { Matcher, Stack, WindowMatch } from './gcc.ts';
import type { AlignInput, AlignOptions, Alignment } from './types.ts';

const DEFAULT_MAX_DRIFT_PPM = 500;
/** Windows within this of a line agree with it (s). */
export const TOLERANCE = 0.001;
/** Lags searched around a prediction (s): coarse error plus the latest reflection we expect. */
export const SEARCH_SECONDS = 0.12;
/** Latest reflection after the direct sound (s): lines closer than this are one place, not two. */
export const MAX_REFLECTION = 0.1;
/** Largest peak smear (samples) accepted across a window from a speed error. */
export const MAX_SMEAR = 2;
/** Grid of window centres (s), so that dance spectra are shared between hypotheses. */
export const GRID = 0.25;

/** A mapping: BGM time = offset + speed × dance time. */
export interface Line {
  offset: number;
  speed: number;
}

export interface Hypothesis extends Line {
  /** How far the true speed may be from `speed`. */
  speedError: number;
}

export interface Verified {
  /** The hypothesis that led here. */
  hypothesis: Hypothesis;
  fit: LineFit;
  matches: WindowMatch[];
  /** Summed (capped) sharpness of the agreeing windows. */
  evidence: number;
  stack?: Stack;
}

export interface Context {
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

export async function makeContext(input: AlignInput, options: AlignOptions): Promise<Context | null> {
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
  return {
    input,
    danceSeconds: dance.length / sampleRate,
    bgmSeconds: bgm.length / sampleRate,
    maxSpeedDev: maxDriftPpm * 1e-6,
    matcher,
    shortMatchers: new Map(),
    edgeMatcher,
    bgmRms: rmsOf(bgm),
    progress,
  };
}

/** The same recording against another song of the same length (the null): matchers are shared. */
export function withBgm(ctx: Context, bgm: Float32Array): Context {
  return { ...ctx, input: { ...ctx.input, bgm }, bgmRms: rmsOf(bgm), progress: () => {} };
}

function rmsOf(x: Float32Array): number {
  let energy = 0;
  for (let i = 0; i < x.length; i += 4) energy += x[i] * x[i];
  return Math.sqrt(energy / Math.ceil(x.length / 4)) || 1e-12;
}

export function unmatched(input: AlignInput): Alignment {
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

/** BGM time of a line at dance time t. */
export const at = (line: Line, t: number): number => line.offset + line.speed * t;

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
