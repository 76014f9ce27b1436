// What the installed ffmpeg is and can do (readiness checks, encoder choice); answers are cached per process.
import { BeatSyncError } from '../errors.ts';
import { runFfmpegStream } from './run.ts';

let versionCache: Promise<string> | null = null;
let encodersCache: Promise<Set<string>> | null = null;

/** e.g. "5.1.9-0+deb12u1"; PROCESSING_FAILED when ffmpeg is missing. */
export function ffmpegVersion(): Promise<string> {
  versionCache ??= printOf(['-hide_banner', '-version']).then((text) => {
    const m = /ffmpeg version (\S+)/.exec(text);
    if (!m) throw new BeatSyncError('PROCESSING_FAILED', 'ffmpeg -version printed no version');
    return m[1];
  });
  versionCache.catch(() => {
    versionCache = null; // a later install should be seen
  });
  return versionCache;
}

/** Whether this ffmpeg has the named encoder (e.g. "libx264", "aac"). */
export async function hasEncoder(name: string): Promise<boolean> {
  encodersCache ??= printOf(['-hide_banner', '-encoders']).then(parseEncoders);
  encodersCache.catch(() => {
    encodersCache = null;
  });
  return (await encodersCache).has(name);
}

/** Encoder names from `ffmpeg -encoders` lines such as " V....D libx264   libx264 H.264 …". */
export function parseEncoders(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*[VASD.][A-Z.]{5}\s+(\S+)\s/.exec(line);
    if (m && m[1] !== '=') names.add(m[1]);
  }
  return names;
}

/** Stdout of a short informational ffmpeg command (-version, -encoders), through the one runner. */
async function printOf(args: string[]): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  await runFfmpegStream(args, (chunk) => {
    if (size < 1_000_000) chunks.push(chunk);
    size += chunk.length;
  }, { timeoutMs: 10_000 });
  return Buffer.concat(chunks).toString('utf8');
}
