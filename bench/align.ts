// `npm run bench:align [-- --corpus dir] [--only id,id] [--no-timing]`: runs the product's analysis on every corpus
// case, compares with the ground truth, prints a markdown table and writes .bench/align.json.
// The 5-minute pair (the longest case) and a 10-minute one (that recording twice in a row) are timed in a child
// pinned to one core (taskset -c 0, ffmpeg -threads 1).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runsOf } from './lib/cases.ts';
import type { Truth } from './lib/cases.ts';
import { loadAnalyzer, root } from './lib/engine.ts';
import { fmt, machine, maxAbs, median } from './lib/stats.ts';
import type { CaseEntry } from './lib/generate.ts';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string', default: join(root, 'corpus') },
    only: { type: 'string' },
    'no-timing': { type: 'boolean', default: false },
    repeats: { type: 'string', default: '3' },
    // Internal: time one pair in this process and print JSON (used by the pinned child).
    'time-pair': { type: 'string', multiple: true },
  },
});

const GROSS_MS = 20;

/** CPU time (user + system) of this process and its finished children (ffmpeg), from /proc (clock ticks of 10 ms). */
function cpuMsOfSelfAndChildren(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14–17 of stat (utime, stime, cutime, cstime) are at 11–14 after the command name.
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
}

/** A manifest entry as bench/corpus.ts writes it. */
type ManifestCase = CaseEntry;

if (values['time-pair']) {
  const [dance, bgm] = values['time-pair'];
  const { analyze } = await loadAnalyzer(1);
  const times: number[] = [];
  const cpu: number[] = [];
  let stages: Record<string, number> | null = null;
  let segments: { danceStart: number; danceEnd: number; offsetSeconds: number }[] = [];
  for (let i = 0; i <= Number(values.repeats); i++) {
    const t0 = performance.now();
    const c0 = cpuMsOfSelfAndChildren();
    const out = await analyze(dance, bgm);
    times.push(performance.now() - t0);
    cpu.push(cpuMsOfSelfAndChildren() - c0);
    stages = out.timings;
    if (!out.alignment) throw new Error(`timing pair failed: ${out.errorCode} ${out.errorMessage}`);
    segments = out.alignment.segments.map((g) => ({ danceStart: g.danceStart, danceEnd: g.danceEnd, offsetSeconds: g.offsetSeconds }));
  }
  process.stdout.write(JSON.stringify({ coldMs: times[0], warmMs: times.slice(1), coldCpuMs: cpu[0], warmCpuMs: cpu.slice(1), stages, segments }) + '\n');
  process.exit(0);
}

const corpusDir = resolve(values.corpus);
const manifestFile = join(corpusDir, 'cases.json');
if (!existsSync(manifestFile)) {
  console.error(`No corpus at ${corpusDir}: run \`npm run corpus\` first.`);
  process.exit(2);
}
const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { cases: ManifestCase[] };
let cases = manifest.cases;
if (values.only) {
  const ids = new Set(values.only.split(','));
  cases = cases.filter((c) => ids.has(c.id));
}

const { analyze, via } = await loadAnalyzer(1);
console.error(`analysis via ${via}; ${cases.length} cases`);

interface Row {
  id: string;
  conditions: string[];
  expectMatch: boolean;
  matched: boolean;
  /** ambiguous-ok: the engine said it cannot tell two places apart, and the truth is one of them. */
  status: 'ok' | 'ambiguous-ok' | 'gross' | 'refused' | 'false-refusal' | 'false-accept' | 'error';
  ambiguous: boolean;
  /** Runs of music (restarts, run-throughs) found with the right mapping, of those in the recording. */
  segmentsFound: number;
  segmentsExpected: number;
  errorCode: string | null;
  /** Sync error (BGM time, ms) at the middle of the music span, and the worst over the span (at its ends). */
  midErrorMs: number | null;
  spanErrorMs: number | null;
  /** Error of offsetSeconds itself (at dance time 0, where drift errors are extrapolated). */
  offsetErrorMs: number | null;
  driftErrorPpm: number | null;
  confidence: number | null;
  musicStartError: number | null;
  musicEndError: number | null;
  wallMs: number;
  wallMsPerMinute: number;
  durationSeconds: number;
  got: { offsetSeconds: number; speed: number; musicStart: number; musicEnd: number } | null;
  /** Runner-up offsets (engine candidates) and the pipeline's alternate, to see whether the truth was in reach. */
  candidates: { offsetSeconds: number; score: number }[];
  alternateOffsetSeconds: number | null;
  /** For a gross error: the alternate (or a candidate) is within 20 ms of the truth. */
  truthInAlternate: boolean;
  truthInCandidates: boolean;
  truth: Truth | null;
}

