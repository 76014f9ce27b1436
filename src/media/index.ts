// The media layer: the only part of BeatSync that starts ffmpeg/ffprobe.
export type { AudioStreamInfo, FfmpegProgress, MediaInfo, RunOptions, VideoStreamInfo } from './types.ts';
export { runFfmpeg, runFfmpegPiped, runFfmpegStream, runFfmpegToBuffer, runFfprobe, withThreads } from './run.ts';
export type { ProbeRunOptions } from './run.ts';
export { ALLOWED_DEMUXERS, fileUrl, inputArgs, sniffFile } from './input.ts';
export type { InputOptions } from './input.ts';
export { PROBE_DEFAULTS, parseProbe, probeMedia } from './probe.ts';
export type { ProbeOptions } from './probe.ts';
export { BGM_MAX_SECONDS, DANCE_MAX_SECONDS, DANCE_VIDEO_CODECS, checkBgmInput, checkDanceInput } from './validate.ts';
export type { DanceInput, InputLimits } from './validate.ts';
export { decodeAudio } from './decode.ts';
export type { DecodeOptions } from './decode.ts';
export { listVideoPackets, probeOutputHead } from './packets.ts';
export type { OutputHead, PacketOptions, VideoPacket } from './packets.ts';
export { ffmpegVersion, hasEncoder } from './tools.ts';
export { errorFromExit } from './stderr.ts';
export { prepareSmartCut } from './smart-cut.ts';
export { leanHead } from './smart-cut-match.ts';
export type { SmartCut, SmartCutApplied, SmartCutRequest } from './smart-cut.ts';
