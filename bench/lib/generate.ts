// Builds one corpus case (a simulated classroom phone video) and the BGM files it needs, with cached outputs.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { activePower, addInto, fadeEdge, hallImpulse, hardClip, makeRng, meanPower, peak, placeSong, roomImpulse, scale, withDrr } from './dsp.ts';
import { bytesToFloats, decodeMono, ffmpeg, floatsToBytes, writeFloatWav } from './proc.ts';
import { babbleInto, speakInto, speechPools } from './speech.ts';
import { conditionsOf, runsOf, timeline } from './cases.ts';
import type { BgmFormat, CaseSpec, Truth } from './cases.ts';
import { bestLag } from './measure.ts';

/** Bump when the generation changes in a way that alters outputs: invalidates every cached case. */
export const GENERATOR_VERSION = 3;

export interface CorpusContext {
  musicDir: string;
  /** Loop-based songs (tracker modules); a song not in musicDir is looked for here. */
  loopsDir?: string;
  corpusDir: string;
  cacheDir: string;
  log: (msg: string) => void;
}

export interface CaseEntry {
  id: string;
  /** Paths relative to the corpus directory. */
  dance: string;
  bgm: string;
  /** BGM time = offsetSeconds + speed × dance time; null for a mismatched song. */
  truth: Truth | null;
  expectMatch: boolean;
  conditions: string[];
  durationSeconds: number;
  /** Length of the dance song (s). */
  songSeconds: number;
  bgmDurationSeconds: number;
  /** Measured shift of the BGM file's decoded audio against the original song (s), already in `truth`. */
  bgmShiftSeconds: number;
  /** Fraction of samples hard-clipped. */
  clippedFraction: number;
  hash: string;
  spec: CaseSpec;
}

const MUSIC_RMS = 0.1;

// Decoded songs are large (a 5-minute song is ~50 MB as float32): keep only the last two.
const songCache = new Map<string, Promise<{ pcm: Float32Array; sampleRate: number }>>();
export function songPath(ctx: CorpusContext, name: string): string {
  const main = join(ctx.musicDir, name);
  return existsSync(main) || !ctx.loopsDir ? main : join(ctx.loopsDir, name);
}

export function loadSong(ctx: CorpusContext, name: string): Promise<{ pcm: Float32Array; sampleRate: number }> {
  const key = songPath(ctx, name);
  let p = songCache.get(key);
  if (!p) {
    p = decodeMono(key);
    songCache.set(key, p);
    while (songCache.size > 2) songCache.delete(songCache.keys().next().value as string);
  }
  return p;
}

async function songLength(ctx: CorpusContext, name: string): Promise<number> {
  const song = await loadSong(ctx, name);
  return song.pcm.length / song.sampleRate;
}

export function specHash(spec: CaseSpec): string {
  return createHash('sha1').update(JSON.stringify({ v: GENERATOR_VERSION, spec })).digest('hex').slice(0, 16);
}

