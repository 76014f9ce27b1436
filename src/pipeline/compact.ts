// The `compact` variants: a phone-size copy of each run-through clip (`compact` of `trimmed`, `compact-2`
// of `trimmed-2`, …) for sending to students in a chat app.
// H.264 High, long side ≤ 1280 (or 1920), ≤ 2.5 MB per minute at 720p, AAC 128 kb/s, +faststart.
// It re-encodes the picture, so it is the one variant whose cost grows with pixels: it runs at the job's
// thread budget and under the same cancel signal and time limit as every other ffmpeg run.
import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import { inputArgs, probeMedia, runFfmpeg } from '../media/index.ts';
import { OUTPUT_SAMPLE_RATE } from './plan.ts';
import { throwIfCancelled } from './progress.ts';
import type { CompactLongSide, CompactVariantName, RenderedVariant, VariantName } from './types.ts';

export const DEFAULT_COMPACT_LONG_SIDE: CompactLongSide = 1280;
/**
 * Video rate cap per long side (VBV maxrate, kb/s). 2.5 MB/min is 333 kb/s in all; AAC takes 128 and
 * the MP4 boxes ~1 %, which leaves ~200 kb/s for 720p (190: VBV lets the average creep a little over the cap). 1080p gets about twice that (2.25× the pixels).
 */
const VIDEO_MAXRATE_KBPS: Record<CompactLongSide, number> = { 1280: 190, 1920: 400 };
/** Quality target under the cap: calm shots need far less than the cap, and then get less. */
const CRF = 26;
/** Frame rate cap: 60 fps phone video would halve the bits per frame for motion no chat app shows. */
const MAX_FPS = 30;
export const COMPACT_AUDIO_BITRATE = '128k';

/** Encoder seconds per second of video per million output pixels on one share of a 2-core machine (BENCHMARKS.md). */
export const COMPACT_SECONDS_PER_MEGAPIXEL_SECOND = 0.16;

/** The picture size compact gives a source of width × height (display orientation): never upscaled, both even. */
export function compactSize(width: number, height: number, longSide: CompactLongSide): { width: number; height: number } {
  const scale = Math.min(1, longSide / Math.max(width, height));
  const even = (x: number) => Math.max(2, 2 * Math.round((x * scale) / 2));
  return { width: even(width), height: even(height) };
}

/** Rough wall time of compact for `seconds` of a width × height picture (display orientation). */
export function estimateCompactSeconds(seconds: number, width: number, height: number, longSide: CompactLongSide = DEFAULT_COMPACT_LONG_SIDE): number {
  const size = compactSize(width, height, longSide);
  // Decoding the source costs too: count its pixels at a third of the encoder's.
  const megapixels = (size.width * size.height + (width * height) / 3) / 1e6;
  return seconds * megapixels * COMPACT_SECONDS_PER_MEGAPIXEL_SECOND;
}

/** The phone-size copy of a run-through clip: `compact` for `trimmed`, `compact-n` for `trimmed-n`. */
export function compactVariantOf(clip: VariantName): 'compact' | CompactVariantName {
  if (clip === 'trimmed') return 'compact';
  const m = /^trimmed-([1-9][0-9]*)$/.exec(clip);
  if (!m) throw new BeatSyncError('PROCESSING_FAILED', `compact: ${clip} is not a run-through clip`);
  return `compact-${Number(m[1])}`;
}

export function compactArgs(sourcePath: string, outPath: string, o: { width: number; height: number; frameRate: number; longSide: CompactLongSide }): string[] {
  const filters = [`scale=${o.width}:${o.height}:flags=bicubic`, 'setsar=1', 'format=yuv420p'];
  if (o.frameRate > MAX_FPS + 0.5) filters.unshift(`fps=${MAX_FPS}`);
  const maxrate = VIDEO_MAXRATE_KBPS[o.longSide];
  return [
    ...inputArgs(sourcePath),
    '-map', '0:v:0', '-map', '0:a:0',
    '-vf', filters.join(','),
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-crf', String(CRF),
    '-maxrate', `${maxrate}k`, '-bufsize', `${2 * maxrate}k`,
    '-c:a', 'aac', '-b:a', COMPACT_AUDIO_BITRATE, '-ar', String(OUTPUT_SAMPLE_RATE), '-ac', '2',
    '-sn', '-dn', '-map_metadata', '0',
    '-movflags', '+faststart',
    '-f', 'mp4', '-y', outPath,
  ];
}

export interface CompactOptions {
  signal?: AbortSignal;
  threads?: number;
  longSide?: CompactLongSide;
  /** fraction 0..1 and a message with the time left. */
  onProgress?: (fraction: number, message: string) => void;
}

/** Encodes `source` (a rendered run-through clip, in outDir) into outDir/compact(-n).mp4, written atomically and checked. */
export async function renderCompact(outDir: string, source: RenderedVariant, options: CompactOptions = {}): Promise<RenderedVariant> {
  const { signal } = options;
  const variant = compactVariantOf(source.variant);
  const file = `${variant}.mp4`;
  const longSide = options.longSide ?? DEFAULT_COMPACT_LONG_SIDE;
  throwIfCancelled(signal);
  const sourcePath = join(outDir, source.file);
  const info = await probeMedia(sourcePath, { signal });
  const video = info.video[0];
  if (!video || info.audio.length === 0) throw new BeatSyncError('PROCESSING_FAILED', `compact: ${source.variant} has no picture or no sound`);
  // ffmpeg turns the picture upright before filtering: size it in display orientation.
  const turned = Math.abs(video.rotation) % 180 === 90;
  const size = compactSize(turned ? video.height : video.width, turned ? video.width : video.height, longSide);
  const durationSeconds = source.durationSeconds;
  const tmpPath = join(outDir, `.${variant}.${randomBytes(6).toString('hex')}.part`);
  const started = performance.now();
  options.onProgress?.(0, 'Making the phone-size copy');
  let made = size;
  try {
    await runFfmpeg(compactArgs(sourcePath, tmpPath, { ...size, frameRate: video.frameRate, longSide }), {
      signal,
      threads: options.threads,
      // Generous: a re-encode on a busy machine; the job's own time limit still applies above this.
      timeoutMs: 120_000 + durationSeconds * 30_000,
      expectedDurationSeconds: durationSeconds,
      onProgress: (p) => {
        const f = p.fraction ?? 0;
        const elapsed = (performance.now() - started) / 1000;
        const left = f > 0.02 ? Math.max(0, Math.round((elapsed * (1 - f)) / f)) : null;
        options.onProgress?.(f, left === null ? 'Making the phone-size copy' : `Making the phone-size copy (about ${left} s left)`);
      },
    });
    throwIfCancelled(signal);
    const out = await probeMedia(tmpPath, { signal });
    if (out.video[0]?.codec !== 'h264' || out.audio[0]?.codec !== 'aac') {
      throw new BeatSyncError('PROCESSING_FAILED', 'compact: the encoded file is not H.264 + AAC');
    }
    made = { width: out.video[0].width, height: out.video[0].height };
    await rename(tmpPath, join(outDir, file));
  } catch (error) {
    await rm(tmpPath, { force: true });
    throw error;
  }
  const { size: sizeBytes } = await stat(join(outDir, file));
  options.onProgress?.(1, 'Phone-size copy made');
  return {
    variant,
    file,
    ...(source.clip !== undefined ? { clip: source.clip, segment: source.segment } : {}),
    durationSeconds: source.durationSeconds,
    sizeBytes,
    danceStart: source.danceStart,
    danceEnd: source.danceEnd,
    width: made.width,
    height: made.height,
  };
}
