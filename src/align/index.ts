// The alignment engine: finds where a room recording sits in the clean song (offset, clock drift,
// where the music is heard) with sub-millisecond accuracy, or says that the song is not in it.
// 1. Coarse: envelope correlation over all lags gives a deep list of places (a looped song has many).
// 2. Every place is measured with GCC-PHAT windows spread over the whole recording, so the place that
//    explains the most of the recording wins; a repeated section supports several places, the whole
//    recording only one.
// 3. The same search against the time-reversed song (certainly not in the recording) is the null that
//    turns the winner's stacked height along its whole line into a false-alarm probability: `matched`
//    and `confidence` come from it.
// 4. Runners-up are compared with the winner window by window where they predict different sound; when
//    nothing tells them apart (an exact repeat), the answer is `ambiguous` with both places.
// 5. Music outside the winner's span that follows a mapping of its own (a restart, a second run-through)
//    becomes another segment.
import { coarseCandidates } from './coarse.ts';
import type { CoarseCandidate } from './coarse.ts';
import { makeContext, MAX_REFLECTION, MAX_SMEAR, round, unmatched, withBgm } from './context.ts';
import type { Context, Hypothesis, Line, Verified } from './context.ts';
import { compare, samePlace, spread } from './decide.ts';
import type { Verdict } from './decide.ts';
import { onsetEnvelopes, reversedEnvelopes } from './envelope.ts';
import type { Envelopes } from './envelope.ts';
import { longLook, matcherFor, overlapOf, stackedLine, STACK_TRUSTED_Z, verify, windowCount } from './lines.ts';
import { musicSpan } from './span.ts';
import type { AlignCandidate, AlignInput, AlignOptions, AlignSegment, Alignment } from './types.ts';

export type { AlignCandidate, AlignInput, AlignOptions, AlignSegment, Alignment } from './types.ts';

/** Mono rate (Hz) the pipeline decodes both files at before calling the engine. */
export const ANALYSIS_SAMPLE_RATE = 16000;
/** A runner-up at least this plausible (odds against the winner) gets an `alternate` variant. */
export const ALTERNATE_MIN_SCORE = 0.05;

/** Coarse places examined at most, and the fraction of the best coarse height that earns a look. */
const COARSE_DEPTH = 24;
const COARSE_KEEP = 0.35;
const COARSE_MIN = 8;
/** Null places (reversed song) measured to calibrate. */
const NULL_PLACES = 8;
/** Largest false-alarm probability at which the song counts as found. */
const MAX_FALSE_ALARM = 0.01;
/** Below this probability of beating its best rival, the winner is reported as ambiguous. */
const SURE_OF_PLACE = 0.9;
/** Pass-1 leaders that get a long-window look, at most. */
const CONTENDERS = 6;
/** Windows over the whole recording in pass 1 and 2, and along the winner's line. */
const PASS1_WINDOWS = 24;
const PASS2_WINDOWS = 24;
const FINAL_WINDOWS = 40;
/** Runners-up compared window by window with the winner… */
const RIVALS = 3;
/** …when chance does not explain them as well (false-alarm probability at most this). */
const RIVAL_MAX_FALSE_ALARM = 0.5;
/** Stacked height chance is assumed to reach at least, and the null tail's scale (noise units). */
const STACK_NULL_FLOOR = 10;
const STACK_TAIL = 2;
/** Shortest run of music kept as a segment (s), and the most segments looked for. */
const MIN_SEGMENT_SECONDS = 5;
const MAX_SEGMENTS = 4;
/** Coarse places examined in a stretch not covered by a segment. */
const SEGMENT_PLACES = 8;

export interface AlignResult {
  alignment: Alignment;
  /** The second place, measured like the first, when it is plausible (always when ambiguous). */
  alternate: Alignment | null;
}

export async function alignRecording(input: AlignInput, options: AlignOptions = {}): Promise<Alignment> {
  return (await alignWithAlternate(input, options)).alignment;
}

