// How a user's file is named to ffmpeg/ffprobe safely, and a first look at its bytes before any tool opens it.
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BeatSyncError } from '../errors.ts';

/**
 * Demuxers allowed on user files: real containers only. Playlist-like or file-referencing demuxers
 * (hls, concat/ffconcat, sdp/rtp, dash, image2, tty, subtitles…) are not listed, so ffmpeg refuses
 * them before reading anything they point to. ("mov" covers mp4/m4a/3gp, "matroska" covers webm.)
 */
export const ALLOWED_DEMUXERS = ['mov', 'matroska', 'webm', 'avi', 'mp3', 'wav', 'flac', 'ogg', 'aac'] as const;

export interface InputOptions {
  /** Input seek (-ss before -i): decoding starts here, sample-accurate for audio. */
  startSeconds?: number;
  /** Read at most this much of the input (-t before -i). */
  durationSeconds?: number;
}

/**
 * The arguments naming a user file as an input, ending with `-i file:/abs/path`. The `file:` prefix
 * keeps names like `concat:…`, `http:…` or `-x` from being read as protocols or options; the
 * whitelists keep the demuxer from opening anything but this local file.
 */
export function inputArgs(path: string, options: InputOptions = {}): string[] {
  const args = ['-protocol_whitelist', 'file', '-format_whitelist', ALLOWED_DEMUXERS.join(',')];
  if (options.startSeconds !== undefined && options.startSeconds > 0) args.push('-ss', seconds(options.startSeconds));
  if (options.durationSeconds !== undefined) args.push('-t', seconds(options.durationSeconds));
  args.push('-i', fileUrl(path));
  return args;
}

/** `file:` + absolute path (what ffprobe takes as its input argument). */
export function fileUrl(path: string): string {
  return `file:${resolve(path)}`;
}

function seconds(value: number): string {
  if (!Number.isFinite(value) || value < 0) throw new BeatSyncError('BAD_REQUEST', `invalid time ${value}`);
  return value.toFixed(6);
}

const SNIFF_BYTES = 4096;

/** Text openings of playlists and other file-referencing formats that sometimes hide behind a video name. */
const PLAYLIST_MARKERS = [/^#EXT/i, /^ffconcat/i, /^file\s/i, /^v=0\s/, /^<\?xml/i, /^<(MPD|smil|playlist|asx)\b/i, /^\[playlist\]/i, /^#!/];

/**
 * Refuses, by content, what cannot be media before any tool opens it: empty files, playlists and
 * plain text (every container we accept has binary bytes in its first few kilobytes).
 */
export async function sniffFile(path: string): Promise<{ sizeBytes: number }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BeatSyncError('FILE_NOT_FOUND', 'no such file');
    if (code === 'EISDIR') throw new BeatSyncError('INVALID_FORMAT', 'a directory, not a media file');
    throw new BeatSyncError('PROCESSING_FAILED', `cannot open the file (${code ?? 'error'})`, { retryable: false, cause: error });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new BeatSyncError('INVALID_FORMAT', 'a directory, not a media file');
    if (!stat.isFile()) throw new BeatSyncError('INVALID_FORMAT', 'not a regular file');
    if (stat.size === 0) throw new BeatSyncError('INVALID_FORMAT', 'the file is empty (0 bytes)');
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, stat.size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    const text = bytes.toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
    if (PLAYLIST_MARKERS.some((m) => m.test(text))) {
      throw new BeatSyncError('INVALID_FORMAT', 'a playlist or text file, not a video or audio file');
    }
    if (looksLikeText(bytes)) throw new BeatSyncError('INVALID_FORMAT', 'a text file, not a video or audio file');
    return { sizeBytes: stat.size };
  } finally {
    await handle.close();
  }
}

/** True when the bytes hold no control characters besides whitespace (binary containers always do). */
export function looksLikeText(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) return false;
    if (b === 0x7f) return false;
  }
  return true;
}
