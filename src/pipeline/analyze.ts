// Analysis: probe and check both files, decode their sound, find where the recording sits in the song.
import { ANALYSIS_SAMPLE_RATE, alignWithAlternate } from '../align/index.ts';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { checkBgmInput, checkDanceInput, decodeAudio, probeMedia } from '../media/index.ts';
import type { DecodeOptions } from '../media/index.ts';
import type { MediaInfo } from '../media/types.ts';
import { loudnessEnvelopes } from './envelopes.ts';
import { elapsedMs, stageReporter, throwIfCancelled } from './progress.ts';
import type { Analysis, AnalyzeOptions } from './types.ts';

/** Less sound than this cannot be aligned (s). */
const MIN_AUDIO_SECONDS = 1;
/** A mono downmix quieter than this (RMS, about −80 dBFS) is silence. */
const SILENT_RMS = 1e-4;

export async function analyzeFiles(dancePath: string, bgmPath: string, options: AnalyzeOptions = {}): Promise<Analysis> {
  const { signal } = options;
  const report = stageReporter(options.onProgress);
  const timings: Record<string, number> = {};
  try {
    report('probe', 0, 'Reading the files');
    let start = performance.now();
    const [dance, bgm] = await probeBoth(dancePath, bgmPath, signal);
    const danceInput = checkDanceInput(dance);
    const bgmInput = checkBgmInput(bgm);
    timings.probe = elapsedMs(start);
    throwIfCancelled(signal);

    report('decode', 0, 'Decoding the sound');
    start = performance.now();
    const decode = (path: string, audio: { index: number; channels: number }, seconds: number) =>
      decodeListenable(path, audio, (channels) => ({ sampleRate: ANALYSIS_SAMPLE_RATE, channels, streamIndex: audio.index, expectedSeconds: seconds, signal, threads: options.threads }));
    const [danceSamples, bgmSamples] = await Promise.all([
      decode(dancePath, danceInput.audio, dance.durationSeconds),
      decode(bgmPath, bgmInput.audio, bgm.durationSeconds),
    ]);
    if (danceSamples.length < MIN_AUDIO_SECONDS * ANALYSIS_SAMPLE_RATE) {
      throw new BeatSyncError('NO_AUDIO_TRACK', 'the dance video has (almost) no decodable sound');
    }
    if (bgmSamples.length < MIN_AUDIO_SECONDS * ANALYSIS_SAMPLE_RATE) {
      throw new BeatSyncError('NO_AUDIO_TRACK', 'the music file has (almost) no decodable sound');
    }
    timings.decode = elapsedMs(start);
    throwIfCancelled(signal);
    options.beforeAlign?.(dance);

    report('analyze', 0, 'Finding the song in the recording');
    start = performance.now();
    const input = { dance: danceSamples, bgm: bgmSamples, sampleRate: ANALYSIS_SAMPLE_RATE };
    // The engine measures the runner-up like the winner and returns it when it is plausible (always when
    // the two are ambiguous), so the `alternate` variant needs no second search.
    const { alignment, alternate } = await alignWithAlternate(input, { onProgress: (f) => report('analyze', f * 0.95, 'Finding the song in the recording') });
    throwIfCancelled(signal);
    if (!alignment.matched) {
      throw new BeatSyncError('NO_MATCH', `the song was not found in the recording (confidence ${alignment.confidence.toFixed(2)})`);
    }
    const envelopes = loudnessEnvelopes(danceSamples, bgmSamples, ANALYSIS_SAMPLE_RATE, alignment);
    release(danceSamples, bgmSamples);
    timings.analyze = elapsedMs(start);
    report('analyze', 1, 'Song found');
    return { alignment, dance, bgm, alternate, timings, envelopes };
  } catch (error) {
    throw toBeatSyncError(error);
  }
}

/**
 * Frees decoded sound now rather than at the next full garbage collection, which may come only after
 * the renderer has started its ffmpegs (10 minutes of dance sound are ~40 MB): a detached buffer's
 * memory is returned at once.
 */
function release(...arrays: Float32Array<ArrayBuffer>[]): void {
  for (const a of arrays) if (!a.buffer.detached) a.buffer.transfer(0);
}

/** Probes both; when both fail, the dance file's error is the one reported (deterministic). */
async function probeBoth(dancePath: string, bgmPath: string, signal: AbortSignal | undefined): Promise<[MediaInfo, MediaInfo]> {
  const [dance, bgm] = await Promise.allSettled([probeMedia(dancePath, { signal }), probeMedia(bgmPath, { signal })]);
  if (dance.status === 'rejected') throw withSubject(dance.reason, 'dance video');
  if (bgm.status === 'rejected') throw withSubject(bgm.reason, 'music file');
  return [dance.value, bgm.value];
}

/** Says which file an input error is about (the codes are the same for both). */
function withSubject(error: unknown, subject: string): BeatSyncError {
  const e = toBeatSyncError(error);
  if (e.code === 'PROCESSING_FAILED' || e.code === 'CANCELLED' || e.code === 'TIMEOUT') return e;
  return new BeatSyncError(e.code, `${subject}: ${e.detail ?? e.code.toLowerCase()}`, { retryable: e.retryable, cause: e });
}

/**
 * Mono sound for the engine. Channels in anti-phase (an old stereo-widening trick; some tracker modules do it)
 * cancel in a downmix, leaving silence, although the speakers in a room play the music loud: then the channels'
 * difference is what the room heard.
 */
async function decodeListenable(path: string, audio: { channels: number }, options: (channels: number) => DecodeOptions): Promise<Float32Array<ArrayBuffer>> {
  const mono = await decodeAudio(path, options(1));
  if (audio.channels < 2 || rmsOf(mono) >= SILENT_RMS) return mono;
  const stereo = await decodeAudio(path, options(2));
  const side = new Float32Array(Math.floor(stereo.length / 2));
  for (let i = 0; i < side.length; i++) side[i] = (stereo[2 * i] - stereo[2 * i + 1]) / 2;
  return rmsOf(side) > rmsOf(mono) ? side : mono;
}

function rmsOf(x: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i += 4) sum += x[i] * x[i];
  return Math.sqrt(sum / Math.max(1, Math.ceil(x.length / 4)));
}
