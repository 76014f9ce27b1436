// Admission control, before anything is written: the whole service refuses new jobs with
// RESOURCE_LIMIT (503, Retry-After) when its queue is too long or its disk too full, and one owner
// is refused with TOO_MANY_JOBS (429, Retry-After) when it already has its share of live jobs.
// Every route that creates jobs calls both (POST /api/jobs, retry, the old clients' POST /api/process).
import { BeatSyncError } from '../errors.ts';
import type { FileStore } from '../storage/types.ts';
import type { JobStore } from './types.ts';

export interface AdmissionLimits {
  /** Waiting jobs (queued + retrying) at which new jobs are refused. */
  maxQueueDepth: number;
  /** Free bytes under which new jobs are refused. */
  minFreeBytes: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = { maxQueueDepth: 200, minFreeBytes: 2 * 1024 ** 3 };

/** Jobs one token may have queued, retrying or running at once (it queues; workers are shared fairly). */
export const DEFAULT_MAX_JOBS_PER_OWNER = 20;

/** Seconds a refused client is told to wait: one job usually finishes within a minute; a full disk takes longer to clear. */
const RETRY_AFTER_QUEUE_S = 60;
const RETRY_AFTER_DISK_S = 300;
const RETRY_AFTER_OWNER_S = 60;

/** Throws RESOURCE_LIMIT when a new job must be refused; free space that cannot be measured does not block. */
export async function checkAdmission(
  jobs: Pick<JobStore, 'stats'>,
  files: Pick<FileStore, 'freeBytes'>,
  limits: AdmissionLimits = DEFAULT_ADMISSION,
): Promise<void> {
  const [stats, free] = await Promise.all([jobs.stats(), files.freeBytes()]);
  if (stats.queueDepth >= limits.maxQueueDepth) {
    throw new BeatSyncError('RESOURCE_LIMIT', `queue depth ${stats.queueDepth} reached the limit of ${limits.maxQueueDepth}`, {
      retryAfterSeconds: RETRY_AFTER_QUEUE_S,
    });
  }
  if (free !== null && free < limits.minFreeBytes) {
    throw new BeatSyncError('RESOURCE_LIMIT', `free disk ${Math.floor(free / 1024 ** 2)} MiB below ${Math.floor(limits.minFreeBytes / 1024 ** 2)} MiB`, {
      retryAfterSeconds: RETRY_AFTER_DISK_S,
    });
  }
}

/**
 * The per-owner cap: throws TOO_MANY_JOBS (429, Retry-After, a message naming the limit) when `owner`
 * (null = jobs made without a token) already has `limit` jobs queued, retrying or running. Callers
 * exempt the admin token themselves. Stable: the legacy route calls it too.
 */
export async function checkOwnerJobs(store: Pick<JobStore, 'countLive'>, owner: string | null, limit: number): Promise<void> {
  const live = await store.countLive(owner);
  if (live >= limit) {
    throw new BeatSyncError('TOO_MANY_JOBS', `${live} live jobs, at most ${limit} per token`, {
      retryAfterSeconds: RETRY_AFTER_OWNER_S,
      messageParams: { limit },
    });
  }
}