export async function alignWithAlternate(input: AlignInput, options: AlignOptions = {}): Promise<AlignResult> {
  const ctx = await makeContext(input, options);
  if (!ctx) return { alignment: unmatched(input), alternate: null };
  const { sampleRate } = input;
  const danceEnv = await onsetEnvelopes(input.dance, sampleRate);
  ctx.progress(0.1);
  const bgmEnv = await onsetEnvelopes(input.bgm, sampleRate);
  ctx.progress(0.2);
  const [real, reversed] = await coarseCandidates(danceEnv, [bgmEnv, reversedEnvelopes(bgmEnv)], ctx.maxSpeedDev * 1e6, COARSE_DEPTH, (2 * MAX_SMEAR) / ctx.matcher.window);
  ctx.progress(0.3);
  const top = real[0]?.z ?? 0;
  const places = real.filter((c, i) => i < COARSE_MIN || c.z >= COARSE_KEEP * top).map(toHypothesis);
  return solve(ctx, places, reversed.slice(0, NULL_PLACES).map(toHypothesis), { dance: danceEnv, bgm: bgmEnv });
}

/**
 * Runs the fine stages around one coarse offset (BGM time at dance time 0), trying speeds across
 * the drift range (kept for callers that hold a rough offset of their own).
 */
export async function refineCandidate(input: AlignInput, coarseOffsetSeconds: number, options: AlignOptions = {}): Promise<Alignment> {
  const ctx = await makeContext(input, options);
  if (!ctx) return unmatched(input);
  const step = 0.08 / Math.max(1, ctx.danceSeconds);
  const half = Math.min(8, Math.ceil(ctx.maxSpeedDev / step));
  const hypotheses: Hypothesis[] = [];
  for (let i = -half; i <= half; i++) {
    hypotheses.push({
      offset: coarseOffsetSeconds,
      speed: 1 + (half === 0 ? 0 : (i * ctx.maxSpeedDev) / half),
      speedError: half === 0 ? ctx.maxSpeedDev : ctx.maxSpeedDev / half / 2,
    });
  }
  const bgmEnv = await onsetEnvelopes(input.bgm, input.sampleRate);
  const danceEnv = await onsetEnvelopes(input.dance, input.sampleRate);
  const [, reversed] = await coarseCandidates(danceEnv, [bgmEnv, reversedEnvelopes(bgmEnv)], ctx.maxSpeedDev * 1e6, NULL_PLACES);
  const { alignment } = await solve(ctx, hypotheses, reversed.map(toHypothesis), null);
  alignment.candidates = [];
  return alignment;
}

const toHypothesis = (c: CoarseCandidate): Hypothesis => ({ offset: c.offsetSeconds, speed: c.speed, speedError: c.speedError });

interface Measured {
  line: Line;
  /** Pass-1 evidence (ranks the places for the long look). */
  evidence: number;
  /** The long look (long windows over the whole recording), once taken. */
  long?: Verified;
  /** Dance times of the pass-1 windows that agreed. */
  agreeing: number[];
  verified: Verified;
}

/** A place measured densely along its own line: the precise line, its span and stacked height. */
interface Placed {
  line: Line;
  span: { start: number; end: number };
  z: number;
  windowsUsed: number;
  windowsTotal: number;
}

