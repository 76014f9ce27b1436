// One percent scale for the whole sync, whether analysis and rendering run together or apart.
import { BeatSyncError } from '../errors.ts';
import type { StageProgress } from './types.ts';

type Stage = StageProgress['stage'];

/** [start, end] percent of each stage. */
export const STAGE_RANGE: Record<Stage, readonly [number, number]> = {
  probe: [0, 3],
  decode: [3, 20],
  analyze: [20, 35],
  render: [35, 99],
  finish: [99, 100],
};

export type Reporter = (stage: Stage, fraction: number, message: string) => void;

/** A reporter that maps a stage fraction to the whole-sync percent and never goes backwards. */
export function stageReporter(onProgress: ((p: StageProgress) => void) | undefined): Reporter {
  let last = -1;
  return (stage, fraction, message) => {
    if (!onProgress) return;
    const [from, to] = STAGE_RANGE[stage];
    const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    const percent = Math.max(last, Math.round((from + (to - from) * f) * 10) / 10);
    last = percent;
    onProgress({ percent, stage, message });
  };
}

/** Stops between steps when the caller cancelled (ffmpeg runs are killed by the signal itself). */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BeatSyncError('CANCELLED');
}

/** Milliseconds since `start` (performance.now()), rounded. */
export function elapsedMs(start: number): number {
  return Math.round(performance.now() - start);
}
