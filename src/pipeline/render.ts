// Renders the variants: the dance video's picture copied packet for packet, the clean song as its sound
// (cut to the sample, stretched for clock drift), written atomically and checked for A/V sync after muxing.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alignment } from '../align/types.ts';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { checkBgmInput, checkDanceInput, fileUrl, hasEncoder, inputArgs, leanHead, listVideoPackets, probeOutputHead, runFfmpeg, runFfmpegPiped } from '../media/index.ts';
import type { SmartCutApplied } from '../media/index.ts';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from '../media/types.ts';
import {
  AUDIO_ENCODER_ARGS,
  canCopyVideo,
  cleanEndCut,
  inputDurationFor,
  keyframeAtOrBefore,
  MIX_PCM_ARGS,
  metadataArgs,
  packetWindow,
  secondsArg,
  videoCodecArgs,
} from './plan.ts';
import { expandClipVariants, isClipVariant, runThroughClips, timelineSoundGraph } from './clips.ts';
import { renderWithCompact } from './outputs.ts';
import type { MusicMapping, PacketTiming, VideoCut } from './plan.ts';
import { collectGarbage } from './memory.ts';
import { processSlots } from './slots.ts';
import type { ProcessSlots } from './slots.ts';
import { elapsedMs, stageReporter, throwIfCancelled } from './progress.ts';
import { smartCutFor } from './smart-cut.ts';
import type { Analysis, RenderOptions, RenderedVariant, SmartCutReport, VariantName } from './types.ts';

/** A/V sync error above which the output is corrected (and, if that fails, refused) (s). */
export const SYNC_TOLERANCE_SECONDS = 0.0002;
/** Packets compared between input and output to measure where the picture landed. */
const PACKETS_COMPARED = 8;
/** Video listed from the first kept keyframe on, for the keyframe search and the sync check (s). */
const HEAD_SECONDS = 1;
/** Variants rendered at once (each waits for the process slots it needs). */
export const RENDER_CONCURRENCY = 2;
/**
 * ffmpeg/ffprobe children at once. Each costs ~60 MB resident, which the 300 MB budget (10-minute 4K)
 * allows twice beside node; two also fill both cores of a small machine. A sound render takes two
 * (its filters and its AAC encoder, single-threaded each, run as two piped processes), a copy one.
 */
export const RENDER_PROCESSES = 2;
/** The shared mix's share of the render progress, against 1 per variant (it does the one AAC encode). */
const MIX_SHARE = 1;
/**
 * AAC packets copied before a variant's first sample: the decoder needs the previous frame (1024
 * samples) to rebuild the first one exactly; the MP4 edit list hides them.
 */
const AAC_PREROLL_SECONDS = 0.05;

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
  // `compact` is encoded from the finished run-through clips, after the others (see outputs.ts).
  const requested = options.variants ?? defaultVariants(analysis);
  const clipNames = runThroughClips(analysis.alignment).map((c) => c.variant);
  return renderWithCompact(requested, clipNames, outDir, options, (variants, opts) => renderCopies(dancePath, bgmPath, analysis, outDir, { ...opts, variants }));
}