/** Makes (or reuses) one case: the dance video in cases/<id>/ and its BGM file in bgm/. */
export async function generateCase(spec: CaseSpec, ctx: CorpusContext): Promise<CaseEntry> {
  const hash = specHash(spec);
  const caseDir = join(ctx.corpusDir, 'cases', spec.id);
  const entryFile = join(caseDir, 'case.json');
  if (existsSync(entryFile)) {
    const old = JSON.parse(await readFile(entryFile, 'utf8')) as CaseEntry;
    if (old.hash === hash && existsSync(join(ctx.corpusDir, old.dance)) && existsSync(join(ctx.corpusDir, old.bgm))) {
      // Labels may be reworded without touching the media.
      const songSeconds = old.songSeconds ?? (await songLength(ctx, spec.song));
      const fresh = { ...old, songSeconds, conditions: conditionsOf(spec, songSeconds) };
      if (old.songSeconds === undefined) await writeFile(entryFile, JSON.stringify(fresh, null, 2) + '\n');
      return fresh;
    }
  }
  await mkdir(caseDir, { recursive: true });
  const bgm = await ensureBgm(ctx, spec.bgmSong, spec.bgmFormat, spec.bgmRemaster === true);
  const song = await loadSong(ctx, spec.song);
  const songSeconds = song.pcm.length / song.sampleRate;
  const { truth, durationSeconds } = timeline(spec, songSeconds);
  const { pcm, clippedFraction } = await renderDanceAudio(spec, song, truth, durationSeconds, ctx, caseDir);
  const ext = spec.container.startsWith('mov') ? 'mov' : 'mp4';
  const danceFile = join(caseDir, `dance.${ext}`);
  await encodeDance(spec, pcm, danceFile);
  const matched = spec.song === spec.bgmSong;
  const entry: CaseEntry = {
    id: spec.id,
    dance: relative(ctx.corpusDir, danceFile),
    bgm: bgm.path,
    truth: matched ? shifted(truth, bgm.shiftSeconds) : null,
    expectMatch: matched,
    conditions: conditionsOf(spec, songSeconds),
    durationSeconds: pcm.length / spec.audioRate,
    songSeconds,
    bgmDurationSeconds: bgm.durationSeconds,
    bgmShiftSeconds: bgm.shiftSeconds,
    clippedFraction,
    hash,
    spec,
  };
  await writeFile(entryFile, JSON.stringify(entry, null, 2) + '\n');
  return entry;
}

