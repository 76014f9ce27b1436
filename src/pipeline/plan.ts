// Pure planning for one rendered variant: where the video cut starts and ends (stream copy keeps
// whole packets), which song samples play at each output sample, and the ffmpeg filter graph.
// Times: "media" = the dance file's own timestamps; "dance" = seconds from the dance audio's first
// sample (the alignment's timeline: media = danceAudioStart + dance); "output" = seconds in the file we write.

/** Output sound: AAC-LC, 48 kHz stereo. */
export const OUTPUT_SAMPLE_RATE = 48000;
export const AUDIO_BITRATE = '256k';
/**
 * ffmpeg's AAC encoder settings. The `fast` coder is 2.5× faster than the default `twoloop` (3 min of
 * stereo: 1.6 s against 4.0 s here) and, with intensity stereo and noise substitution off (parametric
 * tools for low bit rates, needless at 256 kb/s), decodes closer to the mix: 32 dB waveform SNR against
 * twoloop's 28 dB at the same 256 kb/s (BENCHMARKS.md, "Rendering").
 */
export const AUDIO_ENCODER_ARGS = [
  '-c:a', 'aac', '-aac_coder', 'fast', '-aac_is', '0', '-aac_pns', '0',
  '-b:a', AUDIO_BITRATE, '-ar', String(OUTPUT_SAMPLE_RATE), '-ac', '2',
] as const;
/** How a rendered mix is stored between its ffmpeg runs: raw float stereo at the output rate (lossless, seekable by sample). */
export const MIX_PCM_ARGS = ['-f', 'f32le', '-ar', String(OUTPUT_SAMPLE_RATE), '-ac', '2'] as const;
/** Crossfade between room sound and clean music, centred on musicStart / musicEnd (s). */
export const CROSSFADE_SECONDS = 0.4;
/** Video codecs MP4 carries as they are (the rest are re-encoded). */
export const COPYABLE_VIDEO_CODECS = ['h264', 'hevc', 'vp9', 'av1', 'mpeg4'] as const;

export interface PacketTiming {
  pts: number;
  dts: number;
  keyframe: boolean;
  duration: number;
}

export interface VideoCut {
  /** Media time the input is seeked to (-ss with -seek_timestamp), null = no seek (whole file). */
  seekMedia: number | null;
  /** Input -t (s after the seek point) that keeps exactly the wanted packets, null = to the end. */
  inputDuration: number | null;
  /** Media time at output time 0 (ffmpeg shifts every timestamp by it). */
  zeroMedia: number;
  /** Media time where the kept video stops being shown. */
  endMedia: number;
}

/** The keyframe at or before `targetMedia` (the last one in decode order with pts ≤ target). */
export function keyframeAtOrBefore(packets: readonly PacketTiming[], targetMedia: number): PacketTiming | null {
  let best: PacketTiming | null = null;
  for (const p of packets) {
    if (p.keyframe && p.pts <= targetMedia + 1e-6 && (!best || p.pts > best.pts)) best = p;
  }
  return best;
}

/**
 * Where to stop a stream copy at or after `targetMedia`. ffmpeg's -t keeps a prefix in decode order,
 * so the cut goes before the first packet whose pts is ≥ target and for which every earlier packet
 * (in the window) shows before every later one; the prefix then decodes and shows without holes.
 * `packets` must start at a keyframe (listVideoPackets seeks to one). Null when no clean cut exists
 * in the window.
 */
export function cleanEndCut(packets: readonly PacketTiming[], targetMedia: number): { beforeIndex: number; endMedia: number } | null {
  const n = packets.length;
  const suffixMin = new Array<number>(n + 1).fill(Infinity);
  for (let i = n - 1; i >= 0; i--) suffixMin[i] = Math.min(suffixMin[i + 1], packets[i].pts);
  let prefixMax = -Infinity;
  let prefixEnd = -Infinity;
  // The last packet is never a cut point: what follows it is unknown.
  for (let i = 0; i < n - 1; i++) {
    if (i > 0 && suffixMin[i] >= targetMedia - 1e-6 && prefixMax < suffixMin[i]) {
      // The kept frames show until the last one's duration runs out (or, without durations, the next frame).
      return { beforeIndex: i, endMedia: prefixEnd > prefixMax ? prefixEnd : suffixMin[i] };
    }
    if (packets[i].pts > prefixMax) {
      prefixMax = packets[i].pts;
      prefixEnd = packets[i].pts + (packets[i].duration > 0 ? packets[i].duration : 0);
    }
  }
  return null;
}

/**
 * What an ffprobe `-read_intervals from%to` lists, taken from the whole stream's packets (decode order):
 * from the last keyframe at or before `from` (the start without it), up to the first packet shown at or after `to`.
 */
export function packetWindow(packets: readonly PacketTiming[], from: number | undefined, to: number): PacketTiming[] {
  let start = 0;
  if (from !== undefined) {
    for (let i = 0; i < packets.length; i++) if (packets[i].keyframe && packets[i].pts <= from + 1e-6) start = i;
  }
  let end = start;
  while (end < packets.length && !(end > start && packets[end].pts >= to - 1e-6)) end++;
  return packets.slice(start, end);
}

