// Smart cut on tiny long-GOP videos (real ffmpeg): the joined picture starts on the cut frame, keeps every
// frame once at the source's timing, copies every packet after the re-encoded head (slice data bit for bit),
// matches the source's codec settings and decodes without an error; sources it cannot match fall back.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hasEncoder, inputArgs, runFfmpeg, runFfprobe } from '../src/media/index.ts';
import { prepareSmartCut } from '../src/media/smart-cut.ts';
import type { SmartCut, SmartCutApplied } from '../src/media/smart-cut.ts';

const FPS = 30;
const GOP = 150; // keyframes at 0 s and 5 s
const SECONDS = 8;
const CUT_FRAME = 45; // 1.5 s, mid-GOP
const HEAD_FRAMES = GOP - CUT_FRAME;

let work: string;
const haveX265 = await hasEncoder('libx265');

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-smartcut-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** testsrc2 (every frame differs) with B-frames and a long GOP, BT.709 tags. */
async function source(name: string, codecArgs: string[], container = 'mp4'): Promise<string> {
  const path = join(work, name);
  await runFfmpeg([
    '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
    ...codecArgs, '-pix_fmt', 'yuv420p', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709',
    '-f', container === 'mkv' ? 'matroska' : container, path,
  ]);
  return path;
}

const x264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-g', String(GOP), '-keyint_min', String(GOP), '-sc_threshold', '0', '-bf', '3'];
const x265 = (openGop: boolean) => ['-c:v', 'libx265', '-preset', 'ultrafast', '-tag:v', 'hvc1',
  '-x265-params', `log-level=error:keyint=${GOP}:min-keyint=${GOP}:scenecut=0:bframes=3:open-gop=${openGop ? 1 : 0}`];

async function cut(path: string, startMedia: number, endMedia = SECONDS): Promise<SmartCut> {
  const dir = await mkdtemp(join(work, 'cut-'));
  return prepareSmartCut({ path, streamIndex: 0, startMedia, endMedia, outpointMedia: null, keptEndMedia: SECONDS, workDir: dir });
}

/** Muxes the joined picture alone, as the renderer does (stream copy, parameter sets in band). */
async function mux(smart: SmartCutApplied, name: string): Promise<string> {
  const out = join(work, name);
  await runFfmpeg([...smart.inputArgs, '-map', '0:v:0', '-c', 'copy', '-tag:v', smart.codecTag, '-f', 'mp4', '-y', out]);
  return out;
}

interface Packet { pts: number; dts: number; keyframe: boolean; data: Buffer }