/** The recording's sound: music placed with drift, talk, counting, crowd and noise at set SNRs, room, clipping. */
export async function renderDanceAudio(spec: CaseSpec, song: { pcm: Float32Array; sampleRate: number }, truth: Truth, durationSeconds: number, ctx: CorpusContext, workDir: string): Promise<{ pcm: Float32Array; clippedFraction: number }> {
  const rate = spec.audioRate;
  const n = Math.round(durationSeconds * rate);
  const rng = makeRng(spec.seed);
  const music = new Float32Array(n);
  const runs = runsOf(truth);
  for (const [k, r] of runs.entries()) {
    placeSong(song.pcm, song.sampleRate, music, rate, {
      startSeconds: r.musicStart,
      endSeconds: r.musicEnd,
      bgmStartSeconds: k === 0 ? spec.bgmStart : (spec.restart?.bgmStart ?? 0),
      speed: truth.speed,
    });
    const e0 = Math.ceil(r.musicStart * rate);
    const e1 = Math.min(n, Math.ceil(r.musicEnd * rate));
    if (r.musicStart > 0) fadeEdge(music, rate, e0, 0.01, 'in');
    if (e1 < n) fadeEdge(music, rate, e1, 0.02, 'out');
  }
  // SNRs are over the music: the runs' samples only (the gap of a restart holds none).
  const spans = runs.map((r) => [Math.ceil(r.musicStart * rate), Math.min(n, Math.ceil(r.musicEnd * rate))] as const);
  const powerOver = (x: Float32Array): number => {
    let sum = 0, count = 0;
    for (const [a, b] of spans) {
      sum += meanPower(x, a, b) * (b - a);
      count += b - a;
    }
    return count > 0 ? sum / count : 0;
  };
  const musicPower = powerOver(music);
  if (musicPower <= 0) throw new Error(`${spec.id}: the music span is silent`);
  scale(music, MUSIC_RMS / Math.sqrt(musicPower));
  const target = MUSIC_RMS * MUSIC_RMS;
  const mix = music;

  // Each interferer is scaled so its mean power over the music span is target / 10^(snr/10).
  const addAtSnr = (track: Float32Array, snrDb: number): void => {
    const p = powerOver(track);
    if (p > 0) addInto(mix, track, 0, Math.sqrt((target / 10 ** (snrDb / 10)) / p));
  };
  const needsSpeech = spec.talk || spec.counting || spec.crowd || spec.talkOver;
  const pools = needsSpeech ? await speechPools(ctx.cacheDir, rate) : null;
  if (spec.noise) {
    const { stdout } = await ffmpeg(['-f', 'lavfi', '-i', `anoisesrc=color=${spec.noise.color}:seed=${spec.seed}:sample_rate=${rate}:amplitude=0.5:duration=${(n / rate + 1).toFixed(3)}`, '-f', 'f32le', 'pipe:1']);
    addAtSnr(bytesToFloats(stdout).subarray(0, n), spec.noise.snrDb);
  }
  if (spec.crowd && pools) {
    const crowd = new Float32Array(n);
    babbleInto(crowd, rate, pools, rng);
    addAtSnr(crowd, spec.crowd.snrDb);
  }
  if (spec.counting && pools) {
    const counting = new Float32Array(n);
    for (const r of runs) speakInto(counting, rate, pools.counting, rng, r.musicStart + 1, r.musicEnd, [2, 8]);
    addAtSnr(counting, spec.counting.snrDb);
  }
  if (spec.talkOver && pools) {
    const over = new Float32Array(n);
    for (const r of runs) speakInto(over, rate, pools.teacher, rng, r.musicStart + 0.3, r.musicEnd, [0.2, 0.8]);
    addAtSnr(over, spec.talkOver.snrDb);
  }
  if (spec.talk && pools) {
    // The teacher talks as loud as the music plays (0 dB over the words): before, between and after the runs.
    const talk = new Float32Array(n);
    const first = runs[0];
    const last = runs[runs.length - 1];
    if (first.musicStart > 1) speakInto(talk, rate, pools.teacher, rng, 0.2, first.musicStart - 0.3, [0.3, 1.2]);
    for (let k = 1; k < runs.length; k++) speakInto(talk, rate, pools.teacher, rng, runs[k - 1].musicEnd + 0.5, runs[k].musicStart - 0.3, [0.3, 1.2]);
    if (n / rate - last.musicEnd > 1) speakInto(talk, rate, pools.teacher, rng, last.musicEnd + 0.5, n / rate, [0.3, 1.2]);
    const p = activePower(talk, rate);
    if (p > 0) addInto(mix, talk, 0, Math.sqrt(target / p));
  }

  let out: Float32Array = mix;
  if (spec.room || spec.hall) {
    const ir = spec.hall ? withDrr(await hallImpulse(spec.hall, rate, rng), rate, spec.hall.drrDb) : roomImpulse(spec.room!, rate, rng);
    const irFile = join(workDir, 'room-ir.wav');
    await writeFloatWav(irFile, ir, rate);
    out = await runRaw(mix, rate, ['-i', irFile, '-filter_complex', '[0:a][1:a]afir=gtype=none[a]', '-map', '[a]']);
    if (out.length !== n) throw new Error(`${spec.id}: afir changed the length (${out.length} ≠ ${n})`);
  }
  for (let g = 0; g < (spec.aacGenerations ?? 0); g++) out = await aacRoundTrip(out, rate, workDir);
  let clippedFraction = 0;
  if (spec.clipDb !== null) {
    scale(out, MUSIC_RMS / Math.sqrt(meanPower(out)));
    clippedFraction = hardClip(out, spec.clipDb);
  } else {
    scale(out, 0.89 / peak(out));
  }
  return { pcm: out, clippedFraction };
}

/** The truth with the BGM file's decoding shift added to every run. */
function shifted(truth: Truth, shiftSeconds: number): Truth {
  const move = <T extends { offsetSeconds: number }>(t: T): T => ({ ...t, offsetSeconds: t.offsetSeconds + shiftSeconds });
  return truth.segments ? { ...move(truth), segments: truth.segments.map(move) } : move(truth);
}

/**
 * One more AAC 128 kb/s generation (a forwarded or re-uploaded recording). The decoder honours the encoder's priming
 * in MP4, but that is measured rather than assumed: any whole-sample shift is undone, so the truth still holds.
 */
