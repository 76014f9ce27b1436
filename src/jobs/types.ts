// The job system's contract. Two backends implement JobStore (embedded SQLite, BullMQ on Redis);
// nothing above src/jobs knows which one runs. Times are milliseconds since the epoch.
import type { ErrorCode } from '../errors.ts';

export type JobState = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobProgress {
  /** 0..100 */
  percent: number;
  stage: string;
  message: string;
}

export interface JobError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

export interface JobRecord<I = unknown, R = unknown> {
  /** Unguessable (random, URL-safe). */
  id: string;
  type: string;
  input: I;
  /** Token owner (session id); null for jobs made without one. */
  owner: string | null;
  /** Higher runs first. */
  priority: number;
  idempotencyKey: string | null;
  state: JobState;
  /** Runs that ended in the job's own retryable error (or are running now); maxAttempts ends the job. */
  attempts: number;
  maxAttempts: number;
  /**
   * Runs stopped by something that was not the job's fault: its worker or server died, its lease was
   * lost, or a shortage (RESOURCE_LIMIT: disk full, database busy). They do not use attempts; the
   * store's maxInterruptions (default 10) still ends a job that kills its worker every time.
   */
  interruptions: number;
  /** How many jobs its owner already had waiting or running at submit: lower turns are claimed first (fairness). */
  turn: number;
  progress: JobProgress;
  result: R | null;
  error: JobError | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
  /** When a `retrying` job becomes claimable again. */
  runAfter: number | null;
  estimatedSeconds: number | null;
  /** Set while a running job has been asked to stop (the worker sees it at its next heartbeat). */
  cancelRequested?: boolean;
  /** The submit's cacheKey (identical inputs + options + engine version), null when none. */
  cacheKey?: string | null;
}

/** Every state or progress change, durable, numbered per job (1, 2, 3…) for Last-Event-ID. */
export interface JobEvent {
  seq: number;
  jobId: string;
  kind: 'state' | 'progress';
  state: JobState;
  progress: JobProgress;
  at: number;
  error?: JobError | null;
  result?: unknown;
}

export interface SubmitRequest<I = unknown> {
  type: string;
  input: I;
  owner?: string | null;
  priority?: number;
  /** Same key + same owner within the key's lifetime returns the first job instead of a new one. */
  idempotencyKey?: string | null;
  maxAttempts?: number;
  estimatedSeconds?: number | null;
  /** Jobs with the same cacheKey share one run / reuse a finished result. */
  cacheKey?: string | null;
}

export interface SubmitResult<I = unknown, R = unknown> {
  job: JobRecord<I, R>;
  /** False when an existing job was returned (idempotency key or shared run). */
  created: boolean;
}

export interface ListQuery {
  owner?: string | null;
  state?: JobState;
  cursor?: string | null;
  limit?: number;
}

export interface JobStats {
  byState: Record<JobState, number>;
  queueDepth: number;
  successRate: number | null;
  meanDurationSeconds: number | null;
}

/** A job a worker holds under a lease; the token proves it still holds it. */
export interface Claim<I = unknown> {
  job: JobRecord<I>;
  leaseToken: string;
  leaseUntil: number;
  /** Stage checkpoints saved by earlier attempts (e.g. the alignment). */
  checkpoints: Record<string, unknown>;
}

export interface JobStore {
  submit<I, R>(req: SubmitRequest<I>): Promise<SubmitResult<I, R>>;
  get<I = unknown, R = unknown>(id: string): Promise<JobRecord<I, R> | null>;
  list(query: ListQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }>;
  /** Queued/retrying: cancelled at once. Running: marked for cancel; the worker stops within a heartbeat. */
  cancel(id: string): Promise<JobRecord | null>;
  /** A failed or cancelled job goes back to queued with fresh attempts. */
  retry(id: string): Promise<JobRecord>;
  /** Events after `afterSeq` (0 for all), oldest first. */
  events(id: string, afterSeq: number): Promise<JobEvent[]>;
  /** Live events of one job; returns an unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void;
  /** 1-based place among claimable jobs, null when not waiting. */
  queuePosition(id: string): Promise<number | null>;
  stats(): Promise<JobStats>;
  /** Jobs of this owner (null = jobs made without one) that are queued, retrying or running. */
  countLive(owner: string | null): Promise<number>;

  // Worker side
  claim(workerId: string, types: readonly string[], leaseMs: number): Promise<Claim | null>;
  /** Renews the lease and records progress; `cancelRequested` tells the worker to stop. Throws CONFLICT when the lease was lost. */
  heartbeat(id: string, leaseToken: string, leaseMs: number, progress?: JobProgress): Promise<{ cancelRequested: boolean }>;
  saveCheckpoint(id: string, leaseToken: string, stage: string, data: unknown): Promise<void>;
  complete(id: string, leaseToken: string, result: unknown): Promise<JobRecord>;
  /**
   * Decides between retrying (retryable and attempts left, with backoff) and failed. A RESOURCE_LIMIT
   * error is a shortage, not the job's fault: it counts as an interruption instead of an attempt.
   */
  fail(id: string, leaseToken: string, error: JobError): Promise<JobRecord>;
  /** Takes back jobs whose lease ran out (dead or frozen worker), counting an interruption each; returns how many. */
  recoverExpired(): Promise<number>;
  /**
   * Hands a running job back as queued without counting the attempt (graceful shutdown stopped it,
   * the job did nothing wrong). A job flagged for cancel ends cancelled instead. Throws CONFLICT
   * when the lease was lost.
   */
  release(id: string, leaseToken: string): Promise<JobRecord>;

  // Cache and retention
  /** The newest succeeded job submitted with this cacheKey (any owner), null when none. */
  findByCacheKey(cacheKey: string): Promise<JobRecord | null>;
  /** Deletes finished jobs (with their events and checkpoints) that finished before `before`; returns how many. */
  purgeFinishedBefore(before: number): Promise<number>;
  /**
   * Deletes one finished (succeeded/failed/cancelled) job with its events, checkpoints and its idempotency
   * and cache entries (a later identical submit neither returns it nor reuses its result); the daily
   * history keeps counting it. True when deleted, false when unknown; CONFLICT for a live job. Files are
   * the caller's business (the facade's `deleteJob`).
   */
  remove(id: string): Promise<boolean>;

  close(): Promise<void>;
}
