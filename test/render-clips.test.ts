// One clip per run-through: a generated recording in which the class restarts the song (from 10 s for
// 6 s, then from 2 s for 6 s, with talk between) renders `trimmed` and `trimmed-2`, each with its own
// music, and a `full` in which both stretches carry their own mapping and the gap is silent. The music is
// found in the outputs by cross-correlation with the song, to < 1 ms; `compact` gives each clip its phone-size copy.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Alignment } from '../src/align/types.ts';
import { alignmentOf, segmentOf } from './helpers/alignment.ts';
import type { Line } from './helpers/alignment.ts';
import { BeatSyncError } from '../src/errors.ts';
import { parseSyncInput } from '../src/jobs/types/beatsync-sync.ts';
import type { SyncJobResult } from '../src/jobs/types/beatsync-sync.ts';
import { probeMedia } from '../src/media/index.ts';
import { renderWithDetails, syncFiles } from '../src/pipeline/index.ts';
import type { Analysis, RenderedVariant } from '../src/pipeline/index.ts';
import { resultView } from '../src/server/routes/job-view.ts';
import type { SyncJob } from '../src/server/routes/job-view.ts';
import { getJson, newToken, removeDataDir, sendJson, startApi, upload, waitFor } from './helpers/api.ts';
import { RATE, danceVideo, decodeMono48k, measureLag, recordingFromSong } from './helpers/av-check.ts';
import { songExcerpt } from './helpers/media.ts';

const SPEED = 1.00015; // one phone, one clock drift for both run-throughs
const SECONDS = 17;
// Run-through 1: dance 1.5–7.5 s hears song 10–16 s; run-through 2 (a restart): dance 9.5–15.5 s hears song 2–8 s.
const ONE = { from: 1.5, to: 7.5, song: 10 };
const TWO = { from: 9.5, to: 15.5, song: 2 };
const offsetOf = (r: typeof ONE) => r.song - SPEED * r.from;

let work: string;
let bgm: string;
let dance: string;
let song48k: Float32Array;
let room48k: Float32Array;
let analysis: Analysis;

const lineOf = (r: typeof ONE): Line => ({ offsetSeconds: offsetOf(r), speed: SPEED, from: r.from, to: r.to, confidence: 0.99 });

/** What the engine reports for this recording: the top level describes `main`, segments list both. */
const alignment = (main: typeof ONE): Alignment => alignmentOf(lineOf(main), { windowsUsed: 20, windowsTotal: 20, segments: [segmentOf(lineOf(ONE)), segmentOf(lineOf(TWO))] });

/** Asserts that output time τ plays song time offset + speed·(danceStart + τ) within 1 ms (and not some other place). */
function assertMusic(out: Float32Array, v: RenderedVariant, offset: number, taus: number[]): void {
  for (const tau of taus) {
    const songTime = offset + SPEED * (v.danceStart + tau);
    const m = measureLag(out, Math.round(tau * RATE), song48k, songTime * RATE);
    assert.ok(m.peak > 0.9, `${v.variant} τ=${tau}: the song at ${songTime.toFixed(2)} s should play there (correlation ${m.peak.toFixed(3)})`);
    assert.ok(Math.abs(m.errorSeconds) < 0.001, `${v.variant} τ=${tau}: ${(m.errorSeconds * 1000).toFixed(3)} ms off`);
  }
}

