// Video packet timing (pts/dts/keyframe) around a time range, so the renderer knows where a stream-copy cut really starts.
import { inputArgs } from './input.ts';
import { runFfprobe } from './run.ts';

export interface VideoPacket {
  /** Seconds, in the stream's own timeline (ffprobe pts_time). */
  pts: number;
  dts: number;
  keyframe: boolean;
  duration: number;
}

export interface PacketOptions {
  /** Absolute stream index; default the first video stream. */
  streamIndex?: number;
  /** ffprobe seeks to the keyframe at or before this time, so that keyframe is included. */
  fromSeconds?: number;
  toSeconds?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Packets in decode order, read only around [fromSeconds, toSeconds] (-read_intervals), not the whole file. */
export async function listVideoPackets(path: string, options: PacketOptions = {}): Promise<VideoPacket[]> {
  const args = [
    '-select_streams', options.streamIndex === undefined ? 'v:0' : String(options.streamIndex),
    '-show_entries', 'packet=pts_time,dts_time,duration_time,flags',
    '-of', 'compact=p=0',
  ];
  const interval = readInterval(options.fromSeconds, options.toSeconds);
  if (interval) args.push('-read_intervals', interval);
  const { stdout } = await runFfprobe([...args, ...inputArgs(path)], {
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 60_000,
    maxOutputBytes: 64 * 1024 * 1024,
  });
  return parsePackets(stdout);
}

function readInterval(from: number | undefined, to: number | undefined): string | null {
  if (from === undefined && to === undefined) return null;
  const f = from === undefined ? '' : Math.max(0, from).toFixed(6);
  const t = to === undefined ? '' : to.toFixed(6);
  return `${f}%${t}`;
}

/** Parses `pts_time=…|dts_time=…|duration_time=…|flags=K_` lines. */
export function parsePackets(text: string): VideoPacket[] {
  const packets: VideoPacket[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('=')) continue;
    const fields: Record<string, string> = {};
    for (const pair of line.trim().split('|')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const pts = Number.parseFloat(fields.pts_time);
    const dts = Number.parseFloat(fields.dts_time);
    if (!Number.isFinite(pts) && !Number.isFinite(dts)) continue;
    const duration = Number.parseFloat(fields.duration_time);
    packets.push({
      pts: Number.isFinite(pts) ? pts : dts,
      dts: Number.isFinite(dts) ? dts : pts,
      keyframe: (fields.flags ?? '').startsWith('K'),
      duration: Number.isFinite(duration) ? duration : 0,
    });
  }
  return packets;
}

export interface OutputHead {
  /** Start time (s) of each stream by type: the first of that type, null when absent. */
  videoStart: number | null;
  audioStart: number | null;
  /** The first video stream's packets up to `toSeconds`, in decode order. */
  videoPackets: VideoPacket[];
}

/**
 * One ffprobe for the after-write check of a file we made: the streams' start times and the first
 * video packets (a full probe plus a packet listing would start two).
 */
export async function probeOutputHead(path: string, options: { toSeconds: number; signal?: AbortSignal; timeoutMs?: number }): Promise<OutputHead> {
  const { stdout } = await runFfprobe([
    '-show_entries', 'stream=index,codec_type,start_time:packet=stream_index,pts_time,dts_time,duration_time,flags',
    '-read_intervals', `%${options.toSeconds.toFixed(6)}`,
    '-of', 'json',
    ...inputArgs(path),
  ], { signal: options.signal, timeoutMs: options.timeoutMs ?? 60_000, maxOutputBytes: 16 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as {
    streams?: { index: number; codec_type?: string; start_time?: string }[];
    packets?: { stream_index: number; pts_time?: string; dts_time?: string; duration_time?: string; flags?: string }[];
  };
  const streams = parsed.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  const start = (s: { start_time?: string } | undefined) => {
    const t = Number.parseFloat(s?.start_time ?? '');
    return s ? (Number.isFinite(t) ? t : 0) : null;
  };
  const lines = (parsed.packets ?? [])
    .filter((p) => video !== undefined && p.stream_index === video.index)
    .map((p) => `pts_time=${p.pts_time ?? ''}|dts_time=${p.dts_time ?? ''}|duration_time=${p.duration_time ?? ''}|flags=${p.flags ?? ''}`);
  return { videoStart: start(video), audioStart: start(audio), videoPackets: parsePackets(lines.join('\n')) };
}
