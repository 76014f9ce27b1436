// One attempt of one claimed job, in its own child process: forks child.ts (own process group,
// heap cap, ffmpeg thread limit), heartbeats the lease with the latest progress, saves checkpoints,
// enforces the time limit by killing the whole tree, and records the end in the JobStore.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { getCompileCacheDir } from 'node:module';
import { setPriority } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BeatSyncError, messageFor } from '../errors.ts';
import { withRenderMalloc } from '../process-env.ts';
import type { ChildMessage, StartMessage } from './child-protocol.ts';
import type { FileStoreSpec } from './file-spec.ts';
import type { FileStore } from '../storage/types.ts';
import type { RegisteredJobType } from './job-type.ts';
import { RUN_MARKER_ENV, signalRun } from './process-tree.ts';
import type { Claim, JobError, JobProgress, JobStore } from './types.ts';

const CHILD_PATH = fileURLToPath(new URL('./child.ts', import.meta.url));
/** Progress reaches the store at most this often (heartbeats carry it in between). */
const PROGRESS_INTERVAL_MS = 250;
const STDERR_TAIL_CHARS = 4096;
/**
 * Writing the end is tried again while the store is short (a frozen or restarting Redis) for this long, so
 * finished work is kept rather than redone; past it (or once the lease is gone) the job is taken back as an
 * interruption, never counted as an attempt.
 */
const RECORD_RETRY_FOR_MS = 60_000;
const RECORD_RETRY_EVERY_MS = 500;

export type RunOutcome =
  | { kind: 'done'; result: unknown }
  | { kind: 'error'; error: JobError; detail?: string }
  | { kind: 'crash'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'cancelled' }
  /** The lease was lost (taken back after a stall): someone else owns the job now; record nothing. */
  | { kind: 'lost' }
  /** Graceful shutdown stopped it: back to the queue, attempt not counted. */
  | { kind: 'released' };

export type PoolLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface JobRunOptions {
  store: JobStore;
  claim: Claim;
  entry: RegisteredJobType;
  files: FileStoreSpec;
  /** The same store, opened in this process: checks that a cached result's files still exist. */
  fileStore: FileStore;
  /** A finished job with the same cacheKey is reused only when it finished this recently (its outputs stay long enough). */
  reuseWithinMs: number;
  leaseMs: number;
  heartbeatMs: number;
  killGraceMs: number;
  timeLimitMs: number;
  threads: number;
  /** This attempt's private directory (created here, removed at the end). */
  tmpDir: string;
  log: PoolLog;
}

function isConflict(err: unknown): boolean {
  return err instanceof BeatSyncError && err.code === 'CONFLICT';
}

function isShortage(err: unknown): boolean {
  return err instanceof BeatSyncError && err.code === 'RESOURCE_LIMIT';
}

function jobError(code: 'PROCESSING_FAILED' | 'TIMEOUT' | 'CANCELLED' | 'RESOURCE_LIMIT', retryable: boolean): JobError {
  return { code, message: messageFor(code), retryable };
}

export class JobRun {
  readonly jobId: string;
  /** Settles once the end is recorded in the store and every process of the attempt is gone. */
  readonly finished: Promise<RunOutcome>;
  private readonly opts: JobRunOptions;
  private readonly marker = randomUUID();
  private child: ChildProcess | null = null;
  private outcome: RunOutcome | null = null;
  private killing = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** Store calls of this run, one at a time and in order (a heartbeat never overtakes complete). */
  private chain: Promise<void> = Promise.resolve();
  private pendingProgress: JobProgress | null = null;
  private beatInFlight = false;
  private lastBeatAt = 0;
  private beatTimer: NodeJS.Timeout | undefined;
  private stderrTail = '';

  constructor(opts: JobRunOptions) {
    this.opts = opts;
    this.jobId = opts.claim.job.id;
    this.finished = this.execute();
  }

  /** Asks the attempt to end (shutdown or cancel): the tree is killed, the outcome recorded. */
  stop(kind: 'released' | 'cancelled'): void {
    this.end({ kind });
  }

