// Fine stage: GCC-PHAT between a tapered dance window and
// the BGM stretch where the current alignment line predicts it, with sub-sample peak interpolation,
// a preference for the direct sound over stronger, later room reflections, and optional stacking of
// many windows' cross-spectra aligned on the line (one combined correlation for the whole recording).
import { getFft } from './fft.ts';
import type { RealFft } from './fft.ts';

export interface PeakMatch {
  /** Measured BGM time of the window's centre (s). */
  bgmTime: number;
  /** Peak height over the correlation's background RMS. */
  z: number;
}

export interface WindowMatch extends PeakMatch {
  /** Dance time of the window's centre (s). */
  danceTime: number;
  /** The strongest few peaks (the chosen one included): a window whose direct sound is not its
   * highest peak can still support the right line. */
  peaks: PeakMatch[];
}

/** Peaks kept per window. */
const PEAKS_PER_WINDOW = 4;

/** Per-window normalised cross-spectra kept for stacking, and the lag shift that puts each window's prediction on lag `search`. */
export interface Stack {
  spectra: Float32Array[];
  shifts: number[];
}

export interface Matcher {
  /** Window length in samples. */
  readonly window: number;
  /** Lags searched on each side of the prediction, in samples. */
  readonly search: number;
  /**
   * Correlates dance[center ± window/2] with the BGM around `predicted` (BGM sample position of
   * the window's centre), reading the BGM at `speed` BGM samples per dance sample.
   * Returns null when the window does not fit in the dance or barely touches the BGM.
   * With `stack`, the window's cross-spectrum is also kept there (for `stacked`).
   */
  measure(dance: Float32Array, bgm: Float32Array, center: number, predicted: number, speed: number, stack?: Stack): WindowMatch | null;
  /**
   * The windows' correlations summed, each moved so that its prediction (plus `extra[i]` lags) lands
   * on lag `search`; lags 0..2×search in units of the sum's noise level.
   */
  stacked(stack: Stack, extra?: number[]): Float32Array;
  /** Like measure, but only reports z at the predicted lag (± a few samples): is the song heard here? */
  presence(dance: Float32Array, bgm: Float32Array, center: number, predicted: number, speed: number): number | null;
  /** Hands a stack's spectra back for reuse; the stack must not be read afterwards. */
  recycle(stack: Stack): void;
}

/** A direct-sound peak (larger lag than the strongest one) wins when at least this fraction of its height. */
const DIRECT_FRACTION = 0.4;
/** …and at least this many background RMS high. */
const DIRECT_MIN_Z = 6;
/**
 * Cached dance-window spectra per matcher (a window's spectrum does not depend on the hypothesis). 48 keep
 * all but ~2 % of 160's hits (5- and 10-minute recordings), and every spectrum kept is fresh memory to touch.
 */
const MAX_CACHED_SPECTRA = 48;

