// Smart cut on a large picture (above LEAN_PIXELS): the head is decoded by one thread and encoded with x264's
// sliced threads (fewer frames held: a 4K head took 440 MB with frame threads), and the join is still exact.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { hasEncoder, inputArgs, runFfmpeg } from '../src/media/index.ts';
import { prepareSmartCut } from '../src/media/smart-cut.ts';
import { LEAN_PIXELS } from '../src/media/smart-cut-match.ts';

const work = await mkdtemp(join(tmpdir(), 'beatsync-smartcut-lean-'));
after(() => rm(work, { recursive: true, force: true }));

const FPS = 30;
const GOP = 30;
const CUT_FRAME = 12;

/** `jitter`: every third frame 4 ms late (variable frame timing, as phones write it). */
async function source(name: string, size: string, { pixFmt = 'yuv420p', jitter = false, hevc = false } = {}): Promise<string> {
  const path = join(work, name);
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${FPS}:duration=2`,
    ...(jitter ? ['-vf', `settb=1/30000,setpts='(N/${FPS}+if(eq(mod(N\\,3)\\,1)\\,0.004\\,0))/TB'`, '-fps_mode', 'vfr', '-enc_time_base', '1/30000', '-video_track_timescale', '30000'] : []),
    ...(hevc ? ['-c:v', 'libx265', '-x265-params', 'log-level=error:open-gop=0'] : ['-c:v', 'libx264']), '-preset', 'ultrafast',
    '-g', String(GOP), '-keyint_min', String(GOP), '-sc_threshold', '0', '-pix_fmt', pixFmt, '-f', 'mp4', path]);
  return path;
}

/** Cuts at CUT_FRAME; returns the x264 settings written into the head and the per-frame PSNR of the joined picture. */
async function cutAndCompare(src: string, name: string): Promise<{ x264: string; psnr: number[]; lowMemoryHead: boolean }> {
  const dir = await mkdtemp(join(work, `${name}-`));
  const smart = await prepareSmartCut({ path: src, streamIndex: 0, startMedia: CUT_FRAME / FPS, endMedia: 2, outpointMedia: null, keptEndMedia: 2, workDir: dir, threads: 2 });
  assert.ok(smart.applied, smart.applied ? '' : smart.reason);
  assert.equal(smart.reencodedFrames, GOP - CUT_FRAME);
  const out = join(work, `${name}.mp4`);
  await runFfmpeg([...smart.inputArgs, '-map', '0:v:0', '-c', 'copy', '-tag:v', smart.codecTag, '-f', 'mp4', '-y', out]);
  const stats = join(work, `${name}-psnr.txt`);
  await runFfmpeg([...inputArgs(out), ...inputArgs(src), '-filter_complex',
    `[1:v]select='gte(n\\,${CUT_FRAME})',setpts=PTS-STARTPTS[ref];[0:v][ref]psnr=stats_file=${stats.replace(/:/g, '\\:')}:shortest=1`, '-f', 'null', '-']);
  const psnr = (await readFile(stats, 'utf8')).split('\n').filter(Boolean).map((line) => {
    const v = /psnr_avg:(\S+)/.exec(line)![1];
    return v === 'inf' ? Infinity : Number(v);
  });
  // x264 writes its settings into the stream (an SEI of the first frame).
  const head = (await readFile(join(dir, 'smart-head.mp4'))).toString('latin1');
  const x264 = /x26[45] [^\0]*/.exec(head)?.[0] ?? '';
  return { x264, psnr, lowMemoryHead: smart.lowMemoryHead };
}

const CASES = [
  // Large frames: decoded to disk, then encoded, when the head's frames are evenly spaced and YUV4MPEG carries them.
  { name: 'large', size: '2240x1200', lean: true, lowMemory: true },
  { name: 'large-full-range', size: '2240x1200', pixFmt: 'yuvj420p', lean: true, lowMemory: true },
  { name: 'large-vfr', size: '2240x1200', jitter: true, lean: true, lowMemory: false },
  { name: 'small', size: '320x240', lean: false, lowMemory: false },
];

test('a large head is encoded with sliced threads (after decoding to disk when it can), a small one with frame threads; all join exactly', async () => {
  assert.ok(2240 * 1200 > LEAN_PIXELS && 320 * 240 < LEAN_PIXELS);
  for (const { name, size, lean, lowMemory, ...picture } of CASES) {
    const { x264, psnr, lowMemoryHead } = await cutAndCompare(await source(`${name}-src.mp4`, size, picture), name);
    assert.equal(lowMemoryHead, lowMemory, `${name}: decoded to disk first`);
    assert.match(x264, lean ? /sliced_threads=1/ : /sliced_threads=0/, `${name}: ${x264.slice(0, 200)}`);
    // Without sub-pixel search x264 keeps no interpolated copies of its reference frames (~50 MB at 4K).
    assert.match(x264, lean ? /subme=0/ : /subme=[1-9]/, `${name}: sub-pixel search`);
    // …and without rate control, which keeps quarter-size copies of the frames.
    assert.match(x264, lean ? /rc=cqp .*qp=16/ : /rc=crf .*crf=16/, `${name}: rate control`);
    assert.match(x264, /mbtree=0/, `${name}: no look-ahead`);
    assert.equal(psnr.length, 2 * FPS - CUT_FRAME, `${name}: frames compared`);
    psnr.forEach((db, i) => assert.ok(db > 40, `${name}: output frame ${i} is source frame ${CUT_FRAME + i} (${db.toFixed(1)} dB)`));
    assert.ok(psnr.slice(GOP - CUT_FRAME).every((db) => db === Infinity), `${name}: the copied frames decode exactly as in the source`);
  }
});

test('a large H.265 head: decoded to disk, then x265 with one frame thread and no look-ahead; it joins exactly', { skip: !(await hasEncoder('libx265')) && 'no libx265' }, async () => {
  const { x264: x265, psnr, lowMemoryHead } = await cutAndCompare(await source('large-hevc-src.mp4', '2240x1200', { hevc: true }), 'large-hevc');
  assert.equal(lowMemoryHead, true);
  assert.match(x265, /frame-threads=1/, x265.slice(0, 300));
  assert.match(x265, /rc-lookahead=0/);
  assert.equal(psnr.length, 2 * FPS - CUT_FRAME);
  psnr.forEach((db, i) => assert.ok(db > 40, `output frame ${i} is source frame ${CUT_FRAME + i} (${db.toFixed(1)} dB)`));
  assert.ok(psnr.slice(GOP - CUT_FRAME).every((db) => db === Infinity), 'the copied frames decode exactly as in the source');
});
