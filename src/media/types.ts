// Typed facts about media files, as the rest of the product sees them.

export interface VideoStreamInfo {
  index: number;
  codec: string;
  width: number;
  height: number;
  /** Display rotation in degrees (from the display matrix / rotate tag), 0 when none. */
  rotation: number;
  /** Nominal frame rate (r_frame_rate), frames per second. */
  frameRate: number;
  /** Average frame rate (avg_frame_rate). */
  avgFrameRate: number;
  /** True when the stream's timing is variable (r_frame_rate ≠ avg_frame_rate). */
  variableFrameRate: boolean;
  startTime: number;
  durationSeconds: number | null;
  pixFmt: string | null;
  bitRate: number | null;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  sampleRate: number;
  channels: number;
  channelLayout: string | null;
  startTime: number;
  durationSeconds: number | null;
  bitRate: number | null;
}

export interface MediaInfo {
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm". */
  container: string;
  durationSeconds: number;
  sizeBytes: number;
  bitRate: number | null;
  startTime: number;
  video: VideoStreamInfo[];
  audio: AudioStreamInfo[];
  /** Streams that are neither audio nor video (subtitles, data, attachments). */
  otherStreams: number;
  /** Container-level tags (title, creation_time, location…). */
  tags: Record<string, string>;
  /** 'video' when there is a real (non-cover-art) video stream, else 'audio'. */
  kind: 'video' | 'audio';
}

export interface FfmpegProgress {
  /** Output time reached, seconds. */
  outTimeSeconds: number;
  /** 0..1 when the expected duration is known. */
  fraction: number | null;
  speed: number | null;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Kill the process tree after this long (ms). */
  timeoutMs?: number;
  /** Expected output duration (s), to turn -progress into a fraction. */
  expectedDurationSeconds?: number;
  onProgress?: (p: FfmpegProgress) => void;
  /** ffmpeg -threads limit (worker isolation). */
  threads?: number;
  /** Called with the child's pid (= its process group id) right after it starts. */
  onSpawn?: (pid: number) => void;
}
