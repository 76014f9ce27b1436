// Every job type the product runs, and their limits in one table. Adding a type = one module under
// types/, one line in JOB_HANDLERS and one in JOB_LIMITS; the mapped types make a missing entry a
// compile error.
import { BeatSyncError } from '../errors.ts';
import type { JobLimits, JobTypeHandler, JobTypeRegistry } from './job-type.ts';
import type { JobRecord } from './types.ts';
import { syncJob } from './types/beatsync-sync.ts';
import type { SyncJobInput, SyncJobResult } from './types/beatsync-sync.ts';

/** Input and result of each job type. */
export interface JobTypeMap {
  'beatsync.sync': { input: SyncJobInput; result: SyncJobResult };
}

export type JobType = keyof JobTypeMap;

export const JOB_HANDLERS: { [T in JobType]: JobTypeHandler<JobTypeMap[T]['input'], JobTypeMap[T]['result']> } = {
  'beatsync.sync': syncJob,
};

export const JOB_LIMITS: { [T in JobType]: JobLimits } = {
  // A 10-minute class video renders in well under a minute per variant on one core; 15 min is "stuck".
  'beatsync.sync': { timeLimitMs: 15 * 60_000, maxAttempts: 3, memoryMb: 1024, concurrencyShare: 1, retryOnTimeout: true },
};

/** The product's registry: what a pool runs and what submit accepts. */
export const JOB_TYPES: JobTypeRegistry = Object.fromEntries(
  (Object.keys(JOB_HANDLERS) as JobType[]).map((type) => [type, { handler: JOB_HANDLERS[type], limits: JOB_LIMITS[type] }]),
);

/** The registered entry for a type name, or BAD_REQUEST. */
export function jobTypeOf(registry: JobTypeRegistry, type: string) {
  const entry = Object.hasOwn(registry, type) ? registry[type] : undefined;
  if (!entry) throw new BeatSyncError('BAD_REQUEST', `unknown job type "${type}"`);
  return entry;
}

/**
 * Upload ids a stored job reads (for retention). A job whose type or input this release no longer
 * understands still keeps every `…FileId` string of its input: retention must err on keeping.
 */
export function inputFileIdsOf(job: Pick<JobRecord, 'type' | 'input'>, registry: JobTypeRegistry = JOB_TYPES): string[] {
  const entry = Object.hasOwn(registry, job.type) ? registry[job.type] : undefined;
  try {
    if (entry) return entry.handler.inputFileIds(entry.handler.parseInput(job.input));
  } catch {
    // fall through to the generous reading below
  }
  if (typeof job.input !== 'object' || job.input === null) return [];
  return Object.entries(job.input).filter(([k, v]) => k.endsWith('FileId') && typeof v === 'string').map(([, v]) => v as string);
}

/** Limits after applying per-deployment overrides (e.g. a longer time limit on a slow machine). */
export function withLimitOverrides(registry: JobTypeRegistry, overrides: Readonly<Record<string, Partial<JobLimits>>> | undefined): JobTypeRegistry {
  if (!overrides) return registry;
  return Object.fromEntries(
    Object.entries(registry).map(([type, entry]) => [type, { handler: entry.handler, limits: { ...entry.limits, ...overrides[type] } }]),
  );
}
