// Job type `beatsync.sync`: align a dance video with its song and render the synced variants.
// Resumes from the `analysis` checkpoint, or from an earlier job's analysis of the same two files (a nudge, other
// variants); outputs go to outputs/<jobId>/<file>, and the job's result is the only pointer to them (outputs of
// jobs that did not succeed are swept by the janitor).
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BeatSyncError } from '../../errors.ts';
import { analyzeFiles, buildReport, ENGINE_VERSION, renderWithDetails } from '../../pipeline/index.ts';
import { estimateCompactSeconds } from '../../pipeline/compact.ts';
import { earlyPacketListing } from '../../pipeline/render-listing.ts';
import { readCachedAnalysis, saveCachedAnalysis } from './analysis-cache.ts';
import type { EarlyListing } from '../../pipeline/render-listing.ts';
import type { Analysis, ClipSegment, CompactLongSide, RequestedVariant, SyncReport, VariantName } from '../../pipeline/types.ts';
import { outputKey, uploadDataKey } from '../../storage/types.ts';
import type { UploadMeta } from '../../storage/types.ts';
import type { JobContext, JobTypeHandler, UploadMap } from '../job-type.ts';

export interface SyncJobInput {
  danceFileId: string;
  bgmFileId: string;
  options: { variants?: RequestedVariant[]; nudgeMs?: number; compactLongSide?: CompactLongSide };
}

export interface SyncJobVariant {
  variant: VariantName;
  file: string;
  key: string;
  sizeBytes: number;
  durationSeconds: number;
  flagged?: boolean;
  /** Run-through clips: 1 = `trimmed`, 2 = `trimmed-2`, … */
  clip?: number;
  segment?: ClipSegment;
  /** `compact`'s picture size. */
  width?: number;
  height?: number;
}

export interface SyncJobResult {
  variants: SyncJobVariant[];
  report: SyncReport;
}

/** What a job may ask for (`trimmed` brings one clip per run-through: trimmed, trimmed-2, …). */
const VARIANTS: readonly RequestedVariant[] = ['trimmed', 'full', 'alternate', 'compact'];
const COMPACT_LONG_SIDES: readonly CompactLongSide[] = [1280, 1920];
/** Ids are made by the product; this keeps a forged one from walking out of uploads/. */
const FILE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_NUDGE_MS = 10_000;

/** Saved after analysis; a later attempt skips straight to rendering when the engine is the same. */
interface AnalysisCheckpoint {
  engineVersion: string;
  analysis: Analysis;
}

function bad(detail: string): BeatSyncError {
  return new BeatSyncError('BAD_REQUEST', detail);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseSyncInput(raw: unknown): SyncJobInput {
  if (!isPlainObject(raw)) throw bad('input must be an object');
  for (const key of Object.keys(raw)) {
    if (!['danceFileId', 'bgmFileId', 'options'].includes(key)) throw bad(`unknown input field "${key}"`);
  }
  const { danceFileId, bgmFileId } = raw;
  if (typeof danceFileId !== 'string' || !FILE_ID.test(danceFileId)) throw bad('danceFileId must be a file id');
  if (typeof bgmFileId !== 'string' || !FILE_ID.test(bgmFileId)) throw bad('bgmFileId must be a file id');
  const rawOptions = raw.options ?? {};
  if (!isPlainObject(rawOptions)) throw bad('options must be an object');
  const options: SyncJobInput['options'] = {};
  for (const [key, value] of Object.entries(rawOptions)) {
    if (key === 'variants') {
      if (!Array.isArray(value) || value.length === 0) throw bad('options.variants must be a non-empty list');
      for (const v of value) {
        if (!VARIANTS.includes(v as RequestedVariant)) throw bad(`unknown variant "${String(v)}" (use ${VARIANTS.join(', ')})`);
      }
      // Order and repeats do not change the work, so they must not change the cache key either.
      options.variants = VARIANTS.filter((v) => value.includes(v));
    } else if (key === 'nudgeMs') {
      if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_NUDGE_MS) {
        throw bad(`options.nudgeMs must be a number of milliseconds within ±${MAX_NUDGE_MS}`);
      }
      if (value !== 0) options.nudgeMs = value;
    } else if (key === 'compactLongSide') {
      if (!COMPACT_LONG_SIDES.includes(value as CompactLongSide)) throw bad(`options.compactLongSide must be ${COMPACT_LONG_SIDES.join(' or ')}`);
      if (value !== 1280) options.compactLongSide = value as CompactLongSide;
    } else {
      throw bad(`unknown option "${key}"`);
    }
  }
  return { danceFileId, bgmFileId, options };
}

function uploadOf(uploads: UploadMap, fileId: string): UploadMeta {
  const meta = uploads[fileId];
  if (!meta) throw new BeatSyncError('FILE_NOT_FOUND', `upload ${fileId}`);
  return meta;
}

function checkSyncUploads(input: SyncJobInput, uploads: UploadMap): void {
  const dance = uploadOf(uploads, input.danceFileId);
  const bgm = uploadOf(uploads, input.bgmFileId);
  if (dance.kind !== 'video') throw new BeatSyncError('NO_VIDEO_TRACK', 'the dance file is audio only');
  if (dance.media.audio.length === 0) throw new BeatSyncError('NO_AUDIO_TRACK', 'the dance video has no sound to align');
  if (bgm.media.audio.length === 0) throw new BeatSyncError('NO_AUDIO_TRACK', 'the music file has no sound');
}

