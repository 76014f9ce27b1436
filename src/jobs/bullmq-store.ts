// The distributed JobStore: BullMQ on Redis (AOF `appendfsync always`, `noeviction`), shared by every
// API and worker node. BullMQ does the queueing (bullmq-queues.ts: one queue per type, prioritized
// waiting, active jobs under a lock = our lease, delayed retries, stalled-job recovery); our own keys
// keep what BullMQ has no place for (record-scripts.ts: the record, events with seq + pub/sub,
// idempotency, cache, owner/state indexes, history). Worker-side calls change the record first (a
// script that also checks BullMQ's lock), then move the BullMQ job; a crash between the two leaves a
// BullMQ job whose lock expires: the stalled check gives it back and the claim or take-back that meets
// it reconciles it with the record. Guarantees and the tests that prove them: src/jobs/README.md.
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { BeatSyncError, messageFor } from '../errors.ts';
import { DEFAULT_BACKOFF, validateBackoff } from './backoff.ts';
import type { BackoffConfig } from './backoff.ts';
import { BullQueues } from './bullmq-queues.ts';
import { cancelledJson, hashToRecord, ownerKey, pairsToHash, safeUrl, storeFailure } from './record-codec.ts';
import type { Hash } from './record-codec.ts';
import { scriptSource, RECORD_SCRIPTS } from './record-scripts.ts';
import type { RecordScriptName } from './record-scripts.ts';
import {
  ALL_STATES, MAX_LIST_LIMIT, QUEUED_PROGRESS, badRequest, checkMaxInterruptions, checkSubmit, cleanError, cleanProgress, decodeCursor,
  encodeCursor, leaseLost, randomId, toJson,
} from './store-common.ts';
import type { DailyHistory } from './store-common.ts';
import type {
  Claim, JobError, JobEvent, JobProgress, JobRecord, JobState, JobStats, JobStore, ListQuery, SubmitRequest, SubmitResult,
} from './types.ts';

export interface BullMqJobStoreOptions {
  /** redis://host:port/db */
  url: string;
  /** Key prefix: several deployments (or tests) may share one Redis. */
  prefix?: string;
  backoff?: BackoffConfig;
  defaultMaxAttempts?: number;
  /** Interruptions (crash, lost lease, shortage) that end a job INTERRUPTED_TOO_OFTEN (default 10). */
  maxInterruptions?: number;
  statsWindowMs?: number;
  random?: () => number;
  /** Deadline of each call on the request connection (default 2000 ms): a frozen Redis must not hang a request. */
  commandTimeoutMs?: number;
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/** A submit records its job, then adds it to BullMQ; past this the recovery adds it (the submitter died). */
const PENDING_GRACE_MS = 5_000;
/** Claimed jobs whose record was already finished (or gone) are ended in BullMQ and skipped, this many per call at most. */
const MAX_DROPS_PER_CLAIM = 20;
const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;
/** How soon a feed reads its event list again after the read failed (Redis still reconnecting). */
const CATCH_UP_RETRY_MS = 250;
const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;

/** Per-job delivery state of a subscription: events go out strictly by seq, gaps are read back. */
interface Feed {
  listeners: Set<(event: JobEvent) => void>;
  /** Highest seq delivered (or present when the subscription began). */
  last: number;
  chain: Promise<void>;
}

export class BullMqJobStore implements JobStore {
  readonly prefix: string;
  /** Every call made for a request: each has a deadline (commandTimeoutMs). */
  private readonly redis: Redis;
  /**
   * The workers' record updates (claim, heartbeat, complete…, take-backs): no deadline, so a slow or starved
   * moment never makes a worker drop a claim or a result; no request waits on it.
   */
  private readonly workerRedis: Redis;
  /** BullMQ's workers' connection (they require maxRetriesPerRequest: null): claims, locks, stalled checks; no HTTP request waits on it. */
  private readonly bullRedis: Redis;
  private readonly bull: BullQueues;
  /** BullMQ jobs claimed through this store, by lease token (saves a fetch at complete/fail/release). */
  private readonly claimed = new Map<string, Job>();
  /** Retry delays decided by the record, read by BullMQ's backoff strategy (bullmq-queues.ts). */
  private readonly retryDelays = new Map<string, number>();
  private subscriber: Redis | null = null;
  private readonly backoff: BackoffConfig;
  private readonly defaultMaxAttempts: number;
  private readonly maxInterruptions: number;
  private readonly statsWindowMs: number;
  private readonly random: () => number;
  private readonly feeds = new Map<string, Feed>();
  private readonly opts: BullMqJobStoreOptions;
  private closed = false;