function rms(x: Float32Array, from: number, to: number): number {
  let sum = 0;
  const a = Math.round(from * RATE);
  const b = Math.round(to * RATE);
  for (let i = a; i < b; i++) sum += x[i] * x[i];
  return Math.sqrt(sum / Math.max(1, b - a));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-clips-'));
  bgm = await songExcerpt('clips-bgm.wav', 'muldjord-armygeddon.ogg', 40, 20);
  song48k = await decodeMono48k(bgm);
  const one = recordingFromSong(song48k, { seconds: SECONDS, offset: offsetOf(ONE), speed: SPEED, musicFrom: ONE.from, musicTo: ONE.to, seed: 3 });
  const two = recordingFromSong(song48k, { seconds: SECONDS, offset: offsetOf(TWO), speed: SPEED, musicFrom: TWO.from, musicTo: TWO.to, seed: 4 });
  // Spliced in the gap: the first take's sound, then the restart's ("from the top!" then the song from 2 s).
  const sound = new Float32Array(one.length);
  const splice = Math.round(8.5 * RATE);
  sound.set(one.subarray(0, splice));
  sound.set(two.subarray(splice), splice);
  dance = await danceVideo('clips-dance.mp4', sound);
  room48k = await decodeMono48k(dance);
  analysis = { alignment: alignment(ONE), dance: await probeMedia(dance), bgm: await probeMedia(bgm), alternate: null, timings: {} };
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a clip per run-through', () => {
  test('two segments: trimmed and trimmed-2 each with its own music, full with both mappings and silence between', async () => {
    const dir = join(work, 'two');
    const { variants } = await renderWithDetails(dance, bgm, analysis, dir, {});
    assert.deepEqual(variants.map((v) => v.variant), ['trimmed', 'trimmed-2', 'full']);
    assert.deepEqual((await readdir(dir)).sort(), ['full.mp4', 'trimmed-2.mp4', 'trimmed.mp4']);
    const [one, two, full] = variants;

    assert.equal(one.clip, 1);
    assert.deepEqual(one.segment, { danceStart: ONE.from, danceEnd: ONE.to, offsetSeconds: offsetOf(ONE) });
    assert.equal(two.clip, 2);
    assert.deepEqual(two.segment, { danceStart: TWO.from, danceEnd: TWO.to, offsetSeconds: offsetOf(TWO) });
    assert.equal(full.clip, undefined);

    // Each clip starts on the frame showing when its music starts (smart cut) and ends just after it.
    assert.ok(one.smartCut?.applied && two.smartCut?.applied, 'both clips are smart-cut');
    assert.equal(one.danceStart, ONE.from);
    assert.ok(one.danceEnd >= ONE.to && one.danceEnd < ONE.to + 0.2, `trimmed ends after its music (${one.danceEnd})`);
    assert.equal(two.danceStart, TWO.from);
    assert.ok(two.danceEnd >= TWO.to && two.danceEnd < TWO.to + 0.2, `trimmed-2 ends after its music (${two.danceEnd})`);

    const oneOut = await decodeMono48k(join(dir, 'trimmed.mp4'));
    assertMusic(oneOut, one, offsetOf(ONE), [0.3, 2, 3.5, 5.6]);
    const twoOut = await decodeMono48k(join(dir, 'trimmed-2.mp4'));
    assertMusic(twoOut, two, offsetOf(TWO), [0.3, 2, 3.5, 5.6]);
    // The restart's clip does not play the first take's mapping (it would be 8 s of song later).
    const wrong = measureLag(twoOut, Math.round(3 * RATE), song48k, (offsetOf(ONE) + SPEED * (two.danceStart + 3)) * RATE);
    assert.ok(wrong.peak < 0.5, `trimmed-2 is not the first take's music (correlation ${wrong.peak.toFixed(3)})`);

    const fullOut = await decodeMono48k(join(dir, 'full.mp4'));
    assert.equal(full.danceStart, 0);
    assertMusic(fullOut, full, offsetOf(ONE), [2, 4.5, 7.2]);
    assertMusic(fullOut, full, offsetOf(TWO), [9.8, 12, 15.2]);
    // Between the run-throughs: silence (the music faded out and in over 20 ms at the segment edges).
    assert.ok(rms(fullOut, ONE.to + 0.02, TWO.from - 0.02) < 1e-4, `silence between the run-throughs (rms ${rms(fullOut, ONE.to + 0.02, TWO.from - 0.02)})`);
    assert.ok(rms(fullOut, TWO.from + 0.05, TWO.from + 0.5) > 0.05, 'the restart is heard at once');
    // Before the first and after the last: the room sound, in place.
    for (const tau of [0.5, 16.3]) {
      const m = measureLag(fullOut, Math.round(tau * RATE), room48k, tau * RATE, 4096, 240);
      assert.ok(m.peak > 0.9 && Math.abs(m.errorSeconds) < 0.001, `room sound kept at ${tau} s (corr ${m.peak.toFixed(2)})`);
    }
  });

  test('trimmed is the run-through the top level describes, even when it is not the first', async () => {
    const dir = join(work, 'second-main');
    const { variants } = await renderWithDetails(dance, bgm, { ...analysis, alignment: alignment(TWO) }, dir, { variants: ['trimmed'] });
    assert.deepEqual(variants.map((v) => [v.variant, v.clip, v.segment?.danceStart]), [['trimmed', 1, TWO.from], ['trimmed-2', 2, ONE.from]]);
    assertMusic(await decodeMono48k(join(dir, 'trimmed.mp4')), variants[0], offsetOf(TWO), [1, 4]);
    assertMusic(await decodeMono48k(join(dir, 'trimmed-2.mp4')), variants[1], offsetOf(ONE), [1, 4]);
  });

  test('compact is a phone-size copy of each run-through, each with its own music; asked alone it leaves only the copies', async () => {
    const dir = join(work, 'compacts');
    const { variants } = await renderWithDetails(dance, bgm, analysis, dir, { variants: ['compact'] });
    assert.deepEqual(variants.map((v) => [v.variant, v.file, v.clip]), [['compact', 'compact.mp4', 1], ['compact-2', 'compact-2.mp4', 2]]);
    assert.deepEqual((await readdir(dir)).sort(), ['compact-2.mp4', 'compact.mp4'], 'the clips made as sources are removed');
    const [one, two] = variants;
    assert.deepEqual(two.segment, { danceStart: TWO.from, danceEnd: TWO.to, offsetSeconds: offsetOf(TWO) });
    assert.equal(two.danceStart, TWO.from);
    for (const [v, r] of [[one, ONE], [two, TWO]] as const) {
      const info = await probeMedia(join(dir, v.file));
      assert.equal(info.video[0].codec, 'h264');
      assert.equal(info.audio[0].codec, 'aac');
      assert.ok(Math.abs(info.durationSeconds - v.durationSeconds) < 0.1, `${v.variant}: ${info.durationSeconds} s against ${v.durationSeconds} s`);
      assertMusic(await decodeMono48k(join(dir, v.file)), v, offsetOf(r), [1, 3.5]);
    }
  });

  test('one clip alone (trimmed-2), and a clip that does not exist is a BAD_REQUEST', async () => {
    const dir = join(work, 'only-two');
    const { variants } = await renderWithDetails(dance, bgm, analysis, dir, { variants: ['trimmed-2'] });
    assert.deepEqual(variants.map((v) => v.variant), ['trimmed-2']);
    assertMusic(await decodeMono48k(join(dir, 'trimmed-2.mp4')), variants[0], offsetOf(TWO), [1.5]);
    await assert.rejects(
      renderWithDetails(dance, bgm, analysis, join(work, 'three'), { variants: ['trimmed-3'] }),
      (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST',
    );
  });

  test('the engine finds both run-throughs and the sync renders a clip for each', async () => {
    const dir = join(work, 'sync');
    const { report, variants } = await syncFiles(dance, bgm, dir, { variants: ['trimmed'] });
    assert.equal(report.alignment.segments.length, 2, `segments: ${JSON.stringify(report.alignment.segments)}`);
    assert.deepEqual(variants.map((v) => v.variant), ['trimmed', 'trimmed-2']);
    for (const v of variants) {
      const truth = v.segment!.danceStart < 8.5 ? ONE : TWO;
      const mid = (truth.from + truth.to) / 2;
      assert.ok(Math.abs(v.segment!.offsetSeconds + SPEED * mid - (offsetOf(truth) + SPEED * mid)) < 0.002, `${v.variant} follows its own run-through`);
      assertMusic(await decodeMono48k(join(dir, v.file)), v, offsetOf(truth), [mid - v.danceStart]);
    }
  });
});

