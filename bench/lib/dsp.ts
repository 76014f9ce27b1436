// Signal arithmetic for the corpus: seeded randomness, drift resampling with exact timing, mixing at a set SNR,
// clipping and synthetic room impulse responses.

/** A small seeded PRNG: the same seed gives the same corpus on every machine (shared with the engine's test signals). */
export { rng as makeRng } from '../../src/align/test-signals.ts';

export function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

const HALF_TAPS = 16;
const TABLE_STEPS = 512;

/** Blackman-windowed sinc kernel sampled on a fine grid, for band-limited interpolation. */
function makeKernel(cutoff: number): Float32Array {
  const table = new Float32Array(HALF_TAPS * TABLE_STEPS + 2);
  for (let i = 0; i < table.length; i++) {
    const u = i / TABLE_STEPS;
    if (u >= HALF_TAPS) continue;
    const x = Math.PI * cutoff * u;
    const sinc = u === 0 ? 1 : Math.sin(x) / x;
    const w = 0.42 + 0.5 * Math.cos((Math.PI * u) / HALF_TAPS) + 0.08 * Math.cos((2 * Math.PI * u) / HALF_TAPS);
    table[i] = cutoff * sinc * w;
  }
  return table;
}

export interface Placement {
  /** Dance time (s) where the music starts: the lead-in L. */
  startSeconds: number;
  /** Dance time (s) where the music stops (exclusive). */
  endSeconds: number;
  /** BGM time (s) heard at dance time `startSeconds`. */
  bgmStartSeconds: number;
  /** BGM seconds per dance second (1 + drift). */
  speed: number;
}

/**
 * Writes the song into a dance-rate track so that dance time t hears BGM time
 * bgmStart + speed·(t − start), i.e. BGM time = offset + speed·t with offset = bgmStart − speed·start.
 * Interpolates with a windowed sinc, so the timing is exact to well under a sample.
 */
export function placeSong(song: Float32Array, songRate: number, out: Float32Array, outRate: number, p: Placement): void {
  // Low-pass below the narrower of the two Nyquist limits (the song is read `speed` times faster).
  const cutoff = 0.95 * Math.min(1, outRate / (songRate * p.speed));
  const kernel = makeKernel(cutoff);
  const first = Math.max(0, Math.ceil(p.startSeconds * outRate));
  const last = Math.min(out.length, Math.ceil(p.endSeconds * outRate));
  for (let n = first; n < last; n++) {
    const t = n / outRate;
    const x = (p.bgmStartSeconds + p.speed * (t - p.startSeconds)) * songRate;
    const i0 = Math.floor(x);
    const frac = x - i0;
    let acc = 0;
    for (let k = -HALF_TAPS + 1; k <= HALF_TAPS; k++) {
      const idx = i0 + k;
      if (idx < 0 || idx >= song.length) continue;
      const u = Math.abs(k - frac) * TABLE_STEPS;
      const j = Math.floor(u);
      const f = u - j;
      acc += song[idx] * (kernel[j] + (kernel[j + 1] - kernel[j]) * f);
    }
    out[n] = acc;
  }
}

/** Raised-cosine fade over `seconds` at a boundary sample (in or out), so edges inside a recording do not click. */
export function fadeEdge(x: Float32Array, rate: number, atSample: number, seconds: number, direction: 'in' | 'out'): void {
  const len = Math.round(seconds * rate);
  for (let i = 0; i < len; i++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / len);
    const n = direction === 'in' ? atSample + i : atSample - 1 - i;
    if (n >= 0 && n < x.length) x[n] *= g;
  }
}

/** Mean power over [from, to) samples. */
export function meanPower(x: Float32Array, from = 0, to = x.length): number {
  const a = Math.max(0, from);
  const b = Math.min(x.length, to);
  if (b <= a) return 0;
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return s / (b - a);
}

/** Mean power of the loud parts only (speech has pauses; its level is that of the words). */
export function activePower(x: Float32Array, rate: number): number {
  const block = Math.round(0.05 * rate);
  const powers: number[] = [];
  for (let i = 0; i + block <= x.length; i += block) powers.push(meanPower(x, i, i + block));
  const peak = Math.max(0, ...powers);
  const active = powers.filter((p) => p > peak * 0.01);
  return active.length ? active.reduce((a, b) => a + b, 0) / active.length : 0;
}

/** dst += gain·src starting at sample `at` (clipped to dst). */
export function addInto(dst: Float32Array, src: Float32Array, at: number, gain = 1): void {
  const start = Math.max(0, at);
  const end = Math.min(dst.length, at + src.length);
  for (let n = start; n < end; n++) dst[n] += gain * src[n - at];
}

export function scale(x: Float32Array, gain: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= gain;
}

export function peak(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** Overdriven input: amplify by `gainDb`, then hard-clip at full scale. Returns the fraction of samples clipped. */
export function hardClip(x: Float32Array, gainDb: number): number {
  const g = 10 ** (gainDb / 20);
  let clipped = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] * g;
    if (v > 1) { x[i] = 1; clipped++; } else if (v < -1) { x[i] = -1; clipped++; } else x[i] = v;
  }
  return clipped / Math.max(1, x.length);
}

export interface RoomSpec {
  /** Decay time of the diffuse tail (s to −60 dB). */
  rt60: number;
  /** Delay of the strong late reflection after the direct sound (ms), 30–90. */
  reflectionMs: number;
  /** Reflection amplitude relative to the direct sound (> 1: the reflection is louder than the direct path). */
  reflectionGain: number;
}

/**
 * A synthetic room impulse response: direct sound at sample 0 (so sync stays on the direct arrival), a few early
 * reflections, one strong late reflection, and an exponentially decaying noise tail.
 */
export function roomImpulse(room: RoomSpec, rate: number, rng: () => number): Float32Array {
  const len = Math.round(Math.max(0.2, room.rt60 * 1.2) * rate);
  const ir = new Float32Array(len);
  ir[0] = 1;
  for (let k = 0; k < 6; k++) {
    const at = Math.round((0.003 + rng() * 0.025) * rate);
    ir[at] += (rng() < 0.5 ? -1 : 1) * (0.2 + 0.4 * rng());
  }
  const refl = Math.round((room.reflectionMs / 1000) * rate);
  if (refl < len) ir[refl] += room.reflectionGain;
  const decay = 6.91 / (room.rt60 * rate); // e^-6.91 = −60 dB
  const tailStart = Math.round(0.005 * rate);
  for (let n = tailStart; n < len; n++) ir[n] += 0.08 * gaussian(rng) * Math.exp(-decay * (n - tailStart));
  return ir;
}
