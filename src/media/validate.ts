// Whether a probed file can serve as the dance video or the BGM, with the product's limits.
import { BeatSyncError } from '../errors.ts';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.ts';

export interface InputLimits {
  maxDurationSeconds?: number;
}

export const DANCE_MAX_SECONDS = 20 * 60;
/** The song may run a little past the recorded class. */
export const BGM_MAX_SECONDS = 30 * 60;

/** Video codecs phones and cameras write, and that we promise to handle. */
export const DANCE_VIDEO_CODECS = ['h264', 'hevc', 'vp9', 'av1', 'mpeg4'] as const;

export interface DanceInput {
  video: VideoStreamInfo;
  audio: AudioStreamInfo;
  /** Set when the codec is outside DANCE_VIDEO_CODECS but ffmpeg can still handle it. */
  note: string | null;
}

/** The dance file needs a real picture and a sound track (to find where the song sits). */
export function checkDanceInput(info: MediaInfo, limits: InputLimits = {}): DanceInput {
  const video = info.video[0];
  if (!video) throw new BeatSyncError('NO_VIDEO_TRACK', info.kind === 'audio' ? 'the dance file is audio only' : 'no video stream');
  if (video.codec === 'unknown') throw new BeatSyncError('INVALID_FORMAT', 'the video codec is not recognised');
  const audio = firstAudio(info);
  if (!audio) throw new BeatSyncError('NO_AUDIO_TRACK', 'the dance video has no sound to align with the song');
  checkDuration(info, limits.maxDurationSeconds ?? DANCE_MAX_SECONDS);
  const known = (DANCE_VIDEO_CODECS as readonly string[]).includes(video.codec);
  return { video, audio, note: known ? null : `video codec ${video.codec} is not one of ${DANCE_VIDEO_CODECS.join('/')}; it is handled as ffmpeg allows` };
}

/** The BGM may be a video or an audio file; only its sound is used. */
export function checkBgmInput(info: MediaInfo, limits: InputLimits = {}): { audio: AudioStreamInfo } {
  const audio = firstAudio(info);
  if (!audio) throw new BeatSyncError('NO_AUDIO_TRACK', 'the music file has no sound track');
  checkDuration(info, limits.maxDurationSeconds ?? BGM_MAX_SECONDS);
  return { audio };
}

function firstAudio(info: MediaInfo): AudioStreamInfo | undefined {
  return info.audio.find((a) => a.codec !== 'unknown');
}

function checkDuration(info: MediaInfo, maxSeconds: number): void {
  if (info.durationSeconds > maxSeconds) {
    throw new BeatSyncError('DURATION_LIMIT', `${formatMinutes(info.durationSeconds)} is longer than the ${formatMinutes(maxSeconds)} allowed`);
  }
}

function formatMinutes(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
