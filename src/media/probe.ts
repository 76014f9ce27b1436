// Typed facts about a user's media file (ffprobe JSON), refusing by content whatever is not real media.
import { BeatSyncError } from '../errors.ts';
import { inputArgs, sniffFile } from './input.ts';
import { runFfprobe } from './run.ts';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.ts';

export interface ProbeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Largest accepted picture side, px. */
  maxDimension?: number;
  /** Most streams a file may carry (phones write 2–4). */
  maxStreams?: number;
}

export const PROBE_DEFAULTS = { timeoutMs: 30_000, maxDimension: 8192, maxStreams: 16 } as const;

/** Probes `path` (safe input args, content sniffed first) and returns its facts, or INVALID_FORMAT etc. */
export async function probeMedia(path: string, options: ProbeOptions = {}): Promise<MediaInfo> {
  const { sizeBytes } = await sniffFile(path);
  const { stdout, stderr } = await runFfprobe(
    ['-v', 'warning', '-print_format', 'json', '-show_format', '-show_streams', ...inputArgs(path)],
    { signal: options.signal, timeoutMs: options.timeoutMs ?? PROBE_DEFAULTS.timeoutMs, maxOutputBytes: 4 * 1024 * 1024 },
  );
  if (/misdetection possible/i.test(stderr)) {
    throw new BeatSyncError('INVALID_FORMAT', 'the content only faintly resembles a media container');
  }
  // The container declares a picture the decoder cannot even allocate (e.g. 30000×30000).
  const badSize = /Picture size (\d+x\d+) is invalid/.exec(stderr);
  if (badSize) throw new BeatSyncError('INVALID_FORMAT', `declared picture size ${badSize[1]} is invalid`);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new BeatSyncError('INVALID_FORMAT', 'ffprobe gave no readable description of the file');
  }
  const info = parseProbe(json as FfprobeJson, { sizeBytes, ...options });
  if (TAIL_CHECKED.test(info.container)) await checkTail(path, info, options);
  return info;
}

/**
 * Containers whose header states a duration that a cut-off file no longer has (MP4 is checked from
 * its sample tables; MP3/AAC/Ogg durations are measured from the data itself, so stay consistent).
 */
const TAIL_CHECKED = /^(matroska|avi|wav|flac)/;

/** Reads only the last seconds: a file whose packets stop well before its stated end lost its end. */
async function checkTail(path: string, info: MediaInfo, options: ProbeOptions): Promise<void> {
  const from = Math.max(0, info.startTime + info.durationSeconds - 3);
  const { stdout, stderr } = await runFfprobe(
    ['-v', 'warning', '-read_intervals', `${from.toFixed(3)}%`, '-show_entries', 'packet=pts_time,duration_time', '-of', 'compact=p=0', ...inputArgs(path)],
    { signal: options.signal, timeoutMs: options.timeoutMs ?? PROBE_DEFAULTS.timeoutMs, maxOutputBytes: 16 * 1024 * 1024 },
  );
  let end = -Infinity;
  for (const m of stdout.matchAll(/pts_time=([\d.]+)(?:\|duration_time=([\d.]+))?/g)) {
    end = Math.max(end, Number(m[1]) + (m[2] ? Number(m[2]) : 0));
  }
  const missing = info.startTime + info.durationSeconds - end;
  // A cut-off last packet (WAV/AVI: ffmpeg then measures the shorter duration itself) or a missing end.
  if (/File ended prematurely|Packet corrupt/i.test(stderr) || missing > Math.max(1, info.durationSeconds * 0.02)) {
    const kept = Number.isFinite(end) ? `media stops at ${end.toFixed(1)} s of ${info.durationSeconds.toFixed(1)} s` : 'no media data near its end';
    throw new BeatSyncError('INVALID_FORMAT', `the file is truncated (${kept})`);
  }
}

interface FfprobeStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  start_time?: string;
  duration?: string;
  bit_rate?: string;
  sample_rate?: string;
  channels?: number;
  channel_layout?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: Array<Record<string, unknown>>;
}

export interface FfprobeJson {
  format?: {
    format_name?: string;
    duration?: string;
    size?: string;
    bit_rate?: string;
    start_time?: string;
    nb_streams?: number;
    tags?: Record<string, string>;
  };
  streams?: FfprobeStream[];
}

