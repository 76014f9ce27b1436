// Tiny generated test media (ffmpeg lavfi: testsrc2 + sine/noise, or a real song), cached per process in a temp dir.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasEncoder, inputArgs, runFfmpeg } from '../../src/media/index.ts';

export type VideoCodec = 'h264' | 'hevc' | 'vp9' | 'av1' | 'mpeg4';
export type VideoContainer = 'mp4' | 'mov' | 'mkv' | 'webm' | 'avi';
export type AudioFormat = 'wav' | 'flac' | 'mp3' | 'm4a' | 'ogg' | 'opus' | 'aac';
/** 'sine' (440 Hz), 'noise' (seeded pink noise) or the path of a file to take the sound from. */
export type AudioSource = 'sine' | 'noise' | string;

export interface VideoSpec {
  seconds?: number;
  codec?: VideoCodec;
  container?: VideoContainer;
  width?: number;
  height?: number;
  fps?: number;
  /** Keyframe interval in frames. */
  gop?: number;
  /** Display rotation (clockwise degrees), written as a display matrix (mp4/mov only). */
  rotation?: 0 | 90 | 180 | 270;
  /** Variable frame rate: every frame for the first second, then every third. */
  vfr?: boolean;
  audio?: false | { source?: AudioSource; sampleRate?: number; channels?: number };
}

export interface AudioSpec {
  seconds?: number;
  format: AudioFormat;
  source?: AudioSource;
  sampleRate?: number;
  channels?: number;
  /** Where to start reading `source` when it is a file. */
  startSeconds?: number;
}

export const MUSIC_DIR = fileURLToPath(new URL('../../../shared/music/', import.meta.url));

/** The real songs available to tests (file names in MUSIC_DIR). */
export function songs(): string[] {
  return readdirSync(MUSIC_DIR).filter((f) => /\.(ogg|mp3|flac|wav|m4a|opus)$/i.test(f)).sort();
}

let dir: string | null = null;
/** This process's fixture directory (removed when the process exits). */
export function fixtureDir(): string {
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), 'beatsync-media-'));
    dir = made;
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}

const cache = new Map<string, Promise<string>>();
function cached(path: string, spec: unknown, make: (out: string) => Promise<void>): Promise<string> {
  const out = isAbsolute(path) ? path : join(fixtureDir(), path);
  const key = `${out}\n${JSON.stringify(spec)}`;
  let done = cache.get(key);
  if (!done) {
    done = make(out).then(() => out);
    cache.set(key, done);
    done.catch(() => cache.delete(key));
  }
  return done;
}

const ENCODERS: Record<VideoCodec, string[]> = {
  h264: ['libx264'],
  hevc: ['libx265'],
  vp9: ['libvpx-vp9'],
  av1: ['libsvtav1', 'libaom-av1', 'librav1e'],
  mpeg4: ['mpeg4'],
};

/** The encoder this ffmpeg has for `codec`, or null (tests then skip: `{ skip: !(await videoEncoder(c)) }`). */
export async function videoEncoder(codec: VideoCodec): Promise<string | null> {
  for (const name of ENCODERS[codec]) if (await hasEncoder(name)) return name;
  return null;
}

