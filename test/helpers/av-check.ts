// Checks on rendered outputs: a recording with known offset/drift built from a real song, where a
// stretch of output sound sits in the song (cross-correlation), and per-packet hashes of a video stream.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputArgs, runFfmpeg, runFfmpegStream } from '../../src/media/index.ts';
import { fixtureDir } from './media.ts';

export const RATE = 48000;

/** Decodes a file's first audio stream to mono float at 48 kHz through soxr (no resampler delay). */
export async function decodeMono48k(path: string): Promise<Float32Array> {
  const chunks: Buffer[] = [];
  await runFfmpegStream([...inputArgs(path), '-map', '0:a:0', '-af', `aresample=${RATE}:resampler=soxr:precision=28`, '-ac', '1', '-f', 'f32le', 'pipe:1'], (c) => chunks.push(c));
  const bytes = Buffer.concat(chunks);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length - (bytes.length % 4)));
}

/**
 * Sound of a recording whose dance time d hears song time offset + speed·d, between musicFrom and
 * musicTo (dance s); pink-ish noise everywhere (louder before the music: "talk"). Windowed-sinc
 * interpolation in plain JS, independent of the renderer's ffmpeg chain.
 */
export function recordingFromSong(song: Float32Array, opts: { seconds: number; offset: number; speed: number; musicFrom: number; musicTo: number; seed?: number }): Float32Array {
  const n = Math.round(opts.seconds * RATE);
  const out = new Float32Array(n);
  const taps = 16;
  let seed = opts.seed ?? 1;
  const rand = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  let brown = 0;
  for (let i = 0; i < n; i++) {
    const d = i / RATE;
    brown = 0.97 * brown + rand() * 0.1;
    let v = brown * (d < opts.musicFrom ? 1.5 : 0.3);
    if (d >= opts.musicFrom && d < opts.musicTo) {
      const p = (opts.offset + opts.speed * d) * RATE;
      const base = Math.floor(p);
      let acc = 0;
      for (let k = -taps + 1; k <= taps; k++) {
        const j = base + k;
        if (j < 0 || j >= song.length) continue;
        const x = p - j;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / taps); // Hann
        acc += song[j] * sinc * w;
      }
      v += 0.8 * acc;
    }
    out[i] = v;
  }
  return out;
}

/** A 16-bit mono WAV file (48 kHz) from samples. */
export async function writeWav(path: string, samples: Float32Array): Promise<string> {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32767))), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(RATE, 24);
  header.writeUInt32LE(RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  await writeFile(path, Buffer.concat([header, data]));
  return path;
}

/**
 * A dance video (testsrc2, H.264 with B-frames, keyframe every `gop` frames) whose sound is `sound`.
 * `extra` adds output options (e.g. rotation metadata is not set here; see makeVideo).
 */
export async function danceVideo(name: string, sound: Float32Array, opts: { fps?: number; gop?: number; codecArgs?: string[]; format?: string } = {}): Promise<string> {
  const wav = await writeWav(join(fixtureDir(), `${name}.sound.wav`), sound);
  const seconds = sound.length / RATE;
  const fps = opts.fps ?? 30;
  const out = join(fixtureDir(), name);
  await runFfmpeg([
    '-y', '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${fps}:duration=${seconds}`, ...inputArgs(wav),
    '-map', '0:v', '-map', '1:a',
    ...(opts.codecArgs ?? ['-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', String(opts.gop ?? fps), '-sc_threshold', '0', '-pix_fmt', 'yuv420p']),
    '-c:a', 'aac', '-b:a', '128k', '-t', String(seconds), ...(opts.format ? ['-f', opts.format] : []), out,
  ]);
  await rm(wav, { force: true });
  return out;
}

export interface LagMeasure {
  /** Where the window really sits minus where it was expected, seconds. */
  errorSeconds: number;
  /** Normalised correlation at the peak (≈1 = same sound). */
  peak: number;
}

/**
 * Finds `out[outSample, +window)` inside `ref` near `expectedRefSample` (±searchSamples): normalised
 * cross-correlation, parabolic sub-sample peak.
 */
export function measureLag(out: Float32Array, outSample: number, ref: Float32Array, expectedRefSample: number, window = 4096, searchSamples = 960): LagMeasure {
  const x = out.subarray(outSample, outSample + window);
  let xx = 0;
  for (const v of x) xx += v * v;
  const base = Math.round(expectedRefSample);
  const scores: number[] = [];
  for (let k = -searchSamples; k <= searchSamples; k++) {
    const start = base + k;
    if (start < 0 || start + window > ref.length) {
      scores.push(-1);
      continue;
    }
    let xy = 0;
    let yy = 0;
    for (let i = 0; i < window; i++) {
      const y = ref[start + i];
      xy += x[i] * y;
      yy += y * y;
    }
    scores.push(xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0);
  }
  let best = 1;
  for (let i = 1; i < scores.length - 1; i++) if (scores[i] > scores[best]) best = i;
  const [a, b, c] = [scores[best - 1], scores[best], scores[best + 1]];
  const denom = a - 2 * b + c;
  const frac = denom !== 0 ? (0.5 * (a - c)) / denom : 0;
  const lag = best - searchSamples + frac;
  return { errorSeconds: (base + lag - expectedRefSample) / RATE, peak: b };
}

export interface PacketHash {
  size: number;
  hash: string;
}

/** Per-packet md5 of a file's first video stream, copied (not decoded), in decode order. */
export async function videoPacketHashes(path: string): Promise<PacketHash[]> {
  const chunks: Buffer[] = [];
  await runFfmpegStream([...inputArgs(path), '-map', '0:v:0', '-c', 'copy', '-f', 'framemd5', 'pipe:1'], (c) => chunks.push(c));
  const hashes: PacketHash[] = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length >= 6) hashes.push({ size: Number(parts[4]), hash: parts[5] });
  }
  return hashes;
}

export async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}