/** Turns ffprobe's JSON into MediaInfo and applies the content limits (pure: tested without files). */
export function parseProbe(json: FfprobeJson, options: ProbeOptions & { sizeBytes?: number } = {}): MediaInfo {
  const maxDimension = options.maxDimension ?? PROBE_DEFAULTS.maxDimension;
  const maxStreams = options.maxStreams ?? PROBE_DEFAULTS.maxStreams;
  const format = json.format;
  const streams = json.streams ?? [];
  if (!format || !format.format_name) throw new BeatSyncError('INVALID_FORMAT', 'no container could be read');
  const streamCount = Math.max(streams.length, format.nb_streams ?? 0);
  if (streamCount > maxStreams) {
    throw new BeatSyncError('INVALID_FORMAT', `the file has ${streamCount} streams (at most ${maxStreams} accepted)`);
  }

  const video: VideoStreamInfo[] = [];
  const audio: AudioStreamInfo[] = [];
  let otherStreams = 0;
  for (const s of streams) {
    if (s.codec_type === 'video' && !s.disposition?.attached_pic && !s.disposition?.timed_thumbnails) {
      video.push(videoStream(s, maxDimension));
    } else if (s.codec_type === 'audio') {
      audio.push(audioStream(s));
    } else {
      otherStreams++;
    }
  }
  if (video.length === 0 && audio.length === 0) throw new BeatSyncError('INVALID_FORMAT', 'no audio or video stream');

  const streamDurations = [...video, ...audio].map((s) => s.durationSeconds ?? 0);
  const durationSeconds = num(format.duration) ?? Math.max(0, ...streamDurations);
  if (!(durationSeconds > 0)) throw new BeatSyncError('INVALID_FORMAT', 'zero or unknown duration');

  const sizeBytes = options.sizeBytes ?? num(format.size) ?? 0;
  if (format.format_name.startsWith('mov') && sizeBytes > 0) checkNotTruncated(streams, sizeBytes);

  return {
    container: format.format_name,
    durationSeconds,
    sizeBytes,
    bitRate: num(format.bit_rate),
    startTime: num(format.start_time) ?? 0,
    video,
    audio,
    otherStreams,
    tags: { ...(format.tags ?? {}) },
    kind: video.length > 0 ? 'video' : 'audio',
  };
}

function videoStream(s: FfprobeStream, maxDimension: number): VideoStreamInfo {
  const width = s.width ?? 0;
  const height = s.height ?? 0;
  if (!(width > 0 && height > 0)) throw new BeatSyncError('INVALID_FORMAT', `video stream ${s.index} has no picture size`);
  if (width > maxDimension || height > maxDimension) {
    throw new BeatSyncError('INVALID_FORMAT', `picture ${width}×${height} is larger than ${maxDimension} px a side`);
  }
  const frameRate = rate(s.r_frame_rate);
  const avgFrameRate = rate(s.avg_frame_rate);
  return {
    index: s.index ?? 0,
    codec: s.codec_name ?? 'unknown',
    width,
    height,
    rotation: rotationOf(s),
    frameRate,
    avgFrameRate,
    variableFrameRate: frameRate > 0 && avgFrameRate > 0 && Math.abs(frameRate - avgFrameRate) / frameRate > 0.005,
    startTime: num(s.start_time) ?? 0,
    durationSeconds: streamDuration(s),
    pixFmt: s.pix_fmt ?? null,
    bitRate: num(s.bit_rate),
  };
}

function audioStream(s: FfprobeStream): AudioStreamInfo {
  const sampleRate = num(s.sample_rate) ?? 0;
  const channels = s.channels ?? 0;
  if (!(sampleRate > 0 && channels > 0)) throw new BeatSyncError('INVALID_FORMAT', `audio stream ${s.index} has no sample rate or channels`);
  return {
    index: s.index ?? 0,
    codec: s.codec_name ?? 'unknown',
    sampleRate,
    channels,
    channelLayout: s.channel_layout ?? null,
    startTime: num(s.start_time) ?? 0,
    durationSeconds: streamDuration(s),
    bitRate: num(s.bit_rate),
  };
}

/**
 * In MP4/MOV the sample tables promise a number of bytes; a file smaller than that lost its end
 * (an interrupted upload or copy) even though its header still reads fine.
 */
function checkNotTruncated(streams: FfprobeStream[], sizeBytes: number): void {
  let promised = 0;
  for (const s of streams) {
    const bitRate = num(s.bit_rate);
    const duration = num(s.duration);
    if (bitRate !== null && duration !== null) promised += (bitRate * duration) / 8;
  }
  if (promised > sizeBytes * 1.02 + 4096) {
    throw new BeatSyncError('INVALID_FORMAT', `the file is truncated (${sizeBytes} of about ${Math.round(promised)} bytes)`);
  }
}

/** Clockwise degrees to turn the picture for display (the `rotate` tag's convention), 0..359. */
function rotationOf(s: FfprobeStream): number {
  let degrees: number | null = null;
  for (const side of s.side_data_list ?? []) {
    if (typeof side.rotation === 'number') degrees = -side.rotation; // display matrix: counter-clockwise
  }
  if (degrees === null) degrees = num(s.tags?.rotate) ?? 0;
  return ((Math.round(degrees) % 360) + 360) % 360;
}

function streamDuration(s: FfprobeStream): number | null {
  const d = num(s.duration);
  if (d !== null && d > 0) return d;
  // Matroska keeps per-track durations as a tag, e.g. "00:01:02.500000000".
  const tag = s.tags?.DURATION ?? s.tags?.duration;
  const m = tag ? /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(tag) : null;
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
}

function rate(value: string | undefined): number {
  if (!value) return 0;
  const [n, d] = value.split('/').map(Number);
  if (d === undefined) return Number.isFinite(n) ? n : 0;
  return d > 0 && Number.isFinite(n) ? n / d : 0;
}

function num(value: string | number | undefined | null): number | null {
  if (value === undefined || value === null || value === '' || value === 'N/A') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}