/** ffmpeg reads times as decimal seconds; six decimals = its microsecond clock. */
export function secondsArg(value: number): string {
  return value.toFixed(6);
}

/** Input -t that keeps packets [0, beforeIndex) after a seek to `seekMedia`: between their dts (ffmpeg compares dts). */
export function inputDurationFor(packets: readonly PacketTiming[], beforeIndex: number, seekMedia: number): number {
  const lastKept = packets[beforeIndex - 1].dts;
  const firstDropped = packets[beforeIndex].dts;
  return (lastKept + firstDropped) / 2 - seekMedia;
}

export interface MusicMapping {
  /** BGM time at dance time 0 (the alignment's offset, nudge already applied). */
  offsetSeconds: number;
  speed: number;
  bgmSampleRate: number;
  bgmDurationSeconds: number;
}

export interface AudioPlan {
  /** Output samples at 48 kHz (the output's exact sound length). */
  totalSamples: number;
  /** Dance time at output sample 0. */
  zeroDance: number;
  /** Null when the song does not overlap this output at all. */
  music: {
    /** Output samples of silence before the song's first sample (the recording ran before the song). */
    leadSamples: number;
    /** Song sample (at its own rate) where reading starts. */
    bgmStartSample: number;
    /** Output-rate samples dropped after resampling: the sub-sample remainder of the start. */
    fineSkipSamples: number;
    /** asetrate / aresample labels whose ratio stretches the song by 1/speed, exactly enough (sub-ppm). */
    rateIn: number;
    rateOut: number;
  } | null;
  /** Output samples of silence before the dance sound's first sample. */
  roomDelaySamples: number;
  /** Output seconds where the music takes over from the room sound and hands back (crossfade centres); null = not inside. */
  musicFrom: number | null;
  musicTo: number | null;
}

/** Resampler labels scale: rates are integers, so the speed is carried by large ones (K × rate). */
const RATE_SCALE = 1000;

/**
 * Which song sample plays at each output sample: output sample n is dance time zeroDance + n/48000
 * and BGM time offset + speed × that. Exact to half an output sample (≈10 µs).
 */
export function planAudio(args: {
  zeroDance: number;
  /** Dance time of the dance sound's first decoded sample in this run (later than 0 after an input seek). */
  roomZeroDance: number;
  durationSeconds: number;
  mapping: MusicMapping;
  musicStart: number;
  musicEnd: number;
}): AudioPlan {
  const sr = OUTPUT_SAMPLE_RATE;
  const { zeroDance, mapping } = args;
  const { offsetSeconds: off, speed } = mapping;
  const totalSamples = Math.max(1, Math.round(args.durationSeconds * sr));
  // First output sample whose BGM time is ≥ 0, and the BGM time there.
  const lead = Math.max(0, Math.ceil((-off / speed - zeroDance) * sr - 1e-6));
  const bgmAtLead = Math.max(0, off + speed * (zeroDance + lead / sr));
  let music: AudioPlan['music'] = null;
  if (lead < totalSamples && bgmAtLead < mapping.bgmDurationSeconds) {
    const bgmStartSample = Math.floor(bgmAtLead * mapping.bgmSampleRate + 1e-9);
    const remainder = bgmAtLead - bgmStartSample / mapping.bgmSampleRate;
    music = {
      leadSamples: lead,
      bgmStartSample,
      fineSkipSamples: Math.round((remainder / speed) * sr),
      rateIn: Math.round(speed * mapping.bgmSampleRate * RATE_SCALE),
      rateOut: sr * RATE_SCALE,
    };
  }
  const duration = totalSamples / sr;
  const from = args.musicStart - zeroDance;
  const to = args.musicEnd - zeroDance;
  return {
    totalSamples,
    zeroDance,
    music,
    roomDelaySamples: Math.max(0, Math.round((args.roomZeroDance - zeroDance) * sr)),
    musicFrom: from > 0 ? from : null,
    musicTo: to < duration ? to : null,
  };
}

/**
 * Filters that turn the song (from its first sample, timestamps N/SR/TB) into `totalSamples` of output
 * sound: cut, stretched for drift, placed to the sample. Fades come after.
 */
export function musicFilters(m: NonNullable<AudioPlan['music']>, totalSamples: number): string[] {
  const sr = OUTPUT_SAMPLE_RATE;
  const L = totalSamples;
  return [
    'aformat=channel_layouts=stereo',
    `atrim=start_sample=${m.bgmStartSample}`,
    'asetpts=N/SR/TB',
    `asetrate=${m.rateIn}`,
    `aresample=${m.rateOut}:resampler=soxr:precision=28`,
    `asetrate=${sr}`,
    'aformat=sample_fmts=fltp:channel_layouts=stereo',
    'asetpts=N/SR/TB',
    `atrim=start_sample=${m.fineSkipSamples}`,
    'asetpts=N/SR/TB',
    `adelay=delays=${m.leadSamples}S:all=1`,
    `apad=whole_len=${L},atrim=end_sample=${L},asetpts=N/SR/TB`,
  ];
}

