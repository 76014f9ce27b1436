// One clip per run-through: which clips a recording with several music segments (restarts, two
// run-throughs) gets, and the sound of a timeline on which every segment plays its own music mapping.
// Pure: names, alignments and filter graphs; render.ts runs them.
import type { AlignSegment, Alignment } from '../align/types.ts';
import { CROSSFADE_SECONDS, OUTPUT_SAMPLE_RATE, audioFilterGraph, musicFilters, planAudio, secondsArg } from './plan.ts';
import type { MusicMapping } from './plan.ts';
import type { ClipSegment, ClipVariantName, VariantName } from './types.ts';

/**
 * Fade at a segment's edge that faces another segment (s): silence lies between run-throughs (the room
 * there is the teacher restarting), and a short fade keeps the cut from clicking.
 */
export const SEGMENT_EDGE_FADE_SECONDS = 0.02;

export interface RunThroughClip {
  variant: 'trimmed' | ClipVariantName;
  /** 1-based; 1 = `trimmed`, the segment the alignment's top level describes. */
  clip: number;
  segment: ClipSegment;
  /**
   * What the renderer cuts and maps for this clip. Clip 1 is the analysis's own alignment object (so it
   * shares the timeline's mix with `full`); the others copy it with their segment's mapping and span.
   */
  alignment: Alignment;
}

const segmentsOf = (al: Alignment): AlignSegment[] => [...(al.segments ?? [])].sort((a, b) => a.danceStart - b.danceStart);

const overlap = (s: AlignSegment, from: number, to: number): number => Math.max(0, Math.min(s.danceEnd, to) - Math.max(s.danceStart, from));

/** The clips of an alignment: one per segment; a single `trimmed` when there is at most one segment. */
export function runThroughClips(alignment: Alignment): RunThroughClip[] {
  const segments = segmentsOf(alignment);
  const own: ClipSegment = { danceStart: alignment.musicStart, danceEnd: alignment.musicEnd, offsetSeconds: alignment.offsetSeconds };
  if (segments.length <= 1) return [{ variant: 'trimmed', clip: 1, segment: own, alignment }];
  // The top level describes the longest segment: that one is `trimmed`, the rest follow in dance-time order.
  let main = 0;
  for (let i = 1; i < segments.length; i++) {
    if (overlap(segments[i], alignment.musicStart, alignment.musicEnd) > overlap(segments[main], alignment.musicStart, alignment.musicEnd)) main = i;
  }
  const clips: RunThroughClip[] = [{ variant: 'trimmed', clip: 1, segment: own, alignment }];
  segments.forEach((s, i) => {
    if (i === main) return;
    const n = clips.length + 1;
    clips.push({
      variant: `trimmed-${n}`,
      clip: n,
      segment: { danceStart: s.danceStart, danceEnd: s.danceEnd, offsetSeconds: s.offsetSeconds },
      alignment: {
        ...alignment,
        offsetSeconds: s.offsetSeconds,
        speed: s.speed,
        driftPpm: s.driftPpm,
        confidence: s.confidence,
        musicStart: s.danceStart,
        musicEnd: s.danceEnd,
      },
    });
  });
  return clips;
}

