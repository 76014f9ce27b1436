// `npm run bench:render [-- --repeats 3] [--4k10]`: times the product's syncFiles on a 3-minute 1080p30 H.264 phone
// video against a plain `ffmpeg -i in -c copy out.mp4` remux of the same file in the same run (alternating, medians),
// and the peak memory of each whole process tree. Inputs are generated once and cached in .bench/render/.
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
import { ffmpeg, floatsToBytes } from './lib/proc.ts';
import { fmt, machine, median } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    '4k10': { type: 'boolean', default: false },
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

/** 10 minutes of 4K30: 10 s are encoded, then repeated by stream copy (encoding 10 minutes of 4K here takes too long). */
async function input4k10(): Promise<Input> {
  const file = join(benchDir, 'dance-2160p30-10min.mp4');
  const input = { name: '10-minute 2160p30 H.264 + AAC', dance: file, bgm: join(ctx.musicDir, SONG), seconds: 600, picture: '3840×2160 30 fps H.264 (10 s of x264 ultrafast crf 28 looped by stream copy), AAC 128k' };
  if (existsSync(file)) return input;
  console.error('generating the 10-minute 4K input (once)…');
  await mkdir(benchDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-'));
  try {
    const spec = makeCase({ id: 'render-4k10', song: SONG, leadIn: 180, talk: true, musicSeconds: null, tail: 150, driftPpm: -80, noise: { color: 'pink', snrDb: 10 }, seed: 78 });
    const pcm = await makeAudio(spec);
    const raw = join(work, 'a.raw');
    await writeFile(raw, floatsToBytes(pcm));
    const audio = join(work, 'a.m4a');
    await ffmpeg(['-f', 'f32le', '-ar', String(spec.audioRate), '-ac', '1', '-i', raw, '-c:a', 'aac', '-b:a', '128k', '-ac', '2', audio]);
    const loop = join(work, 'v.mp4');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=3840x2160:rate=30', '-t', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '28', '-g', '60', '-pix_fmt', 'yuv420p', loop]);
    const seconds = (pcm.length / spec.audioRate).toFixed(6);
    await ffmpeg(['-stream_loop', '-1', '-i', loop, '-i', audio, '-map', '0:v', '-map', '1:a', '-c', 'copy', '-t', seconds, '-movflags', '+faststart', file]);
    return input;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Measured {
  ms: number;
  peakMb: number;
  peakByNameMb: Record<string, number>;
  innerMs?: number;
  timings?: Record<string, number>;
  variants?: string[];
}

/** Runs a command, timing it and watching the memory of its whole process tree. */
function measure(cmd: string, args: string[]): Promise<Measured & { stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const watch = watchTree(child.pid as number);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const peak = watch.stop();
      if (code !== 0) reject(new Error(`${cmd} exited with ${code}: ${stderr.trim()}`));
      else resolvePromise({ ms, ...peak, stdout });
    });
  });
}

async function runRemux(input: Input, out: string): Promise<Measured> {
  return measure('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', input.dance, '-c', 'copy', out]);
}

async function runSync(input: Input, outDir: string, variants?: string): Promise<Measured> {
  const args = [join(root, 'bench', 'render.ts'), '--child-sync', input.dance, '--child-sync', input.bgm, '--child-sync', outDir];
  if (variants) args.push('--child-sync', variants);
  const r = await measure(process.execPath, args);
  const inner = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { ms: number; timings: Record<string, number>; variants: string[] };
  return { ms: r.ms, peakMb: r.peakMb, peakByNameMb: r.peakByNameMb, innerMs: inner.ms, timings: inner.timings, variants: inner.variants };
}