function videoCodecArgs(encoder: string, gop: number): string[] {
  const g = ['-g', String(gop)];
  switch (encoder) {
    case 'libx264': return ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', ...g];
    case 'libx265': return ['-c:v', 'libx265', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-x265-params', 'log-level=error', ...g];
    case 'libvpx-vp9': return ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', ...g];
    case 'libsvtav1': return ['-c:v', 'libsvtav1', '-preset', '12', ...g];
    case 'libaom-av1': return ['-c:v', 'libaom-av1', '-usage', 'realtime', '-cpu-used', '8', '-b:v', '200k', ...g];
    case 'librav1e': return ['-c:v', 'librav1e', '-speed', '10', ...g];
    default: return ['-c:v', encoder, '-q:v', '5', ...g];
  }
}

function audioInput(source: AudioSource, seconds: number, sampleRate: number, channels: number, startSeconds = 0): string[] {
  const layout = channels === 1 ? 'mono' : 'stereo';
  if (source === 'sine') {
    return ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${sampleRate}:duration=${seconds},aformat=channel_layouts=${layout}`];
  }
  if (source === 'noise') {
    return ['-f', 'lavfi', '-i', `anoisesrc=color=pink:seed=7:amplitude=0.3:sample_rate=${sampleRate}:duration=${seconds},aformat=channel_layouts=${layout}`];
  }
  return inputArgs(source, { startSeconds, durationSeconds: seconds });
}

function audioCodecFor(container: VideoContainer): string[] {
  if (container === 'webm') return ['-c:a', 'libopus', '-b:a', '64k'];
  if (container === 'avi') return ['-c:a', 'libmp3lame', '-b:a', '96k'];
  return ['-c:a', 'aac', '-b:a', '96k'];
}

/** Writes a tiny test video; `path` is absolute or a name inside fixtureDir(). Resolves with the absolute path. */
export function makeVideo(path: string, spec: VideoSpec = {}): Promise<string> {
  return cached(path, spec, async (out) => {
    const seconds = spec.seconds ?? 2;
    const codec = spec.codec ?? 'h264';
    const container = spec.container ?? 'mp4';
    const fps = spec.fps ?? 30;
    const encoder = await videoEncoder(codec);
    if (!encoder) throw new Error(`this ffmpeg has no ${codec} encoder`);
    const args = ['-y', '-f', 'lavfi', '-i', `testsrc2=size=${spec.width ?? 160}x${spec.height ?? 120}:rate=${fps}:duration=${seconds}`];
    const audio = spec.audio === undefined ? {} : spec.audio;
    if (audio) args.push(...audioInput(audio.source ?? 'sine', seconds, audio.sampleRate ?? 48000, audio.channels ?? 2));
    args.push('-map', '0:v');
    if (audio) args.push('-map', '1:a', ...audioCodecFor(container));
    if (spec.vfr) args.push('-vf', "select='lt(t,1)+not(mod(n,3))'", '-vsync', 'vfr');
    args.push(...videoCodecArgs(encoder, spec.gop ?? fps));
    if (codec === 'hevc' && (container === 'mp4' || container === 'mov')) args.push('-tag:v', 'hvc1');
    const format = container === 'mkv' ? 'matroska' : container;
    const encoded = spec.rotation ? `${out}.plain` : out;
    args.push('-t', String(seconds), '-f', format, encoded);
    await runFfmpeg(args);
    if (spec.rotation) {
      if (container !== 'mp4' && container !== 'mov') throw new Error('rotation is written for mp4/mov only');
      // ffmpeg 5.1's mov muxer only honours the `rotate` tag on stream copy, and reads its angle
      // counter-clockwise; the media tests check the result against ffmpeg's own autorotate.
      await runFfmpeg(['-y', ...inputArgs(encoded), '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${(360 - spec.rotation) % 360}`, '-f', format, out]);
      rmSync(encoded, { force: true });
    }
  });
}

const AUDIO_CODECS: Record<AudioFormat, string[]> = {
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
  mp3: ['-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3'],
  m4a: ['-c:a', 'aac', '-b:a', '128k', '-f', 'ipod'],
  ogg: ['-c:a', 'libvorbis', '-q:a', '3', '-f', 'ogg'],
  opus: ['-c:a', 'libopus', '-b:a', '96k', '-f', 'opus'],
  aac: ['-c:a', 'aac', '-b:a', '128k', '-f', 'adts'],
};

/** Writes a tiny audio file of `format`. */
export function makeAudio(path: string, spec: AudioSpec): Promise<string> {
  return cached(path, spec, async (out) => {
    const seconds = spec.seconds ?? 2;
    const sampleRate = spec.sampleRate ?? (spec.format === 'opus' ? 48000 : 44100);
    const args = ['-y', ...audioInput(spec.source ?? 'sine', seconds, sampleRate, spec.channels ?? 2, spec.startSeconds)];
    args.push('-map', '0:a', '-ar', String(sampleRate), ...AUDIO_CODECS[spec.format], out);
    await runFfmpeg(args);
  });
}

/** A few seconds of a real song from ../shared/music, as `format` (default wav). */
export function songExcerpt(path: string, song: string, startSeconds: number, seconds: number, format: AudioFormat = 'wav'): Promise<string> {
  return makeAudio(path, { format, source: join(MUSIC_DIR, song), startSeconds, seconds });
}
