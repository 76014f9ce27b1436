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
