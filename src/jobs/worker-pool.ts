// The worker pool: claims jobs from a JobStore (polling, plus wake() on submit) and runs each in its
// own child process through JobRun, never more than `concurrency` at once (and never more than a
// type's share). It only talks to the JobStore interface, so it serves any backend and can run in a
// worker-only process on another machine.
import { availableParallelism, freemem, tmpdir } from 'node:os';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FileStore } from '../storage/types.ts';
import type { FileStoreSpec } from './file-spec.ts';
import { attemptDirName, JobRun } from './job-run.ts';
import type { PoolLog, RunOutcome } from './job-run.ts';
import type { JobTypeRegistry } from './job-type.ts';
import { JOB_TYPES } from './registry.ts';
import type { Claim, JobStore } from './types.ts';

export type { PoolLog, RunOutcome };

export interface WorkerPoolOptions {
  store: JobStore;
  /** How job processes reopen the file store. */
  files: FileStoreSpec;
  /** The same store, opened in this process. */
  fileStore: FileStore;
  types?: JobTypeRegistry;
  /** Jobs at once; default from cores and free memory (defaultConcurrency). */
  concurrency?: number;
  leaseMs?: number;
  /** Lease renewal and cancel check period; default a third of the lease, at most 1 s. */
  heartbeatMs?: number;
  /** How often the queue is polled when nothing wakes the pool. */
  pollMs?: number;
  /** Between SIGTERM and SIGKILL of a job's process tree. */
  killGraceMs?: number;
  /** Replaces every type's own time limit (deployment setting). */
  timeLimitMs?: number;
  /** ffmpeg threads per job; default cores / concurrency. */
  threads?: number;
  /** Where attempts get their private temp directories. */
  tmpRoot?: string;
  workerId?: string;
  /** Reuse a finished identical job's result only if it finished within this window (default 24 h). */
  reuseWithinMs?: number;
  log?: PoolLog;
}

export const DEFAULT_LEASE_MS = 15_000;
const DEFAULT_POLL_MS = 500;
const DEFAULT_KILL_GRACE_MS = 2_000;
const RECOVER_EVERY_MS = 1_000;

/** min(cores, free memory / the largest per-job memory budget), at least 1. */
export function defaultConcurrency(types: JobTypeRegistry = JOB_TYPES): number {
  const perJobMb = Math.max(256, ...Object.values(types).map((t) => t.limits.memoryMb));
  const byMemory = Math.floor(freemem() / (perJobMb * 1024 * 1024));
  return Math.max(1, Math.min(availableParallelism(), byMemory));
}

export class WorkerPool {
  readonly concurrency: number;
  readonly workerId: string;
  private readonly opts: WorkerPoolOptions;
  private readonly types: JobTypeRegistry;
  private readonly leaseMs: number;
  private readonly tmpRoot: string;
  private readonly log: PoolLog;
  private readonly fileStore: FileStore;
  private readonly active = new Map<string, { run: JobRun; type: string }>();
  private started = false;
  private stopping = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private filling: Promise<void> | null = null;
  private refill = false;
  private lastRecoverAt = 0;