async function solve(ctx: Context, places: Hypothesis[], nullPlaces: Hypothesis[], env: { dance: Envelopes; bgm: Envelopes } | null): Promise<AlignResult> {
  const withRivals = env !== null;
  const whole = { start: 0, end: ctx.danceSeconds };
  const nullCtx = withBgm(ctx, ctx.input.bgm.slice().reverse());
  const first = await measureAll(ctx, places, (i) => ctx.progress(0.3 + (0.35 * (i + 1)) / places.length));
  const nulls = await measureAll(nullCtx, nullPlaces, () => {});
  const found = first.filter((m): m is Measured => m !== null && m.verified.fit.inliers.length > 0).sort((a, b) => b.evidence - a.evidence);
  if (found.length === 0) {
    ctx.progress(1);
    return { alignment: unmatched(ctx.input), alternate: null };
  }
  // Long windows for the leaders, on equal terms (the same windows over the whole recording).
  const contenders = found.slice(0, CONTENDERS).map((m) => ({ m, long: longOf(ctx, m) }));
  contenders.sort((a, b) => b.long.evidence - a.long.evidence);
  ctx.progress(0.75);

  let winner = contenders[0].m;
  let placed = place(ctx, contenders[0].long.fit, whole);
  // The null's best place, measured like the winner, sets the stacked height chance reaches and how
  // often a window "hears" a song that is not there.
  const nullBest = nulls.filter((m): m is Measured => m !== null).sort((a, b) => b.evidence - a.evidence)[0];
  const nullPlaced = nullBest ? place(nullCtx, nullBest.verified.fit, whole, false) : null;
  const nullZ = nullPlaced?.z ?? 0;
  // The decision statistic is the stacked height along the whole line, against the null's: a song that shares
  // instrument samples with the recording can give a few very clear windows, but only the right song keeps
  // agreeing along the whole line; and many weak windows that agree (an echoing hall at low SNR) add up.
  const chanceOf = (p: Placed): number => stackFalseAlarm(p.z, nullZ);
  ctx.progress(0.85);

  // Rivals: other places that agree inside the winner's span (not next to it, not elsewhere in the recording).
  let alternate: { placed: Placed; pWinner: number } | null = null;
  const rivals: AlignCandidate[] = [];
  /** Each plausible rival's odds against the current winner. */
  const odds: number[] = [];
  let memo: { line: Line | null; verdicts: Map<number, Verdict> } = { line: null, verdicts: new Map() };
  if (withRivals) {
    const others = contenders.slice(1).map((c) => c.m).concat(found.slice(CONTENDERS));
    const inside = others.filter((m) => !samePlace(m.line, placed.line, 0, ctx.danceSeconds) && mostlyInside(m.agreeing, placed.span));
    for (const m of dedupe(inside, ctx).slice(0, RIVALS)) {
      const rival = place(ctx, longOf(ctx, m).fit, whole);
      // A place that chance explains as well is no rival, however the windows compare.
      if (chanceOf(rival) > RIVAL_MAX_FALSE_ALARM) continue;
      const reach = { start: Math.min(placed.span.start, overlapOf(ctx, rival.line).start), end: Math.max(placed.span.end, overlapOf(ctx, rival.line).end) };
      if (memo.line !== placed.line) memo = { line: placed.line, verdicts: new Map() };
      const c = compare(ctx, placed.line, rival.line, spread(reach.start, reach.end, FINAL_WINDOWS), memo.verdicts);
      const against = (1 - c.pA) / Math.max(1e-12, c.pA);
      if (c.pA < 0.5) {
        // The rival explains the recording better: it wins, the old winner becomes the rival.
        const previous = { placed, m: winner };
        placed = rival;
        winner = m;
        alternate = { placed: previous.placed, pWinner: 1 - c.pA };
        for (let k = 0; k < odds.length; k++) odds[k] /= against;
        odds.push(1 / against);
      } else {
        if (!alternate || c.pA < alternate.pWinner) alternate = { placed: rival, pWinner: c.pA };
        odds.push(against);
      }
      rivals.push({ offsetSeconds: rival.line.offset, score: round(Math.min(1, (1 - c.pA) / Math.max(1e-9, c.pA)), 4) });
    }
  }
  const fa = chanceOf(placed);
  const matched = fa <= MAX_FALSE_ALARM;
  // Probability that the winner is the right place among it and its plausible rivals (three equal places: 1/3).
  const pPlace = 1 / (1 + odds.reduce((sum, o) => sum + o, 0));
  const ambiguous = matched && pPlace < SURE_OF_PLACE;
  const confidence = round((1 - fa) * pPlace, 4);

  // Segments: music elsewhere in the recording that follows a mapping of its own.
  const segments: AlignSegment[] = [];
  const dropped: { danceStart: number; danceEnd: number }[] = [];
  if (matched) {
    segments.push(segmentOf(placed, confidence));
    if (env) await findSegments(ctx, env, segments, dropped, nullZ);
    segments.sort((a, b) => a.danceStart - b.danceStart);
  }
  ctx.progress(1);
  const candidates = rivals.filter((c) => Math.abs(c.offsetSeconds - placed.line.offset) > MAX_REFLECTION).sort((a, b) => b.score - a.score);
  const alignment = alignmentOf(placed, { confidence, matched, ambiguous, candidates, segments, dropped });
  const showAlternate = matched && alternate && (ambiguous || (1 - alternate.pWinner) / alternate.pWinner >= ALTERNATE_MIN_SCORE);
  const alt = showAlternate && alternate
    ? alignmentOf(alternate.placed, { confidence: round((1 - fa) * (1 - alternate.pWinner), 4), matched: true, ambiguous, candidates: [], segments: [segmentOf(alternate.placed, round((1 - fa) * (1 - alternate.pWinner), 4))], dropped: [] })
    : null;
  return { alignment, alternate: alt };
}

