// Independent measurement of where one signal sits in another (plain time-domain cross-correlation), used to check
// the corpus's ground truth and the lossless-ness of BGM transcodes. Deliberately simple and slow-but-sure.

export interface LagResult {
  /** Fractional lag in samples: sig[sigAt + i + lag] ≈ ref[refAt + i]. */
  lag: number;
  /** Normalised correlation at the integer peak (−1..1). */
  corr: number;
}

/** Searches integer lags in [−maxLag, maxLag] over a window of ±half samples, then refines with a parabola. */
export function bestLag(ref: Float32Array, refAt: number, sig: Float32Array, sigAt: number, half: number, maxLag: number): LagResult {
  const r0 = refAt - half;
  const n = 2 * half;
  if (r0 < 0 || r0 + n > ref.length) throw new RangeError('reference window outside the signal');
  let refEnergy = 0;
  for (let i = 0; i < n; i++) refEnergy += ref[r0 + i] * ref[r0 + i];
  const scores = new Float64Array(2 * maxLag + 1);
  let best = -1;
  let bestScore = -Infinity;
  let bestCorr = 0;
  for (let k = -maxLag; k <= maxLag; k++) {
    const s0 = sigAt - half + k;
    if (s0 < 0 || s0 + n > sig.length) { scores[k + maxLag] = -Infinity; continue; }
    let dot = 0;
    let e = 0;
    for (let i = 0; i < n; i++) {
      const v = sig[s0 + i];
      dot += ref[r0 + i] * v;
      e += v * v;
    }
    const c = dot / Math.sqrt(refEnergy * e + 1e-30);
    scores[k + maxLag] = c;
    if (c > bestScore) { bestScore = c; best = k; bestCorr = c; }
  }
  let lag = best;
  const i = best + maxLag;
  if (i > 0 && i < scores.length - 1 && Number.isFinite(scores[i - 1]) && Number.isFinite(scores[i + 1])) {
    const a = scores[i - 1];
    const b = scores[i];
    const c = scores[i + 1];
    const den = a - 2 * b + c;
    if (den < 0) lag += (0.5 * (a - c)) / den;
  }
  return { lag, corr: bestCorr };
}

/** Least-squares line y = a + b·x. */
export function fitLine(xs: number[], ys: number[]): { intercept: number; slope: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { intercept: my - slope * mx, slope };
}

export interface TruthCheck {
  /** Per window: dance time (s), measured residual (s) against the stated truth, correlation. */
  windows: { t: number; residual: number; corr: number }[];
  /** Residual line: offset error (s) at dance time 0 and slope error (BGM s per dance s). */
  offsetError: number;
  speedError: number;
}

/**
 * Checks a stated mapping BGM time = offset + speed·t by measuring, in short windows across the music span, how far
 * the dance audio actually sits from where the mapping says (both signals at the same sample rate).
 */
export function checkTruth(dance: Float32Array, bgm: Float32Array, rate: number, truth: { offsetSeconds: number; speed: number; musicStart: number; musicEnd: number }, opts: { windows?: number; halfSeconds?: number; maxLagSeconds?: number } = {}): TruthCheck {
  const count = opts.windows ?? 8;
  const half = Math.round((opts.halfSeconds ?? 0.1) * rate);
  const maxLag = Math.round((opts.maxLagSeconds ?? 0.01) * rate);
  const margin = half / rate + (opts.maxLagSeconds ?? 0.01) + 0.05;
  const from = truth.musicStart + margin;
  const to = truth.musicEnd - margin;
  const windows: TruthCheck['windows'] = [];
  for (let w = 0; w < count; w++) {
    const danceIndex = Math.round((from + ((to - from) * (w + 0.5)) / count) * rate);
    const t = danceIndex / rate;
    const bgmAt = (truth.offsetSeconds + truth.speed * t) * rate;
    const bgmIndex = Math.round(bgmAt);
    const { lag, corr } = bestLag(dance, danceIndex, bgm, bgmIndex, half, maxLag);
    // Where the dance window was found in the BGM, minus where the truth puts it.
    windows.push({ t, residual: (bgmIndex + lag - bgmAt) / rate, corr });
  }
  const fit = fitLine(windows.map((w) => w.t), windows.map((w) => w.residual));
  return { windows, offsetError: fit.intercept, speedError: fit.slope };
}