  private async execute(): Promise<RunOutcome> {
    const { claim, entry, log } = this.opts;
    const job = claim.job;
    let exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
    const cached = await this.cachedResult().catch(() => undefined);
    if (cached !== undefined) return this.record({ kind: 'done', result: cached });
    const heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    const limit = setTimeout(() => this.end({ kind: 'timeout' }), this.opts.timeLimitMs);
    try {
      await mkdir(this.opts.tmpDir, { recursive: true });
      exit = await new Promise((resolve) => {
        const child = fork(CHILD_PATH, [], {
          execPath: process.execPath,
          execArgv: [`--max-old-space-size=${entry.limits.memoryMb}`],
          detached: true,
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
          env: childEnv(this.marker),
          serialization: 'json',
        });
        this.child = child;
        lowerPriority(child.pid);
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (text: string) => {
          this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_CHARS);
        });
        child.on('message', (message: ChildMessage) => this.onMessage(message));
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        // Messages still in the IPC pipe arrive before 'disconnect': wait for both, so a result sent
        // just before exiting is never mistaken for a crash.
        child.once('exit', (code, signal) => {
          if (!child.connected) resolve({ code, signal });
          else child.once('disconnect', () => resolve({ code, signal }));
        });
        const start: StartMessage = {
          kind: 'start',
          jobId: job.id,
          type: job.type,
          attempt: job.attempts,
          input: job.input,
          handler: entry.handler.ref,
          checkpoints: claim.checkpoints,
          files: this.opts.files,
          threads: this.opts.threads,
          tmpDir: this.opts.tmpDir,
        };
        child.send(start, (err) => {
          if (err) this.end({ kind: 'crash', detail: `could not start the job process: ${err.message}` });
        });
        // Killed before it even started (e.g. shutdown raced the claim).
        if (this.killing) this.killTree('SIGTERM');
      });
    } catch (err) {
      exit = { code: null, signal: null, error: err as Error };
    } finally {
      clearInterval(heartbeat);
      clearTimeout(limit);
      clearTimeout(this.beatTimer);
    }
    clearTimeout(this.killTimer);
    // Whatever the attempt left running (an ffmpeg re-parented to init after a crash) goes now.
    this.killTree('SIGKILL');

    if (!this.outcome) {
      const how = exit.error ? `could not run: ${exit.error.message}` : exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
      this.outcome = { kind: 'crash', detail: `job process ${how}` };
    }
    // Cleaned before the end is recorded: once the store says finished, nothing of the attempt remains.
    await rm(this.opts.tmpDir, { recursive: true, force: true }).catch(() => {});
    const outcome = await this.record(this.outcome);
    if (outcome.kind === 'crash') log('warn', 'job process crashed', { jobId: job.id, detail: outcome.detail, stderr: this.stderrTail.slice(-1000) });
    return outcome;
  }

  /**
   * The result of an earlier identical job (same cacheKey) whose files all still exist, so this one
   * succeeds without running; undefined when there is none.
   */
  private async cachedResult(): Promise<unknown> {
    const { store, claim, entry, fileStore, reuseWithinMs } = this.opts;
    const key = claim.job.cacheKey;
    if (!key) return undefined;
    const prior = await store.findByCacheKey(key);
    if (!prior || prior.id === this.jobId || prior.result === null) return undefined;
    if (prior.finishedAt === null || Date.now() - prior.finishedAt > reuseWithinMs) return undefined;
    // Each job owns its outputs: the cached files are copied (linked locally) under this job's keys,
    // so deleting or expiring the first job never breaks this one.
    const relocated = entry.handler.relocateResult(prior.result, this.jobId);
    const from = entry.handler.resultFileKeys(prior.result);
    const to = entry.handler.resultFileKeys(relocated);
    try {
      for (let i = 0; i < from.length; i++) await fileStore.copy(from[i], to[i]);
    } catch {
      for (const key of to) await fileStore.delete(key).catch(() => {});
      return undefined;
    }
    return relocated;
  }

  private onMessage(message: ChildMessage): void {
    switch (message.kind) {
      case 'progress':
        this.pendingProgress = message.progress;
        this.scheduleProgressBeat();
        return;
      case 'checkpoint':
        this.enqueue(async () => {
          const { store, claim } = this.opts;
          try {
            await store.saveCheckpoint(this.jobId, claim.leaseToken, message.stage, message.data);
            this.child?.send({ kind: 'checkpoint-saved', seq: message.seq }, () => {});
          } catch (err) {
            if (isConflict(err)) this.end({ kind: 'lost' });
            this.child?.send({ kind: 'checkpoint-failed', seq: message.seq, message: (err as Error).message }, () => {});
          }
        });
        return;
      case 'done':
        this.end({ kind: 'done', result: message.result });
        return;
      case 'error':
        this.end({ kind: 'error', error: message.error, detail: message.detail });
        return;
    }
  }

  /** First outcome wins; anything but a reported result means killing the tree. */
  private end(outcome: RunOutcome): void {
    if (this.outcome) {
      // A second reason to stop (e.g. the time limit passing while a finished child lingers) still kills.
      if (outcome.kind === 'timeout' || outcome.kind === 'released') this.startKill();
      return;
    }
    this.outcome = outcome;
    if (outcome.kind !== 'done' && outcome.kind !== 'error') this.startKill();
  }

  private startKill(): void {
    if (this.killing) return;
    this.killing = true;
    this.killTree('SIGTERM');
    this.killTimer = setTimeout(() => this.killTree('SIGKILL'), this.opts.killGraceMs);
  }

  private killTree(signal: NodeJS.Signals): void {
    signalRun(this.child?.pid ?? null, this.marker, signal, [process.pid]);
  }

  private scheduleProgressBeat(): void {
    if (this.beatTimer || this.outcome) return;
    const wait = Math.max(0, this.lastBeatAt + PROGRESS_INTERVAL_MS - Date.now());
    this.beatTimer = setTimeout(() => {
      this.beatTimer = undefined;
      this.beat();
    }, wait);
  }

  /** Renews the lease (with any new progress); a cancel request or a lost lease stops the attempt. */
  private beat(): void {
    if (this.beatInFlight || this.outcome) return;
    this.beatInFlight = true;
    const progress = this.pendingProgress;
    this.pendingProgress = null;
    this.enqueue(async () => {
      const { store, claim, leaseMs } = this.opts;
      try {
        const { cancelRequested } = await store.heartbeat(this.jobId, claim.leaseToken, leaseMs, progress ?? undefined);
        if (cancelRequested) this.end({ kind: 'cancelled' });
      } catch (err) {
        if (isConflict(err)) this.end({ kind: 'lost' });
        else this.opts.log('warn', 'heartbeat failed', { jobId: this.jobId, error: (err as Error).message });
      } finally {
        this.lastBeatAt = Date.now();
        this.beatInFlight = false;
      }
    });
  }

  private enqueue(op: () => Promise<void>): void {
    this.chain = this.chain.then(op).catch((err: unknown) => {
      this.opts.log('error', 'job store call failed', { jobId: this.jobId, error: (err as Error).message });
    });
  }

  /** Writes the outcome to the store after every earlier store call of this run. */
  private async record(outcome: RunOutcome): Promise<RunOutcome> {
    await this.chain;
    const { log } = this.opts;
    if (outcome.kind === 'error' && outcome.detail) log('info', 'job failed', { jobId: this.jobId, code: outcome.error.code, detail: outcome.detail });
    const giveUpAt = Date.now() + RECORD_RETRY_FOR_MS;
    for (let tries = 1; ; tries++) {
      try {
        await this.write(outcome);
        if (tries > 1) log('info', 'recorded the end of a job after the store came back', { jobId: this.jobId, outcome: outcome.kind, tries });
        return outcome;
      } catch (err) {
        if (isConflict(err)) return { kind: 'lost' };
        if (isShortage(err) && Date.now() < giveUpAt) {
          if (tries === 1) log('warn', 'could not record the end of a job yet; trying again', { jobId: this.jobId, error: (err as Error).message });
          await sleep(RECORD_RETRY_EVERY_MS);
          continue;
        }
        log('error', 'could not record the end of a job', { jobId: this.jobId, outcome: outcome.kind, error: (err as Error).message });
        return outcome;
      }
    }
  }

  private async write(outcome: RunOutcome): Promise<void> {
    const { store, claim, entry } = this.opts;
    const token = claim.leaseToken;
    switch (outcome.kind) {
      case 'done':
        await store.complete(this.jobId, token, outcome.result);
        break;
      case 'error':
        await store.fail(this.jobId, token, outcome.error);
        break;
      case 'crash':
        await store.fail(this.jobId, token, jobError('PROCESSING_FAILED', true));
        break;
      case 'timeout':
        await store.fail(this.jobId, token, jobError('TIMEOUT', entry.limits.retryOnTimeout));
        break;
      case 'cancelled':
        await store.fail(this.jobId, token, jobError('CANCELLED', false));
        break;
      case 'released':
        await store.release(this.jobId, token);
        break;
      case 'lost':
        break;
    }
  }
}

/** Per-attempt temp directory name: starts with the owning process id, so a later process can sweep it. */
/**
 * A job process's environment: this one's, with the render malloc settings (src/process-env.ts), this
 * process's compile cache (stripped TypeScript, V8 code: a start without it costs 0.25 s of CPU and ~35 MB)
 * and the marker that finds its process tree.
 */
export function childEnv(marker: string): NodeJS.ProcessEnv {
  const cache = process.env.NODE_COMPILE_CACHE || getCompileCacheDir();
  return { ...withRenderMalloc(process.env), ...(cache ? { NODE_COMPILE_CACHE: cache } : {}), [RUN_MARKER_ENV]: marker };
}

export function attemptDirName(jobId: string, attempt: number): string {
  return `${process.pid}-${jobId}-${attempt}`;
}

/** Niceness of job processes (their ffmpeg inherit it): the API's answers must not queue behind a render. */
export const JOB_NICENESS = 10;

function lowerPriority(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, JOB_NICENESS);
  } catch {
    // Not permitted here (e.g. already nicer): the job runs at the inherited priority.
  }
}