export async function createMatcher(sampleRate: number, fftSize: number, searchSeconds: number): Promise<Matcher> {
  const fft: RealFft = await getFft(fftSize);
  const search = Math.max(2, Math.round(searchSeconds * sampleRate));
  const window = (fftSize - 2 * search) & ~1;
  if (window < fftSize / 4) throw new RangeError('search range too wide for the FFT size');
  const segment = window + 2 * search;
  const maxReflection = Math.round(0.1 * sampleRate);

  const hann = new Float32Array(window);
  for (let i = 0; i < window; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / window);
  // The BGM stretch is flat where the dance window can land and tapered only at its outer ends.
  const taper = new Float32Array(segment).fill(1);
  for (let i = 0; i < search; i++) {
    const w = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / search);
    taper[i] = w;
    taper[segment - 1 - i] = w;
  }
  const minBin = Math.max(1, Math.floor((80 * fftSize) / sampleRate));

  // The transforms read and write the FFT's own buffers in place (see RealFft.input): after `correlate`,
  // `cross` (the FFT's input) holds the phase-transformed cross-spectrum and `corr` (its output) the
  // correlation, until the next transform of this size.
  let cross = fft.input();
  let corr = fft.output();
  // Spectrum-sized arrays are reused (cache entries after a clear, stacks once read): on a VM a page touched
  // for the first time costs ~12 µs, a 128 kB array as much as three transforms.
  const spare: Float32Array[] = [];
  const take = (): Float32Array => spare.pop() ?? new Float32Array(fftSize);
  const sum = new Float64Array(fftSize);
  const cache = new Map<number, Float32Array>();
  const clearCache = () => {
    for (const spectrum of cache.values()) if (spectrum.length) spare.push(spectrum);
    cache.clear();
  };
  let cachedDance: Float32Array | null = null;
  /** Tapered, mean-free dance window at dStart, transformed (cached). Null when silent. */
  const danceSpectrum = (dance: Float32Array, dStart: number): Float32Array | null => {
    if (cachedDance !== dance) {
      clearCache();
      cachedDance = dance;
    }
    const hit = cache.get(dStart);
    if (hit) return hit.length ? hit : null;
    // No mean removal: the Hann taper confines a DC offset to the lowest bins, which are dropped.
    const dBuf = fft.input();
    let dEnergy = 0;
    for (let i = 0; i < window; i++) {
      const v = dance[dStart + i] * hann[i];
      dBuf[i] = v;
      dEnergy += v * v;
    }
    if (cache.size >= MAX_CACHED_SPECTRA) clearCache();
    if (dEnergy < 1e-12) {
      cache.set(dStart, new Float32Array(0));
      return null;
    }
    dBuf.fill(0, window);
    fft.transform('forward');
    const spec = take();
    spec.set(fft.output());
    cache.set(dStart, spec);
    return spec;
  };

  /** Fills the buffers and correlates; returns the BGM start position, or NaN when unusable. */
  const correlate = (dance: Float32Array, bgm: Float32Array, center: number, predicted: number, speed: number): number => {
    const dStart = Math.round(center) - window / 2;
    if (dStart < 0 || dStart + window > dance.length) return NaN;
    const bStart = Math.round(predicted - (window / 2 + search) * speed);
    // Segment samples i in [lo, hi) read inside the BGM (position bStart + i × speed).
    const lo = Math.max(0, Math.ceil(-bStart / speed));
    const hi = Math.min(segment, Math.floor((bgm.length - 1 - bStart) / speed) + 1);
    if (hi - lo < window / 2) return NaN;
    // The dance window's spectrum first: on a cache miss it is transformed in the same buffers.
    const d = danceSpectrum(dance, dStart);
    if (!d) return NaN;
    const bBuf = fft.input();
    bBuf.fill(0, 0, lo);
    bBuf.fill(0, hi, fftSize);
    if (speed === 1) {
      bBuf.set(bgm.subarray(bStart + lo, bStart + hi), lo);
    } else {
      // The hottest loop of the engine: positions are stepped rather than multiplied, and the last
      // sample (whose right neighbour is past the end) is handled outside it.
      const inner = Math.min(hi, Math.floor((bgm.length - 2 - bStart) / speed) + 1);
      let pos = bStart + lo * speed;
      for (let i = lo; i < inner; i++, pos += speed) {
        const j = pos | 0;
        const a = bgm[j];
        bBuf[i] = a + (pos - j) * (bgm[j + 1] - a);
      }
      for (let i = Math.max(lo, inner); i < hi; i++) bBuf[i] = bgm[Math.floor(bStart + i * speed)];
    }
    // No mean removal: the taper's leakage of a DC offset stays far below the lowest bin kept.
    let bEnergy = 0;
    for (let i = lo; i < hi; i += 8) bEnergy += bBuf[i] * bBuf[i];
    if (bEnergy < 1e-13) return NaN;
    for (let i = 0; i < search; i++) {
      bBuf[i] *= taper[i];
      bBuf[segment - 1 - i] *= taper[segment - 1 - i];
    }
    fft.transform('forward');
    cross = fft.input();
    phatCrossSpectrum(d, fft.output(), cross, minBin);
    fft.transform('inverse');
    corr = fft.output();
    return bStart;
  };

  /** RMS of corr over lags 0..2×search, leaving out ±4 samples around `exclude`. */
  const background = (exclude: number): number => {
    let sum = 0;
    let count = 0;
    for (let k = 0; k <= 2 * search; k++) {
      if (Math.abs(k - exclude) <= 4) continue;
      sum += corr[k] * corr[k];
      count++;
    }
    return Math.sqrt(sum / Math.max(1, count)) || 1e-30;
  };

  return {
    window,
    search,
    measure(dance, bgm, center, predicted, speed, stack) {
      const bStart = correlate(dance, bgm, center, predicted, speed);
      if (Number.isNaN(bStart)) return null;
      if (stack) {
        stack.spectra.push(normalised(cross, take()));
        stack.shifts.push((predicted - (window / 2 + search) * speed - bStart) / speed);
      }
      let best = 1;
      for (let k = 2; k < 2 * search; k++) if (corr[k] > corr[best]) best = k;
      const sigma = background(best);
      let chosen = best;
      const need = Math.max(DIRECT_FRACTION * corr[best], DIRECT_MIN_Z * sigma);
      // A reflection reaches the phone later, so it matches an earlier BGM instant (a smaller lag):
      // the direct sound is the largest-lag strong peak.
      for (let k = Math.min(2 * search - 1, best + maxReflection); k > best; k--) {
        if (corr[k] >= need && corr[k] >= corr[k - 1] && corr[k] > corr[k + 1]) {
          chosen = k;
          break;
        }
      }
      const toPeak = (k: number): PeakMatch => {
        const lag = k + parabolicOffset(corr[k - 1], corr[k], corr[k + 1]);
        return { bgmTime: (bStart + (window / 2 + lag) * speed) / sampleRate, z: corr[k] / sigma };
      };
      const peaks = [toPeak(chosen)];
      for (const k of topLocalMaxima(corr, 2 * search, PEAKS_PER_WINDOW)) if (k !== chosen && peaks.length < PEAKS_PER_WINDOW) peaks.push(toPeak(k));
      return { danceTime: Math.round(center) / sampleRate, bgmTime: peaks[0].bgmTime, z: peaks[0].z, peaks };
    },
    stacked(stack, extra) {
      sum.fill(0);
      stack.spectra.forEach((spectrum, i) => addShifted(sum, spectrum, stack.shifts[i] + (extra?.[i] ?? 0)));
      const spec = fft.input();
      for (let i = 0; i < fftSize; i++) spec[i] = sum[i];
      fft.transform('inverse');
      corr = fft.output();
      // Each window's spectrum has unit energy, so with random phases every lag of its (unscaled)
      // inverse has variance 2: an absolute noise scale, unlike the curve's own background, which
      // holds the room's reverb tail and the music's self-similarity.
      const out = new Float32Array(2 * search + 1);
      const sigma = Math.sqrt(2 * Math.max(1, stack.spectra.length));
      for (let k = 0; k <= 2 * search; k++) out[k] = corr[k] / sigma;
      return out;
    },
    presence(dance, bgm, center, predicted, speed) {
      const bStart = correlate(dance, bgm, center, predicted, speed);
      if (Number.isNaN(bStart)) return null;
      let best = search - 3;
      for (let k = search - 2; k <= search + 3; k++) if (corr[k] > corr[best]) best = k;
      return corr[best] / background(best);
    },
    recycle(stack) {
      for (const spectrum of stack.spectra) if (spectrum.length === fftSize) spare.push(spectrum);
      stack.spectra = [];
      stack.shifts = [];
    },
  };
}