async function bench(input: Input, repeats: number): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-'));
  try {
    const remux: Measured[] = [];
    const sync: Measured[] = [];
    const syncTrimmed: Measured[] = [];
    for (let i = 0; i < repeats; i++) {
      // Rotate the order, so cache warmth and neighbours' load favour none of them.
      const kinds = ['remux', 'sync', 'sync-trimmed'];
      const order = [...kinds.slice(i % 3), ...kinds.slice(0, i % 3)];
      for (const what of order) {
        const out = join(work, `${what}-${i}`);
        const m = what === 'remux' ? await runRemux(input, `${out}.mp4`) : await runSync(input, out, what === 'sync-trimmed' ? 'trimmed' : undefined);
        (what === 'remux' ? remux : what === 'sync' ? sync : syncTrimmed).push(m);
        await rm(out, { recursive: true, force: true });
        await rm(`${out}.mp4`, { force: true });
        console.error(`  ${what} #${i + 1}: ${(m.ms / 1000).toFixed(2)} s, peak ${m.peakMb.toFixed(0)} MB ${JSON.stringify(m.peakByNameMb)}`);
      }
    }
    const remuxMs = median(remux.map((r) => r.ms));
    const syncMs = median(sync.map((r) => r.ms));
    const trimmedMs = median(syncTrimmed.map((r) => r.ms));
    return {
      input: input.name,
      picture: input.picture,
      seconds: input.seconds,
      sizeMb: Number(((await stat(input.dance)).size / 2 ** 20).toFixed(1)),
      repeats,
      remuxMs: remux.map((r) => r.ms),
      syncMs: sync.map((r) => r.ms),
      syncInnerMs: sync.map((r) => r.innerMs),
      remuxMedianMs: remuxMs,
      syncMedianMs: syncMs,
      ratio: syncMs / remuxMs,
      syncTrimmedMs: syncTrimmed.map((r) => r.ms),
      syncTrimmedMedianMs: trimmedMs,
      trimmedRatio: trimmedMs / remuxMs,
      remuxPeakMb: Math.max(...remux.map((r) => r.peakMb)),
      syncPeakMb: Math.max(...sync.map((r) => r.peakMb), ...syncTrimmed.map((r) => r.peakMb)),
      syncPeakByNameMb: [...sync, ...syncTrimmed].map((r) => r.peakByNameMb),
      variants: sync[0]?.variants,
      /** 1/5/15-minute load averages at the end: the machine is shared, so read the times with this in mind. */
      loadAverage: loadavg(),
      stageTimingsMs: sync[sync.length - 1]?.timings,
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
const i3 = await input3min();
console.error(`benchmarking ${i3.name} (${repeats} repeats each, alternating)…`);
results.push(await bench(i3, repeats));
if (values['4k10']) {
  const i4 = await input4k10();
  console.error(`benchmarking ${i4.name}…`);
  results.push(await bench(i4, Math.min(repeats, 2)));
}
const report = { machine: machine(), command: `npm run bench:render${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`, results };
await mkdir(join(root, '.bench'), { recursive: true });
await writeFile(join(root, '.bench', 'render.json'), JSON.stringify(report, null, 2) + '\n');

console.log('| input | remux median (s) | sync median (s), default variants | sync / remux | sync median (s), trimmed only | trimmed / remux | peak memory sync (MB) | peak memory remux (MB) | default variants |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${String(r.input)} | ${fmt((r.remuxMedianMs as number) / 1000, 2)} | ${fmt((r.syncMedianMs as number) / 1000, 2)} | ${fmt(r.ratio as number, 1)}× | ${fmt((r.syncTrimmedMedianMs as number) / 1000, 2)} | ${fmt(r.trimmedRatio as number, 1)}× | ${fmt(r.syncPeakMb as number, 0)} | ${fmt(r.remuxPeakMb as number, 0)} | ${(r.variants as string[] | undefined)?.join(', ') ?? ''} |`);
}
console.log(`\nLoad average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${machine().nproc} cores.`);
console.log('\nGoals: sync ≤ 3× remux; peak memory ≤ 300 MB (10-minute 4K). Memory = summed VmRSS of the process tree (node + ffmpeg children), polled every 25 ms.');