const rows: Row[] = [];
for (const c of cases) {
  const t0 = performance.now();
  const out = await analyze(join(corpusDir, c.dance), join(corpusDir, c.bgm));
  const wallMs = performance.now() - t0;
  const a = out.alignment;
  const matched = out.errorCode === null && !!a?.matched;
  const row: Row = {
    id: c.id, conditions: c.conditions, expectMatch: c.expectMatch, matched, status: 'error', errorCode: out.errorCode,
    ambiguous: a?.ambiguous ?? false, segmentsFound: 0, segmentsExpected: c.truth ? runsOf(c.truth).length : 0,
    midErrorMs: null, spanErrorMs: null, offsetErrorMs: null, driftErrorPpm: null, confidence: a?.confidence ?? null,
    musicStartError: null, musicEndError: null, wallMs, wallMsPerMinute: wallMs / (c.durationSeconds / 60), durationSeconds: c.durationSeconds,
    got: a ? { offsetSeconds: a.offsetSeconds, speed: a.speed, musicStart: a.musicStart, musicEnd: a.musicEnd } : null,
    truth: c.truth,
    candidates: a?.candidates.slice(0, 5) ?? [],
    alternateOffsetSeconds: out.alternate?.offsetSeconds ?? null,
    truthInAlternate: false,
    truthInCandidates: false,
  };
  if (c.truth && a && matched) {
    const tr = c.truth;
    const err = (t: number): number => (a.offsetSeconds + a.speed * t - (tr.offsetSeconds + tr.speed * t)) * 1e3;
    row.midErrorMs = err((tr.musicStart + tr.musicEnd) / 2);
    row.spanErrorMs = Math.max(Math.abs(err(tr.musicStart)), Math.abs(err(tr.musicEnd)));
    row.offsetErrorMs = err(0);
    row.driftErrorPpm = (a.speed - tr.speed) * 1e6;
    row.musicStartError = a.musicStart - tr.musicStart;
    row.musicEndError = a.musicEnd - tr.musicEnd;
    const near = (o: number): boolean => Math.abs(o - tr.offsetSeconds) * 1e3 < GROSS_MS;
    row.truthInAlternate = row.alternateOffsetSeconds !== null && near(row.alternateOffsetSeconds);
    row.truthInCandidates = a.candidates.some((x) => near(x.offsetSeconds));
    row.status = row.spanErrorMs <= GROSS_MS ? 'ok' : a.ambiguous && row.truthInAlternate ? 'ambiguous-ok' : 'gross';
    // A run is found when a reported segment covers its middle with the right mapping there.
    row.segmentsFound = runsOf(tr).filter((run) => {
      const mid = (run.musicStart + run.musicEnd) / 2;
      return a.segments.some((g) => g.danceStart <= mid && g.danceEnd >= mid && Math.abs(g.offsetSeconds + g.speed * mid - (run.offsetSeconds + run.speed * mid)) * 1e3 < GROSS_MS);
    }).length;
  } else if (c.expectMatch) {
    row.status = out.errorCode === 'NO_MATCH' ? 'false-refusal' : 'error';
  } else {
    row.status = matched ? 'false-accept' : out.errorCode === 'NO_MATCH' ? 'refused' : 'error';
  }
  rows.push(row);
  console.error(`${c.id}: ${row.status} mid ${fmt(row.midErrorMs)} ms, span ${fmt(row.spanErrorMs)} ms, drift err ${fmt(row.driftErrorPpm, 2)} ppm, conf ${fmt(row.confidence, 2)}, ${(wallMs / 1000).toFixed(2)} s${row.status === 'gross' ? ` [got offset ${a?.offsetSeconds.toFixed(4)}, truth ${c.truth?.offsetSeconds.toFixed(4)}, alternate ${fmt(row.alternateOffsetSeconds, 4)}, truth among candidates: ${row.truthInCandidates}]` : ''}${out.errorCode && c.expectMatch ? ` (${out.errorCode}: ${out.errorMessage})` : ''}`);
}