/**
 * The line's correction from a stacked correlation (lag `search` = the line): the highest peak, or
 * the latest-lag strong peak up to `maxReflection` above it (the direct sound, see measure).
 * Returns the lag relative to the line (samples, sub-sample) and its height (background RMS units).
 */
export function stackPeak(curve: Float32Array, maxReflection: number): { lag: number; z: number } {
  const last = curve.length - 1;
  let best = 1;
  for (let k = 2; k < last; k++) if (curve[k] > curve[best]) best = k;
  const need = Math.max(DIRECT_FRACTION * curve[best], DIRECT_MIN_Z);
  let chosen = best;
  for (let k = Math.min(last - 1, best + maxReflection); k > best; k--) {
    if (curve[k] >= need && curve[k] >= curve[k - 1] && curve[k] > curve[k + 1]) {
      chosen = k;
      break;
    }
  }
  const lag = chosen + parabolicOffset(curve[chosen - 1], curve[chosen], curve[chosen + 1]) - (curve.length - 1) / 2;
  return { lag, z: curve[chosen] };
}

/** Indices of the `count` highest local maxima of x[1 .. last-1], highest first. */
function topLocalMaxima(x: Float32Array, last: number, count: number): number[] {
  const found: number[] = [];
  for (let k = 1; k < last; k++) {
    const v = x[k];
    if (v < x[k - 1] || v <= x[k + 1]) continue;
    if (found.length === count && v <= x[found[count - 1]]) continue;
    let at = found.length < count ? found.length : count - 1;
    found[at] = k;
    while (at > 0 && x[found[at - 1]] < v) {
      found[at] = found[at - 1];
      found[--at] = k;
    }
  }
  return found;
}

