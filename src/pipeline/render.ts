// Renders the variants: the dance video's picture copied packet for packet, the clean song as its sound
// (cut to the sample, stretched for clock drift), written atomically and checked for A/V sync after muxing.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Alignment } from '../align/types.ts';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { checkBgmInput, checkDanceInput, hasEncoder, inputArgs, listVideoPackets, probeMedia, runFfmpeg } from '../media/index.ts';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from '../media/types.ts';
import {
  AUDIO_BITRATE,
  OUTPUT_SAMPLE_RATE,
  audioFilterGraph,
  canCopyVideo,
  cleanEndCut,
  inputDurationFor,
  keyframeAtOrBefore,
  metadataArgs,
  planAudio,
  secondsArg,
  videoCodecArgs,
} from './plan.ts';
import type { PacketTiming, VideoCut } from './plan.ts';
import { elapsedMs, stageReporter, throwIfCancelled } from './progress.ts';
import type { Analysis, RenderOptions, RenderedVariant, VariantName } from './types.ts';

/** A/V sync error above which the output is corrected (and, if that fails, refused) (s). */
export const SYNC_TOLERANCE_SECONDS = 0.0002;
/** Packets compared between input and output to measure where the picture landed. */
const PACKETS_COMPARED = 8;

export function defaultVariants(analysis: Analysis): VariantName[] {
  return analysis.alternate ? ['trimmed', 'full', 'alternate'] : ['trimmed', 'full'];
}

export interface RenderOutcome {
  variants: RenderedVariant[];
  /** False when the picture had to be re-encoded (its codec cannot go into MP4 as it is). */
  videoCopied: boolean;
  /** ms per variant, keys `render.<variant>`. */
  timings: Record<string, number>;
}

/** Renders each requested variant into outDir as `<variant>.mp4`; returns them in the order asked. */
export async function renderVariants(
  dancePath: string,
  bgmPath: string,
  analysis: Analysis,
  outDir: string,
  options: RenderOptions = {},
): Promise<RenderedVariant[]> {
  return (await renderWithDetails(dancePath, bgmPath, analysis, outDir, options)).variants;
}

export async function renderWithDetails(
  dancePath: string,
  bgmPath: string,
  analysis: Analysis,
  outDir: string,
  options: RenderOptions = {},
): Promise<RenderOutcome> {
  try {
    const variants = (options.variants ?? defaultVariants(analysis)).filter((v, i, all) => all.indexOf(v) === i);
    const wanted = variants.filter((v) => v !== 'alternate' || analysis.alternate !== null);
    if (wanted.length === 0) throw new BeatSyncError('BAD_REQUEST', 'no variant to render (the alternate exists only when two alignments are plausible)');
    // The same streams the analysis listened to.
    const { video, audio: danceAudio } = checkDanceInput(analysis.dance);
    const { audio: bgmAudio } = checkBgmInput(analysis.bgm);
    const copy = canCopyVideo(video.codec);
    if (!copy && !(await hasEncoder('libx264'))) {
      throw new BeatSyncError('PROCESSING_FAILED', `video codec ${video.codec} must be re-encoded but this ffmpeg has no libx264`, { retryable: false });
    }
    await mkdir(outDir, { recursive: true });

    const report = stageReporter(options.onProgress);
    const out: RenderedVariant[] = [];
    const timings: Record<string, number> = {};
    for (let i = 0; i < wanted.length; i++) {
      throwIfCancelled(options.signal);
      const variant = wanted[i];
      const alignment = variant === 'alternate' ? analysis.alternate! : analysis.alignment;
      const start = performance.now();
      const share = (f: number) => report('render', (i + f) / wanted.length, `Rendering ${variant} (${i + 1}/${wanted.length})`);
      share(0);
      const rendered = await renderOne({ dancePath, bgmPath, outDir, variant, alignment, analysis, video, danceAudio, bgmAudio, copy, options, progress: share });
      timings[`render.${variant}`] = elapsedMs(start);
      out.push(rendered);
    }
    report('render', 1, 'Rendered');
    return { variants: out, videoCopied: copy, timings };
  } catch (error) {
    throw toBeatSyncError(error);
  }
}

interface VariantJob {
  dancePath: string;
  bgmPath: string;
  outDir: string;
  variant: VariantName;
  alignment: Alignment;
  analysis: Analysis;
  video: VideoStreamInfo;
  danceAudio: AudioStreamInfo;
  bgmAudio: AudioStreamInfo;
  copy: boolean;
  options: RenderOptions;
  progress: (fraction: number) => void;
}

