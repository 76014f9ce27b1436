// Picks the job store and the file store from configuration: embedded (SQLite + local directory, one
// machine) or distributed (BullMQ on Redis + S3-compatible object storage, many API and worker nodes). Nothing
// else in the code knows which one runs.
import { join } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import type { FileStore } from '../storage/types.ts';
import type { BackoffConfig } from './backoff.ts';
import { openFileStore } from './file-spec.ts';
import type { FileStoreSpec } from './file-spec.ts';
import { SqliteJobStore } from './sqlite-store.ts';
import type { JobStore } from './types.ts';

export type JobBackendName = 'sqlite' | 'redis';

export interface BackendConfig {
  dataDir: string;
  backend?: JobBackendName;
  /** Required with backend 'redis'. */
  redisUrl?: string;
  /** Key prefix in Redis (default 'bs:'). */
  redisPrefix?: string;
  /** Deadline of each Redis call of the store's request connection (default 2000 ms). */
  redisTimeoutMs?: number;
  /** Default: a local directory under dataDir. */
  storage?: FileStoreSpec;
  backoff?: BackoffConfig;
  /** Interruptions (crash, lost lease, shortage) that end a job INTERRUPTED_TOO_OFTEN (default 10). */
  maxInterruptions?: number;
}

export interface OpenedBackend {
  store: JobStore;
  files: FileStore;
  /** How job processes reopen the same file store. */
  fileSpec: FileStoreSpec;
  /**
   * Before the workers start. Embedded: this process is the only worker, so whatever is still running
   * belonged to a dead process and is taken back at once. Distributed: other workers are alive, so
   * only expired leases are taken back (a dead worker's jobs come back when their lease runs out).
   */
  recoverOnStart(): Promise<number>;
}

export async function openBackend(config: BackendConfig): Promise<OpenedBackend> {
  const fileSpec: FileStoreSpec = config.storage ?? { backend: 'local', rootDir: join(config.dataDir, 'files') };
  const files = await openFileStore(fileSpec);
  const backoff = {
    ...(config.backoff ? { backoff: config.backoff } : {}),
    ...(config.maxInterruptions !== undefined ? { maxInterruptions: config.maxInterruptions } : {}),
  };
  switch (config.backend ?? 'sqlite') {
    case 'sqlite': {
      const store = SqliteJobStore.open(join(config.dataDir, 'jobs.db'), backoff);
      return { store, files, fileSpec, recoverOnStart: () => store.recoverAllRunning() };
    }
    case 'redis': {
      if (!config.redisUrl) throw new BeatSyncError('BAD_REQUEST', 'the redis backend needs a Redis URL (--redis-url)');
      // Loaded only here: BullMQ and ioredis are most of an embedded server's start-up otherwise.
      const { BullMqJobStore } = await import('./bullmq-store.ts');
      const store = await BullMqJobStore.open({
        url: config.redisUrl, prefix: config.redisPrefix, commandTimeoutMs: config.redisTimeoutMs, ...backoff,
      });
      return { store, files, fileSpec, recoverOnStart: () => store.recoverExpired() };
    }
    default:
      throw new BeatSyncError('BAD_REQUEST', `unknown job backend "${String(config.backend)}"`);
  }
}
