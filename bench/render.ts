// `npm run bench:render [-- --repeats 5] [--4k10] [--profile]`: times the product's syncFiles on a 3-minute 1080p30
// H.264 phone video against the floor of the job, "copy the video + encode the music once" (issue #10:
// `ffmpeg -i dance -ss OFFSET -i bgm -map 0:v -map 1:a -c:v copy -c:a aac -b:a 256k -shortest`), in the same run,
// alternating, medians and per-round ratios; plus the peak memory and CPU time of each whole process tree.
// `--profile` adds one run of each sync with every child process's wall and CPU time. Inputs are generated once
// and cached in .bench/render/.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCase, timeline } from './lib/cases.ts';
import type { CaseSpec } from './lib/cases.ts';
import type { VariantName } from '../src/pipeline/types.ts';
import { encodeDance, loadSong, renderDanceAudio } from './lib/generate.ts';
import type { CorpusContext } from './lib/generate.ts';
import { loadSync, root } from './lib/engine.ts';
import { watchTree } from './lib/memory.ts';
import { withRenderMalloc } from '../src/process-env.ts';
import { childrenCpuMs, watchProcesses } from './lib/process-profile.ts';
import type { ProcessSpan } from './lib/process-profile.ts';
import { ffmpeg, floatsToBytes } from './lib/proc.ts';
import { fmt, machine, median } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    '4k10': { type: 'boolean', default: false },
    /** Also time the syncs of another checkout (e.g. the previous commit, with this bench file), in the same rounds. */
    before: { type: 'string' },
    /** Only the 10-minute 4K input (its memory). */
    'only-4k10': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /**
     * Also time two floors for writing both files (trimmed = the baseline's output, full = all of the picture
     * with the song) by stream copy: `floor-one-run` (one ffmpeg reads each input once and writes both; ffmpeg
     * encodes the AAC once per output) and `floor-encode-once` (the song encoded once, then one ffmpeg copies
     * it and the picture into both).
     */
    floor: { type: 'boolean', default: false },
    music: { type: 'string', default: resolve(root, '..', 'shared', 'music') },
    // Internal: run one syncFiles in this process and print its timing as JSON (the parent watches memory).
    'child-sync': { type: 'string', multiple: true },
  },
});

if (values['child-sync']) {
  const [dance, bgm, outDir, variants] = values['child-sync'];
  const syncFiles = await loadSync();
  if (!syncFiles) throw new Error('src/pipeline/index.ts has no syncFiles yet');
  const t0 = performance.now();
  const result = await syncFiles(dance, bgm, outDir, variants ? { variants: variants.split(',') as VariantName[] } : {});
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, variants: result.variants.map((v) => v.variant), timings: result.report.timings, offset: result.report.alignment.offsetSeconds }) + '\n');
  process.exit(0);
}

const SONG = 'nexuiz-calling-bogus.ogg'; // the longest song (278 s)
const benchDir = join(root, '.bench', 'render');
const ctx: CorpusContext = { musicDir: resolve(values.music), corpusDir: benchDir, cacheDir: join(benchDir, '_cache'), log: (m) => console.error(m) };

interface Input {
  name: string;
  dance: string;
  bgm: string;
  seconds: number;
  picture: string;
}

