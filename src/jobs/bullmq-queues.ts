// BullMQ plumbing of the Redis backend: one BullMQ queue per job type (so a claim can ask for some
// types and not others), a Queue to add/remove jobs and a manual-processing Worker (no processor,
// jobs fetched with getNextJob) per type and lease length. The Queues (adds and removals, made while
// serving requests) share the store's request connection and have its deadline; the Workers share a
// connection without one (BullMQ requires it of them) that no request waits on. BullMQ does the
// queueing: prioritized waiting, active jobs under a lock, delayed retries with the job's attempts and
// backoff, and the stalled-job check that gives back jobs whose lock expired.
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { JobsOptions, MinimalJob } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * Our priority (higher first, |p| ≤ 1000) and the owner's turn (lower first, 0..1023) as one BullMQ
 * priority (1 = first, at most 2^21): within a priority, every owner's turn-0 job comes before anyone's
 * turn 1, which is how one owner's batch cannot starve another owner's single job.
 */
export function bullPriority(priority: number, turn = 0): number {
  return (1000 - priority) * 1024 + Math.min(1023, Math.max(0, turn)) + 1;
}

/** The retry delay is decided with the record (record-scripts.ts FAIL); BullMQ applies it through this strategy. */
export const BACKOFF_TYPE = 'beatsync';

const DEFAULT_LOCK_MS = 30_000;

export interface BullQueuesOptions {
  /** The Workers' connection (maxRetriesPerRequest: null). */
  connection: Redis;
  /** The Queues' connection (a command deadline, no offline queue). */
  queueConnection: Redis;
  /** An add or a removal that has not answered by then fails (a Queue still connecting has no command to time out). */
  deadlineMs: number;
  /** BullMQ key prefix (its keys are `<prefix>:<type>:…`). */
  prefix: string;
  /** Delay for a retry of this job, set just before it is failed into BullMQ's backoff. */
  retryDelay(jobId: string): number;
}

export class BullQueues {
  readonly prefix: string;
  private readonly opts: BullQueuesOptions;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();

  constructor(opts: BullQueuesOptions) {
    this.opts = opts;
    this.prefix = opts.prefix;
  }

  queue(type: string): Queue {
    let queue = this.queues.get(type);
    if (!queue) {
      const created = new Queue(type, { connection: this.opts.queueConnection, prefix: this.prefix });
      created.on('error', () => {}); // the calls report their own failures
      // A Queue whose start failed (Redis frozen or down just then) never recovers: the next call makes a new one.
      created.waitUntilReady().catch(() => {
        if (this.queues.get(type) === created) this.queues.delete(type);
        void created.close().catch(() => {});
      });
      this.queues.set(type, created);
      queue = created;
    }
    return queue;
  }

  /**
   * A manual-processing worker for `type` whose jobs are locked for `lockMs` when fetched (a worker per
   * lease length, so a job never starts with a longer lock than its lease). Its stalled check runs only
   * when recoverExpired asks (stalledInterval 1 ms: two passes in a row are allowed), and a job stalled any
   * number of times goes back to wait: whether it may run again is decided by its record's attempts.
   */
  worker(type: string, lockMs?: number): Worker {
    // No lease given (lock renewals, the stalled check, job lookups): any worker of the type will do.
    if (lockMs === undefined) {
      for (const [key, w] of this.workers) if (key.startsWith(`${type}\n`)) return w;
    }
    const key = `${type}\n${lockMs ?? DEFAULT_LOCK_MS}`;
    let worker = this.workers.get(key);
    if (!worker) {
      worker = new Worker(type, null, {
        connection: this.opts.connection,
        prefix: this.prefix,
        autorun: false,
        lockDuration: lockMs ?? DEFAULT_LOCK_MS,
        stalledInterval: 1,
        maxStalledCount: 1_000_000_000,
        settings: { backoffStrategy: (_made: number, _type?: string, _err?: Error, job?: MinimalJob) => this.opts.retryDelay(job?.id ?? '') },
      });
      worker.on('error', () => {});
      this.workers.set(key, worker);
    }
    return worker;
  }

  addOptions(id: string, priority: number, turn: number, maxAttempts: number): JobsOptions {
    return {
      jobId: id,
      priority: bullPriority(priority, turn),
      attempts: maxAttempts,
      backoff: { type: BACKOFF_TYPE },
      // Our record keeps the outcome; BullMQ forgets finished jobs at once.
      removeOnComplete: true,
      removeOnFail: true,
    };
  }

  /** Adds the job unless BullMQ already has it (a job id is added once: a repeated add is a no-op). */
  async add(type: string, id: string, priority: number, turn: number, maxAttempts: number): Promise<void> {
    await this.withDeadline(this.queue(type).add(type, { id }, this.addOptions(id, priority, turn, maxAttempts)), `adding job ${id}`);
  }

  /** Removes a job that is not locked (waiting, delayed, or active with an expired lock); false otherwise. */
  async remove(type: string, id: string): Promise<boolean> {
    return (await this.withDeadline(this.queue(type).remove(id), `removing job ${id}`)) === 1;
  }

  private async withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.opts.deadlineMs} ms (${what})`)), this.opts.deadlineMs);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The BullMQ job, for its lock-checked transitions (moveToCompleted/Failed/Wait). */
  async job(type: string, id: string): Promise<Job | undefined> {
    return Job.fromId(this.worker(type), id);
  }

  /** Ends a job in BullMQ (removed: removeOnFail) without a retry, whatever its attempts. */
  async end(type: string, id: string, token: string, job?: Job): Promise<void> {
    const found = job ?? (await this.job(type, id));
    await found?.moveToFailed(new UnrecoverableError('finished in the job record'), token, false);
  }

  /** Runs BullMQ's stalled check twice (mark, then move): every active job whose lock is gone goes back to wait. */
  async moveStalledToWait(type: string): Promise<string[]> {
    const backend = this.worker(type).getBackend();
    const first = await backend.moveStalledJobsToWait();
    await new Promise((resolve) => setTimeout(resolve, 2)); // the check's own 1 ms throttle
    const second = await backend.moveStalledJobsToWait();
    return [...new Set([...first, ...second])];
  }

  lockKey(type: string, id: string): string {
    return `${this.prefix}:${type}:${id}:lock`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close(true).catch(() => {})));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => {})));
    this.workers.clear();
    this.queues.clear();
  }
}
