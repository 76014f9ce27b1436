// Synthetic test material for the alignment engine (tests and quick experiments only): a seeded
// "song" rendered analytically at any time mapping (so delays and drift are exact), talk-like
// noise, a room impulse response, phone band-limiting, clipping and AGC.
import { fftSizeFor, getFft } from './fft.ts';

export type Rng = () => number;

/** Seeded uniform generator in [0, 1) (mulberry32). */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: Rng): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

interface Partial {
  freq: number;
  /** Frequency change per second (kick sweep). */
  sweep: number;
  amp: number;
  phase: number;
}

interface NoteEvent {
  start: number;
  /** Exponential decay time constant (s). */
  decay: number;
  length: number;
  partials: Partial[];
}

export interface Song {
  events: NoteEvent[];
  duration: number;
}

export interface SongOptions {
  seed: number;
  duration: number;
  bpm?: number;
  /** Bars per section: inside a section every bar is identical (periodic dance music). */
  sectionBars?: number;
  /** Extra random notes per second that break the bar-to-bar repetition. */
  randomNotesPerSecond?: number;
}

/** A beat-driven song: kick, snare, hats and a melody bar repeated within each section. */
export function makeSong(options: SongOptions): Song {
  const r = rng(options.seed);
  const beat = 60 / (options.bpm ?? 120);
  const bar = 4 * beat;
  const sectionBars = options.sectionBars ?? 4;
  const events: NoteEvent[] = [];
  const tone = (start: number, freq: number, amp: number, decay: number): NoteEvent => ({
    start,
    decay,
    length: decay * 5,
    partials: [1, 2, 3, 4].map((h) => ({ freq: freq * h, sweep: 0, amp: amp / h, phase: r() * 6.28 })),
  });
  const metal = (start: number, low: number, high: number, count: number, amp: number, decay: number): NoteEvent => ({
    start,
    decay,
    length: decay * 6,
    partials: Array.from({ length: count }, () => ({ freq: low + r() * (high - low), sweep: 0, amp: amp / Math.sqrt(count), phase: r() * 6.28 })),
  });
  const kickFreq = 90 + 60 * r();
  const kickPhase = r() * 6.28;
  let sectionPattern: NoteEvent[] = [];
  for (let b = 0; b * bar < options.duration; b++) {
    const t0 = b * bar;
    if (b % sectionBars === 0) {
      // A new section: a fresh one-bar pattern (relative times) that its bars repeat exactly.
      sectionPattern = [];
      for (let k = 0; k < 8; k++) {
        if (r() < 0.75) sectionPattern.push(tone(k * (bar / 8), 110 * Math.pow(2, Math.floor(r() * 24) / 12), 0.25, 0.12 + r() * 0.2));
      }
      sectionPattern.push(metal(r() * bar, 800, 3000, 6, 0.2, 0.08));
    }
    for (let k = 0; k < 4; k++) {
      const t = t0 + k * beat;
      events.push({ start: t, decay: 0.12, length: 0.6, partials: [{ freq: kickFreq, sweep: -kickFreq, amp: 0.6, phase: kickPhase }] });
      if (k % 2 === 1) events.push(metal(t, 1000, 5000, 10, 0.25, 0.07));
      events.push(metal(t, 5000, 7500, 6, 0.08, 0.02));
      events.push(metal(t + beat / 2, 5000, 7500, 6, 0.06, 0.02));
    }
    for (const e of sectionPattern) events.push({ ...e, start: t0 + e.start });
  }
  const extra = Math.round((options.randomNotesPerSecond ?? 0) * options.duration);
  for (let i = 0; i < extra; i++) events.push(tone(r() * options.duration, 200 * Math.pow(2, r() * 3), 0.2, 0.1 + r() * 0.3));
  events.sort((a, b) => a.start - b.start);
  return { events, duration: options.duration };
}

/**
 * Renders `count` samples where output sample n holds the song at time offset + speed × n / rate.
 * Song time outside [0, duration] is silence.
 */
export function renderSong(song: Song, sampleRate: number, count: number, offset = 0, speed = 1): Float32Array {
  const out = new Float32Array(count);
  for (const e of song.events) {
    const end = Math.min(e.start + e.length, song.duration);
    if (end <= e.start) continue;
    const n0 = Math.max(0, Math.ceil(((e.start - offset) / speed) * sampleRate));
    const n1 = Math.min(count, Math.floor(((end - offset) / speed) * sampleRate) + 1);
    for (let n = n0; n < n1; n++) {
      const t = offset + (speed * n) / sampleRate - e.start;
      if (t < 0 || t > e.length) continue;
      const env = Math.min(1, t / 0.002) * Math.exp(-t / e.decay);
      let v = 0;
      for (const p of e.partials) v += p.amp * Math.sin(p.phase + 2 * Math.PI * (p.freq * t + 0.5 * p.sweep * t * t));
      out[n] += env * v;
    }
  }
  return out;
}