/** `trimmed` asks for every run-through's clip; `trimmed-n` for that one alone. Order kept, repeats dropped. */
export function expandClipVariants(requested: readonly VariantName[], alignment: Alignment): VariantName[] {
  const clips = runThroughClips(alignment);
  const out: VariantName[] = [];
  for (const v of requested) {
    const names = v === 'trimmed' ? clips.map((c) => c.variant) : [v];
    for (const name of names) if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The clip named `variant` (`trimmed`, `trimmed-2`, …), or null when the alignment has no such run-through. */
export function clipFor(alignment: Alignment, variant: VariantName): RunThroughClip | null {
  return runThroughClips(alignment).find((c) => c.variant === variant) ?? null;
}

export function isClipVariant(variant: VariantName): variant is 'trimmed' | ClipVariantName {
  return variant === 'trimmed' || /^trimmed-[0-9]+$/.test(variant);
}

export interface TimelineSound {
  /** Dance time at output sample 0. */
  zeroDance: number;
  /** Dance time of the dance sound's first decoded sample in this run. */
  roomZeroDance: number;
  durationSeconds: number;
  alignment: Alignment;
  /** Song time at each dance time for one mapping (the nudge applied by the caller). */
  mapping: (line: { offsetSeconds: number; speed: number }) => MusicMapping;
  danceAudioIndex: number;
  bgmAudioIndex: number;
}

/**
 * The filter graph producing [aout] for this stretch of the dance timeline (input 0 = dance, 1 = BGM).
 * One segment (or none listed): the song where the alignment heard it, the room sound elsewhere. Several:
 * each segment carries its own music, silence between them (edges faded over SEGMENT_EDGE_FADE_SECONDS),
 * the room sound only before the first and after the last, crossfaded as with one segment.
 */
export function timelineSoundGraph(t: TimelineSound): string {
  const segments = segmentsOf(t.alignment);
  if (segments.length <= 1) {
    const plan = planAudio({ ...stretch(t), mapping: t.mapping(t.alignment), musicStart: t.alignment.musicStart, musicEnd: t.alignment.musicEnd });
    return audioFilterGraph(plan, t.danceAudioIndex, t.bgmAudioIndex);
  }
  const duration = Math.max(1, Math.round(t.durationSeconds * OUTPUT_SAMPLE_RATE)) / OUTPUT_SAMPLE_RATE;
  const outStart = t.zeroDance;
  const outEnd = t.zeroDance + duration;
  const half = CROSSFADE_SECONDS / 2;
  const edge = SEGMENT_EDGE_FADE_SECONDS;
  const fadeAt = (kind: 'in' | 'out', danceTime: number, length: number) =>
    `afade=t=${kind}:st=${secondsArg(Math.max(0, danceTime - outStart - length / 2))}:d=${length}`;

  // Only segments whose music (fades included) reaches into this output.
  const heard = segments
    .map((s, i) => ({ s, first: i === 0, last: i === segments.length - 1 }))
    .filter(({ s, first, last }) => s.danceEnd + (last ? half : edge / 2) > outStart && s.danceStart - (first ? half : edge / 2) < outEnd);
  const musics: { filters: string[]; fades: string[] }[] = [];
  for (const { s, first, last } of heard) {
    const plan = planAudio({ ...stretch(t), mapping: t.mapping(s), musicStart: s.danceStart, musicEnd: s.danceEnd });
    if (!plan.music) continue;
    const fades: string[] = [];
    const inLength = first ? CROSSFADE_SECONDS : edge;
    const outLength = last ? CROSSFADE_SECONDS : edge;
    if (s.danceStart - inLength / 2 > outStart) fades.push(fadeAt('in', s.danceStart, inLength));
    if (s.danceEnd + outLength / 2 < outEnd) fades.push(fadeAt('out', s.danceEnd, outLength));
    musics.push({ filters: musicFilters(plan.music, plan.totalSamples), fades });
  }

  const L = Math.max(1, Math.round(t.durationSeconds * OUTPUT_SAMPLE_RATE));
  const fit = `apad=whole_len=${L},atrim=end_sample=${L},asetpts=N/SR/TB`;
  const chains: string[] = [];
  const inputs: string[] = [];
  if (musics.length > 1) {
    chains.push(`[1:${t.bgmAudioIndex}]asetpts=N/SR/TB,asplit=${musics.length}${musics.map((_, i) => `[bgm${i}]`).join('')}`);
  }
  musics.forEach((m, i) => {
    const source = musics.length > 1 ? `[bgm${i}]anull` : `[1:${t.bgmAudioIndex}]asetpts=N/SR/TB`;
    chains.push([source, ...m.filters, ...m.fades].join(',') + `[music${i}]`);
    inputs.push(`[music${i}]`);
  });

  // The room sound before the first run-through and after the last (the talk around the class).
  const firstStart = segments[0].danceStart;
  const lastEnd = segments[segments.length - 1].danceEnd;
  const roomBefore = firstStart - half > outStart;
  const roomAfter = lastEnd + half < outEnd;
  if (roomBefore || roomAfter) {
    const roomDelay = Math.max(0, Math.round((t.roomZeroDance - t.zeroDance) * OUTPUT_SAMPLE_RATE));
    const room = [
      `[0:${t.danceAudioIndex}]asetpts=N/SR/TB`,
      `aresample=${OUTPUT_SAMPLE_RATE}:resampler=soxr`,
      'aformat=sample_fmts=fltp:channel_layouts=stereo',
      'asetpts=N/SR/TB',
      `adelay=delays=${roomDelay}S:all=1`,
      fit,
    ].join(',');
    const parts: string[] = [];
    if (roomBefore) parts.push(fadeAt('out', firstStart, CROSSFADE_SECONDS));
    if (roomAfter) parts.push(fadeAt('in', lastEnd, CROSSFADE_SECONDS));
    if (parts.length === 2) {
      chains.push(`${room},asplit=2[roomA][roomB]`, `[roomA]${parts[0]}[room0]`, `[roomB]${parts[1]}[room1]`);
      inputs.push('[room0]', '[room1]');
    } else {
      chains.push(`${room},${parts[0]}[room0]`);
      inputs.push('[room0]');
    }
  }

  if (inputs.length === 0) {
    // Between two run-throughs, with neither reaching in: silence.
    chains.push(`anullsrc=r=${OUTPUT_SAMPLE_RATE}:cl=stereo,aformat=sample_fmts=fltp,atrim=end_sample=${L},asetpts=N/SR/TB[aout]`);
  } else if (inputs.length === 1) {
    chains.push(`${inputs[0]}anull[aout]`);
  } else {
    chains.push(`${inputs.join('')}amix=inputs=${inputs.length}:normalize=0:duration=longest:dropout_transition=0,${fit}[aout]`);
  }
  return chains.join(';');
}

function stretch(t: TimelineSound) {
  return { zeroDance: t.zeroDance, roomZeroDance: t.roomZeroDance, durationSeconds: t.durationSeconds };
}
