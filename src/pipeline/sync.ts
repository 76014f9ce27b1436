// The whole sync in one call: analyse, render the variants, write report.json beside them.
import { join } from 'node:path';
import { toBeatSyncError } from '../errors.ts';
import { checkDanceInput, listVideoPackets } from '../media/index.ts';
import type { VideoPacket } from '../media/index.ts';
import { analyzeFiles } from './analyze.ts';
import { stageReporter } from './progress.ts';
import { renderWithDetails } from './render.ts';
import { REPORT_FILE, buildReport, writeJsonAtomic } from './report.ts';
import type { RenderOptions, SyncResult } from './types.ts';

/**
 * Longest dance video whose packets are listed beside the alignment (s). Node holds the decoded sound
 * then; for a 10-minute 4K video node (~265 MB) plus an ffprobe (~75 MB) passed the 300 MB budget
 * (BENCHMARKS.md, "Rendering"), so longer videos are listed by the renderer, after the analysis is freed.
 */
const LIST_BESIDE_ALIGNMENT_MAX_SECONDS = 300;

export async function syncFiles(dancePath: string, bgmPath: string, outDir: string, options: RenderOptions = {}): Promise<SyncResult> {
  // The renderer needs the video's packet layout; one ffprobe lists it while the alignment uses one core.
  const listing = new AbortController();
  let videoPackets: Promise<VideoPacket[] | null> | undefined;
  const listPackets = (dance: Parameters<typeof checkDanceInput>[0]) => {
    if (dance.durationSeconds > LIST_BESIDE_ALIGNMENT_MAX_SECONDS) return;
    const signal = options.signal ? AbortSignal.any([options.signal, listing.signal]) : listing.signal;
    // A failed listing only means the renderer lists around its cuts itself.
    videoPackets = listVideoPackets(dancePath, { streamIndex: checkDanceInput(dance).video.index, signal }).catch(() => null);
  };
  try {
    const analysis = await analyzeFiles(dancePath, bgmPath, { ...options, beforeAlign: listPackets });
    const rendered = await renderWithDetails(dancePath, bgmPath, analysis, outDir, { ...options, videoPackets });
    const report = buildReport({
      analysis,
      variants: rendered.variants,
      nudgeMs: options.nudgeMs ?? 0,
      videoCopied: rendered.videoCopied,
      timings: { ...analysis.timings, ...rendered.timings },
    });
    const reportPath = join(outDir, REPORT_FILE);
    await writeJsonAtomic(reportPath, report);
    stageReporter(options.onProgress)('finish', 1, 'Done');
    return { outDir, variants: rendered.variants, report, reportPath };
  } catch (error) {
    throw toBeatSyncError(error);
  } finally {
    // Never left running (e.g. the song was not found): stopped and waited for.
    listing.abort();
    await videoPackets;
  }
}