/**
 * out = conj(a) × b / |conj(a) × b| (phase transform), with the lowest bins dropped.
 * (PHAT-β with β = 0.75 was tried: it helps against diffuse reverb but lets loud talk dominate.)
 */
function phatCrossSpectrum(a: Float32Array, b: Float32Array, out: Float32Array, minBin: number): void {
  out.fill(0, 0, 2 * minBin);
  for (let i = 2 * minBin; i < a.length; i += 2) {
    const ar = a[i], ai = a[i + 1], br = b[i], bi = b[i + 1];
    const re = ar * br + ai * bi;
    const im = ar * bi - ai * br;
    const inv = 1 / (Math.sqrt(re * re + im * im) + 1e-20);
    out[i] = re * inv;
    out[i + 1] = im * inv;
  }
}

/** A copy of a cross-spectrum into `out` (any contents, a's length), scaled to unit energy, so that every window counts the same in a stack. */
function normalised(a: Float32Array, out: Float32Array): Float32Array {
  let energy = 0;
  for (let i = 2; i < a.length; i++) energy += a[i] * a[i];
  out[0] = 0;
  out[1] = 0;
  if (energy <= 0) return out.fill(0);
  const scale = 1 / Math.sqrt(energy);
  for (let i = 2; i < a.length; i++) out[i] = a[i] * scale;
  return out;
}

/** sum += a × e^{i2πmε/N}: the window's correlation moved by ε lags. */
function addShifted(sum: Float64Array, a: Float32Array, epsilon: number): void {
  const n = a.length;
  const theta = (2 * Math.PI * epsilon) / n;
  const cr = Math.cos(theta), ci = Math.sin(theta);
  let wr = cr, wi = ci;
  for (let i = 2; i < n; i += 2) {
    const re = a[i], im = a[i + 1];
    sum[i] += re * wr - im * wi;
    sum[i + 1] += re * wi + im * wr;
    const t = wr * cr - wi * ci;
    wi = wr * ci + wi * cr;
    wr = t;
  }
}

/** Vertex of the parabola through three equally spaced samples, relative to the middle one. */
export function parabolicOffset(left: number, mid: number, right: number): number {
  const denom = left - 2 * mid + right;
  if (denom >= 0) return 0;
  return Math.max(-0.5, Math.min(0.5, (0.5 * (left - right)) / denom));
}
