// Alignments as the engine would report them, for renderer tests that start from a known answer.
import type { AlignSegment, Alignment } from '../../src/align/types.ts';

/** One straight line: song time = offset + speed · dance time, the music playing over [from, to). */
export interface Line {
  offsetSeconds: number;
  speed: number;
  from: number;
  to: number;
  confidence?: number;
}

export function segmentOf(line: Line): AlignSegment {
  return {
    danceStart: line.from, danceEnd: line.to, offsetSeconds: line.offsetSeconds, speed: line.speed,
    driftPpm: (line.speed - 1) * 1e6, confidence: line.confidence ?? 1,
  };
}

/** A sure match on `main`; `segments` default to main alone. */
export function alignmentOf(main: Line, over: Partial<Alignment> = {}): Alignment {
  return {
    offsetSeconds: main.offsetSeconds, speed: main.speed, driftPpm: (main.speed - 1) * 1e6, confidence: main.confidence ?? 1,
    matched: true, musicStart: main.from, musicEnd: main.to, candidates: [], windowsUsed: 10, windowsTotal: 10, ambiguous: false,
    segments: [segmentOf(main)], ...over,
  };
}
