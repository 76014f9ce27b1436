// Multi-band onset envelopes (~100 frames/s) for the coarse search: gain-, AGC- and EQ-tolerant.
import { fftSizeFor, getFft } from './fft.ts';

export const ENVELOPE_BANDS = 8;

export interface Envelopes {
  /** One onset curve per band, all the same length, locally normalised (zero mean, unit RMS). */
  bands: Float32Array[];
  frames: number;
  /** Samples between frames. */
  hop: number;
  frameRate: number;
}

/** Band edges in Hz, log-spaced: the phone band (300–3400 Hz) holds several whole bands. */
function bandEdges(sampleRate: number): number[] {
  const low = 150;
  const high = Math.min(7000, 0.45 * sampleRate);
  const edges: number[] = [];
  for (let b = 0; b <= ENVELOPE_BANDS; b++) edges.push(low * Math.pow(high / low, b / ENVELOPE_BANDS));
  return edges;
}

export async function onsetEnvelopes(signal: Float32Array, sampleRate: number): Promise<Envelopes> {
  const hop = Math.max(1, Math.round(sampleRate / 100));
  const frameLen = fftSizeFor(hop * 3);
  const fft = await getFft(frameLen);
  const frames = signal.length >= frameLen ? Math.floor((signal.length - frameLen) / hop) + 1 : 0;

  // Bins [first[b], first[b + 1]) make band b (bands are contiguous).
  const edges = bandEdges(sampleRate);
  const first = edges.map((f) => Math.max(1, Math.min(frameLen / 2, Math.ceil((f * frameLen) / sampleRate))));
  const window = new Float32Array(frameLen);
  for (let i = 0; i < frameLen; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / frameLen);

  const energy: Float32Array[] = [];
  for (let b = 0; b < ENVELOPE_BANDS; b++) energy.push(new Float32Array(frames));
  // In place in the FFT's own buffers (no plan is made inside the loop, so the views stay valid).
  const frame = fft.input();
  const spec = fft.output();
  for (let t = 0; t < frames; t++) {
    const start = t * hop;
    for (let i = 0; i < frameLen; i++) frame[i] = signal[start + i] * window[i];
    fft.transform('forward');
    for (let b = 0; b < ENVELOPE_BANDS; b++) {
      let acc = 0;
      for (let k = first[b]; k < first[b + 1]; k++) acc += spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
      energy[b][t] = acc;
    }
  }

  // The curves are made in place (each band's energy becomes its curve), with one running-sum buffer:
  // fresh memory is what costs here (~12 µs a page on a VM), not the arithmetic.
  const prefix = new Float64Array(frames + 1);
  const bands = energy.map((e) => onsetCurve(e, prefix));
  return { bands, frames, hop, frameRate: sampleRate / hop };
}

/**
 * Rectified rise of log energy, then local mean removal and RMS normalisation over ~3 s, written over
 * `energy` (returned); `prefix` is scratch of at least energy.length + 1.
 */
function onsetCurve(energy: Float32Array, prefix: Float64Array): Float32Array {
  const n = energy.length;
  if (n < 2) return energy.fill(0);
  let mean = 0;
  for (let t = 0; t < n; t++) mean += energy[t];
  // A floor 40 dB under the band's average keeps silence and dither from producing onsets.
  const floor = (mean / n) * 1e-4 + 1e-20;
  let prev = Math.log(energy[0] + floor);
  energy[0] = 0;
  for (let t = 1; t < n; t++) {
    const cur = Math.log(energy[t] + floor);
    energy[t] = cur > prev ? cur - prev : 0;
    prev = cur;
  }
  subtractLocal(energy, 150, false, prefix);
  return subtractLocal(energy, 150, true, prefix);
}

/** Subtracts the running mean (or divides by the running RMS) over ±half frames, in place. */
function subtractLocal(x: Float32Array, half: number, divideByRms: boolean, prefix: Float64Array): Float32Array {
  const n = x.length;
  prefix[0] = 0;
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + (divideByRms ? x[i] * x[i] : x[i]);
  let total = prefix[n] / n;
  if (divideByRms) total = Math.sqrt(total);
  // out[i] needs only x[i] and the sums, which are complete: x can be overwritten as it is read.
  const out = x;
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - half);
    const hi = Math.min(n, i + half + 1);
    const local = (prefix[hi] - prefix[lo]) / (hi - lo);
    if (divideByRms) {
      // Quiet stretches are not blown up past the signal's overall level.
      const rms = Math.max(Math.sqrt(local), 0.1 * total, 1e-12);
      out[i] = Math.max(-4, Math.min(6, x[i] / rms));
    } else {
      out[i] = x[i] - local;
    }
  }
  return out;
}

/** The envelopes played backwards: a song with the same statistics and no place in common with any recording. */
export function reversedEnvelopes(env: Envelopes): Envelopes {
  return { ...env, bands: env.bands.map((b) => b.slice().reverse()) };
}