/** Talk-like noise: low-passed noise bursts at syllable rate, with pauses. */
export function talkNoise(seed: number, count: number, sampleRate: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count);
  let lp = 0;
  let lp2 = 0;
  const a = Math.exp((-2 * Math.PI * 900) / sampleRate);
  for (let n = 0; n < count; n++) {
    const t = n / sampleRate;
    lp = a * lp + (1 - a) * gauss(r);
    lp2 = a * lp2 + (1 - a) * lp;
    const syllable = Math.max(0, Math.sin(2 * Math.PI * 4.3 * t + Math.sin(2 * Math.PI * 0.37 * t) * 3));
    const phrase = Math.sin(2 * Math.PI * 0.21 * t) > -0.3 ? 1 : 0.1;
    out[n] = lp2 * syllable * phrase * 6 + 0.05 * gauss(r);
  }
  return out;
}

export function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, to - from));
}

/** x + noise scaled so that rms(x over [from, to)) / rms(noise) matches snrDb. */
export function addNoise(x: Float32Array, noise: Float32Array, snrDb: number, from = 0, to = x.length): Float32Array {
  const gain = rms(x, from, to) / (rms(noise) * Math.pow(10, snrDb / 20));
  return x.map((v, i) => v + gain * noise[i]);
}

/** A room: direct sound, a stronger late reflection and a decaying diffuse tail. */
export function roomImpulse(seed: number, sampleRate: number, reflectionSeconds = 0.035, reflectionGain = 1.3, tailGain = 0.1): Float32Array {
  const r = rng(seed);
  const ir = new Float32Array(Math.round(0.4 * sampleRate));
  ir[0] = 1;
  ir[Math.round(reflectionSeconds * sampleRate)] += reflectionGain;
  for (let n = Math.round(0.004 * sampleRate); n < ir.length; n++) ir[n] += tailGain * gauss(r) * Math.exp(-n / (0.09 * sampleRate));
  return ir;
}

/** Linear convolution trimmed to x's length, through the engine's FFT. */
export async function convolve(x: Float32Array, ir: Float32Array): Promise<Float32Array> {
  const size = fftSizeFor(x.length + ir.length);
  const fft = await getFft(size);
  const a = new Float32Array(size);
  const b = new Float32Array(size);
  fft.forward(x, a);
  fft.forward(ir, b);
  a[0] *= b[0];
  a[1] *= b[1];
  for (let i = 2; i < size; i += 2) {
    const re = a[i] * b[i] - a[i + 1] * b[i + 1];
    const im = a[i] * b[i + 1] + a[i + 1] * b[i];
    a[i] = re;
    a[i + 1] = im;
  }
  const y = new Float32Array(size);
  fft.inverse(a, y);
  return y.subarray(0, x.length).map((v) => v / size);
}

/** Phone microphone: 4th-order band-pass, roughly 300–3400 Hz (RBJ biquads). */
export function phoneBand(x: Float32Array, sampleRate: number): Float32Array {
  let y = biquad(x, sampleRate, 300, 'highpass');
  y = biquad(y, sampleRate, 300, 'highpass');
  y = biquad(y, sampleRate, 3400, 'lowpass');
  return biquad(y, sampleRate, 3400, 'lowpass');
}

function biquad(x: Float32Array, sampleRate: number, freq: number, kind: 'lowpass' | 'highpass'): Float32Array {
  const w = (2 * Math.PI * freq) / sampleRate;
  const alpha = Math.sin(w) / (2 * Math.SQRT1_2);
  const cos = Math.cos(w);
  const b0 = kind === 'lowpass' ? (1 - cos) / 2 : (1 + cos) / 2;
  const b1 = kind === 'lowpass' ? 1 - cos : -(1 + cos);
  const a0 = 1 + alpha, a1 = -2 * cos, a2 = 1 - alpha;
  const out = new Float32Array(x.length);
  let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  for (let n = 0; n < x.length; n++) {
    const y = (b0 * x[n] + b1 * x1 + b0 * x2 - a1 * y1 - a2 * y2) / a0;
    x2 = x1; x1 = x[n]; y2 = y1; y1 = y;
    out[n] = y;
  }
  return out;
}

/** Hard clipping after `gain`, like an overloaded phone input. */
export function clip(x: Float32Array, gain: number): Float32Array {
  return x.map((v) => Math.max(-1, Math.min(1, v * gain)));
}

/** Slow automatic gain control: level swinging by ±depth at `rate` Hz. */
export function agc(x: Float32Array, sampleRate: number, depth = 0.6, rate = 0.15): Float32Array {
  return x.map((v, n) => v * (1 + depth * Math.sin((2 * Math.PI * rate * n) / sampleRate)));
}

/** `count` samples of x read from time offset (s) at `speed` (windowed-sinc interpolation). */
export function resample(x: Float32Array, sampleRate: number, count: number, offset: number, speed: number): Float32Array {
  const out = new Float32Array(count);
  for (let n = 0; n < count; n++) {
    const pos = (offset + (speed * n) / sampleRate) * sampleRate;
    const i = Math.floor(pos);
    const f = pos - i;
    let v = 0;
    for (let k = -8; k <= 8; k++) {
      const j = i + k;
      if (j < 0 || j >= x.length) continue;
      const d = k - f;
      const sinc = d === 0 ? 1 : Math.sin(Math.PI * d) / (Math.PI * d);
      v += x[j] * sinc * (0.5 + 0.5 * Math.cos((Math.PI * d) / 9));
    }
    out[n] = v;
  }
  return out;
}
