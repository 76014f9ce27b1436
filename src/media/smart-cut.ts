// Smart cut: a frame-exact start for a stream-copied H.264/H.265 picture. The frames from the cut to the
// next keyframe are re-encoded to match the source (smart-cut-match.ts), every later packet is copied
// untouched, and the final mux reads both through ffmpeg's concat demuxer as one stream. The copied part
// carries its own parameter sets in band (avc3/hev1 sample entries), since the head's differ and an MP4
// has one avcC/hvcC.
import { rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import { ALLOWED_DEMUXERS, fileUrl, inputArgs } from './input.ts';
import type { VideoPacket } from './packets.ts';
import { runFfmpeg, runFfprobe } from './run.ts';
import { headEncoderArgs, leanHead } from './smart-cut-match.ts';
import type { SourceStream } from './smart-cut-match.ts';
import { parseTimeBase, planHead } from './smart-cut-plan.ts';
import type { TickPacket } from './smart-cut-plan.ts';
import { hasEncoder } from './tools.ts';

/** How far after the cut the next keyframe is looked for (s); x264's default GOP is 250 frames (8.3 s at 30 fps). */
export const LOOKAHEAD_SECONDS = 12;
/**
 * Finest time base the concat demuxer's microsecond offsets still place to the tick (its rounding
 * stays under half a tick).
 */
const MAX_TICKS_PER_SECOND = 240_000;

export interface SmartCutRequest {
  path: string;
  streamIndex: number;
  /** Media time the output starts at: the frame showing then is the first kept one. */
  startMedia: number;
  /** Media time the output should stop at. */
  endMedia: number;
  /** Where a stream copy of the rest stops (media dts between the last kept and first dropped packet), null = the file's end. */
  outpointMedia: number | null;
  /** Where the copied frames stop showing when the copy runs to outpointMedia. */
  keptEndMedia: number;
  /** Private directory for the head and the concat list. */
  workDir: string;
  signal?: AbortSignal;
  threads?: number;
}

export interface SmartCutApplied {
  applied: true;
  /** Input arguments (ending with -i) that read the joined picture as one video stream, stream 0. */
  inputArgs: string[];
  /** MP4 sample entry: parameter sets in band. */
  codecTag: 'avc3' | 'hev1';
  /** Media time of the first kept frame (the output's time 0) and where the last one stops showing. */
  firstMedia: number;
  endMedia: number;
  reencodedFrames: number;
  /** The head was decoded to disk first, then encoded (large frames): the two never held memory together. */
  lowMemoryHead: boolean;
  /** Media times of the first and last re-encoded frame. */
  reencodedMedia: [number, number];
  /** The joined stream's packets as they should come out (media times, decode order), for the after-write check. */
  packets: VideoPacket[];
}

export type SmartCut = SmartCutApplied | { applied: false; reason: string };

interface Listing {
  stream: SourceStream & { codec_name?: string };
  packets: TickPacket[];
}

/** Plans and encodes the head; resolves with how to read the joined picture, or why the keyframe cut stays. */
export async function prepareSmartCut(req: SmartCutRequest): Promise<SmartCut> {
  const listedTo = req.startMedia + LOOKAHEAD_SECONDS;
  const listing = await listTicks(req, listedTo);
  const { stream } = listing;
  const tb = parseTimeBase(stream.time_base);
  if (!tb || tb[0] !== 1 || tb[1] > MAX_TICKS_PER_SECOND) return { applied: false, reason: `time base ${stream.time_base ?? 'unknown'} cannot be kept` };
  const matched = headEncoderArgs(stream);
  if ('reason' in matched) return { applied: false, reason: matched.reason };
  const encoder = stream.codec_name === 'h264' ? 'libx264' : 'libx265';
  if (!(await hasEncoder(encoder))) return { applied: false, reason: `this ffmpeg has no ${encoder}` };
  const hz = tb[1];
  const tick = (seconds: number) => Math.round(seconds * hz);
  const seconds = (ticks: number) => ticks / hz;
  const decision = planHead(listing.packets, tick(req.startMedia) , tick(req.endMedia), tick(listedTo));
  if (decision.kind === 'keyframe') return { applied: false, reason: 'the cut falls on a keyframe: nothing to re-encode' };
  if (decision.kind === 'skip') return { applied: false, reason: decision.reason };
  const plan = decision.plan;
  const first = plan.headPts[0];
  const tail = plan.tailFrom;

  const headPath = join(req.workDir, 'smart-head.mp4');
  const codecTag = stream.codec_name === 'h264' ? 'avc3' : 'hev1';
  // The head has no B-frames, so its dts = pts; shifting them by the copy's decode delay keeps the
  // joined stream's dts rising at the seam.
  const delay = tail ? tail.pts - tail.dts : 0;
  const frames = plan.headPts.length;
  const select = `select='gte(pts\\,${first})*lt(pts\\,${plan.headEnd})',setpts=PTS-STARTPTS`;
  const output = [
    '-fps_mode', 'passthrough', '-enc_time_base', '-1', ...matched.args,
    // Stop at the last planned frame: without it ffmpeg decodes (and the select drops) the file to its end.
    '-frames:v', String(frames),
    ...(delay > 0 ? ['-bsf:v', `setts=dts=DTS-${delay}`] : []),
    '-tag:v', codecTag, '-video_track_timescale', String(hz), '-f', 'mp4', '-y', headPath,
  ];
  const timeoutMs = 120_000 + frames * 1000;
  const decodeArgs = ['-noautorotate', '-copyts', '-seek_timestamp', '1', '-ss', seconds(plan.decodeFrom.pts).toFixed(6), ...inputArgs(req.path), '-map', `0:${req.streamIndex}`, '-an', '-sn', '-dn'];
  const lean = leanHead(stream);
  const threads = req.threads !== undefined && req.threads > 0 ? String(Math.floor(req.threads)) : '0';
  const leanThreads = ['-threads', threads, '-filter_threads', threads === '0' ? '1' : threads];
  const step = uniformStep(plan.headPts) ?? 0;
  const lowMemoryHead = lean && step > 0 && Y4M_PIX_FMTS.includes(stream.pix_fmt ?? '') && (await hasRoom(req.workDir, frames * frameBytes(stream)));
  if (lowMemoryHead) {
    // Large frames, two processes one after the other, so the decoder's frames and the encoder's are never
    // resident together (a 4K head in one process: 270–325 MB; this way at most ~190 MB; BENCHMARKS.md).
    // The frames wait on disk as YUV4MPEG, which keeps no timestamps: the head is evenly spaced, so its
    // times are rebuilt from the step, and checkHead proves them.
    const framesPath = join(req.workDir, 'smart-head.y4m');
    try {
      await runFfmpeg(['-threads', '1', ...decodeArgs, '-vf', select, '-fps_mode', 'passthrough', '-frames:v', String(frames), '-f', 'yuv4mpegpipe', '-y', framesPath],
        { signal: req.signal, threads: 1, timeoutMs });
      await runFfmpeg(['-f', 'yuv4mpegpipe', '-r', `${hz}/${step}`, '-protocol_whitelist', 'file', '-i', fileUrl(framesPath), '-map', '0:v:0', ...output, ...leanThreads],
        { signal: req.signal, threads: req.threads, timeoutMs });
    } finally {
      await rm(framesPath, { force: true });
    }
  } else {
    // Large frames in one process: one decoding thread (each frame thread holds its own frames).
    await runFfmpeg([
      ...(lean ? ['-threads', '1'] : []), ...decodeArgs, '-vf', select, ...output, ...(lean ? leanThreads : []),
    ], { signal: req.signal, threads: req.threads, timeoutMs });
  }
  await checkHead(headPath, plan.headPts.map((t) => t - first), req.signal);

  // H.264 from stream 0 is read straight from the source (the concat demuxer converts it to carry its
  // parameter sets); H.265, or a picture that is not stream 0, goes through a copied intermediate.
  const list = ['ffconcat version 1.0', `file ${quoted(fileUrl(headPath))}`, `duration ${seconds(plan.headEnd - first).toFixed(6)}`];
  if (tail) {
    const inpoint = (Math.floor(seconds(tail.pts) * 1e6) + 1) / 1e6;
    const source = [`file ${quoted(fileUrl(req.path))}`, `inpoint ${inpoint.toFixed(6)}`];
    if (req.outpointMedia !== null) source.push(`outpoint ${req.outpointMedia.toFixed(6)}`);
    if (stream.codec_name === 'h264' && req.streamIndex === 0) {
      list.push(...source);
    } else {
      const tailPath = join(req.workDir, 'smart-tail.mp4');
      const tailList = join(req.workDir, 'smart-tail.ffconcat');
      await writeFile(tailList, ['ffconcat version 1.0', ...source, ''].join('\n'));
      const bsf = stream.codec_name === 'h264' ? 'h264_mp4toannexb' : 'hevc_mp4toannexb';
      await runFfmpeg([
        ...concatInput(tailList, false), '-map', `0:${req.streamIndex}`, '-c', 'copy', '-bsf:v', bsf,
        '-tag:v', codecTag, '-f', 'mp4', '-y', tailPath,
      ], { signal: req.signal, timeoutMs: 600_000 });
      list.push(`file ${quoted(fileUrl(tailPath))}`);
    }
  }
  const listPath = join(req.workDir, 'smart-cut.ffconcat');
  await writeFile(listPath, list.join('\n') + '\n');

  const headPackets: VideoPacket[] = plan.headPts.map((t, i) => ({
    pts: seconds(t), dts: seconds(t - delay), keyframe: i === 0, duration: seconds((plan.headPts[i + 1] ?? plan.headEnd) - t),
  }));
  const tailPackets: VideoPacket[] = plan.tailPackets.map((p) => ({ pts: seconds(p.pts), dts: seconds(p.dts), keyframe: p.keyframe, duration: seconds(p.duration) }));
  return {
    applied: true,
    inputArgs: concatInput(listPath),
    codecTag,
    firstMedia: seconds(first),
    endMedia: tail ? req.keptEndMedia : seconds(plan.headEnd),
    reencodedFrames: plan.headPts.length,
    lowMemoryHead,
    reencodedMedia: [seconds(first), seconds(plan.headPts[plan.headPts.length - 1])],
    packets: [...headPackets, ...tailPackets],
  };
}

/** 8-bit 4:2:0, which YUV4MPEG carries as it is (its range tag included). */
const Y4M_PIX_FMTS = ['yuv420p', 'yuvj420p'];

/** Bytes of one decoded 8-bit 4:2:0 frame. */
function frameBytes(s: SourceStream): number {
  return Math.ceil((s.width ?? 0) * (s.height ?? 0) * 1.5);
}

/** The step between evenly spaced frame times (ticks), or null when they are not (or there are fewer than two). */
export function uniformStep(pts: number[]): number | null {
  if (pts.length < 2) return null;
  const step = pts[1] - pts[0];
  if (!(step > 0)) return null;
  for (let i = 2; i < pts.length; i++) if (pts[i] - pts[i - 1] !== step) return null;
  return step;
}

/** Whether `dir`'s file system has `bytes` to spare, with a quarter more and 256 MB left over. */
async function hasRoom(dir: string, bytes: number): Promise<boolean> {
  try {
    const fs = await statfs(dir);
    return fs.bavail * fs.bsize >= bytes * 1.25 + 256 * 1024 * 1024;
  } catch {
    return false;
  }
}

/**
 * Our own concat list: it names only files we chose (the head, the source, the intermediate). `-ss 0` with
 * -seek_timestamp keeps ffmpeg from shifting the list by its probed start time, which a head of a few
 * frames before B-frames makes slightly negative (by 16 ms in a 2-frame case). Not for the tail alone:
 * its list starts at an inpoint, and the seek to 0 there loses its packets.
 */
function concatInput(listPath: string, fromZero = true): string[] {
  return [
    '-protocol_whitelist', 'file', '-format_whitelist', ['concat', ...ALLOWED_DEMUXERS].join(','),
    ...(fromZero ? ['-seek_timestamp', '1', '-ss', '0'] : []), '-f', 'concat', '-safe', '0', '-i', fileUrl(listPath),
  ];
}

/** An ffconcat string: single-quoted, with quotes escaped; line breaks cannot be written. */
function quoted(value: string): string {
  if (/[\r\n]/.test(value)) throw new BeatSyncError('PROCESSING_FAILED', 'a file name with a line break cannot be joined', { retryable: false });
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** The stream's facts and its packets in ticks, from the keyframe before the cut to `listedTo`. */
async function listTicks(req: SmartCutRequest, listedTo: number): Promise<Listing> {
  const { stdout } = await runFfprobe([
    '-select_streams', String(req.streamIndex),
    '-show_entries', 'stream=codec_name,width,height,profile,level,pix_fmt,color_range,color_space,color_transfer,color_primaries,field_order,time_base:packet=pts,dts,duration,flags',
    '-read_intervals', `${Math.max(0, req.startMedia).toFixed(6)}%${listedTo.toFixed(6)}`,
    '-of', 'json', ...inputArgs(req.path),
  ], { signal: req.signal, timeoutMs: 60_000, maxOutputBytes: 32 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as { streams?: SourceStream[]; packets?: { pts?: number; dts?: number; duration?: number; flags?: string }[] };
  const stream = parsed.streams?.[0];
  if (!stream) throw new BeatSyncError('PROCESSING_FAILED', 'the video stream to cut was not found');
  const packets: TickPacket[] = [];
  for (const p of parsed.packets ?? []) {
    const pts = p.pts ?? p.dts;
    const dts = p.dts ?? p.pts;
    if (pts === undefined || dts === undefined) continue;
    packets.push({ pts: Number(pts), dts: Number(dts), duration: Number(p.duration ?? 0), keyframe: (p.flags ?? '').startsWith('K') });
  }
  return { stream, packets };
}

/** The head must hold exactly the planned frames at the planned times, or the join would skip or repeat one. */
async function checkHead(path: string, expected: number[], signal: AbortSignal | undefined): Promise<void> {
  const { stdout } = await runFfprobe(['-select_streams', 'v:0', '-show_entries', 'packet=pts', '-of', 'csv=p=0', ...inputArgs(path)], { signal, timeoutMs: 60_000 });
  const got = stdout.split('\n').map((l) => l.trim()).filter(Boolean).map(Number).sort((a, b) => a - b);
  if (got.length !== expected.length || got.some((t, i) => t !== expected[i])) {
    throw new BeatSyncError('PROCESSING_FAILED', `the re-encoded head has ${got.length} frames, ${expected.length} planned`, { retryable: false });
  }
}
