// Encoder settings that make a re-encoded smart-cut head look like its source: same codec, profile,
// level, pixel format, colour tags and time base, no B-frames (its decode order is its display order),
// CRF 16. A source these cannot match gets a reason instead, and the caller keeps the keyframe cut.

/** What ffprobe says about the source stream (stream entries, as printed). */
export interface SourceStream {
  codec_name?: string;
  profile?: string;
  level?: number;
  pix_fmt?: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  field_order?: string;
  time_base?: string;
  width?: number;
  height?: number;
}

/**
 * Above this many pixels a frame (4K: 8.3 MP, 12 MB a frame) the head is decoded by one thread and encoded
 * with sliced threads: frame threads each hold frames, and a 4K head took 440 MB that way against 270 MB
 * lean, for the same CPU (BENCHMARKS.md, smart cut).
 */
export const LEAN_PIXELS = 2_500_000;

/** Whether the head's decoder and encoder must keep few frames in memory. */
export function leanHead(s: SourceStream): boolean {
  return (s.width ?? 0) * (s.height ?? 0) > LEAN_PIXELS;
}

/** x264/x265 quality of the head (CRF, or the constant quantizer of large x264 frames): visually lossless at the seam. */
export const HEAD_CRF = 16;

const H264_PROFILES: Record<string, string> = {
  'Constrained Baseline': 'baseline',
  Baseline: 'baseline',
  Main: 'main',
  High: 'high',
  'High 10': 'high10',
  'High 4:2:2': 'high422',
  'High 4:4:4 Predictive': 'high444',
};
const HEVC_PROFILES: Record<string, string> = { Main: 'main', 'Main 10': 'main10' };
const H264_PIX_FMTS = ['yuv420p', 'yuvj420p', 'yuv422p', 'yuvj422p', 'yuv444p', 'yuvj444p', 'yuv420p10le', 'yuv422p10le', 'yuv444p10le'];
const HEVC_PIX_FMTS = ['yuv420p', 'yuvj420p', 'yuv420p10le'];

/** The encoder ffmpeg needs for `codec`, or null when the smart cut does not handle it. */
export function headEncoder(codec: string): 'libx264' | 'libx265' | null {
  return codec === 'h264' ? 'libx264' : codec === 'hevc' ? 'libx265' : null;
}

/** Output arguments for the head's encoder, or the reason the source cannot be matched. */
export function headEncoderArgs(s: SourceStream): { args: string[] } | { reason: string } {
  const codec = s.codec_name ?? '';
  const encoder = headEncoder(codec);
  if (!encoder) return { reason: `no matching encoder for ${codec || 'this'} video` };
  if (s.field_order && !['progressive', 'unknown'].includes(s.field_order)) return { reason: `interlaced video (${s.field_order})` };
  const profiles = codec === 'h264' ? H264_PROFILES : HEVC_PROFILES;
  const profile = profiles[s.profile ?? ''];
  if (!profile) return { reason: `${codec} profile ${s.profile ?? 'unknown'} cannot be matched` };
  const pixFmt = s.pix_fmt ?? '';
  if (!(codec === 'h264' ? H264_PIX_FMTS : HEVC_PIX_FMTS).includes(pixFmt)) return { reason: `pixel format ${pixFmt || 'unknown'} cannot be matched` };
  const level = levelOf(codec, s.level);
  // Large x264 frames: a constant quantizer (no rate control, so no quarter-size copies of the frames: −31 MB
  // at 4K, and sharper: 56.1 against 54.1 dB, for a 23 % larger head) and no sub-pixel search (no
  // interpolated copies of the reference: −52 MB).
  const cqp = encoder === 'libx264' && leanHead(s);
  const args = ['-c:v', encoder, cqp ? '-qp' : '-crf', String(HEAD_CRF), '-profile:v', profile, '-pix_fmt', pixFmt];
  if (encoder === 'libx264') {
    // veryfast without look-ahead: 1.4× faster than `faster` and a third less memory (a 4K head held ~1 GB with
    // `faster`'s look-ahead), closer to the source at the same CRF (PSNR 53.6 vs 51.6 dB, BENCHMARKS.md) for a
    // larger head; mb-tree needs the look-ahead, so it is off too.
    args.push('-preset', 'veryfast', '-bf', '0', '-x264-params', `rc-lookahead=0:sync-lookahead=0${cqp ? ':sliced-threads=1:subme=0:scenecut=0:weightp=0' : ''}`);
    if (level) args.push('-level:v', level);
  } else {
    // Large frames: one frame thread and no look-ahead queue (a 4K head: 860 MB with x265's defaults, 480 MB so).
    const lean = leanHead(s) ? ['frame-threads=1', 'rc-lookahead=0', 'lookahead-slices=0'] : [];
    args.push('-preset', 'veryfast', '-x265-params', ['log-level=error', 'bframes=0', ...lean, ...(level ? [`level-idc=${level}`] : [])].join(':'));
  }
  args.push(...colourArgs(s));
  return { args };
}

/** ffprobe's level (H.264: 10 × level, 9 = 1b; HEVC: 30 × level) as the encoder's "4.1"; null when unknown. */
export function levelOf(codec: string, level: number | undefined): string | null {
  if (level === undefined || !(level > 0)) return null;
  if (codec === 'h264') return level === 9 ? '1b' : (level / 10).toFixed(1);
  const value = level / 30;
  return Number.isInteger(value * 10) ? value.toFixed(1) : null;
}

function colourArgs(s: SourceStream): string[] {
  const known = (v: string | undefined) => v !== undefined && v !== '' && v !== 'unknown' && v !== 'reserved';
  const args: string[] = [];
  if (known(s.color_range)) args.push('-color_range', s.color_range!);
  if (known(s.color_primaries)) args.push('-color_primaries', s.color_primaries!);
  if (known(s.color_transfer)) args.push('-color_trc', s.color_transfer!);
  if (known(s.color_space)) args.push('-colorspace', s.color_space!);
  return args;
}