async function aacRoundTrip(pcm: Float32Array, rate: number, workDir: string): Promise<Float32Array> {
  const raw = join(workDir, 'generation.raw');
  const m4a = join(workDir, 'generation.m4a');
  await writeFile(raw, floatsToBytes(pcm));
  await ffmpeg(['-f', 'f32le', '-ar', String(rate), '-ac', '1', '-i', raw, '-c:a', 'aac', '-b:a', '128k', m4a]);
  const { stdout } = await ffmpeg(['-i', m4a, '-f', 'f32le', '-ac', '1', '-ar', String(rate), 'pipe:1']);
  await rm(raw, { force: true });
  await rm(m4a, { force: true });
  const back = bytesToFloats(stdout);
  const at = Math.floor(pcm.length / 2);
  const { lag, corr } = bestLag(pcm, at, back, at, Math.round(0.5 * rate), 4096);
  if (corr < 0.8) throw new Error(`AAC round trip does not match (correlation ${corr.toFixed(3)})`);
  const shift = Math.round(lag);
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < out.length; i++) out[i] = back[i + shift] ?? 0;
  return out;
}

/** Pipes mono float PCM through ffmpeg with extra inputs/filters and reads the result back (same length). */
async function runRaw(pcm: Float32Array, rate: number, args: string[]): Promise<Float32Array> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-corpus-'));
  try {
    const input = join(dir, 'in.raw');
    const output = join(dir, 'out.raw');
    await writeFile(input, floatsToBytes(pcm));
    await ffmpeg(['-f', 'f32le', '-ar', String(rate), '-ac', '1', '-i', input, ...args, '-f', 'f32le', '-c:a', 'pcm_f32le', output]);
    return bytesToFloats(await readFile(output));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function phoneFilters(spec: CaseSpec): string[] {
  const f: string[] = [];
  if (spec.band) f.push(`highpass=f=${spec.band[0]}`, `lowpass=f=${spec.band[1]}`);
  if (spec.agc === 'compressor') f.push('acompressor=threshold=0.03:ratio=8:attack=5:release=300:makeup=6', 'asoftclip=type=hard');
  if (spec.agc === 'dynaudnorm') f.push('dynaudnorm=f=200:g=11:m=20', 'asoftclip=type=hard');
  return f;
}

function videoCodecArgs(container: string, fps: number): string[] {
  if (container.endsWith('h265')) return ['-c:v', 'libx265', '-preset', 'ultrafast', '-crf', '34', '-pix_fmt', 'yuv420p', '-tag:v', 'hvc1', '-x265-params', 'log-level=error'];
  return ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '32', '-pix_fmt', 'yuv420p', '-g', String(fps * 2)];
}