const good = rows.filter((r) => r.spanErrorMs !== null);
const spans = good.map((r) => r.spanErrorMs as number);
const mids = good.map((r) => Math.abs(r.midErrorMs as number));
const drifts = good.map((r) => r.driftErrorPpm as number);
const mismatches = rows.filter((r) => !r.expectMatch);
const summary = {
  cases: rows.length,
  matchedCases: rows.filter((r) => r.expectMatch).length,
  medianMidErrorMs: median(mids),
  worstMidErrorMs: maxAbs(mids),
  medianSpanErrorMs: median(spans),
  worstSpanErrorMs: maxAbs(spans),
  medianAbsDriftErrorPpm: median(drifts.map(Math.abs)),
  worstDriftErrorPpm: maxAbs(drifts),
  grossErrors: rows.filter((r) => r.status === 'gross').map((r) => r.id),
  falseRefusals: rows.filter((r) => r.status === 'false-refusal').map((r) => r.id),
  errors: rows.filter((r) => r.status === 'error').map((r) => `${r.id}: ${r.errorCode}`),
  mismatchesRefused: `${mismatches.filter((r) => r.status === 'refused').length}/${mismatches.length}`,
  falseAccepts: rows.filter((r) => r.status === 'false-accept').map((r) => r.id),
  medianWallMsPerMinute: median(rows.map((r) => r.wallMsPerMinute)),
  ambiguousOk: rows.filter((r) => r.status === 'ambiguous-ok').map((r) => r.id),
  segments: `${rows.reduce((n, r) => n + r.segmentsFound, 0)}/${rows.reduce((n, r) => n + r.segmentsExpected, 0)}`,
};

/**
 * Reliability of `confidence` over the answers given as matched: per band, how often the reported place was right
 * (within GROSS_MS over the span). Calibrated means the rate sits inside its band.
 */
const BANDS = [0, 0.5, 0.8, 0.9, 0.99, 1.0001];
const reliability = BANDS.slice(0, -1).map((lo, i) => {
  const hi = BANDS[i + 1];
  const inBand = rows.filter((r) => r.matched && r.confidence !== null && r.confidence >= lo && r.confidence < hi);
  const right = inBand.filter((r) => r.status === 'ok').length;
  return { band: `${lo.toFixed(2)}–${Math.min(1, hi).toFixed(2)}`, answers: inBand.length, right, rate: inBand.length ? right / inBand.length : null };
});

// The 5-minute pair: the longest matched case, timed in a child pinned to one core. The 10-minute pair: that
// case's recording twice in a row (two run-throughs, joined without re-encoding) against the same song.
let timing: Record<string, unknown> | null = null;
let timingTwice: Record<string, unknown> | null = null;
if (!values['no-timing']) {
  const longest = [...cases].filter((c) => c.expectMatch).sort((x, y) => y.durationSeconds - x.durationSeconds)[0];
  if (longest) {
    const attempt = (label: string, run: () => Record<string, unknown>): Record<string, unknown> => {
      try {
        return run();
      } catch (err) {
        return { case: label, error: String((err as Error).message).split('\n').slice(0, 3).join(' ') };
      }
    };
    timing = attempt(longest.id, () => timePair(longest.id, join(corpusDir, longest.dance), longest.durationSeconds, longest));
    timingTwice = attempt(`${longest.id} twice`, () => timePair(`${longest.id} twice`, twiceOver(longest), 2 * longest.durationSeconds, longest));
  }
}