/** Video packets in decode order with their payloads (ffprobe's hex dump). */
async function packets(path: string): Promise<Packet[]> {
  const { stdout } = await runFfprobe(['-select_streams', 'v:0', '-show_entries', 'packet=pts,dts,flags,data', '-show_data', '-of', 'json', ...inputArgs(path)], { maxOutputBytes: 256 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as { packets: { pts: number; dts: number; flags: string; data: string }[] };
  return parsed.packets.map((p) => ({
    pts: p.pts, dts: p.dts, keyframe: p.flags.startsWith('K'),
    data: Buffer.from(p.data.split('\n').filter(Boolean).map((line) => line.slice(10, 50).replace(/ /g, '')).join(''), 'hex'),
  }));
}

/** The NAL units of a length-prefixed (4-byte) sample: type and bytes. */
function nalUnits(data: Buffer, codec: 'h264' | 'hevc'): { type: number; hex: string }[] {
  const units: { type: number; hex: string }[] = [];
  for (let at = 0; at + 4 <= data.length;) {
    const size = data.readUInt32BE(at);
    const unit = data.subarray(at + 4, at + 4 + size);
    units.push({ type: codec === 'h264' ? unit[0] & 0x1f : (unit[0] >> 1) & 0x3f, hex: unit.toString('hex') });
    at += 4 + size;
  }
  return units;
}

/**
 * A copied keyframe = the source's sample with the stream's header units in front (parameter sets, and
 * for x265 sources the encoder-info SEI its hvcC holds): the source's units must be its tail, unchanged.
 */
function sameAfterHeaders(out: Buffer, original: Buffer, codec: 'h264' | 'hevc'): boolean {
  const o = nalUnits(out, codec);
  const src = nalUnits(original, codec);
  const prefix = o.slice(0, o.length - src.length);
  const header = (t: number) => (codec === 'h264' ? t === 7 || t === 8 : (t >= 32 && t <= 34) || t === 39);
  return prefix.every((u) => header(u.type)) && o.slice(prefix.length).every((u, i) => u.hex === src[i].hex);
}

async function streamFacts(path: string): Promise<Record<string, unknown>> {
  const { stdout } = await runFfprobe(['-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,codec_tag_string,profile,level,width,height,pix_fmt,color_range,color_space,color_transfer,color_primaries,r_frame_rate,time_base,nb_frames',
    '-of', 'json', ...inputArgs(path)]);
  return (JSON.parse(stdout) as { streams: Record<string, unknown>[] }).streams[0];
}

/** PSNR (dB) of each output frame against source frame `offset + i`: a skipped or repeated frame drops it far below 40. */
async function framePsnr(out: string, src: string, offset: number): Promise<number[]> {
  const stats = join(work, `psnr-${Math.random().toString(36).slice(2)}.txt`);
  await runFfmpeg([...inputArgs(out), ...inputArgs(src), '-filter_complex',
    `[1:v]select='gte(n\\,${offset})',setpts=PTS-STARTPTS[ref];[0:v][ref]psnr=stats_file=${stats.replace(/:/g, '\\:')}:shortest=1`, '-f', 'null', '-']);
  return (await readFile(stats, 'utf8')).split('\n').filter(Boolean).map((line) => {
    const v = /psnr_avg:(\S+)/.exec(line)![1];
    return v === 'inf' ? Infinity : Number(v);
  });
}

async function assertJoined(codec: 'h264' | 'hevc', src: string, smart: SmartCut, name: string): Promise<void> {
  assert.ok(smart.applied, `applied (${smart.applied ? '' : smart.reason})`);
  assert.equal(smart.reencodedFrames, HEAD_FRAMES);
  assert.ok(Math.abs(smart.firstMedia - CUT_FRAME / FPS) < 1e-9);
  const out = await mux(smart, name);

  // Decodes without a single error message, every frame once.
  const { stderr } = await runFfmpeg([...inputArgs(out), '-map', '0:v', '-f', 'null', '-']);
  assert.equal(stderr.trim(), '', 'full decode without errors');
  const psnr = await framePsnr(out, src, CUT_FRAME);
  assert.equal(psnr.length, SECONDS * FPS - CUT_FRAME, 'frames compared');
  psnr.forEach((db, i) => assert.ok(db > 40, `output frame ${i} is source frame ${CUT_FRAME + i} (${db.toFixed(1)} dB)`));
  assert.ok(psnr.slice(HEAD_FRAMES).every((db) => db === Infinity), 'the copied frames decode exactly as in the source');

  // Timing: the source's time base, a constant frame step through the seam, dts rising.
  const [inFacts, outFacts] = [await streamFacts(src), await streamFacts(out)];
  for (const key of ['codec_name', 'profile', 'level', 'width', 'height', 'pix_fmt', 'color_space', 'color_transfer', 'color_primaries', 'r_frame_rate', 'time_base']) {
    assert.equal(outFacts[key], inFacts[key], key);
  }
  assert.equal(outFacts.codec_tag_string, codec === 'h264' ? 'avc3' : 'hev1');
  const [inPackets, outPackets] = [await packets(src), await packets(out)];
  const step = 15360 / FPS;
  assert.equal(outPackets.length, SECONDS * FPS - CUT_FRAME, 'frame count');
  const shown = outPackets.map((p) => p.pts).sort((a, b) => a - b);
  shown.forEach((t, i) => assert.equal(t, i * step, `frame ${i} at ${t}`));
  outPackets.forEach((p, i) => assert.ok(i === 0 || p.dts > outPackets[i - 1].dts, `dts rises at packet ${i}`));

  // After the head, the source's packets in order: the same bytes, except that keyframes carry the source's
  // parameter sets in band in front of their (identical) slices.
  const k = inPackets.findIndex((p, i) => i > 0 && p.keyframe);
  const copied = outPackets.slice(HEAD_FRAMES);
  assert.equal(copied.length, inPackets.length - k);
  copied.forEach((p, i) => {
    const original = inPackets[k + i];
    assert.equal(p.pts - p.dts, original.pts - original.dts, `packet ${i} keeps its decode delay`);
    if (p.keyframe) assert.ok(sameAfterHeaders(p.data, original.data, codec), `keyframe ${i}: the source's units, after in-band headers`);
    else assert.ok(p.data.equals(original.data), `packet ${i} is bit-identical`);
  });
}

describe('smart cut', () => {
  test('H.264 with B-frames: starts on the cut frame, copies the rest untouched', async () => {
    const src = await source('h264.mp4', x264);
    await assertJoined('h264', src, await cut(src, CUT_FRAME / FPS + 0.01), 'h264-out.mp4');
  });

  test('H.265 (closed GOP) with B-frames: the same', { skip: !haveX265 }, async () => {
    const src = await source('hevc.mp4', x265(false));
    await assertJoined('hevc', src, await cut(src, CUT_FRAME / FPS + 0.01), 'hevc-out.mp4');
  });

  test('the end inside the head: only the frames up to the end, all re-encoded', async () => {
    const src = await source('h264.mp4', x264);
    const smart = await cut(src, CUT_FRAME / FPS, 2.5);
    assert.ok(smart.applied);
    assert.equal(smart.reencodedFrames, 75 - CUT_FRAME);
    assert.ok(Math.abs(smart.endMedia - 2.5) < 1e-9);
    const out = await mux(smart, 'short.mp4');
    const psnr = await framePsnr(out, src, CUT_FRAME);
    assert.equal((await packets(out)).length, 75 - CUT_FRAME);
    assert.equal(psnr.length, 75 - CUT_FRAME);
    assert.ok(psnr.every((db) => db > 40));
  });

  test('a head of two frames: the joined stream still starts at 0, one frame step throughout', async () => {
    // With audio in the source, ffmpeg probed the list's start as -16 ms and shifted it (fixed by -ss 0).
    const src = await source('h264-audio.mp4', ['-f', 'lavfi', '-i', 'anoisesrc=d=8:r=48000', '-map', '0:v', '-map', '1:a', ...x264, '-c:a', 'aac']);
    const smart = await cut(src, (GOP - 2) / FPS + 0.01);
    assert.ok(smart.applied && smart.reencodedFrames === 2);
    const shown = (await packets(await mux(smart, 'two.mp4'))).map((p) => p.pts).sort((a, b) => a - b);
    assert.equal(shown.length, SECONDS * FPS - (GOP - 2));
    shown.forEach((t, i) => assert.equal(t, i * (15360 / FPS), `frame ${i} at ${t}`));
  });

  test('a cut on a keyframe needs nothing re-encoded', async () => {
    const src = await source('h264.mp4', x264);
    const smart = await cut(src, 5.001);
    assert.equal(smart.applied, false);
    assert.match(smart.applied ? '' : smart.reason, /keyframe/);
  });

  test('fallbacks say why: open GOP (H.265 CRA with leading pictures), MPEG-4 Part 2', async (t) => {
    if (haveX265) {
      const open = await source('hevc-open.mkv', x265(true).filter((a) => a !== '-tag:v' && a !== 'hvc1'), 'mkv');
      const smart = await cut(open, CUT_FRAME / FPS);
      assert.equal(smart.applied, false);
      assert.match(smart.applied ? '' : smart.reason, /open GOP/);
    } else {
      t.diagnostic('no libx265: open-GOP case skipped');
    }
    const mpeg4 = await source('mpeg4.mp4', ['-c:v', 'mpeg4', '-q:v', '4', '-g', String(GOP), '-bf', '2']);
    const smart = await cut(mpeg4, CUT_FRAME / FPS);
    assert.equal(smart.applied, false);
    assert.match(smart.applied ? '' : smart.reason, /no matching encoder for mpeg4/);
  });
});
