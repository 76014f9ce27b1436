// What the smart cut costs: `sync --variant trimmed`'s render on a 1080p30 H.264 video with x264's default
// GOP (250 frames), the music starting 6 s in (2.3 s after the second keyframe), with and without the
// smart cut, same run. Run: node_modules/.bin/node bench/smart-cut.ts [runs=3]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alignment } from '../src/align/types.ts';
import { probeMedia, runFfmpeg } from '../src/media/index.ts';
import { renderWithDetails } from '../src/pipeline/index.ts';

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
const times: Record<'keyframe' | 'smart', number[]> = { keyframe: [], smart: [] };
let report = '';
for (let i = 0; i < runs; i++) {
  for (const mode of ['keyframe', 'smart'] as const) {
    const start = performance.now();
    const { variants } = await renderWithDetails(dance, bgm, analysis, join(work, `${mode}-${i}`), { variants: ['trimmed'], smartCut: mode === 'smart' });
    times[mode].push((performance.now() - start) / 1000);
    if (mode === 'smart') report = JSON.stringify({ danceStart: variants[0].danceStart, smartCut: variants[0].smartCut });
  }
}
const k = median(times.keyframe);
const s = median(times.smart);
console.log(JSON.stringify({ runs, keyframeSeconds: k, smartSeconds: s, ratio: s / k, all: times, report }, null, 1));
await rm(work, { recursive: true, force: true });
