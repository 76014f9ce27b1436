// What a job type is: how its input is checked, which uploads it reads, how its result is cached,
// and the work itself (`run`, executed inside the job's own child process), plus its limits.
import type { FileStore, UploadMeta } from '../storage/types.ts';
import type { JobProgress } from './types.ts';

export interface JobLimits {
  /** Hard limit of one attempt: the whole process tree is killed past it. */
  timeLimitMs: number;
  maxAttempts: number;
  /** V8 heap cap of the child (--max-old-space-size); also the per-job budget for the default concurrency. */
  memoryMb: number;
  /** Fraction (0..1] of the pool's slots this type may hold at once (at least one). */
  concurrencyShare: number;
  /** Whether a TIMEOUT may be retried (attempts permitting) or ends the job at once. */
  retryOnTimeout: boolean;
}

/** Upload metadata of a job's input files, by file id. */
export type UploadMap = Readonly<Record<string, UploadMeta>>;

/** Where the child finds the handler: `(await import(url))[name]`. */
export interface HandlerRef {
  url: string;
  name: string;
}

/** Everything `run` may use; it lives in the child process. */
export interface JobContext<I> {
  jobId: string;
  type: string;
  /** 1 for the first attempt. */
  attempt: number;
  input: I;
  files: FileStore;
  /** Stages finished by earlier attempts. */
  checkpoints: Readonly<Record<string, unknown>>;
  /** Durable once the promise resolves: a later attempt receives it in `checkpoints`. */
  saveCheckpoint(stage: string, data: unknown): Promise<void>;
  progress(p: JobProgress): void;
  /** Aborted when the job must stop (the process is killed shortly after anyway). */
  signal: AbortSignal;
  /** ffmpeg thread limit for this job. */
  threads: number;
  /** A private directory, removed after the attempt. */
  tmpDir: string;
}

export interface JobTypeHandler<I = unknown, R = unknown> {
  ref: HandlerRef;
  /** Checks and normalises raw input; throws BeatSyncError BAD_REQUEST. */
  parseInput(raw: unknown): I;
  /** Upload ids the job reads (kept alive by retention while the job is not finished). */
  inputFileIds(input: I): string[];
  /** Early checks against upload metadata (e.g. the dance file has a picture); throws BeatSyncError. */
  checkUploads?(input: I, uploads: UploadMap): void;
  /** Same key = same result; null when results must never be shared. */
  cacheKey(input: I, uploads: UploadMap): string | null;
  estimateSeconds(input: I, uploads: UploadMap): number;
  /** Storage keys of the files a result points to (to check a cached result is still whole). */
  resultFileKeys(result: R): string[];
  /** The same result with its files under another job's own keys (a cache hit copies them there). */
  relocateResult(result: R, jobId: string): R;
  run(ctx: JobContext<I>): Promise<R>;
}

export interface RegisteredJobType {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry keeps its own input/result types
  handler: JobTypeHandler<any, any>;
  limits: JobLimits;
}

export type JobTypeRegistry = Readonly<Record<string, RegisteredJobType>>;
