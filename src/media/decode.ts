// Decodes a file's sound to mono float PCM through a pipe, for the alignment engine.
import { BeatSyncError } from '../errors.ts';
import { inputArgs } from './input.ts';
import { runFfmpegStream } from './run.ts';

export interface DecodeOptions {
  sampleRate: number;
  /** 1 = downmix to mono (the default); more keeps channels interleaved. */
  channels?: number;
  /** Absolute stream index (MediaInfo's `index`); default the first audio stream. */
  streamIndex?: number;
  startSeconds?: number;
  durationSeconds?: number;
  /** Known length of what will be decoded, to allocate once (else the buffer grows). */
  expectedSeconds?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
  threads?: number;
}

/**
 * Samples as Float32Array (interleaved when channels > 1). Sample 0 is the stream's first audible
 * sample at `startSeconds`: ffmpeg applies edit lists and drops encoder priming (not disabled here).
 */
export async function decodeAudio(path: string, options: DecodeOptions): Promise<Float32Array<ArrayBuffer>> {
  const { sampleRate } = options;
  const channels = options.channels ?? 1;
  if (!(Number.isInteger(sampleRate) && sampleRate >= 1000 && sampleRate <= 384_000)) {
    throw new BeatSyncError('BAD_REQUEST', `invalid sample rate ${sampleRate}`);
  }
  if (!(Number.isInteger(channels) && channels >= 1 && channels <= 8)) throw new BeatSyncError('BAD_REQUEST', `invalid channel count ${channels}`);

  const map = options.streamIndex === undefined ? '0:a:0' : `0:${options.streamIndex}`;
  const args = [
    ...inputArgs(path, { startSeconds: options.startSeconds, durationSeconds: options.durationSeconds }),
    '-map', map, '-vn', '-sn', '-dn',
    '-ac', String(channels), '-ar', String(sampleRate),
    // Without -flush_packets 0 ffmpeg writes every decoded frame to the pipe by itself (~1.5 kB at 16 kHz), and
    // each small write wakes this process: ~13 000 reads for 5 minutes. Buffered, the writes are 32 kB.
    '-c:a', 'pcm_f32le', '-flush_packets', '0', '-f', 'f32le', 'pipe:1',
  ];

  const expected = options.durationSeconds ?? options.expectedSeconds;
  const sink = new SampleSink(expected !== undefined ? Math.ceil(expected * sampleRate * channels) + 1024 : sampleRate * channels * 30);
  try {
    await runFfmpegStream(args, (chunk) => sink.push(chunk), {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      threads: options.threads,
    });
  } catch (error) {
    if (error instanceof BeatSyncError && /matches no streams|does not contain any stream/.test(error.detail ?? '')) {
      throw new BeatSyncError('NO_AUDIO_TRACK', options.streamIndex === undefined ? 'no audio stream to decode' : `stream ${options.streamIndex} is not audio`);
    }
    throw error;
  }
  return sink.result();
}

/** Collects little-endian f32 bytes into one growing Float32Array (chunks may split a sample). */
class SampleSink {
  private samples: Float32Array<ArrayBuffer>;
  private bytes: Uint8Array;
  private length = 0; // bytes written
  constructor(initialSamples: number) {
    this.samples = new Float32Array(Math.max(1024, initialSamples));
    this.bytes = new Uint8Array(this.samples.buffer);
  }

  push(chunk: Buffer): void {
    const needed = this.length + chunk.length;
    if (needed > this.bytes.length) {
      let size = this.samples.length;
      while (size * 4 < needed) size *= 2;
      const grown = new Float32Array(size);
      new Uint8Array(grown.buffer).set(this.bytes.subarray(0, this.length));
      this.samples = grown;
      this.bytes = new Uint8Array(grown.buffer);
    }
    this.bytes.set(chunk, this.length);
    this.length = needed;
  }

  result(): Float32Array<ArrayBuffer> {
    const count = Math.floor(this.length / 4);
    // Keep the big buffer only when little of it is wasted; otherwise hand back a tight copy.
    if (this.samples.length - count <= Math.max(4096, count / 100)) return this.samples.subarray(0, count);
    return this.samples.slice(0, count);
  }
}
