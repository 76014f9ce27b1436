// The distributed JobStore: Redis (AOF `appendfsync always`, `noeviction`) shared by every API and
// worker node. Each transition is one Lua script (redis-scripts.ts), atomic and durable when it
// returns; events are a list per job (seq = position) and are pushed to other nodes by pub/sub,
// with gaps filled from the list, so a subscriber on any node sees every event in order.
// Guarantees and the tests that prove them: src/jobs/README.md.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BeatSyncError, isErrorCode, messageFor } from '../errors.ts';
import { DEFAULT_BACKOFF, validateBackoff } from './backoff.ts';
import type { BackoffConfig } from './backoff.ts';
import { scriptSource, REDIS_SCRIPTS } from './redis-scripts.ts';
import type { RedisScriptName } from './redis-scripts.ts';
import type {
  Claim, JobError, JobEvent, JobProgress, JobRecord, JobState, JobStats, JobStore, ListQuery, SubmitRequest, SubmitResult,
} from './types.ts';

export interface RedisJobStoreOptions {
  /** redis://host:port/db */
  url: string;
  /** Key prefix: several deployments (or tests) may share one Redis. */
  prefix?: string;
  backoff?: BackoffConfig;
  defaultMaxAttempts?: number;
  statsWindowMs?: number;
  random?: () => number;
}

export interface DailyHistory {
  day: string;
  succeeded: number;
  failed: number;
  cancelled: number;
  successRate: number | null;
  meanDurationSeconds: number | null;
}

type Hash = Record<string, string>;
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

const ALL_STATES: readonly JobState[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];
const QUEUED_PROGRESS: JobProgress = { percent: 0, stage: 'queued', message: '' };
const MAX_LIST_LIMIT = 500;
const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;

function randomId(): string {
  return randomBytes(16).toString('base64url');
}

function badRequest(detail: string): BeatSyncError {
  return new BeatSyncError('BAD_REQUEST', detail);
}

function leaseLost(id: string): BeatSyncError {
  return new BeatSyncError('CONFLICT', `lease on job ${id} is no longer held`);
}

function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new BeatSyncError('BAD_REQUEST', `${what} is not JSON-serialisable`, { cause: err });
  }
  if (typeof text !== 'string') throw badRequest(`${what} is not JSON-serialisable`);
  return text;
}

