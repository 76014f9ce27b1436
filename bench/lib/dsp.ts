// Signal arithmetic for the corpus: seeded randomness, drift resampling with exact timing, mixing at a set SNR,
// clipping, synthetic room impulse responses, a measured hall and physically modelled rooms.
import { existsSync } from 'node:fs';
import type { HallSpec } from './cases.ts';
import { decodeMono } from './proc.ts';

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

/** The measured great hall shipped by Debian's guitarix-common (`apt-get install guitarix-common`). */
export const GREAT_HALL = '/usr/share/gx_head/sounds/greathall.wav';
/** Samples after the direct sound's peak that still count as the direct sound (1 ms at 48 kHz). */
const DIRECT_SECONDS = 0.001;

/**
 * A hall's impulse response with the direct sound at sample 0: the measured great hall (its left channel), or a
 * modelled shoebox studio (12 × 9 × 4 m, mirrors and hard floor): image sources up to the 4th order, their walls'
 * reflection coefficient from Sabine's formula for the asked RT60, plus a diffuse exponential tail from 60 ms.
 */
export async function hallImpulse(hall: HallSpec, rate: number, rng: () => number): Promise<Float32Array> {
  if (hall.kind === 'greathall') {
    if (!existsSync(GREAT_HALL)) throw new Error(`${GREAT_HALL} is missing: apt-get install guitarix-common`);
    const { pcm } = await decodeMono(GREAT_HALL, rate);
    let at = 0;
    for (let i = 1; i < pcm.length; i++) if (Math.abs(pcm[i]) > Math.abs(pcm[at])) at = i;
    // The direct sound is the first arrival within 12 dB of the strongest one.
    const first = pcm.findIndex((v) => Math.abs(v) >= 0.25 * Math.abs(pcm[at]));
    return pcm.slice(first);
  }
  const rt60 = hall.rt60 ?? 1;
  const [lx, ly, lz] = [12, 9, 4];
  const src = [2 + rng() * 8, 2 + rng() * 5, 1.2 + rng()];
  const mic = [2 + rng() * 8, 2 + rng() * 5, 1 + rng() * 0.8];
  const volume = lx * ly * lz;
  const surface = 2 * (lx * ly + lx * lz + ly * lz);
  const absorption = Math.min(0.95, (0.161 * volume) / (surface * rt60));
  const beta = Math.sqrt(1 - absorption);
  const c = 343;
  const direct = Math.hypot(src[0] - mic[0], src[1] - mic[1], src[2] - mic[2]);
  const ir = new Float32Array(Math.round(rt60 * 1.1 * rate));
  const order = 4;
  // Image positions along one axis: 2qL ± s, with |q| + reflections counted per axis.
  const images = (s: number, l: number): { x: number; n: number }[] => {
    const out: { x: number; n: number }[] = [];
    for (let q = -order; q <= order; q++) {
      out.push({ x: 2 * q * l + s, n: Math.abs(2 * q) });
      out.push({ x: 2 * q * l - s, n: Math.abs(2 * q - 1) });
    }
    return out;
  };
  const [ix, iy, iz] = [images(src[0], lx), images(src[1], ly), images(src[2], lz)];
  for (const a of ix) for (const b of iy) for (const e of iz) {
    const n = a.n + b.n + e.n;
    if (n > order) continue;
    const d = Math.hypot(a.x - mic[0], b.x - mic[1], e.x - mic[2]);
    const k = Math.round(((d - direct) / c) * rate);
    if (k >= 0 && k < ir.length) ir[k] += (beta ** n * direct) / d;
  }
  const from = Math.round(0.06 * rate);
  const decay = 6.91 / (rt60 * rate);
  for (let n = from; n < ir.length; n++) {
    const ramp = Math.min(1, (n - from) / (0.03 * rate));
    ir[n] += 0.15 * ramp * gaussian(rng) * Math.exp(-decay * (n - from));
  }
  return ir;
}

/** Scales everything after the direct sound so that the direct-to-reverberant energy ratio is `drrDb`. */
export function withDrr(ir: Float32Array, rate: number, drrDb: number): Float32Array {
  const cut = Math.max(1, Math.round(DIRECT_SECONDS * rate));
  const out = Float32Array.from(ir);
  const direct = meanPower(out, 0, cut) * cut;
  const rest = meanPower(out, cut) * (out.length - cut);
  if (direct <= 0 || rest <= 0) return out;
  const g = Math.sqrt(direct / (rest * 10 ** (drrDb / 10)));
  for (let i = cut; i < out.length; i++) out[i] *= g;
  return out;
}

/** Direct-to-reverberant ratio (dB) of an impulse response whose direct sound is at sample 0. */
export function drrOf(ir: Float32Array, rate: number): number {
  const cut = Math.max(1, Math.round(DIRECT_SECONDS * rate));
  return 10 * Math.log10((meanPower(ir, 0, cut) * cut) / (meanPower(ir, cut) * (ir.length - cut)));
}