/** Encodes the phone video: a small test picture, the processed sound as AAC (phone-microphone filters applied). */
export async function encodeDance(spec: CaseSpec, pcm: Float32Array, file: string, picture: { width: number; height: number; fps: number; codecArgs?: string[] } = spec.video): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-corpus-'));
  try {
    const raw = join(dir, 'mix.raw');
    await writeFile(raw, floatsToBytes(pcm));
    const seconds = (pcm.length / spec.audioRate).toFixed(6);
    const filters = phoneFilters(spec);
    await ffmpeg([
      '-f', 'f32le', '-ar', String(spec.audioRate), '-ac', '1', '-i', raw,
      '-f', 'lavfi', '-i', `testsrc2=size=${picture.width}x${picture.height}:rate=${picture.fps}`,
      '-map', '1:v', '-map', '0:a', '-t', seconds,
      ...(filters.length ? ['-af', filters.join(',')] : []),
      ...(picture.codecArgs ?? videoCodecArgs(spec.container, picture.fps)),
      '-c:a', 'aac', '-b:a', '128k', '-ar', String(spec.audioRate), '-ac', spec.monoPhone ? '1' : '2',
      '-movflags', '+faststart', file,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const BGM_EXT: Record<BgmFormat, string> = { ogg: 'ogg', m4a: 'm4a', mp3: 'mp3', 'mp3-96k-mono': 'mono96k.mp3', wav: 'wav', 'mp4-video': 'mp4', 'mkv-video': 'mkv' };
/** A re-master: a bass lift, a presence dip, heavier compression and 4 dB louder (no time change). */
const REMASTER = 'equalizer=f=90:t=q:w=1:g=5,equalizer=f=2500:t=q:w=1.5:g=-4,acompressor=threshold=0.1:ratio=4:attack=10:release=200,volume=4dB,alimiter=limit=0.95';

export interface BgmFile {
  /** Relative to the corpus directory. */
  path: string;
  durationSeconds: number;
  /** Decoded start of this file relative to the original song (s); 0 for a lossless-timing transcode. */
  shiftSeconds: number;
  measuredLagSamples: number;
}

/** The BGM in the asked format (copied or transcoded once), with its timing checked against the original. */
export async function ensureBgm(ctx: CorpusContext, songName: string, format: BgmFormat, remaster = false): Promise<BgmFile> {
  const base = songName.replace(/\.[^.]+$/, '') + (remaster ? '.remastered' : '');
  const rel = join('bgm', `${base}.${BGM_EXT[format]}`);
  const file = join(ctx.corpusDir, rel);
  const meta = `${file}.json`;
  if (existsSync(file) && existsSync(meta)) return JSON.parse(await readFile(meta, 'utf8')) as BgmFile;
  await mkdir(join(ctx.corpusDir, 'bgm'), { recursive: true });
  const src = songPath(ctx, songName);
  const af = remaster ? ['-af', REMASTER] : [];
  const tmp = `${file}.part.${BGM_EXT[format]}`;
  const song = await loadSong(ctx, songName);
  const seconds = (song.pcm.length / song.sampleRate).toFixed(6);
  if (format === 'ogg' && songName.endsWith('.ogg') && !remaster) await copyFile(src, tmp);
  else if (format === 'ogg') await ffmpeg(['-i', src, '-vn', ...af, '-c:a', 'libvorbis', '-q:a', '6', tmp]);
  else if (format === 'm4a') await ffmpeg(['-i', src, '-vn', ...af, '-c:a', 'aac', '-b:a', '192k', tmp]);
  else if (format === 'mp3') await ffmpeg(['-i', src, '-vn', ...af, '-c:a', 'libmp3lame', '-b:a', '192k', tmp]);
  else if (format === 'mp3-96k-mono') await ffmpeg(['-i', src, '-vn', ...af, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '96k', tmp]);
  else if (format === 'wav') await ffmpeg(['-i', src, '-vn', ...af, '-c:a', 'pcm_s16le', tmp]);
  else {
    await ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-i', src, '-map', '0:v', '-map', '1:a', '-t', seconds, ...af,
      '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '35', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '192k',
      ...(format === 'mp4-video' ? ['-movflags', '+faststart'] : []), tmp,
    ]);
  }
  // Lossy codecs keep timing only if the decoder honours priming/edit lists: measure it rather than assume it.
  const decoded = await decodeMono(tmp, song.sampleRate);
  const at = Math.min(30 * song.sampleRate, Math.floor(song.pcm.length / 2));
  const { lag, corr } = bestLag(song.pcm, at, decoded.pcm, at, Math.round(0.5 * song.sampleRate), 3000);
  if (corr < (remaster ? 0.7 : 0.9)) throw new Error(`${rel}: transcode does not match the original (correlation ${corr.toFixed(3)})`);
  // Codecs shift by whole samples (priming); a fraction is the estimator's own bias on lossy audio.
  const shiftSeconds = Math.round(lag) / song.sampleRate;
  const info: BgmFile = { path: rel, durationSeconds: decoded.pcm.length / song.sampleRate, shiftSeconds, measuredLagSamples: Number(lag.toFixed(3)) };
  await rename(tmp, file);
  await writeFile(meta, JSON.stringify(info, null, 2) + '\n');
  if (shiftSeconds !== 0) ctx.log(`  note: ${rel} decodes ${Math.round(lag)} samples later than the original; truth adjusted`);
  return info;
}