/** A classroom recording (talk, room, noise, drift) of the song, as the picture asks. */
async function makeAudio(spec: CaseSpec): Promise<Float32Array> {
  const song = await loadSong(ctx, spec.song);
  const { truth, durationSeconds } = timeline(spec, song.pcm.length / song.sampleRate);
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-'));
  try {
    return (await renderDanceAudio(spec, song, truth, durationSeconds, ctx, work)).pcm;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function input3min(): Promise<Input> {
  const file = join(benchDir, 'dance-1080p30-3min.mp4');
  const input = { name: '3-minute 1080p30 H.264 + AAC', dance: file, bgm: join(ctx.musicDir, SONG), seconds: 180, picture: '1920×1080 30 fps H.264 (x264 ultrafast, crf 23), AAC 128k' };
  if (existsSync(file)) return input;
  console.error('generating the 3-minute 1080p30 input (once)…');
  await mkdir(benchDir, { recursive: true });
  const spec = makeCase({ id: 'render-3min', song: SONG, bgmStart: 30, leadIn: 10, talk: true, musicSeconds: 165, tail: 5, driftPpm: 100, noise: { color: 'pink', snrDb: 10 }, room: { rt60: 0.8, reflectionMs: 45, reflectionGain: 0.8 }, seed: 77 });
  const pcm = await makeAudio(spec);
  await encodeDance(spec, pcm, `${file}.part.mp4`, { width: 1920, height: 1080, fps: 30, codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '23', '-g', '60', '-pix_fmt', 'yuv420p'] });
  await ffmpeg(['-i', `${file}.part.mp4`, '-c', 'copy', file]);
  await rm(`${file}.part.mp4`);
  return input;
}

/**
 * 10 minutes of 4K30: 10 s are encoded, then repeated by stream copy (encoding 10 minutes of 4K here takes too
 * long). High profile with B-frames and 3 references, as phones write it; the music starts 1.3 s into a 2 s
 * GOP, so `trimmed` needs a smart-cut head (the largest memory of a render).
 */
async function input4k10(): Promise<Input> {
  const file = join(benchDir, 'dance-2160p30-10min-high.mp4');
  const input = { name: '10-minute 2160p30 H.264 High + AAC, music from mid-GOP', dance: file, bgm: join(ctx.musicDir, SONG), seconds: 600, picture: '3840×2160 30 fps H.264 High (10 s of x264 superfast crf 28, 2 B-frames, 3 refs, GOP 2 s, looped by stream copy), AAC 128k' };
  if (existsSync(file)) return input;
  console.error('generating the 10-minute 4K input (once)…');
  await mkdir(benchDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-'));
  try {
    const spec = makeCase({ id: 'render-4k10', song: SONG, leadIn: 181.3, talk: true, musicSeconds: null, tail: 150, driftPpm: -80, noise: { color: 'pink', snrDb: 10 }, seed: 78 });
    const pcm = await makeAudio(spec);
    const raw = join(work, 'a.raw');
    await writeFile(raw, floatsToBytes(pcm));
    const audio = join(work, 'a.m4a');
    await ffmpeg(['-f', 'f32le', '-ar', String(spec.audioRate), '-ac', '1', '-i', raw, '-c:a', 'aac', '-b:a', '128k', '-ac', '2', audio]);
    const loop = join(work, 'v.mp4');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=3840x2160:rate=30', '-t', '10', '-c:v', 'libx264', '-preset', 'superfast', '-profile:v', 'high', '-x264-params', 'ref=3:bframes=2:scenecut=0', '-crf', '28', '-g', '60', '-pix_fmt', 'yuv420p', loop]);
    const seconds = (pcm.length / spec.audioRate).toFixed(6);
    await ffmpeg(['-stream_loop', '-1', '-i', loop, '-i', audio, '-map', '0:v', '-map', '1:a', '-c', 'copy', '-t', seconds, '-movflags', '+faststart', file]);
    return input;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

type Floor = 'floor-one-run' | 'floor-encode-once';
type Kind = 'baseline' | 'trimmed' | 'both' | 'trimmed-before' | 'both-before' | Floor;
const beforeRoot = values.before ? resolve(values.before) : null;
const KINDS: readonly Kind[] = [
  'baseline', 'trimmed', 'both',
  ...(beforeRoot ? (['trimmed-before', 'both-before'] as const) : []),
  ...(values.floor ? (['floor-one-run', 'floor-encode-once'] as const) : []),
];
const isSync = (k: Kind): k is keyof typeof VARIANTS_OF => k in VARIANTS_OF;
/** What each sync kind asks for. */
const VARIANTS_OF: Record<'trimmed' | 'both' | 'trimmed-before' | 'both-before', string> = { trimmed: 'trimmed', both: 'trimmed,full', 'trimmed-before': 'trimmed', 'both-before': 'trimmed,full' };

interface Measured {
  ms: number;
  /** CPU time of the whole process tree (user + system). */
  cpuMs: number;
  peakMb: number;
  peakByNameMb: Record<string, number>;
  timings?: Record<string, number>;
  offset?: number;
  processes?: ProcessSpan[];
}

/** Runs a command, timing it and watching the memory (and, when asked, each process) of its whole tree. */
function measure(cmd: string, args: string[], profile = false): Promise<Measured & { stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const cpu0 = childrenCpuMs();
    const t0 = performance.now();
    // The sync child starts as `beatsync sync` and a job's process do: with Node's compile cache (no
    // TypeScript stripped again) and the render malloc settings (src/process-env.ts).
    const env = { ...withRenderMalloc(process.env), NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'node-compile-cache') };
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const watch = watchTree(child.pid as number);
    const processes = profile ? watchProcesses(child.pid as number) : null;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const peak = watch.stop();
      const spans = processes?.stop();
      if (code !== 0) reject(new Error(`${cmd} exited with ${code}: ${stderr.trim()}`));
      else resolvePromise({ ms, cpuMs: childrenCpuMs() - cpu0, ...peak, stdout, ...(spans ? { processes: spans } : {}) });
    });
  });
}

