// Admission control: refuses a new job with RESOURCE_LIMIT before anything is written,
// when the queue is already too long or the disk too full to hold its files.
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

/** Throws RESOURCE_LIMIT when a new job must be refused; free space that cannot be measured does not block. */
export async function checkAdmission(
  jobs: Pick<JobStore, 'stats'>,
  files: Pick<FileStore, 'freeBytes'>,
  limits: AdmissionLimits = DEFAULT_ADMISSION,
): Promise<void> {
  const [stats, free] = await Promise.all([jobs.stats(), files.freeBytes()]);
  if (stats.queueDepth >= limits.maxQueueDepth) {
    throw new BeatSyncError('RESOURCE_LIMIT', `queue depth ${stats.queueDepth} reached the limit of ${limits.maxQueueDepth}`);
  }
  if (free !== null && free < limits.minFreeBytes) {
    throw new BeatSyncError('RESOURCE_LIMIT', `free disk ${Math.floor(free / 1024 ** 2)} MiB below ${Math.floor(limits.minFreeBytes / 1024 ** 2)} MiB`);
  }
}
