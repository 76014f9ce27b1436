// Coarse search: cross-correlates the band envelopes of the whole recording with each given song
// envelope (the song, and its time-reversed copy as a null) over every lag, for a few clock-drift
// hypotheses, and keeps the strongest distinct peaks of each as candidates.
import type { Envelopes } from './envelope.ts';
import { fftSizeFor, getFft } from './fft.ts';
import type { RealFft } from './fft.ts';

export interface CoarseCandidate {
  /** BGM time at dance time 0 (s), on this candidate's speed hypothesis. */
  offsetSeconds: number;
  speed: number;
  /** How far the true speed may be from `speed` (half the hypothesis spacing). */
  speedError: number;
  /** Correlation peak as a z-score against chance at that overlap. */
  z: number;
}

/** Smallest overlap (frames) whose correlation is trusted: tiny overlaps give wild z-scores. */
const MIN_OVERLAP_FRAMES = 800;

/** Candidates for each song envelope in `bgms` (all of the same length), strongest first. */
export async function coarseCandidates(
  dance: Envelopes,
  bgms: Envelopes[],
  maxDriftPpm: number,
  maxCandidates: number,
  /** Largest spacing of the drift hypotheses (relative speed), so that the fine stage can use long windows. */
  maxSpeedStep = Infinity,
): Promise<CoarseCandidate[][]> {
  const nd = dance.frames;
  const nb = bgms[0]?.frames ?? 0;
  if (nd < 2 || nb < 2) return bgms.map(() => []);
  const bgm = bgms[0];
  const maxSpeedDev = Math.max(0, maxDriftPpm) * 1e-6;
  // Hypotheses close enough that the residual drift smears a peak by ≤ 3 frames across the recording.
  const step = Math.min(3 / nd, maxSpeedStep);
  const half = Math.min(12, Math.ceil(maxSpeedDev / step));
  const speeds: number[] = [];
  for (let i = -half; i <= half; i++) speeds.push(1 + (half === 0 ? 0 : (i * maxSpeedDev) / half));
  const speedError = half === 0 ? maxSpeedDev : maxSpeedDev / half / 2;

  const ndMax = Math.ceil(nd * (1 + maxSpeedDev)) + 2;
  const size = fftSizeFor(ndMax + nb);
  const fft = await getFft(size);
  const bands = dance.bands.length;
  const bgmSpectra = bgms.map((b) => b.bands.map((band) => spectrumOf(band, size, fft)));
  const danceSpectra = dance.bands.map(() => new Float32Array(size));

  const z = new Float32Array(size);
  const found: CoarseCandidate[][] = bgms.map(() => []);
  for (const speed of speeds) {
    const nw = Math.floor((nd - 1) * speed) + 1;
    // In place in the FFT's own buffers (RealFft.input); no plan is made inside this loop.
    for (let b = 0; b < bands; b++) {
      const warped = fft.input();
      warpInto(dance.bands[b], speed, nw, warped);
      warped.fill(0, nw);
      fft.transform('forward');
      danceSpectra[b].set(fft.output());
    }
    const minOverlap = Math.min(nw, nb, MIN_OVERLAP_FRAMES);
    const lo = -(nw - 1);
    bgmSpectra.forEach((spectra, k) => {
      const sum = fft.input();
      sum.fill(0);
      for (let b = 0; b < bands; b++) accumulateCrossSpectrum(danceSpectra[b], spectra[b], sum);
      fft.transform('inverse');
      const corr = fft.output();
      // z(o) = r(o) / sqrt(bands × overlap(o)): comparable across lags with different overlaps.
      for (let o = lo; o < nb; o++) {
        const overlap = Math.max(minOverlap, Math.min(nb, o + nw) - Math.max(0, o));
        z[o - lo] = corr[o >= 0 ? o : size + o] / size / Math.sqrt(bands * overlap);
      }
      for (const peak of topPeaks(z.subarray(0, nb - lo), maxCandidates)) {
        found[k].push({ offsetSeconds: (peak.index + lo) / bgm.frameRate, speed, speedError, z: peak.z });
      }
    });
  }
  return found.map((f) => distinct(f, nd / dance.frameRate / 2, maxCandidates));
}

/** A song band's spectra by FFT size: the segment search transforms the same song again. */
const songSpectra = new WeakMap<Float32Array, Map<number, Float32Array>>();

function spectrumOf(band: Float32Array, size: number, fft: RealFft): Float32Array {
  let bySize = songSpectra.get(band);
  if (!bySize) songSpectra.set(band, (bySize = new Map()));
  let spec = bySize.get(size);
  if (!spec) {
    spec = new Float32Array(size);
    fft.forward(band, spec);
    bySize.set(size, spec);
  }
  return spec;
}

/** Places dance frames on the BGM's frame grid: out[u] = x(u / speed), linearly interpolated. */
function warpInto(x: Float32Array, speed: number, count: number, out: Float32Array): void {
  const last = x.length - 1;
  for (let u = 0; u < count; u++) {
    const pos = u / speed;
    const i = Math.min(last, Math.floor(pos));
    const f = pos - i;
    out[u] = i < last ? x[i] + f * (x[i + 1] - x[i]) : x[last];
  }
}

/** sum += conj(a) × b for PFFFT's ordered real spectra. */
function accumulateCrossSpectrum(a: Float32Array, b: Float32Array, sum: Float32Array): void {
  sum[0] += a[0] * b[0];
  sum[1] += a[1] * b[1];
  for (let i = 2; i < a.length; i += 2) {
    const ar = a[i], ai = a[i + 1], br = b[i], bi = b[i + 1];
    sum[i] += ar * br + ai * bi;
    sum[i + 1] += ar * bi - ai * br;
  }
}

/** The `count` highest local maxima (over ±2 frames) of z, with parabolic sub-frame positions. */
function topPeaks(z: Float32Array, count: number): { index: number; z: number }[] {
  const peaks: { index: number; z: number }[] = [];
  let floor = -Infinity;
  for (let i = 2; i < z.length - 2; i++) {
    const v = z[i];
    if (v <= floor || v < z[i - 1] || v <= z[i + 1] || v < z[i - 2] || v <= z[i + 2]) continue;
    const denom = z[i - 1] - 2 * v + z[i + 1];
    const delta = denom < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (z[i - 1] - z[i + 1])) / denom)) : 0;
    peaks.push({ index: i + delta, z: v });
    if (peaks.length > count * 4) {
      peaks.sort((a, b) => b.z - a.z);
      peaks.length = count;
      floor = peaks[count - 1].z;
    }
  }
  peaks.sort((a, b) => b.z - a.z);
  return peaks.slice(0, count);
}

/** Strongest first, dropping candidates within 50 ms (at mid-recording) of a stronger one. */
function distinct(found: CoarseCandidate[], midSeconds: number, count: number): CoarseCandidate[] {
  found.sort((a, b) => b.z - a.z);
  const kept: CoarseCandidate[] = [];
  for (const c of found) {
    const at = c.offsetSeconds + c.speed * midSeconds;
    if (kept.some((k) => Math.abs(k.offsetSeconds + k.speed * midSeconds - at) < 0.05)) continue;
    kept.push(c);
    if (kept.length === count) break;
  }
  return kept;
}