describe('clips in the job result', () => {
  test('over HTTP: a job for trimmed, full and compact lists both clips with their segments and a compact of each with its size; each downloads', async () => {
    const api = await startApi();
    try {
      const token = await newToken(api.url);
      const danceFileId = await upload(api, token, dance, 'dance');
      const bgmFileId = await upload(api, token, bgm, 'bgm');
      const submitted = await sendJson<{ jobId: string; estimatedSeconds: number }>('POST', `${api.url}/api/jobs`, { danceFileId, bgmFileId, options: { variants: ['trimmed', 'full', 'compact'] } }, token);
      assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
      type View = { status: string; error: unknown; result: { variants: Record<string, unknown>[] } | null };
      const job = await waitFor(async () => {
        const { body } = await getJson<View>(`${api.url}/api/jobs/${submitted.body.jobId}`, token);
        return ['succeeded', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
      });
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      const byName = new Map(job.result!.variants.map((v) => [v.variant as string, v]));
      assert.deepEqual([...byName.keys()], ['trimmed', 'trimmed-2', 'full', 'compact', 'compact-2']);
      for (const [name, clip] of [['trimmed', 1], ['trimmed-2', 2]] as const) {
        const v = byName.get(name)!;
        assert.equal(v.clip, clip);
        const seg = v.segment as { danceStart: number; danceEnd: number; offsetSeconds: number };
        const truth = seg.danceStart < 8.5 ? ONE : TWO;
        assert.ok(Math.abs(seg.danceStart - truth.from) < 0.3 && Math.abs(seg.danceEnd - truth.to) < 0.3, `${name}: ${JSON.stringify(seg)}`);
      }
      for (const [name, clip] of [['compact', 1], ['compact-2', 2]] as const) {
        const compact = byName.get(name)!;
        assert.deepEqual([compact.width, compact.height, compact.clip], [160, 120, clip]);
        assert.deepEqual(compact.segment, byName.get(clip === 1 ? 'trimmed' : 'trimmed-2')!.segment);
        assert.equal(compact.bytes, compact.sizeBytes);
      }
      for (const v of byName.values()) {
        const res = await fetch(`${api.url}${v.downloadUrl as string}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200, `${v.variant as string} downloads`);
        assert.equal(res.headers.get('content-type'), 'video/mp4');
        assert.equal((await res.arrayBuffer()).byteLength, v.bytes);
      }
      const missing = await fetch(`${api.url}/api/jobs/${submitted.body.jobId}/outputs/trimmed-3`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(missing.status, 404);
      const bogus = await fetch(`${api.url}/api/jobs/${submitted.body.jobId}/outputs/trimmed-x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(bogus.status, 400);
    } finally {
      await api.close();
      await removeDataDir(api.dataDir);
    }
  });

  test('each clip entry carries clip and segment; trimmed-n gets its own URL', () => {
    const segmentOne = { danceStart: 1.5, danceEnd: 7.5, offsetSeconds: 8.5 };
    const segmentTwo = { danceStart: 9.5, danceEnd: 15.5, offsetSeconds: -7.5 };
    const result: SyncJobResult = {
      variants: [
        { variant: 'trimmed', file: 'trimmed.mp4', key: 'k1', sizeBytes: 100, durationSeconds: 6.5, clip: 1, segment: segmentOne },
        { variant: 'trimmed-2', file: 'trimmed-2.mp4', key: 'k2', sizeBytes: 90, durationSeconds: 6.5, clip: 2, segment: segmentTwo },
        { variant: 'full', file: 'full.mp4', key: 'k3', sizeBytes: 300, durationSeconds: 17 },
      ],
      report: {} as SyncJobResult['report'],
    };
    const job = { id: 'j1', state: 'succeeded', result } as unknown as SyncJob;
    const view = resultView(job)!;
    assert.deepEqual(view.variants.map((v) => [v.variant, v.bytes, v.url, v.clip, v.segment]), [
      ['trimmed', 100, '/api/jobs/j1/outputs/trimmed', 1, segmentOne],
      ['trimmed-2', 90, '/api/jobs/j1/outputs/trimmed-2', 2, segmentTwo],
      ['full', 300, '/api/jobs/j1/outputs/full', undefined, undefined],
    ]);
    assert.equal(view.variants[1].downloadUrl, '/api/jobs/j1/outputs/trimmed-2?download=1');
  });

  test('a job asks for run-through clips with `trimmed`; trimmed-n is not an input', () => {
    assert.deepEqual(parseSyncInput({ danceFileId: 'a', bgmFileId: 'b', options: { variants: ['full', 'trimmed'] } }).options.variants, ['trimmed', 'full']);
    assert.throws(() => parseSyncInput({ danceFileId: 'a', bgmFileId: 'b', options: { variants: ['trimmed-2'] } }), (e: unknown) => e instanceof BeatSyncError && e.code === 'BAD_REQUEST');
  });
});
