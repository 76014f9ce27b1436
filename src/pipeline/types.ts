// What the sync pipeline takes and gives: used by the CLI and the job system.
import type { Alignment } from '../align/types.ts';
import type { MediaInfo } from '../media/types.ts';
import type { VideoPacket } from '../media/packets.ts';
import type { LoudnessEnvelopes } from './envelopes.ts';

export type { LoudnessEnvelopes } from './envelopes.ts';

/** The clip of run-through n ≥ 2 (`trimmed` is run-through 1: the longest, the one the alignment's top level describes). */
export type ClipVariantName = `trimmed-${number}`;
/** The phone-size copy of run-through n ≥ 2 (`compact` is that of `trimmed`). */
export type CompactVariantName = `compact-${number}`;
/** What a caller can ask for: `trimmed` brings one clip per run-through, `compact` a phone-size copy of each. */
export type RequestedVariant = 'trimmed' | 'full' | 'alternate' | 'compact';
export type VariantName = RequestedVariant | ClipVariantName | CompactVariantName;
/** Longest side of the `compact` picture (px). */
export type CompactLongSide = 1280 | 1920;

export interface StageProgress {
  /** 0..100 over the whole sync. */
  percent: number;
  stage: 'probe' | 'decode' | 'analyze' | 'render' | 'finish';
  message: string;
}

export interface AnalyzeOptions {
  signal?: AbortSignal;
  onProgress?: (p: StageProgress) => void;
  /** ffmpeg thread limit. */
  threads?: number;
  /**
   * Called once the sound is decoded, as the alignment (one core) starts: work that needs only the
   * probe can run beside it (sync.ts lists the video's packets there).
   */
  beforeAlign?: (dance: MediaInfo) => void;
}

export interface Analysis {
  alignment: Alignment;
  dance: MediaInfo;
  bgm: MediaInfo;
  /** A plausible second alignment (drives the `alternate` variant), or null. */
  alternate: Alignment | null;
  timings: Record<string, number>;
  /** Loudness curves for the page's picture (absent in analyses saved before they existed). */
  envelopes?: LoudnessEnvelopes;
}

export interface RenderOptions extends AnalyzeOptions {
  variants?: VariantName[];
  /** Extra shift in ms added to the found offset (the page's nudge control). */
  nudgeMs?: number;
  /**
   * Where this run's temporary files go (the job attempt's private directory, which the start-up
   * sweep removes after a crash). Without it, a fresh directory under os.tmpdir(), removed at the end.
   */
  workDir?: string;
  /** Longest side of `compact` (default 1280). */
  compactLongSide?: CompactLongSide;
  /** The dance video stream's packets (decode order), when listed ahead; else the renderer lists them around its cuts. */
  videoPackets?: Promise<VideoPacket[] | null>;
  /** False keeps trimmed clips on the keyframe at or before the music (stream copy only); default true. */
  smartCut?: boolean;
}

/**
 * How a trimmed clip's start was cut. Applied: the frames from the one showing at the music start to the
 * next keyframe were re-encoded (count, and dance times of the first and last), the rest copied. Not
 * applied: the clip starts at the keyframe at or before the music, and `reason` says why.
 */
export interface SmartCutReport {
  applied: boolean;
  reencodedFrames?: number;
  reencodedSeconds?: [number, number];
  reason?: string;
}

/** The stretch of the recording a clip was cut for, and its mapping (BGM time = offsetSeconds + speed × dance time). */
export interface ClipSegment {
  danceStart: number;
  danceEnd: number;
  offsetSeconds: number;
}

export interface RenderedVariant {
  variant: VariantName;
  /** File name inside the output directory. */
  file: string;
  durationSeconds: number;
  sizeBytes: number;
  /** Dance time (s) of the first kept video frame / last kept instant. */
  danceStart: number;
  danceEnd: number;
  /** True for `alternate`: the second most plausible alignment. */
  flagged?: boolean;
  /** Run-through clips (`trimmed` = 1, `trimmed-2` = 2, …) and their phone-size copies: which one, and the stretch it follows. */
  clip?: number;
  segment?: ClipSegment;
  /** Trimmed clips: whether the start is frame-exact (smart cut) or on a keyframe, and why. */
  smartCut?: SmartCutReport;
  /** Picture size of re-encoded variants (`compact`). */
  width?: number;
  height?: number;
}

export interface SyncReport {
  engineVersion: string;
  alignment: Alignment;
  alternate: Alignment | null;
  nudgeMs: number;
  /** True when the dance video's picture was copied bit for bit; false when its codec forced a re-encode. */
  videoCopied: boolean;
  dance: { durationSeconds: number; container: string; video: string; audio: string | null };
  bgm: { durationSeconds: number; container: string; audio: string };
  variants: RenderedVariant[];
  timings: Record<string, number>;
  /** Loudness curves for drawing the alignment (absent in older reports). */
  envelopes?: LoudnessEnvelopes;
}

export interface SyncResult {
  outDir: string;
  variants: RenderedVariant[];
  report: SyncReport;
  /** Path of report.json in outDir. */
  reportPath: string;
}
