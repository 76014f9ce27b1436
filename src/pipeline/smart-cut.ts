// The renderer's hook for the smart cut (src/media/smart-cut.ts): a trimmed clip starts at the frame showing
// when the music starts, not at the keyframe before it. When the source cannot be matched, the keyframe
// cut stays and the report says why.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { leanHead, prepareSmartCut } from '../media/index.ts';
import { isClipVariant } from './clips.ts';
import { collectGarbage } from './memory.ts';
import type { PlannedCut, VariantJob } from './render.ts';

export async function smartCutFor(job: VariantJob, cut: PlannedCut): Promise<PlannedCut> {
  if (!isClipVariant(job.variant) || !job.copy || cut.seekMedia === null || job.options.smartCut === false) return cut;
  const { analysis, alignment, danceAudio, video, options } = job;
  const fileStart = analysis.dance.startTime;
  const audioStart = danceAudio.startTime;
  const startMedia = Math.max(fileStart, audioStart + alignment.musicStart);
  const endMedia = Math.min(fileStart + analysis.dance.durationSeconds, audioStart + alignment.musicEnd);
  // A large head's ffmpeg is the render's largest process: the listing's and planning's garbage goes first.
  if (leanHead(video)) collectGarbage();
  const smart = await prepareSmartCut({
    path: job.dancePath,
    streamIndex: video.index,
    startMedia,
    endMedia,
    outpointMedia: cut.inputDuration === null ? null : cut.seekMedia + cut.inputDuration,
    keptEndMedia: cut.endMedia,
    // Clips render side by side: each gets its own files.
    workDir: await mkdtemp(join(job.work, 'smart-')),
    signal: options.signal,
    threads: options.threads,
  });
  if (!smart.applied) return { ...cut, smartReport: { applied: false, reason: smart.reason } };
  const [first, last] = smart.reencodedMedia;
  return {
    seekMedia: smart.firstMedia,
    inputDuration: smart.endMedia - smart.firstMedia,
    zeroMedia: smart.firstMedia,
    endMedia: smart.endMedia,
    head: smart.packets,
    smart,
    keyframeCut: cut,
    smartReport: { applied: true, reencodedFrames: smart.reencodedFrames, reencodedSeconds: [round6(first - audioStart), round6(last - audioStart)] },
  };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