async function measureAll(ctx: Context, places: Hypothesis[], onEach: (i: number) => void): Promise<(Measured | null)[]> {
  const out: (Measured | null)[] = [];
  for (let i = 0; i < places.length; i++) {
    const h = places[i];
    const matcher = await matcherFor(ctx, h.speedError);
    const v = verify(ctx, matcher, h, PASS1_WINDOWS, { range: { start: 0, end: ctx.danceSeconds } });
    out.push(v ? { line: { offset: v.fit.offset, speed: v.fit.speed }, evidence: v.evidence, agreeing: v.fit.inliers.map((k) => v.matches[k].danceTime), verified: { ...v, hypothesis: h } } : null);
    onEach(i);
  }
  return out;
}

/** The place's long look, taken once: its evidence is comparable with the null's and its fit is the best rough line. */
function longOf(ctx: Context, m: Measured): Verified {
  m.long ??= longLook(ctx, m.verified, PASS2_WINDOWS);
  return m.long;
}

/** Measures a line densely over its overlap (within `range`): precise line, span, stacked height. */
function place(ctx: Context, rough: Line, range: { start: number; end: number }, withSpan = true): Placed {
  const overlap = overlapOf(ctx, rough);
  const reach = { start: Math.max(range.start, overlap.start), end: Math.min(range.end, overlap.end) };
  const line = { ...rough, speedError: 0 };
  const final = verify(ctx, ctx.matcher, line, windowCount(reach, 1, 8, FINAL_WINDOWS), { stacking: true, range: reach });
  if (!final) return { line: rough, span: reach, z: 0, windowsUsed: 0, windowsTotal: 0 };
  const stacked = stackedLine(ctx, final);
  // Nothing reads the windows' cross-spectra after this: their memory serves the next place.
  if (final.stack) ctx.matcher.recycle(final.stack);
  const precise = stacked.z >= STACK_TRUSTED_Z ? stacked.line : { offset: final.fit.offset, speed: final.fit.speed };
  const within = overlapOf(ctx, precise);
  const spanRange = { start: Math.max(range.start, within.start), end: Math.min(range.end, within.end) };
  // The span's edges cost as much as the line: measured only for a place that is reported.
  let span: { start: number; end: number } | null = withSpan ? null : spanRange;
  return {
    line: precise,
    get span() {
      span ??= musicSpan(ctx, precise, final, spanRange);
      return span;
    },
    z: stacked.z,
    windowsUsed: final.fit.inliers.length,
    windowsTotal: final.matches.length,
  };
}

/**
 * The chance that a song not in the recording reaches stacked height z, from the null's best height:
 * an exponential tail above it (a Gaussian's would be thinner). One reversed song underestimates what a
 * different song made from the same instrument samples reaches (a module by the same composer: 10.9;
 * other songs up to 7.1), hence the floor; right songs start near 28 (a 5 dB-under-noise echoing room).
 */
function stackFalseAlarm(z: number, nullZ: number): number {
  return Math.min(1, Math.exp(-(z - Math.max(nullZ, STACK_NULL_FLOOR)) / STACK_TAIL));
}

/** Most of the agreeing windows lie inside the span. */
function mostlyInside(times: number[], span: { start: number; end: number }): boolean {
  const inside = times.filter((t) => t >= span.start - 1 && t <= span.end + 1).length;
  return inside > 0 && inside >= times.length - inside;
}

/** Strongest first, one per place. */
function dedupe(ms: Measured[], ctx: Context): Measured[] {
  const kept: Measured[] = [];
  for (const m of [...ms].sort((a, b) => b.evidence - a.evidence)) {
    if (!kept.some((k) => samePlace(k.line, m.line, 0, ctx.danceSeconds))) kept.push(m);
  }
  return kept;
}

/**
 * Adds a segment for each stretch of music outside the known segments that follows a mapping of its
 * own (a restart, a second run-through): each uncovered stretch gets its own coarse search, its places
 * are measured there and compared like the winner's rivals. Stretches shorter than
 * MIN_SEGMENT_SECONDS are reported as dropped.
 */
