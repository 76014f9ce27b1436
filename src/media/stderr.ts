// Turns an ffmpeg/ffprobe failure (stderr tail, exit status) into a BeatSyncError with a stable code.
import { BeatSyncError } from '../errors.ts';

const NOT_FOUND = /No such file or directory/i;
const REFUSED = /not on whitelist|not in allowed_|Protocol not found/i;
const INVALID = new RegExp(
  [
    'Invalid data found when processing input',
    'moov atom not found',
    'EBML header parsing failed',
    'error reading header',
    'partial file',
    'Truncat',
    'Unknown format',
    'could not find codec parameters',
    'Stream ends prematurely',
    'Picture size \\d+x\\d+ is invalid',
    'Invalid NAL unit',
    'no frame!',
    'Output file #0 does not contain any stream',
    'Invalid input file index',
    'matches no streams',
  ].join('|'),
  'i',
);
const SHORTAGE = /No space left on device|Cannot allocate memory|Resource temporarily unavailable/i;

/** Replaces absolute paths (optionally `file:`-prefixed) by their base name: details may reach API answers. */
export function scrubPaths(text: string): string {
  return text.replace(/(?:file:)?(?:\/[^\s/:'"]+)+\/([^\s/:'"]+)/g, '$1');
}

/** The last meaningful stderr line, without ffmpeg's "[component @ 0x…]" prefix. */
export function lastLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const line = lines.at(-1) ?? '';
  return scrubPaths(line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')).slice(0, 300);
}

/** The first line naming what is wrong, rather than ffmpeg's generic closing "Invalid data found…". */
function specificLine(stderr: string): string | null {
  for (const raw of stderr.split(/\r?\n/)) {
    if (INVALID.test(raw) && !/Invalid data found when processing input/i.test(raw)) return lastLine(raw);
  }
  return null;
}

export interface ExitFacts {
  tool: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Maps a failed run to a typed error; the detail is short, path-free and names the tool. */
export function errorFromExit(facts: ExitFacts): BeatSyncError {
  const { tool, stderr, exitCode, signal } = facts;
  const line = lastLine(stderr);
  const detail = (what: string) => `${tool}: ${what}`;
  if (REFUSED.test(stderr)) {
    return new BeatSyncError('INVALID_FORMAT', detail('not an accepted audio/video container (playlists and other file-referencing formats are refused)'));
  }
  if (NOT_FOUND.test(stderr)) return new BeatSyncError('FILE_NOT_FOUND', detail(line || 'no such file'));
  if (INVALID.test(stderr)) return new BeatSyncError('INVALID_FORMAT', detail(specificLine(stderr) ?? (line || 'invalid or corrupt media')));
  if (SHORTAGE.test(stderr)) return new BeatSyncError('RESOURCE_LIMIT', detail(line));
  if (/Permission denied/i.test(stderr)) return new BeatSyncError('PROCESSING_FAILED', detail(line), { retryable: false });
  if (signal) return new BeatSyncError('PROCESSING_FAILED', detail(`killed by ${signal}${line ? `: ${line}` : ''}`));
  return new BeatSyncError('PROCESSING_FAILED', detail(`exit code ${exitCode}${line ? `: ${line}` : ''}`));
}
