// The job system's front door: opens the store, the file store, the janitor and the worker pool from one
// config, and checks a job fully (type, input, uploads, admission) before anything is written.
// The HTTP server talks only to this facade and the JobStore/FileStore interfaces.
import { BeatSyncError } from '../errors.ts';
import { readStoredJson } from '../storage/json.ts';
import { outputKey, uploadDataKey, uploadMetaKey } from '../storage/types.ts';
import type { FileStore, UploadMeta } from '../storage/types.ts';
import { checkAdmission, DEFAULT_ADMISSION } from './admission.ts';
import { openBackend } from './backends.ts';
import type { JobBackendName } from './backends.ts';
import type { BackoffConfig } from './backoff.ts';
import type { FileStoreSpec } from './file-spec.ts';
import { Janitor } from './janitor.ts';
import type { RetentionPolicy } from './janitor.ts';
import type { JobLimits, JobTypeRegistry, UploadMap } from './job-type.ts';
import { inputFileIdsOf, JOB_TYPES, jobTypeOf, withLimitOverrides } from './registry.ts';
import { TERMINAL_STATES } from './types.ts';
import type { JobRecord, JobStore, SubmitResult } from './types.ts';
import { WorkerPool } from './worker-pool.ts';
import type { PoolLog } from './worker-pool.ts';

export interface JobSystemConfig {
  /** jobs.db and files/ live here. */
  dataDir: string;
  /** Job backend (src/jobs/backends.ts): embedded SQLite (default) or Redis shared by many nodes. */
  backend?: JobBackendName;
  redisUrl?: string;
  redisPrefix?: string;
  /** Deadline of each Redis call of the store's request connection (default 2000 ms). */
  redisTimeoutMs?: number;
  /** File store; default a local directory under dataDir. */
  storage?: FileStoreSpec;
  /** Retention janitor in this process (default true; API-only nodes leave it to the workers). */
  startJanitor?: boolean;
  /** Run jobs in this process (embedded / worker role); false for an API-only process. */
  startWorkers: boolean;
  concurrency?: number;
  /** Replaces every job type's own time limit. */
  jobTimeLimitMs?: number;
  maxQueueDepth?: number;
  minFreeDiskBytes?: number;
  retention?: Partial<RetentionPolicy>;
  janitorIntervalMs?: number;
  /** Job types served (default: the product's registry); tests add their own. */
  types?: JobTypeRegistry;
  /** Per-type limit overrides (deployment tuning). */
  limits?: Readonly<Record<string, Partial<JobLimits>>>;
  leaseMs?: number;
  heartbeatMs?: number;
  pollMs?: number;
  killGraceMs?: number;
  backoff?: BackoffConfig;
  /** Interruptions (worker or server died, lease lost, shortage) after which a job ends INTERRUPTED_TOO_OFTEN (default 10). */
  maxInterruptions?: number;
  /** Parent of the per-attempt temp directories (default: the OS temp dir). */
  tmpRoot?: string;
  log?: PoolLog;
}

export interface SubmitOptions {
  owner?: string | null;
  idempotencyKey?: string | null;
  priority?: number;
}

export interface JobSystem {
  store: JobStore;
  files: FileStore;
  types: JobTypeRegistry;
  /** Null when this process runs no workers. */
  pool: WorkerPool | null;
  /** Checks type, input, uploads and admission, then enqueues (or joins an identical live job). */
  submit(type: string, input: unknown, options?: SubmitOptions): Promise<SubmitResult>;
  /**
   * Deletes a finished job: its own outputs (outputs/<jobId>/…), then its row, events and cache entries.
   * Files another job's reused result points to, and the uploads, are left to retention. False when
   * unknown; CONFLICT for a live job (cancel it first).
   */
  deleteJob(id: string): Promise<boolean>;
  /** Takes back jobs of a dead process, starts the janitor and (when configured) the workers. */
  start(): Promise<void>;
  /** Stops claiming; running jobs get `graceMs` to finish, the rest go back to the queue. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** stop() with no grace, then closes the store. */
  close(): Promise<void>;
}