function optionalString(value: unknown, what: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw badRequest(`${what} must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

function cleanProgress(p: JobProgress): JobProgress {
  if (!p || typeof p !== 'object') throw badRequest('progress must be an object');
  const percent = Number.isFinite(p.percent) ? Math.min(100, Math.max(0, p.percent)) : 0;
  return { percent, stage: String(p.stage ?? ''), message: String(p.message ?? '') };
}

function cleanError(e: JobError): JobError {
  if (!e || typeof e !== 'object' || !isErrorCode(e.code)) throw badRequest('error must carry a known error code');
  return { code: e.code, message: String(e.message ?? messageFor(e.code)), retryable: Boolean(e.retryable) };
}

function cancelledJson(): string {
  return JSON.stringify({ code: 'CANCELLED', message: messageFor('CANCELLED'), retryable: false });
}

/** Owner as stored in keys: 'n:' for none, 'o:<owner>' otherwise (no owner string can collide with none). */
function ownerKey(owner: string | null): string {
  return owner === null ? 'n:' : `o:${owner}`;
}

const num = (text: string | undefined): number | null => (text === undefined || text === '' ? null : Number(text));
const json = (text: string | undefined): unknown => (text === undefined || text === '' ? null : (JSON.parse(text) as unknown));

function pairsToHash(pairs: string[]): Hash {
  const out: Hash = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[pairs[i]] = pairs[i + 1];
  return out;
}

function hashToRecord(h: Hash): JobRecord {
  return {
    id: h.id,
    type: h.type,
    input: json(h.input),
    owner: h.ownerKey === 'n:' ? null : h.owner,
    priority: Number(h.priority),
    idempotencyKey: h.idem === '' ? null : h.idem,
    state: h.state as JobState,
    attempts: Number(h.attempts),
    maxAttempts: Number(h.max),
    progress: json(h.progress) as JobProgress,
    result: json(h.result),
    error: json(h.error) as JobError | null,
    createdAt: Number(h.created),
    startedAt: num(h.started),
    finishedAt: num(h.finished),
    updatedAt: Number(h.updated),
    runAfter: num(h.runAfter),
    estimatedSeconds: num(h.est),
    cancelRequested: h.cancel === '1',
    cacheKey: h.cache === '' ? null : h.cache,
  };
}

function encodeCursor(n: number): string {
  return Buffer.from(`n:${n}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^n:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badRequest('invalid cursor');
  return Number(match[1]);
}

/** Per-job delivery state of a subscription: events go out strictly by seq, gaps are read back. */
interface Feed {
  listeners: Set<(event: JobEvent) => void>;
  /** Highest seq delivered (or present when the subscription began). */
  last: number;
  chain: Promise<void>;
}

export class RedisJobStore implements JobStore {
  readonly prefix: string;
  private readonly redis: Redis;
  private subscriber: Redis | null = null;
  private readonly backoff: BackoffConfig;
  private readonly defaultMaxAttempts: number;
  private readonly statsWindowMs: number;
  private readonly random: () => number;
  private readonly feeds = new Map<string, Feed>();
  private readonly opts: RedisJobStoreOptions;
  private closed = false;

  /** Connects (and checks Redis answers); the scripts are loaded on first use. */
  static async open(options: RedisJobStoreOptions): Promise<RedisJobStore> {
    const store = new RedisJobStore(options);
    try {
      await store.redis.ping();
    } catch (err) {
      store.redis.disconnect();
      throw new BeatSyncError('RESOURCE_LIMIT', `cannot reach Redis at ${safeUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private constructor(options: RedisJobStoreOptions) {
    this.opts = options;
    this.prefix = options.prefix ?? 'bs:';
    this.backoff = validateBackoff(options.backoff ?? DEFAULT_BACKOFF);
    this.defaultMaxAttempts = options.defaultMaxAttempts ?? 3;
    this.statsWindowMs = options.statsWindowMs ?? DAY_MS;
    this.random = options.random ?? Math.random;
    this.redis = new Redis(options.url, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', () => {}); // reconnects by itself; each command reports its own failure
    for (const name of Object.keys(REDIS_SCRIPTS) as RedisScriptName[]) {
      this.redis.defineCommand(name, { numberOfKeys: 0, lua: scriptSource(name) });
    }
  }

  /** Redis' answer time, for readiness. */
  async ping(): Promise<string> {
    const started = Date.now();
    await this.redis.ping();
    return `redis ${Date.now() - started} ms`;
  }

  // ---- client side ----

  async submit<I, R>(req: SubmitRequest<I>): Promise<SubmitResult<I, R>> {
    if (!req || typeof req !== 'object') throw badRequest('submit needs a request');
    if (typeof req.type !== 'string' || req.type.length === 0 || req.type.length > 100) throw badRequest('type must be a non-empty string');
    const inputJson = toJson(req.input, 'input');
    const owner = optionalString(req.owner, 'owner', 200);
    const idempotencyKey = optionalString(req.idempotencyKey, 'idempotencyKey', 200);
    const cacheKey = optionalString(req.cacheKey, 'cacheKey', 500);
    const priority = req.priority ?? 0;
    if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000) throw badRequest('priority must be an integer');
    const maxAttempts = req.maxAttempts ?? this.defaultMaxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw badRequest('maxAttempts must be 1..100');
    const estimated = req.estimatedSeconds ?? null;
    if (estimated !== null && !(Number.isFinite(estimated) && estimated >= 0)) throw badRequest('estimatedSeconds must be >= 0');

    const [created, id] = (await this.script('bsSubmit', randomId(), req.type, inputJson, ownerKey(owner), owner ?? '', priority,
      idempotencyKey ?? '', cacheKey ?? '', maxAttempts, JSON.stringify(QUEUED_PROGRESS), estimated ?? '')) as [number, string];
    const job = await this.get<I, R>(id);
    if (!job) throw new BeatSyncError('CONFLICT', `job ${id} vanished right after submit`);
    return { job, created: created === 1 };
  }

  async get<I = unknown, R = unknown>(id: string): Promise<JobRecord<I, R> | null> {
    if (typeof id !== 'string' || id.length === 0) return null;
    const h = await this.redis.hgetall(this.key(`job:${id}`));
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
      const batch = await this.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, Math.max(50, limit + 1));
      if (batch.length === 0) break;
      const ids = batch.filter((_, i) => i % 2 === 0);
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.key(`job:${id}`));
      for (const [, h] of (await pipeline.exec()) ?? []) {
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
    const nextCursor = jobs.length > limit && last ? encodeCursor(Number(await this.redis.hget(this.key(`job:${last.id}`), 'n'))) : null;
    return { jobs: page, nextCursor };
  }

  async cancel(id: string): Promise<JobRecord | null> {
    if (typeof id !== 'string' || id.length === 0) return null;
    const found = (await this.script('bsCancel', id, cancelledJson())) as number;
    return found === 1 ? this.get(id) : null;
  }

  async retry(id: string): Promise<JobRecord> {
    const answer = (await this.script('bsRetry', id, JSON.stringify(QUEUED_PROGRESS))) as number | string;
    if (answer === 0) throw new BeatSyncError('NOT_FOUND', `job ${id}`);
    if (typeof answer === 'string') throw new BeatSyncError('CONFLICT', `job ${id} is ${answer}; only failed or cancelled jobs can be retried`);
    return (await this.get(id))!;
  }

  async events(id: string, afterSeq: number): Promise<JobEvent[]> {
    const after = Number.isFinite(afterSeq) ? Math.max(0, Math.floor(afterSeq)) : 0;
    const rows = await this.redis.lrange(this.key(`ev:${id}`), after, -1);
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
    const counts = ((await pipeline.exec()) ?? []).map(([, c]) => Number(c));
    const byState = Object.fromEntries(ALL_STATES.map((s, i) => [s, counts[i] ?? 0])) as Record<JobState, number>;
    const [t] = await this.redis.time();
    const since = Number(t) * 1000 - this.statsWindowMs;
    const recent = await this.redis.zrangebyscore(this.key('finished'), since, '+inf');
    let ok = 0;
    let bad = 0;
    let durTotal = 0;
    let durCount = 0;
    if (recent.length > 0) {
      const p = this.redis.pipeline();
      for (const id of recent) p.hmget(this.key(`job:${id}`), 'state', 'started', 'finished');
      for (const [, row] of (await p.exec()) ?? []) {
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

  /** Days of finished-job history (kept when jobs are purged), oldest first. */
  async history(sinceDay?: string): Promise<DailyHistory[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}hist:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const out: DailyHistory[] = [];
    for (const key of keys) {
      const day = new Date(Number(key.slice(key.lastIndexOf(':') + 1)) * DAY_MS).toISOString().slice(0, 10);
      if (sinceDay && day < sinceDay) continue;
      const h = await this.redis.hgetall(key);
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
    const [id] = await this.redis.zrevrange(this.key(`cachedone:${cacheKey}`), 0, 0);
    if (!id) return null;
    const job = await this.get(id);
    return job?.state === 'succeeded' ? job : null;
  }

  async purgeFinishedBefore(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = Number(await this.script('bsPurge', Math.floor(before), PURGE_BATCH));
      total += n;
      if (n < PURGE_BATCH) return total;
    }
  }

  async remove(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id.length === 0) return false;
    const answer = (await this.script('bsRemove', id)) as number | string;
    if (typeof answer === 'string') throw new BeatSyncError('CONFLICT', `job ${id} is ${answer}; only finished jobs can be deleted`);
    return answer === 1;
  }

  // ---- worker side ----

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<Claim | null> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    if (types.length === 0) return null;
    const token = randomId();
    const answer = (await this.script('bsClaim', token, Math.ceil(leaseMs), String(workerId), ...types)) as [string, string[], string[]] | null;
    if (!answer) return null;
    const [leaseUntil, jobPairs, cpPairs] = answer;
    const checkpoints: Record<string, unknown> = {};
    for (const [stage, data] of Object.entries(pairsToHash(cpPairs))) checkpoints[stage] = JSON.parse(data) as unknown;
    return { job: hashToRecord(pairsToHash(jobPairs)), leaseToken: token, leaseUntil: Number(leaseUntil), checkpoints };
  }

  async heartbeat(id: string, leaseToken: string, leaseMs: number, progress?: JobProgress): Promise<{ cancelRequested: boolean }> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    const next = progress === undefined ? '' : JSON.stringify(cleanProgress(progress));
    const answer = Number(await this.script('bsHeartbeat', id, leaseToken, Math.ceil(leaseMs), next));
    if (answer < 0) throw leaseLost(id);
    return { cancelRequested: answer === 1 };
  }

  async saveCheckpoint(id: string, leaseToken: string, stage: string, data: unknown): Promise<void> {
    if (typeof stage !== 'string' || stage.length === 0 || stage.length > 100) throw badRequest('stage must be a non-empty string');
    const body = toJson(data, 'checkpoint data');
    if (Number(await this.script('bsCheckpoint', id, leaseToken, stage, body)) < 0) throw leaseLost(id);
  }

  async complete(id: string, leaseToken: string, result: unknown): Promise<JobRecord> {
    const body = toJson(result ?? null, 'result');
    if (Number(await this.script('bsComplete', id, leaseToken, body)) < 0) throw leaseLost(id);
    return (await this.get(id))!;
  }

  async fail(id: string, leaseToken: string, error: JobError): Promise<JobRecord> {
    const err = cleanError(error);
    const { baseMs, maxMs, jitter } = this.backoff;
    const answer = await this.script('bsFail', id, leaseToken, JSON.stringify(err), err.code, err.retryable ? 1 : 0,
      this.random(), baseMs, maxMs, Math.min(1, Math.max(0, jitter)), cancelledJson());
    if (Number(answer) < 0) throw leaseLost(id);
    return (await this.get(id))!;
  }

  async release(id: string, leaseToken: string): Promise<JobRecord> {
    if (Number(await this.script('bsRelease', id, leaseToken, cancelledJson())) < 0) throw leaseLost(id);
    return (await this.get(id))!;
  }

  async recoverExpired(): Promise<number> {
    return Number(await this.script('bsRecover', cancelledJson(), 0));
  }

  /**
   * Takes back every running job at once (attempt counted). Only for a whole-cluster restart when no
   * worker is alive anywhere; a single worker node restarting must wait for its leases instead.
   */
  async recoverAllRunning(): Promise<number> {
    return Number(await this.script('bsRecover', cancelledJson(), 1));
  }

  /** Deletes every key of this prefix (tests and benchmarks on a shared Redis). */
  async wipe(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await this.redis.del(...keys);
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.feeds.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    await Promise.all([
      this.redis.quit().catch(() => this.redis.disconnect()),
      subscriber?.quit().catch(() => subscriber.disconnect()),
    ]);
  }

  // ---- internals ----

  private key(suffix: string): string {
    return this.prefix + suffix;
  }

  private async script(name: RedisScriptName, ...args: (string | number)[]): Promise<unknown> {
    if (this.closed) throw new BeatSyncError('CONFLICT', 'job store is closed');
    const call = (this.redis as unknown as Record<RedisScriptName, ScriptCall>)[name];
    try {
      return await call.call(this.redis, this.prefix, ...args);
    } catch (err) {
      if (err instanceof BeatSyncError) throw err;
      // Redis unreachable or refusing writes (e.g. out of memory under noeviction): a shortage, worth retrying.
      throw new BeatSyncError('RESOURCE_LIMIT', `job store (Redis) failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private subscriberConnection(): Redis {
    if (!this.subscriber) {
      const sub = new Redis(this.opts.url, { maxRetriesPerRequest: null });
      sub.on('error', () => {});
      sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
      // After a reconnect pub/sub messages may have been missed: read them back from the lists.
      sub.on('ready', () => {
        for (const id of this.feeds.keys()) this.catchUp(id);
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
    }).catch(() => {});
  }

  private catchUp(id: string): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    feed.chain = feed.chain.then(() => this.fill(id, feed)).catch(() => {});
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

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis (invalid URL)';
  }
}
