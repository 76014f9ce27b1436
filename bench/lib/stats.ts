// Small statistics and machine facts for the benchmark reports.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function maxAbs(xs: number[]): number {
  return xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

export function machine(): { nproc: number; cpu: string; memory: string; node: string; ffmpeg: string; date: string } {
  let ffmpegVersion = 'unknown';
  try {
    ffmpegVersion = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    // reported as unknown
  }
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    ffmpeg: ffmpegVersion,
    date: new Date().toISOString(),
  };
}

export function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits);
}