async function findSegments(ctx: Context, env: { dance: Envelopes; bgm: Envelopes }, segments: AlignSegment[], dropped: { danceStart: number; danceEnd: number }[], nullZ: number): Promise<void> {
  const searched: { start: number; end: number }[] = [];
  while (segments.length < MAX_SEGMENTS) {
    const gap = gapsBetween(segments, ctx.danceSeconds).find((g) => g.end - g.start >= MIN_SEGMENT_SECONDS && !searched.some((s) => s.start === g.start && s.end === g.end));
    if (!gap) return;
    searched.push(gap);
    const from = Math.floor(gap.start * env.dance.frameRate);
    const to = Math.min(env.dance.frames, Math.ceil(gap.end * env.dance.frameRate));
    const part = sliceEnvelopes(env.dance, from, to);
    const [found] = await coarseCandidates(part, [env.bgm], ctx.maxSpeedDev * 1e6, SEGMENT_PLACES, (2 * MAX_SMEAR) / ctx.matcher.window);
    const shift = from / env.dance.frameRate;
    const measured: { line: Line; evidence: number; fit: Line }[] = [];
    for (const c of found) {
      const h = { offset: c.offsetSeconds - c.speed * shift, speed: c.speed, speedError: c.speedError };
      // A window per 2 s finds a line; `place` then measures the best densely.
      const v = verify(ctx, await matcherFor(ctx, h.speedError), h, windowCount(gap, 2, 6, PASS1_WINDOWS / 2), { range: gap });
      if (v && v.fit.inliers.length > 0) measured.push({ line: h, evidence: v.evidence, fit: v.fit });
    }
    measured.sort((a, b) => b.evidence - a.evidence);
    // No window rose above what noise alone reaches: nothing to place.
    if (!measured.length || measured[0].evidence <= 0) continue;
    let best = place(ctx, measured[0].fit, gap);
    const rivals = measured.slice(1, 1 + RIVALS).map((m) => ({ fit: m.fit, placed: place(ctx, m.fit, gap) }));
    // The answer is one of these places: when chance explains every one of them, no comparison can help.
    if ([best, ...rivals.map((r) => r.placed)].every((p) => stackFalseAlarm(p.z, nullZ) > MAX_FALSE_ALARM)) continue;
    const times = spread(gap.start, gap.end, windowCount(gap, 1, 8, FINAL_WINDOWS));
    let verdicts = new Map<number, Verdict>();
    for (const { fit, placed: rival } of rivals) {
      if (samePlace(fit, best.line, gap.start, gap.end)) continue;
      if (compare(ctx, best.line, rival.line, times, verdicts).pA < 0.5) {
        best = rival;
        verdicts = new Map();
      }
    }
    const fa = stackFalseAlarm(best.z, nullZ);
    if (fa > MAX_FALSE_ALARM || best.span.end <= best.span.start) continue;
    if (best.span.end - best.span.start < MIN_SEGMENT_SECONDS) {
      dropped.push({ danceStart: best.span.start, danceEnd: best.span.end });
      continue;
    }
    segments.push(segmentOf(best, round(1 - fa, 4)));
  }
}

function sliceEnvelopes(env: Envelopes, from: number, to: number): Envelopes {
  return { ...env, bands: env.bands.map((b) => b.subarray(from, to)), frames: Math.max(0, to - from) };
}

/** Dance-time stretches not covered by any segment (with a second's margin), longer than a window. */
function gapsBetween(segments: AlignSegment[], danceSeconds: number): { start: number; end: number }[] {
  const sorted = [...segments].sort((a, b) => a.danceStart - b.danceStart);
  const gaps: { start: number; end: number }[] = [];
  let from = 0;
  for (const s of sorted) {
    if (s.danceStart - 1 - from > 2) gaps.push({ start: from, end: s.danceStart - 0.5 });
    from = Math.max(from, s.danceEnd + 0.5);
  }
  if (danceSeconds - from > 2) gaps.push({ start: from, end: danceSeconds });
  return gaps;
}

function segmentOf(p: Placed, confidence: number): AlignSegment {
  return {
    danceStart: p.span.start,
    danceEnd: p.span.end,
    offsetSeconds: p.line.offset,
    speed: p.line.speed,
    driftPpm: (p.line.speed - 1) * 1e6,
    confidence,
  };
}

function alignmentOf(
  p: Placed,
  d: { confidence: number; matched: boolean; ambiguous: boolean; candidates: AlignCandidate[]; segments: AlignSegment[]; dropped: { danceStart: number; danceEnd: number }[] },
): Alignment {
  const out: Alignment = {
    offsetSeconds: p.line.offset,
    speed: p.line.speed,
    driftPpm: (p.line.speed - 1) * 1e6,
    confidence: d.confidence,
    matched: d.matched,
    musicStart: p.span.start,
    musicEnd: p.span.end,
    candidates: d.candidates,
    ambiguous: d.ambiguous,
    segments: d.matched ? d.segments : [],
    windowsUsed: p.windowsUsed,
    windowsTotal: p.windowsTotal,
  };
  if (d.dropped.length) out.droppedSegments = d.dropped;
  return out;
}