  constructor(opts: WorkerPoolOptions) {
    this.opts = opts;
    this.types = opts.types ?? JOB_TYPES;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? defaultConcurrency(this.types)));
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.tmpRoot = opts.tmpRoot ?? join(tmpdir(), 'beatsync-work');
    this.workerId = opts.workerId ?? `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.log = opts.log ?? (() => {});
    this.fileStore = opts.fileStore;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Sweeps temp directories of dead processes, then starts claiming. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.sweepStaleTempDirs();
    this.pollTimer = setInterval(() => this.tick(), this.opts.pollMs ?? DEFAULT_POLL_MS);
    this.wake();
  }

  /** Claims now instead of at the next poll (called after a submit in the same process). */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.filling) {
      this.refill = true;
      return;
    }
    this.filling = this.fill().finally(() => {
      this.filling = null;
    });
  }

  /**
   * Stops claiming, lets running jobs finish for up to `graceMs`, then kills the rest and hands them
   * back as queued (their attempt does not count).
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping = true;
    clearInterval(this.pollTimer);
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => {
      graceTimer = setTimeout(() => resolve('grace'), options.graceMs ?? 30_000);
    });
    // A claim the backend never answers (Redis down) must not hold the shutdown past the grace: if it is
    // granted later, nobody runs it and its lease runs out, which takes the job back as an interruption.
    await Promise.race([this.filling, graceOver]);
    const runs = [...this.active.values()].map((a) => a.run);
    const allDone = Promise.all(runs.map((r) => r.finished));
    const first = await Promise.race([allDone, graceOver]);
    clearTimeout(graceTimer);
    if (first === 'grace') {
      for (const run of runs) run.stop('released');
      await allDone;
    }
  }

  private tick(): void {
    if (this.stopping) return;
    if (Date.now() - this.lastRecoverAt >= RECOVER_EVERY_MS) {
      this.lastRecoverAt = Date.now();
      this.opts.store.recoverExpired().catch((err: unknown) => this.log('warn', 'recoverExpired failed', { error: (err as Error).message }));
    }
    this.wake();
  }

  /** Types that still have room under their concurrency share. */
  private claimableTypes(): string[] {
    const out: string[] = [];
    for (const [type, entry] of Object.entries(this.types)) {
      const cap = Math.max(1, Math.floor(entry.limits.concurrencyShare * this.concurrency));
      let running = 0;
      for (const a of this.active.values()) if (a.type === type) running++;
      if (running < cap) out.push(type);
    }
    return out;
  }

  private async fill(): Promise<void> {
    do {
      this.refill = false;
      while (!this.stopping && this.active.size < this.concurrency) {
        const types = this.claimableTypes();
        if (types.length === 0) break;
        let claim: Claim | null;
        try {
          claim = await this.opts.store.claim(this.workerId, types, this.leaseMs);
        } catch (err) {
          this.log('warn', 'claim failed', { error: (err as Error).message });
          break;
        }
        if (!claim) break;
        this.launch(claim);
      }
    } while (this.refill && !this.stopping);
  }

  private launch(claim: Claim): void {
    const job = claim.job;
    const entry = this.types[job.type];
    const run = new JobRun({
      store: this.opts.store,
      claim,
      entry,
      files: this.opts.files,
      fileStore: this.fileStore,
      reuseWithinMs: this.opts.reuseWithinMs ?? 24 * 3600_000,
      leaseMs: this.leaseMs,
      heartbeatMs: this.opts.heartbeatMs ?? Math.min(1_000, Math.floor(this.leaseMs / 3)),
      killGraceMs: this.opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      timeLimitMs: this.opts.timeLimitMs ?? timeLimitFor(entry.limits.timeLimitMs, job.estimatedSeconds),
      threads: this.opts.threads ?? Math.max(1, Math.floor(availableParallelism() / this.concurrency)),
      tmpDir: join(this.tmpRoot, attemptDirName(job.id, job.attempts + job.interruptions)),
      log: this.log,
    });
    this.active.set(job.id, { run, type: job.type });
    if (this.stopping) run.stop('released');
    void run.finished.then(() => {
      this.active.delete(job.id);
      this.wake();
    });
  }

  private async sweepStaleTempDirs(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.tmpRoot);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number(name.split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
      await rm(join(this.tmpRoot, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How many times its own estimate a job may run before the time limit stops it. */
export const ESTIMATE_HEADROOM = 4;
/** No job runs longer than this, whatever its estimate. */
const MAX_TIME_LIMIT_MS = 6 * 3600_000;

/**
 * The type's limit, or more for a job estimated to need it (a long 4K video with every variant): a fixed limit
 * would kill such a job on every attempt. The estimate bounds it, so a hang still ends.
 */
export function timeLimitFor(typeLimitMs: number, estimatedSeconds: number | null): number {
  if (estimatedSeconds === null || !(estimatedSeconds > 0)) return typeLimitMs;
  return Math.min(MAX_TIME_LIMIT_MS, Math.max(typeLimitMs, Math.ceil(estimatedSeconds * ESTIMATE_HEADROOM * 1000)));
}