/** The floor: the picture copied and the song encoded once, from where the alignment puts it. */
function runBaseline(input: Input, offset: number, out: string): Promise<Measured> {
  // A negative offset (the recording starts before the song) plays the song from its start: the same work.
  return measure('ffmpeg', [
    '-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', input.dance, '-ss', Math.max(0, offset).toFixed(6), '-i', input.bgm,
    '-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'aac', '-b:a', '256k', '-shortest', out,
  ]);
}

/** Both files by stream copy (see --floor); `out` is a prefix. */
async function runFloor(kind: Floor, input: Input, offset: number, out: string): Promise<Measured> {
  const head = ['-hide_banner', '-nostdin', '-v', 'error', '-y'];
  const song = ['-ss', Math.max(0, offset).toFixed(6), '-i', input.bgm];
  const trimmed = ['-map', '0:v', '-map', '1:a', '-shortest'];
  const full = ['-map', '0:v', '-map', '1:a'];
  if (kind === 'floor-one-run') {
    const aac = ['-c:v', 'copy', '-c:a', 'aac', '-b:a', '256k'];
    return measure('ffmpeg', [...head, '-i', input.dance, ...song, ...trimmed, ...aac, `${out}-trimmed.mp4`, ...full, ...aac, `${out}-full.mp4`]);
  }
  const encode = await measure('ffmpeg', [...head, ...song, '-map', '0:a', '-c:a', 'aac', '-b:a', '256k', `${out}-song.m4a`]);
  const copy = await measure('ffmpeg', [...head, '-i', input.dance, '-i', `${out}-song.m4a`, ...trimmed, '-c', 'copy', `${out}-trimmed.mp4`, ...full, '-c', 'copy', `${out}-full.mp4`]);
  return { ms: encode.ms + copy.ms, cpuMs: encode.cpuMs + copy.cpuMs, peakMb: Math.max(encode.peakMb, copy.peakMb), peakByNameMb: copy.peakByNameMb };
}

