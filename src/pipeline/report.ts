// report.json: what was found and what was made, written atomically beside the outputs.
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Analysis, RenderedVariant, SyncReport } from './types.ts';
import { ENGINE_VERSION } from './version.ts';

export const REPORT_FILE = 'report.json';

export function buildReport(args: {
  analysis: Analysis;
  variants: RenderedVariant[];
  nudgeMs: number;
  videoCopied: boolean;
  timings: Record<string, number>;
}): SyncReport {
  const { analysis } = args;
  const envelopes = analysis.envelopes ? { envelopes: analysis.envelopes } : {};
  const danceVideo = analysis.dance.video[0];
  const danceAudio = analysis.dance.audio[0];
  const bgmAudio = analysis.bgm.audio[0];
  return {
    engineVersion: ENGINE_VERSION,
    alignment: analysis.alignment,
    alternate: analysis.alternate,
    nudgeMs: args.nudgeMs,
    videoCopied: args.videoCopied,
    dance: {
      durationSeconds: analysis.dance.durationSeconds,
      container: analysis.dance.container,
      video: danceVideo ? `${danceVideo.codec} ${danceVideo.width}x${danceVideo.height}` : 'none',
      audio: danceAudio ? `${danceAudio.codec} ${danceAudio.sampleRate} Hz ${danceAudio.channels} ch` : null,
    },
    bgm: {
      durationSeconds: analysis.bgm.durationSeconds,
      container: analysis.bgm.container,
      audio: bgmAudio ? `${bgmAudio.codec} ${bgmAudio.sampleRate} Hz ${bgmAudio.channels} ch` : 'none',
    },
    variants: args.variants,
    timings: args.timings,
    ...envelopes,
  };
}

/** Writes JSON under a temporary name and renames it, so readers never see half a file. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.json.part`);
  try {
    await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { flag: 'wx' });
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
