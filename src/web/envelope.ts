// Sound envelopes for the alignment picture. Each uploaded file's loudness is measured once in the browser
// (RMS per short step, in dB scaled to 0..1) and kept, so the picture survives reloads; the picture then
// reads the music's envelope at the found offset: BGM time = offset + speed × (recording time − nudge).

export interface FileEnvelope {
  /** Seconds per value. */
  step: number;
  values: number[];
  /** File time of the first value (0 when absent). */
  start?: number;
}

export interface PictureCurves {
  recording: number[];
  music: number[];
  /** Recording seconds the curves span. */
  seconds: number;
}

/** Loudness of `samples` in `points` equal windows over [fromSeconds, toSeconds); outside the signal is 0. */
export function envelope(samples: Float32Array, sampleRate: number, points: number, fromSeconds: number, toSeconds: number): Float32Array {
  const out = new Float32Array(points);
  const span = (toSeconds - fromSeconds) / points;
  if (!(span > 0)) return out;
  for (let p = 0; p < points; p++) {
    const a = Math.max(0, Math.floor((fromSeconds + p * span) * sampleRate));
    const b = Math.min(samples.length, Math.floor((fromSeconds + (p + 1) * span) * sampleRate));
    if (b <= a) continue;
    // Long windows: a stride keeps this fast; the RMS barely changes.
    const stride = Math.max(1, Math.floor((b - a) / 2048));
    let sum = 0;
    let n = 0;
    for (let i = a; i < b; i += stride) {
      sum += samples[i] * samples[i];
      n++;
    }
    out[p] = toUnit(Math.sqrt(sum / n));
  }
  return out;
}

/** RMS → 0..1 over a 54 dB range (quiet room talk stays visible next to loud music). */
function toUnit(rms: number): number {
  return dbToUnit(20 * Math.log10(rms + 1e-9));
}

const dbToUnit = (db: number): number => Math.min(1, Math.max(0, (db + 54) / 54));

/** The server's curves (dBFS per frame, the song's from BGM time `startSeconds`) on the browser's 0..1 scale. */
export function serverEnvelopes(env: { frameSeconds: number; dance: number[]; bgm: { startSeconds: number; values: number[] } }): { recording: FileEnvelope; music: FileEnvelope } {
  return {
    recording: { step: env.frameSeconds, values: env.dance.map(dbToUnit) },
    music: { step: env.frameSeconds, values: env.bgm.values.map(dbToUnit), start: env.bgm.startSeconds },
  };
}

/** A whole file's envelope: 50 ms steps, coarser for long files (at most ~4000 values, a few tens of KB stored). */
export function fileEnvelope(samples: Float32Array, sampleRate: number): FileEnvelope {
  const seconds = samples.length / sampleRate;
  const step = Math.max(0.05, seconds / 4000);
  const n = Math.max(1, Math.ceil(seconds / step));
  return { step, values: Array.from(envelope(samples, sampleRate, n, 0, n * step), (v) => Math.round(v * 1000) / 1000) };
}

/** The envelope at time t (linear between steps); 0 outside the file. */
export function valueAt(env: FileEnvelope, t: number): number {
  const x = (t - (env.start ?? 0)) / env.step - 0.5;
  if (x < -0.5 || x > env.values.length - 0.5) return 0;
  const i = Math.max(0, Math.min(env.values.length - 1, Math.floor(x)));
  const j = Math.min(env.values.length - 1, i + 1);
  const f = Math.max(0, Math.min(1, x - i));
  return env.values[i] * (1 - f) + env.values[j] * f;
}

/** Both curves on the recording's time grid, the music placed by the alignment (and nudge, ms, positive = later). */
export function pictureCurves(
  recording: FileEnvelope,
  music: FileEnvelope,
  alignment: { offsetSeconds: number; speed: number },
  nudgeMs: number,
  points: number,
): PictureCurves {
  const seconds = recording.values.length * recording.step;
  const rec: number[] = [];
  const mus: number[] = [];
  for (let p = 0; p < points; p++) {
    const t = ((p + 0.5) * seconds) / points;
    rec.push(valueAt(recording, t));
    mus.push(valueAt(music, alignment.offsetSeconds + alignment.speed * (t - nudgeMs / 1000)));
  }
  return { recording: rec, music: mus, seconds };
}

/** Mixes channels to mono. */
export function mono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const n = channels[0]?.length ?? 0;
  const out = new Float32Array(n);
  for (const ch of channels) for (let i = 0; i < n; i++) out[i] += ch[i] / channels.length;
  return out;
}

/** Pearson correlation of two curves: how alike they look. */
export function similarity(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : 0;
}
