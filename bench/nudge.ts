// npm run bench:nudge [-- --rounds 5] — a job on a fresh pair of uploads against a second job on the same two
// uploads with another nudge (which reuses the first one's analysis), through the embedded job system, alternated.
// Needs `node bench/corpus.ts --only long-5min` (the 5-minute 1080p recording and its song).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openJobSystem } from '../src/jobs/index.ts';
import { storeUpload } from '../test/helpers/uploads.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Math.max(1, Number(values.rounds));
const dancePath = 'corpus/cases/long-5min/dance.mp4';
const bgmPath = 'corpus/bgm/nexuiz-calling-bogus.ogg';

const dir = await mkdtemp(join(tmpdir(), 'beatsync-bench-nudge-'));
const sys = await openJobSystem({ dataDir: dir, startWorkers: true, concurrency: 1, pollMs: 20, minFreeDiskBytes: 0, tmpRoot: join(dir, 'work') });
await sys.start();

/** Wall time from submit to succeeded, and the report's timings. */
async function timed(input: unknown): Promise<{ ms: number; timings: Record<string, number> }> {
  const start = performance.now();
  const { job } = await sys.submit('beatsync.sync', input, { owner: 'bench' });
  for (;;) {
    const j = await sys.store.get<unknown, { report: { timings: Record<string, number> } }>(job.id);
    if (j?.state === 'succeeded') return { ms: performance.now() - start, timings: j.result!.report.timings };
    if (j && ['failed', 'cancelled'].includes(j.state)) throw new Error(`job ${j.state}: ${JSON.stringify(j.error)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  const bgm = await storeUpload(sys.files, bgmPath);
  const fresh: number[] = [];
  const nudged: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // A new upload id (no saved analysis) and a nudge no earlier job had (no result cache hit).
    const dance = await storeUpload(sys.files, dancePath);
    const input = { danceFileId: dance.fileId, bgmFileId: bgm.fileId, options: { variants: ['trimmed'], nudgeMs: 1 + i } };
    const a = await timed(input);
    const b = await timed({ ...input, options: { ...input.options, nudgeMs: 500 + i } });
    if (!('analysis.reused' in b.timings)) throw new Error('the nudged job did not reuse the analysis');
    fresh.push(a.ms);
    nudged.push(b.ms);
    console.log(`round ${i + 1}: fresh ${(a.ms / 1000).toFixed(2)} s, nudged ${(b.ms / 1000).toFixed(2)} s (${(b.ms / a.ms).toFixed(2)}×)`);
  }
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  const ratios = fresh.map((f, i) => nudged[i] / f);
  console.log(`median: fresh ${(median(fresh) / 1000).toFixed(2)} s, nudged ${(median(nudged) / 1000).toFixed(2)} s, ratio ${median(ratios).toFixed(2)}×`);
} finally {
  await sys.close();
  await rm(dir, { recursive: true, force: true });
}