async function readUploadMeta(files: FileStore, fileId: string): Promise<UploadMeta | null> {
  const [data, metaStat] = await Promise.all([files.stat(uploadDataKey(fileId)), files.stat(uploadMetaKey(fileId))]);
  if (!data || !metaStat) return null;
  try {
    return (await readStoredJson(files, uploadMetaKey(fileId))) as UploadMeta;
  } catch (err) {
    // Unreadable metadata is no upload; a failing store is its own error.
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}

function ownersCacheKey(owner: string | null, key: string | null): string | null {
  return key === null ? null : `${owner ?? ''}:${key}`;
}

export async function openJobSystem(config: JobSystemConfig): Promise<JobSystem> {
  const types = withLimitOverrides(config.types ?? JOB_TYPES, config.limits);
  const backend = await openBackend(config);
  const { store, files, fileSpec } = backend;
  const admission = {
    maxQueueDepth: config.maxQueueDepth ?? DEFAULT_ADMISSION.maxQueueDepth,
    minFreeBytes: config.minFreeDiskBytes ?? DEFAULT_ADMISSION.minFreeBytes,
  };
  const retention = config.retention ?? {};
  const outputsMs = retention.outputsMs ?? 3 * 24 * 3600_000;
  const pool = config.startWorkers
    ? new WorkerPool({
        store,
        files: fileSpec,
        fileStore: files,
        types,
        concurrency: config.concurrency,
        leaseMs: config.leaseMs,
        heartbeatMs: config.heartbeatMs,
        pollMs: config.pollMs,
        killGraceMs: config.killGraceMs,
        timeLimitMs: config.jobTimeLimitMs,
        tmpRoot: config.tmpRoot,
        // A reused result keeps at least half the output lifetime before retention removes its files.
        reuseWithinMs: outputsMs / 2,
        log: config.log,
      })
    : null;
  const janitor = new Janitor({
    jobs: store,
    files,
    inputFileIds: (job: JobRecord) => inputFileIdsOf(job, types),
    retention,
    intervalMs: config.janitorIntervalMs,
    onError: (err) => config.log?.('warn', 'janitor run failed', { error: (err as Error).message }),
  });
  let started = false;
  let stopped = false;

  async function submit(type: string, rawInput: unknown, options: SubmitOptions = {}): Promise<SubmitResult> {
    const entry = jobTypeOf(types, type);
    const { handler, limits } = entry;
    const input = handler.parseInput(rawInput);
    const owner = options.owner ?? null;
    const uploads: Record<string, UploadMeta> = {};
    for (const fileId of handler.inputFileIds(input)) {
      const meta = await readUploadMeta(files, fileId);
      // Someone else's upload is reported exactly like a missing one.
      if (!meta || (meta.owner !== null && meta.owner !== owner)) throw new BeatSyncError('FILE_NOT_FOUND', `upload ${fileId}`);
      uploads[fileId] = meta;
    }
    const uploadMap: UploadMap = uploads;
    handler.checkUploads?.(input, uploadMap);
    await checkAdmission(store, files, admission);
    const result = await store.submit({
      type,
      input,
      owner,
      priority: options.priority ?? 0,
      idempotencyKey: options.idempotencyKey ?? null,
      maxAttempts: limits.maxAttempts,
      estimatedSeconds: handler.estimateSeconds(input, uploadMap),
      // Per owner: a hit answers in milliseconds, which would tell another token that someone processed the same files.
      cacheKey: ownersCacheKey(owner, handler.cacheKey(input, uploadMap)),
    });
    if (result.created) pool?.wake();
    return result;
  }

  async function deleteJob(id: string): Promise<boolean> {
    const job = await store.get(id);
    if (!job) return false;
    if (!TERMINAL_STATES.includes(job.state)) throw new BeatSyncError('CONFLICT', `job ${id} is ${job.state}; cancel it before deleting`);
    // Every job owns its folder (cache hits get their own copies), so this touches no other job.
    const own: string[] = [];
    for await (const object of files.list(outputKey(id, ''))) own.push(object.key);
    for (const key of own) await files.delete(key);
    return store.remove(id);
  }

  async function start(): Promise<void> {
    if (started) return;
    started = true;
    if (pool) {
      // Embedded mode: this process is the only worker on this database, so whatever is still
      // `running` belonged to a process that died; take it back now rather than after its lease.
      const taken = await backend.recoverOnStart();
      if (taken > 0) config.log?.('info', 'took back jobs left running by a previous process', { count: taken });
      await pool.start();
    }
    if (config.startJanitor !== false) janitor.start();
  }

  async function stop(options: { graceMs?: number } = {}): Promise<void> {
    if (stopped) return;
    stopped = true;
    await Promise.all([pool?.stop(options), janitor.stop()]);
  }

  async function close(): Promise<void> {
    await stop({ graceMs: 0 });
    await store.close();
  }

  return { store, files, types, pool, submit, deleteJob, start, stop, close };
}

export type { JobTypeRegistry, JobLimits } from './job-type.ts';
export { JOB_TYPES } from './registry.ts';