/** The case's recording played twice in a row, joined by ffmpeg's concat demuxer without re-encoding (cached in .bench/). */
function twiceOver(c: ManifestCase): string {
  const out = join(root, '.bench', `${c.id}-twice.mp4`);
  if (existsSync(out)) return out;
  const list = join(root, '.bench', `${c.id}-twice.txt`);
  const file = join(corpusDir, c.dance);
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(list, `file '${file}'\nfile '${file}'\n`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', out]);
  return out;
}

function timePair(label: string, dance: string, danceSeconds: number, c: ManifestCase): Record<string, unknown> {
  const stdout = execFileSync('taskset', ['-c', '0', process.execPath, join(root, 'bench', 'align.ts'), '--repeats', values.repeats,
    '--time-pair', dance, '--time-pair', join(corpusDir, c.bgm)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const t = JSON.parse(stdout.trim().split('\n').pop() as string) as { coldMs: number; warmMs: number[]; coldCpuMs: number; warmCpuMs: number[]; stages: Record<string, number> | null; segments: unknown[] };
  return {
    case: label,
    danceSeconds,
    bgmSeconds: c.bgmDurationSeconds,
    segments: t.segments,
    pinning: 'taskset -c 0 (node and its ffmpeg children on one core), ffmpeg -threads 1',
    coldMs: t.coldMs,
    warmMs: t.warmMs,
    warmMedianMs: median(t.warmMs),
    coldCpuMs: t.coldCpuMs,
    warmCpuMs: t.warmCpuMs,
    warmMedianCpuMs: median(t.warmCpuMs),
    loadAverage: loadavg(),
    stagesOfLastRun: t.stages,
  };
}

const report = { machine: machine(), via, command: `npm run bench:align${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`, summary, reliability, timing, timingTwice, rows };
await mkdir(join(root, '.bench'), { recursive: true });
await writeFile(join(root, '.bench', 'align.json'), JSON.stringify(report, null, 2) + '\n');

const lines: string[] = [];
lines.push('| case | expect | result | err mid (ms) | err worst in span (ms) | offset err @t=0 (ms) | drift err (ppm) | confidence | segments | musicStart err (s) | musicEnd err (s) | wall (s) | wall/min audio (s) |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  lines.push(`| ${r.id} | ${r.expectMatch ? 'match' : 'refuse'} | ${r.status}${r.ambiguous && r.status === 'ok' ? ' (ambiguous)' : ''}${r.errorCode && r.status !== 'refused' ? ` (${r.errorCode})` : ''} | ${fmt(r.midErrorMs)} | ${fmt(r.spanErrorMs)} | ${fmt(r.offsetErrorMs)} | ${fmt(r.driftErrorPpm, 2)} | ${fmt(r.confidence, 2)} | ${r.segmentsExpected ? `${r.segmentsFound}/${r.segmentsExpected}` : ''} | ${fmt(r.musicStartError, 2)} | ${fmt(r.musicEndError, 2)} | ${fmt(r.wallMs / 1000, 2)} | ${fmt(r.wallMsPerMinute / 1000, 2)} |`);
}
lines.push('');
lines.push('| confidence | answers (matched) | right | rate |');
lines.push('|---|---|---|---|');
for (const b of reliability) lines.push(`| ${b.band} | ${b.answers} | ${b.right} | ${b.rate === null ? '' : b.rate.toFixed(2)} |`);
lines.push('');
lines.push(`- median |error| (middle of span): ${fmt(summary.medianMidErrorMs)} ms; worst: ${fmt(summary.worstMidErrorMs)} ms`);
lines.push(`- median worst-in-span |error|: ${fmt(summary.medianSpanErrorMs)} ms; worst: ${fmt(summary.worstSpanErrorMs)} ms (goal: median ≤ 1 ms, worst ≤ 5 ms)`);
lines.push(`- drift error: median ${fmt(summary.medianAbsDriftErrorPpm, 2)} ppm, worst ${fmt(summary.worstDriftErrorPpm, 2)} ppm (goal ≤ 5 ppm)`);
lines.push(`- gross errors (> ${GROSS_MS} ms): ${summary.grossErrors.length ? summary.grossErrors.map((id) => {
  const r = rows.find((x) => x.id === id) as Row;
  return `${id} (got ${fmt(r.got?.offsetSeconds ?? null)} s, truth ${fmt(r.truth?.offsetSeconds ?? null)} s, confidence ${fmt(r.confidence, 2)}; truth is the alternate: ${r.truthInAlternate ? 'yes' : 'no'})`;
}).join(', ') : 'none'} (goal: none)`);
lines.push(`- mismatched songs refused: ${summary.mismatchesRefused} (goal: all); false accepts: ${summary.falseAccepts.join(', ') || 'none'}`);
lines.push(`- ambiguous, the truth one of the two places offered: ${summary.ambiguousOk.join(', ') || 'none'}; runs of music found (restarts, run-throughs): ${summary.segments}`);
lines.push(`- false refusals: ${summary.falseRefusals.join(', ') || 'none'}; other errors: ${summary.errors.join(', ') || 'none'}`);
lines.push(`- median wall time per minute of recording: ${fmt(summary.medianWallMsPerMinute / 1000, 2)} s (in-process, ffmpeg -threads 1, machine shared)`);
for (const [t, goal] of [[timing, 1.5], [timingTwice, 3]] as const) {
  if (t?.error) lines.push(`- ${String(t.case)} timing failed: ${String(t.error)}`);
  else if (t) {
    lines.push(`- ${String(t.case)} (${fmt(t.danceSeconds as number, 0)} s recording vs ${fmt(t.bgmSeconds as number, 0)} s song, ${(t.segments as unknown[]).length} segment(s) found), one core: cold ${fmt((t.coldMs as number) / 1000, 2)} s, warm median ${fmt((t.warmMedianMs as number) / 1000, 2)} s of ${(t.warmMs as number[]).length}; CPU time (node + ffmpeg) warm median ${fmt((t.warmMedianCpuMs as number) / 1000, 2)} s; load average ${(t.loadAverage as number[]).map((x) => x.toFixed(1)).join(' ')} (goal ≤ ${goal} s)`);
  }
}
console.log(lines.join('\n'));