async function renderOne(job: VariantJob): Promise<RenderedVariant> {
  const { danceAudio, options } = job;
  const audioStart = danceAudio.startTime;
  const cut = await planCut(job);
  const durationSeconds = cut.endMedia - cut.zeroMedia;
  if (!(durationSeconds > 0.05)) throw new BeatSyncError('PROCESSING_FAILED', `nothing to render for ${job.variant} (${durationSeconds.toFixed(3)} s)`);
  const finalName = `${job.variant}.mp4`;
  const tmpPath = join(job.outDir, `.${job.variant}.${randomBytes(6).toString('hex')}.part`);
  let zeroDance = cut.zeroMedia - audioStart;
  try {
    for (let attempt = 0; ; attempt++) {
      const args = ffmpegArgs(job, cut, zeroDance, durationSeconds, tmpPath);
      await runFfmpeg(args, {
        signal: options.signal,
        threads: options.threads,
        timeoutMs: 120_000 + durationSeconds * 10_000,
        expectedDurationSeconds: durationSeconds,
        onProgress: (p) => job.progress(p.fraction ?? 0),
      });
      throwIfCancelled(options.signal);
      const error = await measureSyncError(job, cut, tmpPath);
      if (Math.abs(error) <= SYNC_TOLERANCE_SECONDS) break;
      if (attempt >= 1) {
        throw new BeatSyncError('PROCESSING_FAILED', `the output's picture and sound are ${(error * 1000).toFixed(2)} ms apart after correction`, { retryable: false });
      }
      // The muxer placed the picture differently from the plan: move the sound with it.
      zeroDance -= error;
    }
    await rename(tmpPath, join(job.outDir, finalName));
  } catch (error) {
    await rm(tmpPath, { force: true });
    throw error;
  }
  const { size } = await stat(join(job.outDir, finalName));
  const result: RenderedVariant = {
    variant: job.variant,
    file: finalName,
    durationSeconds: round6(durationSeconds),
    sizeBytes: size,
    danceStart: round6(zeroDance),
    danceEnd: round6(zeroDance + durationSeconds),
  };
  if (job.variant === 'alternate') result.flagged = true;
  return result;
}

/** Where the video starts and stops for this variant (media times), from the real packet layout. */
async function planCut(job: VariantJob): Promise<VideoCut> {
  const { analysis, alignment, video, danceAudio, copy, options } = job;
  const dance: MediaInfo = analysis.dance;
  const fileStart = dance.startTime;
  const fileEnd = dance.startTime + dance.durationSeconds;
  if (job.variant === 'full') {
    // No seek: ffmpeg shifts every timestamp by the file's start time.
    return { seekMedia: null, inputDuration: null, zeroMedia: fileStart, endMedia: fileEnd };
  }
  const audioStart = danceAudio.startTime;
  const startMedia = Math.max(fileStart, audioStart + alignment.musicStart);
  const endMedia = Math.min(fileEnd, audioStart + alignment.musicEnd);
  if (!copy) {
    // Re-encoding decodes from the previous keyframe and cuts exactly here.
    return { seekMedia: startMedia, inputDuration: endMedia - startMedia, zeroMedia: startMedia, endMedia };
  }
  const packetOptions = { streamIndex: video.index, signal: options.signal };
  let keyframe = keyframeAtOrBefore(await listVideoPackets(job.dancePath, { ...packetOptions, fromSeconds: startMedia, toSeconds: startMedia + 0.2 }), startMedia);
  if (!keyframe) {
    // Some demuxers seek late: look from the beginning (slower, but always right).
    keyframe = keyframeAtOrBefore(await listVideoPackets(job.dancePath, { ...packetOptions, toSeconds: startMedia + 0.2 }), startMedia);
  }
  if (!keyframe) throw new BeatSyncError('PROCESSING_FAILED', 'no keyframe found before the music starts');
  const seekMedia = keyframe.pts;

  let inputDuration: number | null = null;
  let videoEnd = fileEnd;
  if (endMedia < fileEnd - 0.05) {
    const tail = await listVideoPackets(job.dancePath, { ...packetOptions, fromSeconds: endMedia, toSeconds: endMedia + 3 });
    const cutAt = cleanEndCut(tail, endMedia);
    if (cutAt) {
      inputDuration = inputDurationFor(tail, cutAt.beforeIndex, seekMedia);
      videoEnd = cutAt.endMedia;
    }
  }
  return { seekMedia, inputDuration, zeroMedia: seekMedia, endMedia: videoEnd };
}

