// Deciding between two places from the recording itself: window by window, which of them the recording
// agrees with where they predict different sound.
import { at, TOLERANCE } from './context.ts';
import type { Context, Line } from './context.ts';
import { presence } from './span.ts';

/** Height (noise units) at a line that means "this window clearly hears the song there"… */
export const HEARD_Z = 6;
/** …and below which it clearly does not. */
const NOT_HEARD_Z = 3;

export interface Comparison {
  /** Probability that `a` is the right place rather than `b`, from the windows where they differ. */
  pA: number;
  /** Windows that favour a, and b. */
  forA: number;
  forB: number;
}

/** Odds one window gives when it hears the song at one place and clearly not at the other. */
const CLEAR_WINDOW_LOG_ODDS = Math.log(10);
/** …and when it only hears it better at one (a place that is right matches better 3 times in 4). */
const BETTER_WINDOW_LOG_ODDS = Math.log(3);
/** Height difference (noise units) that counts as "better". */
const BETTER_BY = 1;
/** Log odds past which the remaining windows are not measured: odds of 10⁷ to 1 change no reported figure. */
const DECIDED_LOG_ODDS = Math.log(1e7);

/** What a line predicts for the window at dance time t: the song's sound, no song at all, or (at an edge) part of it. */
/** What a window hears at one line. */
export type Verdict = { state: 'song' | 'none' | 'unsure'; z: number };

function verdict(ctx: Context, line: Line, t: number): Verdict {
  const { sampleRate } = ctx.input;
  const half = ctx.matcher.window / 2 / sampleRate;
  const from = at(line, t - half);
  const to = at(line, t + half);
  if (to <= 0 || from >= ctx.bgmSeconds) return { state: 'none', z: 0 };
  const p = presence(ctx, ctx.matcher, line, t);
  if (p.weight > 0.5) return { state: 'song', z: p.z };
  return { state: 'unsure', z: 0 };
}

/**
 * Which of two places explains the recording, from windows spread over both places' reach (measured
 * only until the outcome is beyond doubt). A window
 * that clearly hears the song at one place and not at the other (including where the other says no
 * song is playing) counts much; one that only hears it better at one place counts a little (a near
 * repeat matches its copy slightly worse, window after window). An exact repeat gives identical
 * heights at both places and moves nothing: the odds stay even, which is the truth.
 */
export function compare(ctx: Context, a: Line, b: Line, times: number[], memoA?: Map<number, Verdict>): Comparison {
  let forA = 0;
  let forB = 0;
  let logOdds = 0;
  for (let i = 0; i < times.length; i++) {
    // Stop once even every remaining window going the other way could not bring the odds back.
    if (Math.abs(logOdds) - (times.length - i) * CLEAR_WINDOW_LOG_ODDS > DECIDED_LOG_ODDS) break;
    const t = times[i];
    // The winner meets several rivals at the same times: its verdicts are measured once.
    let va = memoA?.get(t);
    if (!va) {
      va = verdict(ctx, a, t);
      memoA?.set(t, va);
    }
    const vb = verdict(ctx, b, t);
    if (va.state === 'unsure' || vb.state === 'unsure' || (va.state === 'none' && vb.state === 'none')) continue;
    if (va.z >= HEARD_Z && vb.z < NOT_HEARD_Z) {
      forA++;
      logOdds += CLEAR_WINDOW_LOG_ODDS;
    } else if (vb.z >= HEARD_Z && va.z < NOT_HEARD_Z) {
      forB++;
      logOdds -= CLEAR_WINDOW_LOG_ODDS;
    } else if (va.state === 'song' && vb.state === 'song' && Math.max(va.z, vb.z) >= HEARD_Z && Math.abs(va.z - vb.z) >= BETTER_BY) {
      if (va.z > vb.z) forA++;
      else forB++;
      logOdds += Math.sign(va.z - vb.z) * BETTER_WINDOW_LOG_ODDS;
    }
  }
  return { pA: 1 / (1 + Math.exp(-logOdds)), forA, forB };
}

/** `count` window times spread evenly over [start, end]. */
export function spread(start: number, end: number, count: number): number[] {
  if (end <= start || count < 1) return [];
  if (count === 1) return [(start + end) / 2];
  return Array.from({ length: count }, (_, i) => start + ((end - start) * i) / (count - 1));
}

/** Two lines are one place when they are within a reflection of each other across the range. */
export function samePlace(a: Line, b: Line, start: number, end: number): boolean {
  const limit = 0.1 + TOLERANCE;
  return Math.abs(at(a, start) - at(b, start)) <= limit && Math.abs(at(a, end) - at(b, end)) <= limit;
}