  /** Connects (and checks Redis answers); the scripts are loaded on first use. */
  static async open(options: BullMqJobStoreOptions): Promise<BullMqJobStore> {
    const store = new BullMqJobStore(options);
    try {
      await store.redis.connect();
      await store.redis.ping();
    } catch (err) {
      store.redis.disconnect();
      store.workerRedis.disconnect();
      store.bullRedis.disconnect();
      throw new BeatSyncError('RESOURCE_LIMIT', `cannot reach Redis at ${safeUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private constructor(options: BullMqJobStoreOptions) {
    this.opts = options;
    this.prefix = options.prefix ?? 'bs:';
    this.backoff = validateBackoff(options.backoff ?? DEFAULT_BACKOFF);
    this.defaultMaxAttempts = options.defaultMaxAttempts ?? 3;
    this.maxInterruptions = checkMaxInterruptions(options.maxInterruptions);
    this.statsWindowMs = options.statsWindowMs ?? DAY_MS;
    this.random = options.random ?? Math.random;
    const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // No offline queue: while the connection is down a call fails at once (503) instead of waiting, and a
    // refused write is not replayed later behind the client's back.
    this.redis = new Redis(options.url, { maxRetriesPerRequest: 1, commandTimeout: timeoutMs, enableOfflineQueue: false, lazyConnect: true });
    this.redis.on('error', () => {}); // reconnects by itself; each command reports its own failure
    this.workerRedis = new Redis(options.url, { maxRetriesPerRequest: 3 });
    this.workerRedis.on('error', () => {});
    for (const name of Object.keys(RECORD_SCRIPTS) as RecordScriptName[]) {
      for (const conn of [this.redis, this.workerRedis]) conn.defineCommand(name, { numberOfKeys: 0, lua: scriptSource(name) });
    }
    this.bullRedis = new Redis(options.url, { maxRetriesPerRequest: null });
    this.bullRedis.on('error', () => {});
    this.bull = new BullQueues({
      connection: this.bullRedis,
      queueConnection: this.redis,
      deadlineMs: timeoutMs,
      prefix: `${this.prefix}bull`,
      retryDelay: (jobId) => this.retryDelays.get(jobId) ?? this.backoff.baseMs,
    });
  }

  /** Redis' answer time, for readiness. */
  async ping(): Promise<string> {
    const started = Date.now();
    await this.call(this.redis.ping());
    return `redis ${Date.now() - started} ms`;
  }

  // ---- client side ----

  async submit<I, R>(req: SubmitRequest<I>): Promise<SubmitResult<I, R>> {
    const { inputJson, owner, idempotencyKey, cacheKey, priority, maxAttempts, estimated } = checkSubmit(req, this.defaultMaxAttempts);

    const [created, id, turn] = (await this.script('bsSubmit', randomId(), req.type, inputJson, ownerKey(owner), owner ?? '', priority,
      idempotencyKey ?? '', cacheKey ?? '', maxAttempts, JSON.stringify(QUEUED_PROGRESS), estimated ?? '')) as [number, string, number];
    if (created === 1) await this.enqueue(id, req.type, priority, Number(turn), maxAttempts);
    const job = await this.get<I, R>(id);
    if (!job) throw new BeatSyncError('CONFLICT', `job ${id} vanished right after submit`);
    return { job, created: created === 1 };
  }

  async get<I = unknown, R = unknown>(id: string): Promise<JobRecord<I, R> | null> {
    return this.read<I, R>(this.redis, id);
  }

  private async read<I = unknown, R = unknown>(conn: Redis, id: string): Promise<JobRecord<I, R> | null> {
    if (typeof id !== 'string' || id.length === 0) return null;
    const h = await this.call(conn.hgetall(this.key(`job:${id}`)));
    return h.id ? (hashToRecord(h) as JobRecord<I, R>) : null;
  }

  async list(query: ListQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    if (query.state !== undefined && !ALL_STATES.includes(query.state)) throw badRequest('unknown state');
    const limit = Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(query.limit ?? 20)));
    // Walk the narrowest index newest first, filter by the other criterion.
    const index = query.owner !== undefined ? this.key(`owner:${ownerKey(query.owner)}`)
      : query.state !== undefined ? this.key(`state:${query.state}`) : this.key('all');
    let max = query.cursor ? `(${decodeCursor(query.cursor)}` : '+inf';
    const jobs: JobRecord[] = [];
    for (;;) {
      const batch = await this.call(this.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, Math.max(50, limit + 1)));
      if (batch.length === 0) break;
      const ids = batch.filter((_, i) => i % 2 === 0);
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.key(`job:${id}`));
      for (const h of await this.exec(pipeline)) {
        const hash = h as Hash;
        if (!hash.id) continue; // purged meanwhile
        const job = hashToRecord(hash);
        if (query.state !== undefined && job.state !== query.state) continue;
        jobs.push(job);
      }
      if (jobs.length > limit) break;
      max = `(${batch[batch.length - 1]}`;
    }
    const page = jobs.slice(0, limit);
    const last = page.at(-1);
    const nextCursor = jobs.length > limit && last ? encodeCursor(Number(await this.call(this.redis.hget(this.key(`job:${last.id}`), 'n')))) : null;
    return { jobs: page, nextCursor };
  }

  async cancel(id: string): Promise<JobRecord | null> {
    if (typeof id !== 'string' || id.length === 0) return null;
    const found = Number(await this.script('bsCancel', id, cancelledJson()));
    if (found === 0) return null;
    const job = await this.get(id);
    // Cancelled while waiting: BullMQ drops it (if a claim took it meanwhile, that claim ends it instead).
    if (found === 2 && job) await this.bull.remove(job.type, id).catch(() => false);
    return job;
  }

  async retry(id: string): Promise<JobRecord> {
    const answer = (await this.script('bsRetry', id, JSON.stringify(QUEUED_PROGRESS))) as number | string;
    if (answer === 0) throw new BeatSyncError('NOT_FOUND', `job ${id}`);
    if (typeof answer === 'string') throw new BeatSyncError('CONFLICT', `job ${id} is ${answer}; only failed or cancelled jobs can be retried`);
    const job = (await this.get(id))!;
    // A new BullMQ job under the same id (fresh attempts); whatever is left of the old one goes first.
    await this.bull.remove(job.type, id).catch(() => false);
    await this.enqueue(id, job.type, job.priority, job.turn, job.maxAttempts);
    return job;
  }

  async events(id: string, afterSeq: number): Promise<JobEvent[]> {
    const after = Number.isFinite(afterSeq) ? Math.max(0, Math.floor(afterSeq)) : 0;
    const rows = await this.call(this.redis.lrange(this.key(`ev:${id}`), after, -1));
    return rows.map((r) => JSON.parse(r) as JobEvent);
  }

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    if (this.closed) return () => {};
    let feed = this.feeds.get(id);
    if (!feed) {
      const created: Feed = { listeners: new Set(), last: 0, chain: Promise.resolve() };
      feed = created;
      this.feeds.set(id, created);
      // Sent before any later command of this process: what exists now is history (read with events()),
      // everything after it is delivered here, first from the list, then live.
      const baseline = this.redis.llen(this.key(`ev:${id}`));
      created.chain = baseline.then((n) => {
        created.last = n;
      }).catch(() => {});
      const sub = this.subscriberConnection();
      void sub.subscribe(this.key(`evc:${id}`)).then(() => this.catchUp(id)).catch(() => {});
    }
    feed.listeners.add(listener);
    return () => {
      const current = this.feeds.get(id);
      if (!current) return;
      current.listeners.delete(listener);
      if (current.listeners.size === 0) {
        this.feeds.delete(id);
        void this.subscriber?.unsubscribe(this.key(`evc:${id}`)).catch(() => {});
      }
    };
  }

  async queuePosition(id: string): Promise<number | null> {
    const place = await this.script('bsPosition', id);
    return place === null ? null : Number(place);
  }

  async stats(): Promise<JobStats> {
    const pipeline = this.redis.pipeline();
    for (const s of ALL_STATES) pipeline.zcard(this.key(`state:${s}`));
    const counts = (await this.exec(pipeline)).map(Number);
    const byState = Object.fromEntries(ALL_STATES.map((s, i) => [s, counts[i] ?? 0])) as Record<JobState, number>;
    const [t] = await this.call(this.redis.time());
    const since = Number(t) * 1000 - this.statsWindowMs;
    const recent = await this.call(this.redis.zrangebyscore(this.key('finished'), since, '+inf'));
    let ok = 0;
    let bad = 0;
    let durTotal = 0;
    let durCount = 0;
    if (recent.length > 0) {
      const p = this.redis.pipeline();
      for (const id of recent) p.hmget(this.key(`job:${id}`), 'state', 'started', 'finished');
      for (const row of await this.exec(p)) {
        const [state, started, finished] = row as (string | null)[];
        if (state === 'succeeded') {
          ok++;
          if (started) {
            durTotal += Number(finished) - Number(started);
            durCount++;
          }
        } else if (state === 'failed') bad++;
      }
    }
    return {
      byState,
      queueDepth: byState.queued + byState.retrying,
      successRate: ok + bad > 0 ? ok / (ok + bad) : null,
      meanDurationSeconds: durCount > 0 ? durTotal / durCount / 1000 : null,
    };
  }

  async countLive(owner: string | null): Promise<number> {
    return Number(await this.script('bsCountLive', ownerKey(owner)));
  }

  /** Days of finished-job history (kept when jobs are purged), oldest first. */
  async history(sinceDay?: string): Promise<DailyHistory[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.call(this.redis.scan(cursor, 'MATCH', `${this.prefix}hist:*`, 'COUNT', 500));
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const out: DailyHistory[] = [];
    for (const key of keys) {
      const day = new Date(Number(key.slice(key.lastIndexOf(':') + 1)) * DAY_MS).toISOString().slice(0, 10);
      if (sinceDay && day < sinceDay) continue;
      const h = await this.call(this.redis.hgetall(key));
      const succeeded = Number(h.succeeded ?? 0);
      const failed = Number(h.failed ?? 0);
      const durCount = Number(h.durCount ?? 0);
      out.push({
        day, succeeded, failed, cancelled: Number(h.cancelled ?? 0),
        successRate: succeeded + failed > 0 ? succeeded / (succeeded + failed) : null,
        meanDurationSeconds: durCount > 0 ? Number(h.durMs ?? 0) / durCount / 1000 : null,
      });
    }
    return out.sort((a, b) => (a.day < b.day ? -1 : 1));
  }

  async findByCacheKey(cacheKey: string): Promise<JobRecord | null> {
    const [id] = await this.call(this.redis.zrevrange(this.key(`cachedone:${cacheKey}`), 0, 0));
    if (!id) return null;
    const job = await this.get(id);
    return job?.state === 'succeeded' ? job : null;
  }

  async purgeFinishedBefore(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const pairs = (await this.script('bsPurge', Math.floor(before), PURGE_BATCH)) as string[];
      const n = pairs.length / 2;
      total += n;
      // Finished jobs are already gone from BullMQ (removeOnComplete/removeOnFail), unless a crash
      // came between the record and the BullMQ move: remove what is left.
      const left = this.redis.pipeline();
      for (let i = 0; i < pairs.length; i += 2) left.exists(`${this.bull.prefix}:${pairs[i + 1]}:${pairs[i]}`);
      const exists = pairs.length > 0 ? await this.exec(left) : [];
      for (let i = 0; i < exists.length; i++) {
        if (Number(exists[i]) === 1) await this.bull.remove(pairs[2 * i + 1], pairs[2 * i]).catch(() => false);
      }
      if (n < PURGE_BATCH) return total;
    }
  }

  async remove(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id.length === 0) return false;
    const answer = (await this.script('bsRemove', id)) as number | string | string[];
    if (Array.isArray(answer)) throw new BeatSyncError('CONFLICT', `job ${id} is ${answer[0]}; only finished jobs can be deleted`);
    if (typeof answer !== 'string') return false;
    // Normally gone from BullMQ already; left only by a crash between the record and the BullMQ move.
    await this.bull.remove(answer, id).catch(() => false);
    return true;
  }

  // ---- worker side ----

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<Claim | null> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    if (types.length === 0) return null;
    const lease = Math.ceil(leaseMs);
    // One type: BullMQ's own order. Several: the type whose head comes first (wait list, then priority, then age).
    const order = types.length === 1 ? [types[0]] : await this.typesByHead(types);
    let drops = 0;
    for (const type of order) {
      for (;;) {
        const token = randomId();
        let job: Job | undefined;
        try {
          job = await this.bull.worker(type, lease).getNextJob(token, { block: false });
        } catch (err) {
          throw storeFailure(err);
        }
        if (!job?.id) break;
        const answer = (await this.workerScript('bsClaim', job.id, token, lease, String(workerId), cancelledJson(), ...this.interruptionArgs())) as
          string | [string, string[], string[]];
        if (typeof answer === 'string') {
          // Nothing to run: finished, purged, or its dead attempt was the last. BullMQ forgets it.
          if (answer === 'drop') await this.bull.end(type, job.id, token, job).catch(() => {});
          if (++drops >= MAX_DROPS_PER_CLAIM) return null;
          continue;
        }
        const [leaseUntil, jobPairs, cpPairs] = answer;
        const checkpoints: Record<string, unknown> = {};
        for (const [stage, data] of Object.entries(pairsToHash(cpPairs))) checkpoints[stage] = JSON.parse(data) as unknown;
        this.claimed.set(token, job);
        return { job: hashToRecord(pairsToHash(jobPairs)), leaseToken: token, leaseUntil: Number(leaseUntil), checkpoints };
      }
    }
    return null;
  }

  /** The asked types that have a job to give, best head first. */
  private async typesByHead(types: readonly string[]): Promise<string[]> {
    const flat = (await this.workerScript('bsPeek', Date.now(), ...types)) as (string | number)[];
    const heads: { type: string; rank: number[] }[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) heads.push({ type: String(flat[i]), rank: flat.slice(i + 1, i + 5).map(Number) });
    heads.sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2] || a.rank[3] - b.rank[3]);
    return heads.map((h) => h.type);
  }

  async heartbeat(id: string, leaseToken: string, leaseMs: number, progress?: JobProgress): Promise<{ cancelRequested: boolean }> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    const next = progress === undefined ? '' : JSON.stringify(cleanProgress(progress));
    const type = await this.typeOf(id, leaseToken);
    // BullMQ's lock is the lease: renewing it fails once the lock is gone or another token holds it.
    const renewed = type === null ? 0 : await this.bull.worker(type).getBackend().extendLock(id, leaseToken, Math.ceil(leaseMs)).catch((err: unknown) => {
      throw storeFailure(err);
    });
    if (Number(renewed) !== 1) throw this.leaseLost(id, leaseToken);
    const answer = Number(await this.workerScript('bsHeartbeat', id, leaseToken, Math.ceil(leaseMs), next));
    if (answer < 0) throw this.leaseLost(id, leaseToken);
    return { cancelRequested: answer === 1 };
  }

  async saveCheckpoint(id: string, leaseToken: string, stage: string, data: unknown): Promise<void> {
    if (typeof stage !== 'string' || stage.length === 0 || stage.length > 100) throw badRequest('stage must be a non-empty string');
    const body = toJson(data, 'checkpoint data');
    if (Number(await this.workerScript('bsCheckpoint', id, leaseToken, stage, body)) < 0) throw this.leaseLost(id, leaseToken);
  }

  async complete(id: string, leaseToken: string, result: unknown): Promise<JobRecord> {
    const body = toJson(result ?? null, 'result');
    if (Number(await this.workerScript('bsComplete', id, leaseToken, body)) < 0) throw this.leaseLost(id, leaseToken);
    const job = (await this.read(this.workerRedis, id))!;
    // The result stays in our record; BullMQ completes (and forgets) its job.
    await this.bullJob(job.type, id, leaseToken).then((b) => b?.moveToCompleted(null, leaseToken, false)).catch(() => {});
    this.claimed.delete(leaseToken);
    return job;
  }

  async fail(id: string, leaseToken: string, error: JobError): Promise<JobRecord> {
    const err = cleanError(error);
    const { baseMs, maxMs, jitter } = this.backoff;
    const answer = Number(await this.workerScript('bsFail', id, leaseToken, JSON.stringify(err), err.code, err.retryable ? 1 : 0,
      this.random(), baseMs, maxMs, Math.min(1, Math.max(0, jitter)), cancelledJson(), ...this.interruptionArgs()));
    if (answer < 0) throw this.leaseLost(id, leaseToken);
    const job = (await this.read(this.workerRedis, id))!;
    const bullJob = await this.bullJob(job.type, id, leaseToken).catch(() => undefined);
    if (bullJob) {
      if (answer === 0) {
        await this.bull.end(job.type, id, leaseToken, bullJob).catch(() => {});
      } else {
        await this.retryLater(bullJob, answer - 1, err, leaseToken).catch(() => {});
        // Cancelled between the record and BullMQ: the delayed BullMQ job goes too.
        if ((await this.read(this.workerRedis, id))?.state === 'cancelled') await this.bull.remove(job.type, id).catch(() => false);
      }
    }
    this.claimed.delete(leaseToken);
    return job;
  }

  async release(id: string, leaseToken: string): Promise<JobRecord> {
    const answer = Number(await this.workerScript('bsRelease', id, leaseToken, cancelledJson()));
    if (answer < 0) throw this.leaseLost(id, leaseToken);
    const job = (await this.read(this.workerRedis, id))!;
    const bullJob = await this.bullJob(job.type, id, leaseToken).catch(() => undefined);
    if (bullJob) {
      // Back to the head of its priority in BullMQ (its attempt is not counted: BullMQ counts failures only).
      if (answer === 2) await this.bull.end(job.type, id, leaseToken, bullJob).catch(() => {});
      else await bullJob.moveToWait(leaseToken).catch(() => 0);
    }
    this.claimed.delete(leaseToken);
    return job;
  }

  /**
   * Runs BullMQ's stalled check on every type's queue (twice: mark, then move, so a lock that expired
   * before this call is found by it) and settles each job it gave back with its record: back to queued
   * (the attempt counted at claim stays counted), or ended when cancelled or out of attempts. Also adds
   * to BullMQ the jobs whose submitter died between recording and adding them.
   */
  async recoverExpired(): Promise<number> {
    const types = await this.call(this.workerRedis.smembers(this.key('types')));
    let count = 0;
    for (const type of types) {
      let stalled: string[];
      try {
        stalled = await this.bull.moveStalledToWait(type);
      } catch (err) {
        throw storeFailure(err);
      }
      for (const id of stalled) {
        const answer = Number(await this.workerScript('bsTakeBack', id, cancelledJson(), ...this.interruptionArgs()));
        if (answer === 1 || answer === 2) count++;
        if (answer >= 2) await this.bull.remove(type, id).catch(() => false);
      }
    }
    const [t] = await this.call(this.workerRedis.time());
    const pending = await this.call(this.workerRedis.zrangebyscore(this.key('pending'), '-inf', Number(t) * 1000 - PENDING_GRACE_MS, 'LIMIT', 0, 100));
    for (const id of pending) {
      const job = await this.read(this.workerRedis, id);
      if (job?.state === 'queued') await this.enqueue(id, job.type, job.priority, job.turn, job.maxAttempts);
      else await this.call(this.workerRedis.zrem(this.key('pending'), id));
    }
    return count;
  }

  /** Deletes every key of this prefix (tests and benchmarks on a shared Redis). */
  async wipe(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.call(this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000));
      cursor = next;
      if (keys.length > 0) await this.call(this.redis.del(...keys));
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.feeds.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    await this.bull.close();
    await Promise.all([
      this.redis.quit().catch(() => this.redis.disconnect()),
      this.workerRedis.quit().catch(() => this.workerRedis.disconnect()),
      this.bullRedis.quit().catch(() => this.bullRedis.disconnect()),
      subscriber?.quit().catch(() => subscriber.disconnect()),
    ]);
  }

  // ---- internals ----

  /** What the scripts need to count an interruption: the limit and the final message (same as the SQLite store's). */
  private interruptionArgs(): [number, string] {
    return [this.maxInterruptions, messageFor('INTERRUPTED_TOO_OFTEN')];
  }

  private key(suffix: string): string {
    return this.prefix + suffix;
  }

  /** A Redis failure (missed deadline, lost connection) as RESOURCE_LIMIT: retryable, 503 at the HTTP edge. */
  private async call<T>(command: Promise<T>): Promise<T> {
    try {
      return await command;
    } catch (err) {
      throw storeFailure(err);
    }
  }

  /** A pipeline's answers; the first failed command fails the whole (ioredis reports them per command). */
  private async exec(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    const rows = (await this.call(pipeline.exec())) ?? [];
    const failed = rows.find(([err]) => err);
    if (failed) throw storeFailure(failed[0]);
    return rows.map(([, value]) => value);
  }

  private async script(name: RecordScriptName, ...args: (string | number)[]): Promise<unknown> {
    return this.runScript(this.redis, name, args);
  }

  private async workerScript(name: RecordScriptName, ...args: (string | number)[]): Promise<unknown> {
    return this.runScript(this.workerRedis, name, args);
  }

  private async runScript(conn: Redis, name: RecordScriptName, args: (string | number)[]): Promise<unknown> {
    if (this.closed) throw new BeatSyncError('CONFLICT', 'job store is closed');
    const call = (conn as unknown as Record<RecordScriptName, ScriptCall>)[name];
    try {
      return await call.call(conn, this.prefix, this.bull.prefix, ...args);
    } catch (err) {
      throw storeFailure(err);
    }
  }

  /** Records it as added (the record is written first: see PENDING_GRACE_MS) after BullMQ has the job. */
  private async enqueue(id: string, type: string, priority: number, turn: number, maxAttempts: number): Promise<void> {
    try {
      await this.bull.add(type, id, priority, turn, maxAttempts);
      await this.redis.zrem(this.key('pending'), id);
    } catch (err) {
      throw storeFailure(err);
    }
  }

  /** The job's type, from the claim made here or from its record; null when the job is unknown. */
  private async typeOf(id: string, leaseToken: string): Promise<string | null> {
    const job = this.claimed.get(leaseToken);
    if (job?.id === id) return job.name;
    return this.call(this.workerRedis.hget(this.key(`job:${id}`), 'type'));
  }

  private async bullJob(type: string, id: string, leaseToken: string): Promise<Job | undefined> {
    const job = this.claimed.get(leaseToken);
    return job?.id === id ? job : this.bull.job(type, id);
  }

  /** BullMQ's retry (attempts, delayed set, backoff strategy) with the delay the record chose. */
  private async retryLater(job: Job, delayMs: number, err: JobError, leaseToken: string): Promise<void> {
    const id = job.id!;
    this.retryDelays.set(id, delayMs);
    try {
      if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) await job.moveToFailed(new Error(`${err.code}: ${err.message}`), leaseToken, false);
      // Our record decided to retry: BullMQ must not fail the job on a count of its own.
      else await job.moveToDelayed(Date.now() + delayMs, leaseToken);
    } finally {
      this.retryDelays.delete(id);
    }
  }

  private leaseLost(id: string, leaseToken: string): BeatSyncError {
    this.claimed.delete(leaseToken);
    return leaseLost(id);
  }

  private subscriberConnection(): Redis {
    if (!this.subscriber) {
      // Resubscribing is ours (below), so that the catch-up can wait for it: ioredis's own would be a second SUBSCRIBE.
      const sub = new Redis(this.opts.url, { maxRetriesPerRequest: null, autoResubscribe: false });
      sub.on('error', () => {});
      sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
      // After a reconnect pub/sub messages may have been missed: read them back from the lists, but only
      // once the channels are subscribed again.
      sub.on('ready', () => {
        const ids = [...this.feeds.keys()];
        if (ids.length === 0) return;
        sub.subscribe(...ids.map((id) => this.key(`evc:${id}`))).then(() => {
          for (const id of ids) this.catchUp(id);
        }, () => {}); // dropped again: the next 'ready' does it
      });
      this.subscriber = sub;
    }
    return this.subscriber;
  }

  private onMessage(channel: string, message: string): void {
    const id = channel.slice(this.key('evc:').length);
    const feed = this.feeds.get(id);
    if (!feed) return;
    const event = JSON.parse(message) as JobEvent;
    feed.chain = feed.chain.then(async () => {
      if (event.seq <= feed.last) return;
      if (event.seq > feed.last + 1) await this.fill(id, feed);
      if (event.seq === feed.last + 1) this.deliver(feed, event);
    }).catch(() => this.retryCatchUp(id, feed));
  }

  private catchUp(id: string): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    feed.chain = feed.chain.then(() => this.fill(id, feed)).catch(() => this.retryCatchUp(id, feed));
  }

  /** The list is read on the request connection, which has no offline queue and may come back after the subscriber. */
  private retryCatchUp(id: string, feed: Feed): void {
    if (this.closed || this.feeds.get(id) !== feed) return;
    setTimeout(() => this.catchUp(id), CATCH_UP_RETRY_MS).unref();
  }

  /** Delivers, in order, the events stored after the last one delivered. */
  private async fill(id: string, feed: Feed): Promise<void> {
    if (this.closed) return;
    for (const event of await this.events(id, feed.last)) {
      if (event.seq === feed.last + 1) this.deliver(feed, event);
    }
  }

  private deliver(feed: Feed, event: JobEvent): void {
    feed.last = event.seq;
    for (const listener of [...feed.listeners]) {
      try {
        listener(event);
      } catch {
        // A broken listener (closed SSE socket) must not stop delivery to the others.
      }
    }
  }
}
