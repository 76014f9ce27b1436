// Loads the product's analysis entry point for the benchmarks: the pipeline's analyzeFiles (decoding included) when
// it exists, else ffmpeg decoding here plus the engine's alignRecording. Loaded dynamically so the benchmarks
// type-check and run while those modules are still being written.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Alignment } from '../../src/align/types.ts';
import type { AnalyzeOptions, SyncResult, RenderOptions } from '../../src/pipeline/types.ts';
import { decodeMono } from './proc.ts';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface AnalyzeOutcome {
  alignment: Alignment | null;
  /** The pipeline's second plausible alignment (drives the `alternate` variant), when it has one. */
  alternate: Alignment | null;
  /** Error code when the product refused (NO_MATCH) or failed. */
  errorCode: string | null;
  errorMessage: string | null;
  timings: Record<string, number> | null;
}

export type Analyze = (dance: string, bgm: string) => Promise<AnalyzeOutcome>;

async function importIfPresent<T>(rel: string): Promise<T | null> {
  const file = join(root, rel);
  if (!existsSync(file)) return null;
  return (await import(pathToFileURL(file).href)) as T;
}

function outcomeOfError(err: unknown): AnalyzeOutcome {
  const e = err as { code?: unknown; message?: unknown };
  return { alignment: null, alternate: null, errorCode: typeof e?.code === 'string' ? e.code : 'THROWN', errorMessage: String(e?.message ?? err), timings: null };
}

/** Returns the analysis function and which path it uses. */
export async function loadAnalyzer(threads = 1): Promise<{ analyze: Analyze; via: string }> {
  type PipelineModule = { analyzeFiles?: (d: string, b: string, o?: AnalyzeOptions) => Promise<{ alignment: Alignment; alternate: Alignment | null; timings: Record<string, number> }> };
  const pipeline = (await importIfPresent<PipelineModule>('src/pipeline/index.ts')) ?? (await importIfPresent<PipelineModule>('src/pipeline/analyze.ts'));
  if (pipeline?.analyzeFiles) {
    const analyzeFiles = pipeline.analyzeFiles;
    return {
      via: 'pipeline analyzeFiles (ffmpeg decode included)',
      analyze: async (dance, bgm) => {
        try {
          const a = await analyzeFiles(dance, bgm, { threads });
          return { alignment: a.alignment, alternate: a.alternate, errorCode: null, errorMessage: null, timings: a.timings };
        } catch (err) {
          return outcomeOfError(err);
        }
      },
    };
  }
  type AlignModule = { alignRecording: (i: { dance: Float32Array; bgm: Float32Array; sampleRate: number }) => Promise<Alignment>; ANALYSIS_SAMPLE_RATE?: number };
  const align = await importIfPresent<AlignModule>('src/align/index.ts');
  if (!align) throw new Error('neither src/pipeline nor src/align/index.ts exists yet');
  const rate = align.ANALYSIS_SAMPLE_RATE ?? 16000;
  return {
    via: `bench ffmpeg decode (${rate} Hz mono) + alignRecording`,
    analyze: async (dance, bgm) => {
      try {
        const [d, b] = await Promise.all([decodeMono(dance, rate), decodeMono(bgm, rate)]);
        const alignment = await align.alignRecording({ dance: d.pcm, bgm: b.pcm, sampleRate: rate });
        if (!alignment.matched) return { alignment, alternate: null, errorCode: 'NO_MATCH', errorMessage: 'matched: false', timings: null };
        return { alignment, alternate: null, errorCode: null, errorMessage: null, timings: null };
      } catch (err) {
        return outcomeOfError(err);
      }
    },
  };
}

export type SyncFiles = (dance: string, bgm: string, outDir: string, options?: RenderOptions) => Promise<SyncResult>;

export async function loadSync(): Promise<SyncFiles | null> {
  const mod = await importIfPresent<{ syncFiles?: SyncFiles }>('src/pipeline/index.ts');
  return mod?.syncFiles ?? null;
}
