// Small loudness curves for the page's alignment picture, measured from the analysis PCM so the picture
// works on any device: the recording over its whole length, the song over the span the recording covers.

export interface LoudnessEnvelopes {
  /** Seconds per value (each file in its own time). */
  frameSeconds: number;
  /** RMS in dBFS per frame from the recording's start, 0.1 dB steps. */
  dance: number[];
  /** The same for the song, from BGM time `startSeconds`. */
  bgm: { startSeconds: number; values: number[] };
}

/** Each curve stays at or under this many values (~10 KB of JSON at worst). */
export const MAX_ENVELOPE_POINTS = 1500;
/** Finest frame: finer than the picture can show on any screen. */
const MIN_FRAME_SECONDS = 0.05;
/** Silence floor (dBFS): keeps -Infinity out of the JSON. */
const FLOOR_DB = -100;
/** Song kept either side of the covered span, so the ±200 ms nudge still has music to draw. */
const MARGIN_SECONDS = 0.25;

/** RMS in dB per `frame` samples over [from, to) of `samples`, rounded to 0.1 dB; the last frame may be short. */
export function rmsDb(samples: Float32Array, from: number, to: number, frame: number): number[] {
  const out: number[] = [];
  const end = Math.min(to, samples.length);
  for (let a = Math.max(0, from); a < end; a += frame) {
    const b = Math.min(end, a + frame);
    let sum = 0;
    for (let i = a; i < b; i++) sum += samples[i] * samples[i];
    const db = 10 * Math.log10(sum / (b - a));
    out.push(Math.round(Math.max(FLOOR_DB, db) * 10) / 10);
  }
  return out;
}

/**
 * Both curves for a found alignment (BGM time = offset + speed × dance time). The frame grows with the
 * longer of the two spans so neither curve passes MAX_ENVELOPE_POINTS.
 */
export function loudnessEnvelopes(
  dance: Float32Array,
  bgm: Float32Array,
  sampleRate: number,
  alignment: { offsetSeconds: number; speed: number },
): LoudnessEnvelopes {
  const danceSeconds = dance.length / sampleRate;
  const bgmSeconds = bgm.length / sampleRate;
  const start = Math.max(0, alignment.offsetSeconds - MARGIN_SECONDS);
  const end = Math.min(bgmSeconds, alignment.offsetSeconds + alignment.speed * danceSeconds + MARGIN_SECONDS);
  const fromSample = Math.floor(start * sampleRate);
  const toSample = Math.max(fromSample, Math.ceil(end * sampleRate));
  const longest = Math.max(dance.length, toSample - fromSample);
  const frame = Math.max(Math.round(MIN_FRAME_SECONDS * sampleRate), Math.ceil(longest / MAX_ENVELOPE_POINTS));
  return {
    frameSeconds: frame / sampleRate,
    dance: rmsDb(dance, 0, dance.length, frame),
    bgm: { startSeconds: fromSample / sampleRate, values: rmsDb(bgm, fromSample, toSample, frame) },
  };
}
