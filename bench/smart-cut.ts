// What the smart cut costs: `sync --variant trimmed`'s render on a 1080p30 H.264 video with x264's default
// GOP (250 frames), the music starting 6 s in (2.3 s after the second keyframe), with and without the
// smart cut, same run. Run: node_modules/.bin/node bench/smart-cut.ts [runs=3] [before-checkout]
// With a second argument (another checkout's root, e.g. `git archive` of an older commit with node_modules
// linked), that code's smart cut runs in the same rounds as `smart-before`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Alignment } from '../src/align/types.ts';
import { probeMedia, runFfmpeg } from '../src/media/index.ts';
import { renderWithDetails } from '../src/pipeline/index.ts';

type Render = typeof renderWithDetails;
const beforeRoot = process.argv[3];
const renderBefore: Render | null = beforeRoot
  ? ((await import(pathToFileURL(join(beforeRoot, 'src', 'pipeline', 'index.ts')).href)) as { renderWithDetails: Render }).renderWithDetails
  : null;

const runs = Number(process.argv[2] ?? 3);
const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-smart-'));
const dance = join(work, 'dance.mp4');
const bgm = join(work, 'bgm.wav');
await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30:duration=30', '-f', 'lavfi', '-i', 'anoisesrc=seed=3:amplitude=0.2:duration=30',
  '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-shortest', dance]);
await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'anoisesrc=seed=5:amplitude=0.3:duration=40:sample_rate=48000', bgm]);
const alignment: Alignment = {
  offsetSeconds: 2, speed: 1, driftPpm: 0, confidence: 1, matched: true, musicStart: 6, musicEnd: 28,
  candidates: [], windowsUsed: 10, windowsTotal: 10, ambiguous: false, segments: [],
};
const analysis = { alignment, dance: await probeMedia(dance), bgm: await probeMedia(bgm), alternate: null, timings: {} };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
type Mode = 'keyframe' | 'smart' | 'smart-before';
const modes: Mode[] = renderBefore ? ['keyframe', 'smart', 'smart-before'] : ['keyframe', 'smart'];
const times: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
let report = '';
for (let i = 0; i < runs; i++) {
  // Rotated, so neither the cache nor the neighbours' load favours one.
  for (const mode of [...modes.slice(i % modes.length), ...modes.slice(0, i % modes.length)]) {
    const start = performance.now();
    const render = mode === 'smart-before' ? renderBefore! : renderWithDetails;
    const { variants } = await render(dance, bgm, analysis, join(work, `${mode}-${i}`), { variants: ['trimmed'], smartCut: mode !== 'keyframe' });
    times[mode].push((performance.now() - start) / 1000);
    if (mode === 'smart') report = JSON.stringify({ danceStart: variants[0].danceStart, smartCut: variants[0].smartCut });
  }
}
const k = median(times.keyframe);
const s = median(times.smart);
const b = renderBefore ? median(times['smart-before']) : null;
const before = b === null ? {} : { beforeSeconds: b, beforeRatio: b / k, speedup: b / s };
console.log(JSON.stringify({ runs, keyframeSeconds: k, smartSeconds: s, ratio: s / k, ...before, all: times, report }, null, 1));
await rm(work, { recursive: true, force: true });
