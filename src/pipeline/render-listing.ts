// The video's whole packet listing, started beside the alignment (one ffprobe of packets, no decode, while
// the alignment uses one core), for the renderer's cut plans: `sync` (syncFiles) and the `beatsync.sync` job.
import { checkDanceInput, listVideoPackets } from '../media/index.ts';
import type { VideoPacket } from '../media/index.ts';
import type { MediaInfo } from '../media/types.ts';

/**
 * Longest dance video whose packets are listed beside the alignment (s). Node holds the decoded sound
 * then; for a 10-minute 4K video node (~265 MB) plus an ffprobe (~75 MB) passed the 300 MB budget
 * (BENCHMARKS.md, "Rendering"), so longer videos are listed by the renderer, after the analysis is freed.
 */
export const LIST_BESIDE_ALIGNMENT_MAX_SECONDS = 300;

export interface EarlyListing {
  /** For analyzeFiles' `beforeAlign`: starts the listing when the video is short enough. */
  beforeAlign(dance: MediaInfo): void;
  /** For the renderer's `videoPackets`: undefined when nothing was started. */
  readonly videoPackets: Promise<VideoPacket[] | null> | undefined;
  /** Stops a listing still running and waits for it (call in a finally). */
  stop(): Promise<void>;
}

export function earlyPacketListing(dancePath: string, signal?: AbortSignal): EarlyListing {
  const own = new AbortController();
  let videoPackets: Promise<VideoPacket[] | null> | undefined;
  return {
    beforeAlign(dance) {
      if (videoPackets || dance.durationSeconds > LIST_BESIDE_ALIGNMENT_MAX_SECONDS) return;
      const stopOn = signal ? AbortSignal.any([signal, own.signal]) : own.signal;
      // A failed listing only means the renderer lists around its cuts itself.
      videoPackets = listVideoPackets(dancePath, { streamIndex: checkDanceInput(dance).video.index, signal: stopOn }).catch(() => null);
    },
    get videoPackets() {
      return videoPackets;
    },
    async stop() {
      own.abort();
      await videoPackets;
    },
  };
}
