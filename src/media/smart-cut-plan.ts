// Pure planning for a smart cut: which frames to re-encode (from the cut to the next keyframe) and where the
// untouched copy takes over, from the packet list in the stream's own ticks. No process is started here.

/** One packet in the stream's time base (integer ticks), decode order. */
export interface TickPacket {
  pts: number;
  dts: number;
  duration: number;
  keyframe: boolean;
}

export interface HeadPlan {
  /** Keyframe at or before the cut: decoding starts there. */
  decodeFrom: TickPacket;
  /** pts of the re-encoded frames, in display order; the first is the frame shown at the cut. */
  headPts: number[];
  /** Where the re-encoded frames stop showing (ticks). */
  headEnd: number;
  /** The keyframe the copy starts at, null when the head reaches the end. */
  tailFrom: TickPacket | null;
  /** Copied packets listed from tailFrom on (decode order), for the after-write check. */
  tailPackets: TickPacket[];
}

export type HeadDecision = { kind: 'plan'; plan: HeadPlan } | { kind: 'keyframe' } | { kind: 'skip'; reason: string };

/**
 * `packets` are listed from the keyframe at or before `startTick` on, at least to `listedTo` (or the end of
 * the stream). The first kept frame is the one showing at `startTick`; the head runs to the next keyframe
 * or to `endTick`, whichever comes first. A keyframe with leading pictures (open GOP: later packets showing
 * before it) cannot start a copy, since those pictures refer to frames the head replaces.
 */
export function planHead(packets: readonly TickPacket[], startTick: number, endTick: number, listedTo: number): HeadDecision {
  let from = -1;
  for (let i = 0; i < packets.length; i++) if (packets[i].keyframe && packets[i].pts <= startTick) from = i;
  if (from < 0) return { kind: 'skip', reason: 'no keyframe found before the cut' };
  const decodeFrom = packets[from];
  const after = packets.slice(from);
  let first = -Infinity;
  for (const p of after) if (p.pts <= startTick && p.pts > first) first = p.pts;
  if (first === decodeFrom.pts) return { kind: 'keyframe' };

  const k = after.findIndex((p, i) => i > 0 && p.keyframe && p.pts > first);
  let tailFrom: TickPacket | null = null;
  let tailPackets: TickPacket[] = [];
  if (k > 0 && after[k].pts < endTick) {
    tailFrom = after[k];
    tailPackets = after.slice(k);
    if (tailPackets.some((p) => p.pts < tailFrom!.pts)) return { kind: 'skip', reason: 'open GOP: the next keyframe has leading pictures' };
    if (tailPackets.length < 2) return { kind: 'skip', reason: 'too few packets listed after the next keyframe' };
  } else if (k < 0 && listedTo < endTick) {
    return { kind: 'skip', reason: 'no keyframe within the look-ahead after the cut' };
  }

  const stop = tailFrom ? tailFrom.pts : endTick;
  const shown = [...new Set(after.map((p) => p.pts))].sort((a, b) => a - b);
  const headPts = shown.filter((t) => t >= first && t < stop);
  const last = headPts[headPts.length - 1];
  const lastPacket = after.find((p) => p.pts === last)!;
  const next = shown.find((t) => t > last);
  const headEnd = tailFrom ? tailFrom.pts : next !== undefined ? next : last + Math.max(1, lastPacket.duration);
  return { kind: 'plan', plan: { decodeFrom, headPts, headEnd, tailFrom, tailPackets } };
}

/** "1/15360" → [1, 15360]; null for anything else. */
export function parseTimeBase(text: string | undefined): [number, number] | null {
  const m = /^(\d+)\/(\d+)$/.exec(text ?? '');
  if (!m) return null;
  const num = Number(m[1]);
  const den = Number(m[2]);
  return num > 0 && den > 0 ? [num, den] : null;
}