function syncCacheKey(input: SyncJobInput, uploads: UploadMap): string {
  const material = JSON.stringify({
    type: 'beatsync.sync',
    engine: ENGINE_VERSION,
    dance: uploadOf(uploads, input.danceFileId).sha256,
    bgm: uploadOf(uploads, input.bgmFileId).sha256,
    variants: input.options.variants ?? null,
    nudgeMs: input.options.nudgeMs ?? 0,
    // Only when set, so the keys of jobs without it stay what they were.
    ...(input.options.compactLongSide ? { compactLongSide: input.options.compactLongSide } : {}),
  });
  return createHash('sha256').update(material).digest('hex');
}

/** Rough wall time on one share of the machine: decode + align grow with both durations, rendering with the dance. */
function estimateSyncSeconds(input: SyncJobInput, uploads: UploadMap): number {
  const dance = uploadOf(uploads, input.danceFileId).durationSeconds;
  const bgm = uploadOf(uploads, input.bgmFileId).durationSeconds;
  const asked = input.options.variants ?? ['trimmed', 'full'];
  const copies = asked.filter((v) => v !== 'compact').length;
  let seconds = 2 + 0.04 * bgm + 0.06 * dance + 0.03 * dance * Math.max(1, copies);
  const video = uploadOf(uploads, input.danceFileId).media.video[0];
  // compact re-encodes every frame: its cost grows with the pixels (at most the whole dance is trimmed).
  if (asked.includes('compact') && video) seconds += estimateCompactSeconds(dance, video.width, video.height, input.options.compactLongSide);
  return Math.round(seconds * 10) / 10;
}

async function runSync(ctx: JobContext<SyncJobInput>): Promise<SyncJobResult> {
  const { input, signal } = ctx;
  const dancePath = await ctx.files.localPath(uploadDataKey(input.danceFileId));
  const bgmPath = await ctx.files.localPath(uploadDataKey(input.bgmFileId));

  // Like syncFiles: the video's packets are listed beside the alignment, so the cut plans start no ffprobe.
  const listing = earlyPacketListing(dancePath, signal);
  try {
    return await analyzeAndRender(ctx, dancePath, bgmPath, listing);
  } finally {
    // Never left running (e.g. the song was not found): stopped and waited for.
    await listing.stop();
  }
}

async function analyzeAndRender(ctx: JobContext<SyncJobInput>, dancePath: string, bgmPath: string, listing: EarlyListing): Promise<SyncJobResult> {
  const { input, signal, threads } = ctx;
  const onProgress = (p: { percent: number; stage: string; message: string }) => ctx.progress(p);
  const saved = ctx.checkpoints.analysis as AnalysisCheckpoint | undefined;
  const kept = saved?.engineVersion === ENGINE_VERSION ? saved.analysis : null;
  let analysis: Analysis;
  const start = performance.now();
  const earlier = kept ? null : await readCachedAnalysis(ctx.files, input.danceFileId, input.bgmFileId);
  if (kept) {
    analysis = kept;
    ctx.progress({ percent: 50, stage: 'analyze', message: 'alignment kept from an earlier attempt' });
  } else if (earlier) {
    // The same two files were analysed by an earlier job: its timings are not this job's.
    analysis = { ...earlier, timings: { 'analysis.reused': Math.round(performance.now() - start) } };
    ctx.progress({ percent: 50, stage: 'analyze', message: 'alignment kept from an earlier job on the same files' });
    await ctx.saveCheckpoint('analysis', { engineVersion: ENGINE_VERSION, analysis } satisfies AnalysisCheckpoint);
  } else {
    analysis = await analyzeFiles(dancePath, bgmPath, { signal, onProgress, threads, beforeAlign: (dance) => listing.beforeAlign(dance) });
    await ctx.saveCheckpoint('analysis', { engineVersion: ENGINE_VERSION, analysis } satisfies AnalysisCheckpoint);
    await saveCachedAnalysis(ctx.files, input.danceFileId, input.bgmFileId, analysis);
  }

  const outDir = join(ctx.tmpDir, 'out');
  await mkdir(outDir, { recursive: true });
  const nudgeMs = input.options.nudgeMs ?? 0;
  const { variants: asked, compactLongSide } = input.options;
  const rendered = await renderWithDetails(dancePath, bgmPath, analysis, outDir, {
    signal, onProgress, threads, variants: asked, nudgeMs, compactLongSide, workDir: ctx.tmpDir, videoPackets: listing.videoPackets,
  });

  ctx.progress({ percent: 98, stage: 'finish', message: 'storing outputs' });
  const variants: SyncJobVariant[] = [];
  for (const v of rendered.variants) {
    const stored = await ctx.files.putFile(outputKey(ctx.jobId, v.file), join(outDir, v.file));
    const entry: SyncJobVariant = { variant: v.variant, file: v.file, key: stored.key, sizeBytes: stored.size, durationSeconds: v.durationSeconds };
    if (v.flagged) entry.flagged = true;
    if (v.clip !== undefined) Object.assign(entry, { clip: v.clip, segment: v.segment });
    if (v.width !== undefined) Object.assign(entry, { width: v.width, height: v.height });
    variants.push(entry);
  }
  const timings = { ...analysis.timings, ...rendered.timings };
  return { variants, report: buildReport({ analysis, variants: rendered.variants, nudgeMs, videoCopied: rendered.videoCopied, timings }) };
}

export const syncJob: JobTypeHandler<SyncJobInput, SyncJobResult> = {
  ref: { url: import.meta.url, name: 'syncJob' },
  parseInput: parseSyncInput,
  inputFileIds: (input) => [input.danceFileId, input.bgmFileId],
  checkUploads: checkSyncUploads,
  cacheKey: syncCacheKey,
  estimateSeconds: estimateSyncSeconds,
  resultFileKeys: (result) => result.variants.map((v) => v.key),
  relocateResult: (result, jobId) => ({ ...result, variants: result.variants.map((v) => ({ ...v, key: outputKey(jobId, v.file) })) }),
  run: runSync,
};