async function runSync(input: Input, outDir: string, variants: string, profile = false, codeRoot = root): Promise<Measured> {
  const args = [join(codeRoot, 'bench', 'render.ts'), '--child-sync', input.dance, '--child-sync', input.bgm, '--child-sync', outDir, '--child-sync', variants];
  const r = await measure(process.execPath, args, profile);
  const inner = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { timings: Record<string, number>; offset: number };
  return { ms: r.ms, cpuMs: r.cpuMs, peakMb: r.peakMb, peakByNameMb: r.peakByNameMb, timings: inner.timings, offset: inner.offset, processes: r.processes };
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

function printProfile(kind: string, m: Measured): void {
  console.error(`  profile of ${kind}: ${seconds(m.ms)} s wall, ${seconds(m.cpuMs)} s CPU; report.timings ${JSON.stringify(m.timings)}`);
  for (const p of m.processes ?? []) {
    console.error(`    ${seconds(p.startMs).padStart(6)}–${seconds(p.endMs).padEnd(6)} ${p.name.padEnd(8)} cpu ${seconds(p.cpuMs).padStart(5)} s  ${p.what}`);
  }
}

async function bench(input: Input, repeats: number, profile: boolean): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-'));
  try {
    // A first sync (not counted) finds the offset for the baseline and warms the page cache for all three.
    const warm = await runSync(input, join(work, 'warm'), 'trimmed');
    await rm(join(work, 'warm'), { recursive: true, force: true });
    const offset = warm.offset as number;
    const runs = Object.fromEntries(KINDS.map((k) => [k, [] as Measured[]])) as Record<Kind, Measured[]>;
    const once = async (what: Kind, i: number, withProfile = false): Promise<Measured> => {
      const out = join(work, `${what}-${i}`);
      const m = what === 'baseline'
        ? await runBaseline(input, offset, `${out}.mp4`)
        : isSync(what)
          ? await runSync(input, out, VARIANTS_OF[what], withProfile, what.endsWith('-before') ? beforeRoot! : root)
          : await runFloor(what, input, offset, out);
      await rm(out, { recursive: true, force: true });
      for (const suffix of ['.mp4', '-trimmed.mp4', '-full.mp4', '-song.m4a']) await rm(`${out}${suffix}`, { force: true });
      return m;
    };
    for (let i = 0; i < repeats; i++) {
      // Rotate the order, so cache warmth and neighbours' load favour none of them.
      const order = [...KINDS.slice(i % KINDS.length), ...KINDS.slice(0, i % KINDS.length)];
      for (const what of order) {
        const m = await once(what, i);
        runs[what].push(m);
        console.error(`  ${what} #${i + 1}: ${seconds(m.ms)} s, CPU ${seconds(m.cpuMs)} s, peak ${m.peakMb.toFixed(0)} MB ${JSON.stringify(m.peakByNameMb)}`);
      }
    }
    if (profile) for (const what of ['trimmed', 'both'] as const) printProfile(what, await once(what, repeats, true));
    const med = (k: Kind, f: (m: Measured) => number) => median(runs[k].map(f));
    // Each round's own ratio (the three ran back to back), and their median.
    const roundRatios = (k: Kind) => runs[k].map((m, i) => m.ms / runs.baseline[i].ms);
    return {
      input: input.name,
      picture: input.picture,
      seconds: input.seconds,
      sizeMb: Number(((await stat(input.dance)).size / 2 ** 20).toFixed(1)),
      offsetSeconds: offset,
      repeats,
      ms: Object.fromEntries(KINDS.map((k) => [k, runs[k].map((m) => Math.round(m.ms))])),
      cpuMs: Object.fromEntries(KINDS.map((k) => [k, runs[k].map((m) => m.cpuMs)])),
      medianMs: Object.fromEntries(KINDS.map((k) => [k, med(k, (m) => m.ms)])),
      medianCpuMs: Object.fromEntries(KINDS.map((k) => [k, med(k, (m) => m.cpuMs)])),
      trimmedRatio: med('trimmed', (m) => m.ms) / med('baseline', (m) => m.ms),
      bothRatio: med('both', (m) => m.ms) / med('baseline', (m) => m.ms),
      trimmedRoundRatioMedian: median(roundRatios('trimmed')),
      bothRoundRatioMedian: median(roundRatios('both')),
      ...(beforeRoot ? {
        before: beforeRoot,
        trimmedBeforeRatio: med('trimmed-before', (m) => m.ms) / med('baseline', (m) => m.ms),
        bothBeforeRatio: med('both-before', (m) => m.ms) / med('baseline', (m) => m.ms),
        trimmedBeforeRoundRatioMedian: median(roundRatios('trimmed-before')),
        bothBeforeRoundRatioMedian: median(roundRatios('both-before')),
      } : {}),
      ...(values.floor ? {
        floorOneRunRatio: med('floor-one-run', (m) => m.ms) / med('baseline', (m) => m.ms),
        floorEncodeOnceRatio: med('floor-encode-once', (m) => m.ms) / med('baseline', (m) => m.ms),
        bothOverFloorEncodeOnce: med('both', (m) => m.ms) / med('floor-encode-once', (m) => m.ms),
        floorOneRunRoundRatioMedian: median(roundRatios('floor-one-run')),
        floorEncodeOnceRoundRatioMedian: median(roundRatios('floor-encode-once')),
      } : {}),
      peakMb: Object.fromEntries(KINDS.map((k) => [k, Math.round(Math.max(...runs[k].map((m) => m.peakMb)))])),
      peakByNameMb: [...runs.trimmed, ...runs.both].map((r) => r.peakByNameMb),
      /** 1/5/15-minute load averages at the end: the machine is shared, so read the times with this in mind. */
      loadAverage: loadavg(),
      stageTimingsMs: { trimmed: runs.trimmed.at(-1)?.timings, both: runs.both.at(-1)?.timings },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (!(await loadSync())) {
  console.error('src/pipeline/index.ts (syncFiles) does not exist yet.');
  process.exit(2);
}
const repeats = Math.max(1, Number(values.repeats));
const results: Record<string, unknown>[] = [];
if (!values['only-4k10']) {
  const i3 = await input3min();
  console.error(`benchmarking ${i3.name} (${repeats} repeats each, alternating)…`);
  results.push(await bench(i3, repeats, values.profile));
}
if (values['4k10'] || values['only-4k10']) {
  const i4 = await input4k10();
  console.error(`benchmarking ${i4.name}…`);
  results.push(await bench(i4, Math.min(repeats, 3), values.profile));
}
const report = { machine: machine(), command: `npm run bench:render${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`, results };
await mkdir(join(root, '.bench'), { recursive: true });
await writeFile(join(root, '.bench', 'render.json'), JSON.stringify(report, null, 2) + '\n');

type Row = {
  input: string; medianMs: Record<Kind, number>; medianCpuMs: Record<Kind, number>; peakMb: Record<Kind, number>; trimmedRatio: number; bothRatio: number; trimmedRoundRatioMedian: number; bothRoundRatioMedian: number;
  before?: string; trimmedBeforeRatio?: number; bothBeforeRatio?: number; trimmedBeforeRoundRatioMedian?: number; bothBeforeRoundRatioMedian?: number;
};
console.log('| input | baseline (s) | trimmed (s) | trimmed / baseline | both (s) | both / baseline | CPU s: baseline / trimmed / both | peak MB: baseline / trimmed / both |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results as unknown as Row[]) {
  const m = r.medianMs;
  const c = r.medianCpuMs;
  if (r.trimmedBeforeRatio !== undefined) {
    console.log(`| ${r.input}, before (${String(r.before)}) | ${seconds(m.baseline)} | ${seconds(m['trimmed-before'])} | ${fmt(r.trimmedBeforeRatio, 2)}× (rounds ${fmt(r.trimmedBeforeRoundRatioMedian, 2)}×) | ${seconds(m['both-before'])} | ${fmt(r.bothBeforeRatio, 2)}× (rounds ${fmt(r.bothBeforeRoundRatioMedian, 2)}×) | ${seconds(c.baseline)} / ${seconds(c['trimmed-before'])} / ${seconds(c['both-before'])} | ${r.peakMb.baseline} / ${r.peakMb['trimmed-before']} / ${r.peakMb['both-before']} |`);
  }
  console.log(`| ${r.input} | ${seconds(m.baseline)} | ${seconds(m.trimmed)} | ${fmt(r.trimmedRatio, 2)}× (rounds ${fmt(r.trimmedRoundRatioMedian, 2)}×) | ${seconds(m.both)} | ${fmt(r.bothRatio, 2)}× (rounds ${fmt(r.bothRoundRatioMedian, 2)}×) | ${seconds(c.baseline)} / ${seconds(c.trimmed)} / ${seconds(c.both)} | ${r.peakMb.baseline} / ${r.peakMb.trimmed} / ${r.peakMb.both} |`);
}
for (const r of results as unknown as (Row & { floorOneRunRatio?: number; floorEncodeOnceRatio?: number; bothOverFloorEncodeOnce?: number })[]) {
  if (r.floorOneRunRatio === undefined) continue;
  const m = r.medianMs as Record<Kind, number>;
  console.log(`\n${r.input}: both files by stream copy, one ffmpeg run ${seconds(m['floor-one-run'])} s (${fmt(r.floorOneRunRatio, 2)}× the baseline); song encoded once + one copy run ${seconds(m['floor-encode-once'])} s (${fmt(r.floorEncodeOnceRatio, 2)}×); sync both / that floor ${fmt(r.bothOverFloorEncodeOnce!, 2)}×`);
}
console.log(`\nLoad average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${machine().nproc} cores.`);
console.log('\nGoals: trimmed ≤ 1.3× and both ≤ 1.6× the baseline; peak memory ≤ 300 MB (10-minute 4K). Memory = summed VmRSS of the process tree (node + ffmpeg children), polled every 25 ms.');