function ffmpegArgs(job: VariantJob, cut: VideoCut, zeroDance: number, durationSeconds: number, tmpPath: string): string[] {
  const { analysis, alignment, video, danceAudio, bgmAudio, copy } = job;
  const nudgeSeconds = (job.options.nudgeMs ?? 0) / 1000;
  const audioStart = danceAudio.startTime;
  const plan = planAudio({
    zeroDance,
    roomZeroDance: cut.seekMedia === null ? 0 : Math.max(0, cut.seekMedia - audioStart),
    durationSeconds,
    // Positive nudge = music later = an earlier song time at each instant.
    mapping: {
      offsetSeconds: alignment.offsetSeconds - nudgeSeconds * alignment.speed,
      speed: alignment.speed,
      bgmSampleRate: bgmAudio.sampleRate,
      bgmDurationSeconds: bgmAudio.durationSeconds ?? analysis.bgm.durationSeconds,
    },
    musicStart: alignment.musicStart,
    musicEnd: alignment.musicEnd,
  });
  const danceInput = inputArgs(job.dancePath);
  const seekArgs: string[] = [];
  if (cut.seekMedia !== null) seekArgs.push('-seek_timestamp', '1', '-ss', secondsArg(cut.seekMedia));
  if (cut.inputDuration !== null) seekArgs.push('-t', secondsArg(cut.inputDuration));
  danceInput.splice(danceInput.length - 2, 0, ...seekArgs);
  return [
    ...danceInput,
    ...inputArgs(job.bgmPath),
    '-filter_complex', audioFilterGraph(plan, danceAudio.index, bgmAudio.index),
    '-map', `0:${video.index}`, '-map', '[aout]',
    ...videoCodecArgs(video.codec, copy),
    '-c:a', 'aac', '-b:a', AUDIO_BITRATE, '-ar', String(OUTPUT_SAMPLE_RATE), '-ac', '2',
    '-sn', '-dn', '-max_muxing_queue_size', '4096',
    ...metadataArgs(analysis.dance.tags),
    '-movflags', '+faststart',
    '-f', 'mp4', '-y', tmpPath,
  ];
}

/**
 * How much later the picture shows than the sound plans for it (s): where the output's first video
 * packets landed compared with the same packets in the input, minus where the sound really starts.
 */
async function measureSyncError(job: VariantJob, cut: VideoCut, outPath: string): Promise<number> {
  const outInfo = await probeMedia(outPath, { signal: job.options.signal });
  const audioShift = outInfo.audio[0]?.startTime ?? 0;
  const outVideo = outInfo.video[0];
  if (!outVideo) throw new BeatSyncError('PROCESSING_FAILED', 'the output has no video stream');
  if (!job.copy) {
    // Re-encoded frames keep their timestamps (passthrough); the first one is at or after 0.
    return -audioShift;
  }
  const firstMedia = cut.seekMedia ?? job.analysis.dance.startTime;
  const [before, after] = await Promise.all([
    listVideoPackets(job.dancePath, { streamIndex: job.video.index, fromSeconds: cut.seekMedia ?? undefined, toSeconds: firstMedia + 1, signal: job.options.signal }),
    listVideoPackets(outPath, { toSeconds: 1, signal: job.options.signal }),
  ]);
  const videoShift = packetShift(before, after, cut.zeroMedia) ?? outVideo.startTime - (firstPts(before) - cut.zeroMedia);
  return videoShift - audioShift;
}

/** The constant the output's pts differ from the input's by (after the planned shift), or null when the packets do not correspond. */
export function packetShift(input: readonly PacketTiming[], output: readonly PacketTiming[], zeroMedia: number): number | null {
  const n = Math.min(PACKETS_COMPARED, input.length, output.length);
  if (n === 0) return null;
  const shifts: number[] = [];
  for (let i = 0; i < n; i++) shifts.push(output[i].pts - (input[i].pts - zeroMedia));
  const first = shifts[0];
  // pts_time has 6 decimals on both sides: agreement to a few µs means the same packets.
  return shifts.every((s) => Math.abs(s - first) < 5e-6) ? first : null;
}

function firstPts(packets: readonly PacketTiming[]): number {
  return packets.length ? Math.min(...packets.map((p) => p.pts)) : 0;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