/**
 * The filter graph producing [aout]: the song (cut, stretched for drift, placed to the sample) inside
 * [musicStart, musicEnd], the room sound outside it, crossfaded. Input 0 = dance, 1 = BGM.
 */
export function audioFilterGraph(plan: AudioPlan, danceAudioIndex: number, bgmAudioIndex: number): string {
  const sr = OUTPUT_SAMPLE_RATE;
  const L = plan.totalSamples;
  const stereo = 'aformat=sample_fmts=fltp:channel_layouts=stereo';
  const fit = `apad=whole_len=${L},atrim=end_sample=${L},asetpts=N/SR/TB`;
  const half = CROSSFADE_SECONDS / 2;
  const chains: string[] = [];
  const mixInputs: string[] = [];

  if (plan.music) {
    const m = plan.music;
    const fades: string[] = [];
    if (plan.musicFrom !== null) fades.push(`afade=t=in:st=${secondsArg(Math.max(0, plan.musicFrom - half))}:d=${CROSSFADE_SECONDS}`);
    if (plan.musicTo !== null) fades.push(`afade=t=out:st=${secondsArg(Math.max(0, plan.musicTo - half))}:d=${CROSSFADE_SECONDS}`);
    chains.push([`[1:${bgmAudioIndex}]asetpts=N/SR/TB`, ...musicFilters(m, L), ...fades].join(',') + '[music]');
    mixInputs.push('[music]');
  }

  // Room sound: only where the music is not (it starts fading out at musicFrom − half).
  const room = [
    `[0:${danceAudioIndex}]asetpts=N/SR/TB`,
    `aresample=${sr}:resampler=soxr`,
    stereo,
    'asetpts=N/SR/TB',
    `adelay=delays=${plan.roomDelaySamples}S:all=1`,
    fit,
  ].join(',');
  const roomParts: string[] = [];
  if (plan.musicFrom !== null) roomParts.push(`afade=t=out:st=${secondsArg(Math.max(0, plan.musicFrom - half))}:d=${CROSSFADE_SECONDS}`);
  if (plan.musicTo !== null) roomParts.push(`afade=t=in:st=${secondsArg(Math.max(0, plan.musicTo - half))}:d=${CROSSFADE_SECONDS}`);
  if (plan.music === null) {
    chains.push(`${room}[room0]`);
    mixInputs.push('[room0]');
  } else if (roomParts.length === 1) {
    chains.push(`${room},${roomParts[0]}[room0]`);
    mixInputs.push('[room0]');
  } else if (roomParts.length === 2) {
    chains.push(`${room},asplit=2[roomA][roomB]`, `[roomA]${roomParts[0]}[room0]`, `[roomB]${roomParts[1]}[room1]`);
    mixInputs.push('[room0]', '[room1]');
  }
  // (music over the whole output: the room sound is not used at all)

  if (mixInputs.length === 1) {
    chains.push(`${mixInputs[0]}anull[aout]`);
  } else {
    chains.push(`${mixInputs.join('')}amix=inputs=${mixInputs.length}:normalize=0:duration=longest:dropout_transition=0,${fit}[aout]`);
  }
  return chains.join(';');
}

/**
 * The filter graph producing [aout] from a mix rendered once for the whole dance file (input 1, see
 * MIX_PCM_ARGS): `totalSamples` of it from mix sample `fromSample` on (negative = silence first).
 */
export function mixSliceGraph(fromSample: number, totalSamples: number): string {
  const L = totalSamples;
  const head = fromSample >= 0 ? `atrim=start_sample=${fromSample},asetpts=N/SR/TB` : `adelay=delays=${-fromSample}S:all=1`;
  return `[1:a]${head},apad=whole_len=${L},atrim=end_sample=${L},asetpts=N/SR/TB[aout]`;
}

/** Output-side ffmpeg options for the video stream: copy (with the MP4 tag it needs) or a high-quality re-encode. */
export function videoCodecArgs(codec: string, copy: boolean): string[] {
  if (!copy) return ['-c:v', 'libx264', '-preset', 'medium', '-crf', '17', '-pix_fmt', 'yuv420p', '-fps_mode', 'passthrough'];
  const args = ['-c:v', 'copy'];
  if (codec === 'hevc') args.push('-tag:v', 'hvc1');
  if (codec === 'mpeg4') args.push('-bsf:v', 'mpeg4_unpack_bframes');
  return args;
}

export function canCopyVideo(codec: string): boolean {
  return (COPYABLE_VIDEO_CODECS as readonly string[]).includes(codec);
}

/** Container tags ffmpeg drops on its own (creation_time) but a teacher's phone library sorts by. */
export function metadataArgs(tags: Record<string, string>): string[] {
  const args = ['-map_metadata', '0'];
  const created = tags.creation_time;
  if (created && /^[0-9T:.\-Z+ ]{10,40}$/.test(created)) args.push('-metadata', `creation_time=${created}`);
  return args;
}
