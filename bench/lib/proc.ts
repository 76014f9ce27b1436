// Runs the media tools the benchmarks need (ffmpeg, espeak-ng) with argument arrays, and moves PCM in and out of them.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/** Runs a program (never through a shell) and collects its output; rejects on a non-zero exit. */
export function runTool(cmd: string, args: string[], stdin?: Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.length > 20000) err = err.slice(-10000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr: err });
      else reject(new Error(`${cmd} exited with ${code}: ${err.trim().split('\n').slice(-4).join(' | ')}`));
    });
    if (stdin && child.stdin) child.stdin.end(stdin);
  });
}

export function ffmpeg(args: string[]): Promise<RunResult> {
  return runTool('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args]);
}

/** Copies raw little-endian float32 bytes into a fresh (aligned) Float32Array. */
export function bytesToFloats(buf: Buffer): Float32Array {
  const out = new Float32Array(Math.floor(buf.byteLength / 4));
  new Uint8Array(out.buffer).set(buf.subarray(0, out.length * 4));
  return out;
}

export function floatsToBytes(pcm: Float32Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/**
 * Decodes the first audio stream to mono float32 with ffmpeg. Without `sampleRate` the file's own rate is kept
 * (no resampling, so sample times are exactly the file's).
 */
export async function decodeMono(file: string, sampleRate?: number): Promise<{ pcm: Float32Array; sampleRate: number }> {
  const rate = sampleRate ?? (await probeSampleRate(file));
  const args = ['-i', file, '-map', '0:a:0', '-ac', '1'];
  if (sampleRate) args.push('-ar', String(sampleRate));
  args.push('-f', 'f32le', '-acodec', 'pcm_f32le', 'pipe:1');
  const { stdout } = await ffmpeg(args);
  return { pcm: bytesToFloats(stdout), sampleRate: rate };
}

export async function probeSampleRate(file: string): Promise<number> {
  const { stdout } = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=sample_rate', '-of', 'csv=p=0', file]);
  const rate = Number(stdout.toString().trim().split(/[,\n]/)[0]);
  if (!Number.isFinite(rate) || rate <= 0) throw new Error(`no audio sample rate in ${file}`);
  return rate;
}

export async function probeDuration(file: string): Promise<number> {
  const { stdout } = await runTool('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  return Number(stdout.toString().trim());
}

/** Writes mono float32 PCM as an IEEE-float WAV file (what ffmpeg's afir reads as an impulse response). */
export async function writeFloatWav(file: string, pcm: Float32Array, sampleRate: number): Promise<void> {
  const header = Buffer.alloc(44);
  const dataBytes = pcm.length * 4;
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(3, 20); // IEEE float
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(32, 34);
  header.write('data', 36);
  header.writeUInt32LE(dataBytes, 40);
  await writeFile(file, Buffer.concat([header, floatsToBytes(pcm)]));
}