async function renderCopies(
  dancePath: string,
  bgmPath: string,
  analysis: Analysis,
  outDir: string,
  options: RenderOptions,
): Promise<RenderOutcome> {
  try {
    // `trimmed` is one clip per run-through (trimmed, trimmed-2, …).
    const asked = options.variants ?? defaultVariants(analysis);
    const variants = expandClipVariants(asked, analysis.alignment);
    // Two places explain the recording equally: the other reading is always rendered, so the teacher can pick.
    if (analysis.alignment.ambiguous && analysis.alternate && !variants.includes('alternate')) variants.push('alternate');
    const clipNames = runThroughClips(analysis.alignment).map((c) => c.variant as VariantName);
    const unknown = variants.find((v) => isClipVariant(v) && !clipNames.includes(v));
    if (unknown) throw new BeatSyncError('BAD_REQUEST', `no ${unknown}: the recording has ${clipNames.length} run-through(s)`);
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
    collectGarbage();
    const work = await mkdtemp(join(options.workDir ?? tmpdir(), 'beatsync-mix-'));
    try {
      return await renderAll({ dancePath, bgmPath, analysis, outDir, work, wanted, video, danceAudio, bgmAudio, copy, options });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } catch (error) {
    throw toBeatSyncError(error);
  }
}

export interface RenderPlan {
  dancePath: string;
  bgmPath: string;
  analysis: Analysis;
  outDir: string;
  /** Private temporary directory for the mixes. */
  work: string;
  wanted: VariantName[];
  video: VideoStreamInfo;
  danceAudio: AudioStreamInfo;
  bgmAudio: AudioStreamInfo;
  copy: boolean;
  options: RenderOptions;
}

/**
 * Variants sharing an alignment (trimmed and full) get their sound from one mix of the whole dance
 * timeline, rendered once; then the variants are encoded RENDER_CONCURRENCY at a time. Settles only
 * when every ffmpeg has ended: the first failure stops the others and is the one thrown.
 */
async function renderAll(plan: RenderPlan): Promise<RenderOutcome> {
  const { wanted, analysis, options } = plan;
  const report = stageReporter(options.onProgress);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const timings: Record<string, number> = {};

  const clips = runThroughClips(analysis.alignment);
  const clipOf = (v: VariantName) => clips.find((c) => c.variant === v);
  const alignmentOf = (v: VariantName) => (v === 'alternate' ? analysis.alternate! : (clipOf(v)?.alignment ?? analysis.alignment));
  const sharers = (al: Alignment) => wanted.filter((v) => alignmentOf(v) === al).length;
  // Progress: each variant and each mix is one share of the render stage.
  const shares = new Map<string, number>();
  const mixNeeded = [...new Set(wanted.map(alignmentOf))].filter((al) => sharers(al) > 1).length;
  const units = wanted.length + mixNeeded * MIX_SHARE;
  const progress = (key: string, weight: number, message: string) => (f: number) => {
    shares.set(key, weight * Math.min(1, Math.max(0, f)));
    report('render', [...shares.values()].reduce((a, b) => a + b, 0) / units, message);
  };

  const mixes = new Map<Alignment, Promise<MixSource>>();
  const mixFor = (al: Alignment): Promise<MixSource> => {
    let mix = mixes.get(al);
    if (!mix) {
      const start = performance.now();
      const key = al === analysis.alignment ? 'render.mix' : 'render.mix.alternate';
      mix = slots.run(2, () => renderMix(plan, al, signal, progress(key, MIX_SHARE, 'Mixing the music'))).then((m) => {
        timings[key] = elapsedMs(start);
        return m;
      });
      mixes.set(al, mix);
    }
    return mix;
  };

  const slots = processSlots(RENDER_PROCESSES);

  // The shared mixes start at once: each variant's own work before it (the cut plan) needs no process.
  for (const al of new Set(wanted.map(alignmentOf))) if (sharers(al) > 1) void mixFor(al).catch(() => undefined);

  const results: RenderedVariant[] = new Array(wanted.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (next < wanted.length && !failure) {
      const i = next++;
      const variant = wanted[i];
      const alignment = alignmentOf(variant);
      const start = performance.now();
      try {
        const share = progress(variant, 1, `Rendering ${variant} (${i + 1}/${wanted.length})`);
        share(0);
        const job: VariantJob = { ...plan, variant, alignment, options: { ...options, signal }, progress: share, slots };
        results[i] = await renderOne(job, sharers(alignment) > 1 ? () => mixFor(alignment) : null);
        const clip = clipOf(variant);
        if (clip) Object.assign(results[i], { clip: clip.clip, segment: clip.segment });
        timings[`render.${variant}`] = elapsedMs(start);
      } catch (error) {
        failure ??= { error };
        stop.abort();
      }
    }
  };
  const pool = Array.from({ length: Math.min(RENDER_CONCURRENCY, wanted.length) }, () => worker());
  await Promise.all(pool);
  // A mix nobody waited for (a failure came first) must not be left running.
  await Promise.allSettled(mixes.values());
  if (failure) throw (failure as { error: unknown }).error;
  report('render', 1, 'Rendered');
  return { variants: results, videoCopied: plan.copy, timings };
}

/** The sound of the whole dance timeline, encoded once (AAC in MP4): its time 0 is dance time `zeroDance`. */
interface MixSource {
  path: string;
  zeroDance: number;
}

/**
 * Renders and encodes the sound of the whole dance file (the `full` variant's timeline) once; the
 * variants copy their span of its AAC packets instead of each encoding their own.
 */
async function renderMix(plan: RenderPlan, alignment: Alignment, signal: AbortSignal, progress: (f: number) => void): Promise<MixSource> {
  const dance = plan.analysis.dance;
  const zeroDance = dance.startTime - plan.danceAudio.startTime;
  const durationSeconds = dance.durationSeconds;
  const path = join(plan.work, `mix-${randomBytes(4).toString('hex')}.m4a`);
  const graph = timelineSoundGraph({
    zeroDance, roomZeroDance: 0, durationSeconds, alignment, mapping: (line) => musicMapping(plan, line),
    danceAudioIndex: plan.danceAudio.index, bgmAudioIndex: plan.bgmAudio.index,
  });
  await runFfmpegPiped(
    [...inputArgs(plan.dancePath), ...inputArgs(plan.bgmPath), '-filter_complex', graph, '-map', '[aout]', ...MIX_PCM_ARGS, 'pipe:1'],
    [...MIX_PCM_ARGS, '-i', 'pipe:0', '-map', '0:a', ...AUDIO_ENCODER_ARGS, '-f', 'mp4', '-y', path],
    {
      signal,
      threads: plan.options.threads,
      timeoutMs: 120_000 + durationSeconds * 10_000,
      expectedDurationSeconds: durationSeconds,
      onProgress: (p) => progress(p.fraction ?? 0),
    },
  );
  progress(1);
  return { path, zeroDance };
}

/** Song time at each dance time for this alignment, the user's nudge applied. */
function musicMapping(plan: Pick<RenderPlan, 'options' | 'bgmAudio' | 'analysis'>, alignment: Pick<Alignment, 'offsetSeconds' | 'speed'>): MusicMapping {
  const nudgeSeconds = (plan.options.nudgeMs ?? 0) / 1000;
  // Positive nudge = music later = an earlier song time at each instant.
  return {
    offsetSeconds: alignment.offsetSeconds - nudgeSeconds * alignment.speed,
    speed: alignment.speed,
    bgmSampleRate: plan.bgmAudio.sampleRate,
    bgmDurationSeconds: plan.bgmAudio.durationSeconds ?? plan.analysis.bgm.durationSeconds,
  };
}

export interface VariantJob extends RenderPlan {
  variant: VariantName;
  alignment: Alignment;
  progress: (fraction: number) => void;
  /** The render's ffmpeg/ffprobe slots. */
  slots: ProcessSlots;
}

/**
 * Input packets (decode order) from the first kept keyframe on, at least a second of them; null when
 * re-encoding. `smart`: the frame-exact start of a trimmed clip, when its head was re-encoded.
 */
export type PlannedCut = VideoCut & { head: PacketTiming[] | null; smart?: SmartCutApplied; smartReport?: SmartCutReport; keyframeCut?: PlannedCut };

async function renderOne(job: VariantJob, sharedMix: (() => Promise<MixSource>) | null): Promise<RenderedVariant> {
  const { danceAudio, options } = job;
  const audioStart = danceAudio.startTime;
  throwIfCancelled(options.signal);
  // planCut takes its own slot when it lists packets; the smart cut's head encode takes one here, or all
  // of them for large frames (a 4K head's ffmpeg alone is ~190 MB: nothing else may run beside it).
  const planned = await planCut(job);
  let cut = await job.slots.run(leanHead(job.video) ? RENDER_PROCESSES : 1, () => smartCutFor(job, planned));
  let durationSeconds = cut.endMedia - cut.zeroMedia;
  if (!(durationSeconds > 0.05)) throw new BeatSyncError('PROCESSING_FAILED', `nothing to render for ${job.variant} (${durationSeconds.toFixed(3)} s)`);
  const mix = sharedMix ? await sharedMix() : null;
  throwIfCancelled(options.signal);
  const finalName = `${job.variant}.mp4`;
  const tmpPath = join(job.outDir, `.${job.variant}.${randomBytes(6).toString('hex')}.part`);
  let zeroDance = cut.zeroMedia - audioStart;
  try {
    for (let attempt = 0; ; attempt++) {
      const run = ffmpegRun(job, cut, zeroDance, durationSeconds, tmpPath, mix);
      const runOptions = {
        signal: options.signal,
        threads: options.threads,
        timeoutMs: 120_000 + durationSeconds * 10_000,
        expectedDurationSeconds: durationSeconds,
        onProgress: (p: { fraction: number | null }) => job.progress(p.fraction ?? 0),
      };
      if (run.sound) await job.slots.run(2, () => runFfmpegPiped(run.sound!, run.args, runOptions));
      else await job.slots.run(1, () => runFfmpeg(run.args, runOptions));
      throwIfCancelled(options.signal);
      const error = await job.slots.run(1, () => measureSyncError(job, cut, tmpPath));
      if (Math.abs(error) <= SYNC_TOLERANCE_SECONDS) break;
      if (attempt >= 1 && cut.keyframeCut) {
        // The joined picture did not land where planned (seen with heads of a few frames): keep the keyframe cut.
        cut = { ...cut.keyframeCut, smartReport: { applied: false, reason: `the joined picture landed ${(error * 1000).toFixed(2)} ms off; keyframe cut kept` } };
        durationSeconds = cut.endMedia - cut.zeroMedia;
        zeroDance = cut.zeroMedia - audioStart;
        attempt = -1;
        continue;
      }
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
  if (cut.smartReport) result.smartCut = cut.smartReport;
  return result;
}

/** Where the video starts and stops for this variant (media times), from the real packet layout. */
export async function planCut(job: VariantJob): Promise<PlannedCut> {
  const { analysis, alignment, video, danceAudio, copy, options } = job;
  const dance: MediaInfo = analysis.dance;
  const fileStart = dance.startTime;
  const fileEnd = dance.startTime + dance.durationSeconds;
  const all = copy ? await (options.videoPackets ?? Promise.resolve(null)).catch(() => null) : null;
  // The whole stream's packets when they were listed beside the analysis, else an ffprobe around the spot.
  const list = (fromSeconds: number | undefined, toSeconds: number): Promise<PacketTiming[]> =>
    all ? Promise.resolve(packetWindow(all, fromSeconds, toSeconds)) : job.slots.run(1, () => listVideoPackets(job.dancePath, { streamIndex: video.index, signal: options.signal, fromSeconds, toSeconds }));
  if (job.variant === 'full') {
    // No seek: ffmpeg shifts every timestamp by the file's start time.
    const head = copy ? await list(undefined, fileStart + HEAD_SECONDS) : null;
    return { seekMedia: null, inputDuration: null, zeroMedia: fileStart, endMedia: fileEnd, head };
  }
  const audioStart = danceAudio.startTime;
  const startMedia = Math.max(fileStart, audioStart + alignment.musicStart);
  const endMedia = Math.min(fileEnd, audioStart + alignment.musicEnd);
  if (!copy) {
    // Re-encoding decodes from the previous keyframe and cuts exactly here.
    return { seekMedia: startMedia, inputDuration: endMedia - startMedia, zeroMedia: startMedia, endMedia, head: null };
  }
  // One listing serves both the keyframe search and, later, the check of where the picture landed.
  let listed = await list(startMedia, startMedia + HEAD_SECONDS);
  let keyframe = keyframeAtOrBefore(listed, startMedia);
  if (!keyframe) {
    // Some demuxers seek late: look from the beginning (slower, but always right).
    listed = await list(undefined, startMedia + HEAD_SECONDS);
    keyframe = keyframeAtOrBefore(listed, startMedia);
  }
  if (!keyframe) throw new BeatSyncError('PROCESSING_FAILED', 'no keyframe found before the music starts');
  const seekMedia = keyframe.pts;
  const head = listed.slice(listed.indexOf(keyframe));

  let inputDuration: number | null = null;
  let videoEnd = fileEnd;
  if (endMedia < fileEnd - 0.05) {
    const tail = await list(endMedia, endMedia + 3);
    const cutAt = cleanEndCut(tail, endMedia);
    if (cutAt) {
      inputDuration = inputDurationFor(tail, cutAt.beforeIndex, seekMedia);
      videoEnd = cutAt.endMedia;
    }
  }
  return { seekMedia, inputDuration, zeroMedia: seekMedia, endMedia: videoEnd, head };
}

/** The ffmpeg that writes the variant, and the one feeding it the sound through a pipe (null when it copies the mix's). */
function ffmpegRun(job: VariantJob, cut: PlannedCut, zeroDance: number, durationSeconds: number, tmpPath: string, mix: MixSource | null): { args: string[]; sound: string[] | null } {
  const { analysis, alignment, video, danceAudio, bgmAudio, copy } = job;
  const danceInput = inputArgs(job.dancePath);
  const seekArgs: string[] = [];
  if (cut.seekMedia !== null) seekArgs.push('-seek_timestamp', '1', '-ss', secondsArg(cut.seekMedia));
  if (cut.inputDuration !== null) seekArgs.push('-t', secondsArg(cut.inputDuration));
  danceInput.splice(danceInput.length - 2, 0, ...seekArgs);
  let soundArgs: string[];
  let soundOut: string[];
  let sound: string[] | null = null;
  if (mix) {
    // Our own AAC file, copied: packets from a little before this variant's first sample, shifted so
    // that sample lands at output time 0 (ffmpeg keeps the earlier ones at negative times with
    // -copypriorss and the MP4 muxer hides them in the edit list, exact to the sample).
    const from = zeroDance - mix.zeroDance;
    const seek = Math.max(0, from - AAC_PREROLL_SECONDS);
    soundArgs = [
      '-protocol_whitelist', 'file', '-format_whitelist', 'mov',
      ...(seek > 0 ? ['-ss', secondsArg(seek)] : []),
      '-itsoffset', secondsArg(seek - from), '-t', secondsArg(durationSeconds), '-i', fileUrl(mix.path),
    ];
    soundOut = ['-map', '1:a:0', '-c:a', 'copy', '-copypriorss:a', '1'];
  } else {
    const graph = timelineSoundGraph({
      zeroDance,
      roomZeroDance: cut.seekMedia === null ? 0 : Math.max(0, cut.seekMedia - danceAudio.startTime),
      durationSeconds,
      alignment,
      mapping: (line) => musicMapping(job, line),
      danceAudioIndex: danceAudio.index,
      bgmAudioIndex: bgmAudio.index,
    });
    // The same inputs (the dance seeked alike, so the room sound lines up) render the sound to raw samples.
    sound = [...danceInput, ...inputArgs(job.bgmPath), '-filter_complex', graph, '-map', '[aout]', ...MIX_PCM_ARGS, 'pipe:1'];
    soundArgs = [...MIX_PCM_ARGS, '-i', 'pipe:0'];
    soundOut = ['-map', '1:a:0', ...AUDIO_ENCODER_ARGS];
  }
  // A smart cut's joined picture is read as a third input (input 0 still gives the room sound).
  const picture = cut.smart
    ? ['-map', '2:v:0', '-c:v', 'copy', '-tag:v', cut.smart.codecTag, ...(video.rotation ? ['-metadata:s:v:0', `rotate=${(360 - video.rotation) % 360}`] : [])]
    : ['-map', `0:${video.index}`, ...videoCodecArgs(video.codec, copy)];
  const args = [
    ...danceInput,
    ...soundArgs,
    ...(cut.smart ? cut.smart.inputArgs : []),
    ...picture,
    ...soundOut,
    '-sn', '-dn', '-max_muxing_queue_size', '4096',
    ...metadataArgs(analysis.dance.tags),
    '-movflags', '+faststart',
    '-f', 'mp4', '-y', tmpPath,
  ];
  return { args, sound };
}

/**
 * How much later the picture shows than the sound plans for it (s): where the output's first video
 * packets landed compared with the same packets in the input, minus where the sound really starts.
 */
async function measureSyncError(job: VariantJob, cut: PlannedCut, outPath: string): Promise<number> {
  // One ffprobe: the streams' start times and the first second of video packets.
  const out = await probeOutputHead(outPath, { toSeconds: HEAD_SECONDS, signal: job.options.signal });
  const audioShift = out.audioStart ?? 0;
  if (out.videoStart === null) throw new BeatSyncError('PROCESSING_FAILED', 'the output has no video stream');
  if (!job.copy) {
    // Re-encoded frames keep their timestamps (passthrough); the first one is at or after 0.
    return -audioShift;
  }
  const before = cut.head ?? [];
  const videoShift = packetShift(before, out.videoPackets, cut.zeroMedia) ?? out.videoStart - (firstPts(before) - cut.zeroMedia);
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
