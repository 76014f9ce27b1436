// The whole sync in one call: analyse, render the variants, write report.json beside them.
import { join } from 'node:path';
import { toBeatSyncError } from '../errors.ts';
import { analyzeFiles } from './analyze.ts';
import { stageReporter } from './progress.ts';
import { earlyPacketListing } from './render-listing.ts';
import { renderWithDetails } from './render.ts';
import { REPORT_FILE, buildReport, writeJsonAtomic } from './report.ts';
import type { RenderOptions, SyncResult } from './types.ts';

export async function syncFiles(dancePath: string, bgmPath: string, outDir: string, options: RenderOptions = {}): Promise<SyncResult> {
  // The renderer needs the video's packet layout; one ffprobe lists it while the alignment uses one core.
  const listing = earlyPacketListing(dancePath, options.signal);
  try {
    const analysis = await analyzeFiles(dancePath, bgmPath, { ...options, beforeAlign: (dance) => listing.beforeAlign(dance) });
    const rendered = await renderWithDetails(dancePath, bgmPath, analysis, outDir, { ...options, videoPackets: listing.videoPackets });
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
    await listing.stop();
  }
}
