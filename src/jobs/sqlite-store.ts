// The embedded JobStore: one SQLite file (node:sqlite) in WAL mode, every transition in a BEGIN IMMEDIATE
// transaction. A write that is acknowledged (submit, cancel, complete, …) resolves only after the WAL has been
// fsynced off the event loop, so it survives kill -9 and power loss; lease renewals and claims are not fsynced.
// Guarantees and the tests that prove them: src/jobs/README.md.
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { BeatSyncError, messageFor } from '../errors.ts';
import { DEFAULT_BACKOFF, backoffDelay, validateBackoff } from './backoff.ts';
import type { BackoffConfig } from './backoff.ts';
import { migrate } from './sqlite-schema.ts';
import {
  ALL_STATES, MAX_LIST_LIMIT, MAX_TURN, QUEUED_PROGRESS, badRequest, checkMaxInterruptions, checkSubmit, cleanError, cleanProgress,
  decodeCursor, encodeCursor, interruptedError, isShortage, leaseLost, randomId, toJson, tooOftenError,
} from './store-common.ts';
import type { DailyHistory } from './store-common.ts';
import type {
  Claim, JobError, JobEvent, JobProgress, JobRecord, JobState, JobStats, JobStore, ListQuery, SubmitRequest, SubmitResult,
} from './types.ts';

export interface SqliteJobStoreOptions {
  /** Clock for every stored time and lease decision (tests inject one). */
  now?: () => number;
  backoff?: BackoffConfig;
  /** How often subscribers poll for events written by other processes. */
  pollMs?: number;
  /** Window for stats().successRate and meanDurationSeconds. */
  statsWindowMs?: number;
  defaultMaxAttempts?: number;
  /** Interruptions (crash, lost lease, shortage) that end a job INTERRUPTED_TOO_OFTEN (default 10). */
  maxInterruptions?: number;
  busyTimeoutMs?: number;
  /** Makes a file's written data durable (default: fsync on libuv's thread pool; tests may watch it). */
  syncFile?: (path: string) => Promise<void>;
  /** Random source for backoff jitter (tests may pin it). */
  random?: () => number;
}

/** The queue's order as last read: position by job id. */
interface Ranks {
  at: number;
  version: number;
  writes: number;
  /** The earliest retry not yet due when read: at that time the order changes. */
  nextDue: number;
  positions: Map<string, number>;
}

interface JobRow {
  n: number;
  id: string;
  type: string;
  input: string;
  owner: string | null;
  priority: number;
  idempotency_key: string | null;
  cache_key: string | null;
  state: JobState;
  attempts: number;
  max_attempts: number;
  interruptions: number;
  turn: number;
  progress: string;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
  run_after: number | null;
  estimated_seconds: number | null;
  lease_token: string | null;
  lease_until: number | null;
  worker_id: string | null;
  cancel_requested: number;
  last_seq: number;
}

interface EventRow {
  id: number;
  job_id: string;
  seq: number;
  kind: 'state' | 'progress';
  state: JobState;
  progress: string;
  at: number;
  error: string | null;
  result: string | null;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function rowToRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    type: row.type,
    input: JSON.parse(row.input) as unknown,
    owner: row.owner,
    priority: row.priority,
    idempotencyKey: row.idempotency_key,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    interruptions: row.interruptions,
    turn: row.turn,
    progress: JSON.parse(row.progress) as JobProgress,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as JobError),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    runAfter: row.run_after,
    estimatedSeconds: row.estimated_seconds,
    cancelRequested: row.cancel_requested === 1,
    cacheKey: row.cache_key,
  };
}

function rowToEvent(row: EventRow): JobEvent {
  const event: JobEvent = {
    seq: row.seq,
    jobId: row.job_id,
    kind: row.kind,
    state: row.state,
    progress: JSON.parse(row.progress) as JobProgress,
    at: row.at,
  };
  if (row.error !== null) event.error = JSON.parse(row.error) as JobError;
  if (row.result !== null) event.result = JSON.parse(row.result) as unknown;
  return event;
}

export class SqliteJobStore implements JobStore {
  readonly file: string;
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly backoff: BackoffConfig;
  private readonly pollMs: number;
  private readonly statsWindowMs: number;
  private readonly defaultMaxAttempts: number;
  private readonly maxInterruptions: number;
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private lastEventId = 0;
  private kickPending = false;
  private closed = false;
  /** Prepared once per text: every poll of every client runs the same few statements. */
  private readonly statements = new Map<string, StatementSync>();
  /** Bumped by every local write that may change the queue's order. */
  private orderWrites = 0;
  private ranks: Ranks | null = null;
  private readonly syncFile: (path: string) => Promise<void>;
  /** The WAL sync that has not started yet: every commit before it starts is covered by it. */
  private nextFlush: Promise<void> | null = null;
  private flushChain: Promise<void> = Promise.resolve();

  /** Opens (creating and migrating when needed) the job database at `file`. */
  static open(file: string, options: SqliteJobStoreOptions = {}): SqliteJobStore {
    return new SqliteJobStore(file, options);
  }

  private constructor(file: string, options: SqliteJobStoreOptions) {
    this.file = file;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.backoff = validateBackoff(options.backoff ?? DEFAULT_BACKOFF);
    this.pollMs = options.pollMs ?? 100;
    this.statsWindowMs = options.statsWindowMs ?? 24 * 3600_000;
    this.defaultMaxAttempts = options.defaultMaxAttempts ?? 3;
    this.maxInterruptions = checkMaxInterruptions(options.maxInterruptions);
    this.syncFile = options.syncFile ?? syncFileData;
    const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new DatabaseSync(file, { timeout: busyTimeoutMs });
    this.db.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    this.db.exec('PRAGMA journal_mode = WAL');
    // NORMAL: a commit writes the WAL but does not fsync it on this thread, where an fsync behind the renders'
    // writes can stall every request for 10-300 ms; durable writes await flush() instead. Checkpoints still sync.
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA foreign_keys = ON');
    migrate(this.db, this.now());
    // The WAL's directory entry is made durable once; from then on only the file's data needs syncing.
    if (file !== ':memory:') syncDirectory(dirname(file));
  }

  // ---- client side ----

  async submit<I, R>(req: SubmitRequest<I>): Promise<SubmitResult<I, R>> {
    const { inputJson, owner, idempotencyKey, cacheKey, priority, maxAttempts, estimated } = checkSubmit(req, this.defaultMaxAttempts);

    const result = await this.write(() => {
      if (idempotencyKey !== null) {
        const existing = this.sql("SELECT * FROM jobs WHERE coalesce(owner, '') = ? AND idempotency_key = ?")
          .get(owner ?? '', idempotencyKey) as JobRow | undefined;
        if (existing) return { job: rowToRecord(existing), created: false };
      }
      if (cacheKey !== null) {
        // Shared run: only the same owner's live job is joined, so the job stays readable by its owner.
        const live = this.sql(
          "SELECT * FROM jobs WHERE cache_key = ? AND coalesce(owner, '') = ? AND state IN ('queued', 'running', 'retrying') ORDER BY n LIMIT 1",
        ).get(cacheKey, owner ?? '') as JobRow | undefined;
        if (live) return { job: rowToRecord(live), created: false };
      }
      const now = this.now();
      const id = randomId();
      const turn = Math.min(MAX_TURN, this.liveOf(owner));
      this.sql(`INSERT INTO jobs (id, type, input, owner, priority, idempotency_key, cache_key, state, max_attempts,
          progress, created_at, updated_at, estimated_seconds, turn) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)`)
        .run(id, req.type, inputJson, owner, priority, idempotencyKey, cacheKey, maxAttempts, JSON.stringify(QUEUED_PROGRESS), now, now, estimated, turn);
      this.appendEvent(id, 'state', now);
      return { job: rowToRecord(this.row(id)!), created: true };
    });
    return result as SubmitResult<I, R>;
  }

  async get<I = unknown, R = unknown>(id: string): Promise<JobRecord<I, R> | null> {
    if (typeof id !== 'string') return null;
    const row = this.row(id);
    return row ? (rowToRecord(row) as JobRecord<I, R>) : null;
  }

  async list(query: ListQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: (string | number | null)[] = [];
    if (query.owner !== undefined) {
      if (query.owner === null) where.push('owner IS NULL');
      else { where.push('owner = ?'); params.push(query.owner); }
    }
    if (query.state !== undefined) {
      if (!ALL_STATES.includes(query.state)) throw badRequest('unknown state');
      where.push('state = ?');
      params.push(query.state);
    }
    if (query.cursor) {
      where.push('n < ?');
      params.push(decodeCursor(query.cursor));
    }
    const limit = Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(query.limit ?? 20)));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY n DESC LIMIT ?`;
    const rows = this.sql(sql).all(...params, limit + 1) as unknown as JobRow[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { jobs: page.map(rowToRecord), nextCursor: more ? encodeCursor(page[page.length - 1].n) : null };
  }

  async cancel(id: string): Promise<JobRecord | null> {
    return this.write(() => {
      const row = this.row(id);
      if (!row) return null;
      const now = this.now();
      if (row.state === 'queued' || row.state === 'retrying') {
        this.finish(row, 'cancelled', now, { error: cancelledError() });
      } else if (row.state === 'running' && row.cancel_requested === 0) {
        this.sql('UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?').run(now, id);
      }
      return rowToRecord(this.row(id)!);
    });
  }

  async retry(id: string): Promise<JobRecord> {
    return this.write(() => {
      const row = this.row(id);
      if (!row) throw new BeatSyncError('NOT_FOUND', `job ${id}`);
      if (row.state !== 'failed' && row.state !== 'cancelled') {
        throw new BeatSyncError('CONFLICT', `job ${id} is ${row.state}; only failed or cancelled jobs can be retried`);
      }
      const now = this.now();
      // Checkpoints are kept: a retried job resumes from its last finished stage.
      const turn = Math.min(MAX_TURN, this.liveOf(row.owner));
      this.sql(`UPDATE jobs SET state = 'queued', attempts = 0, interruptions = 0, turn = ?, error = NULL, result = NULL,
          started_at = NULL, finished_at = NULL, run_after = NULL, cancel_requested = 0, progress = ?, updated_at = ? WHERE id = ?`)
        .run(turn, JSON.stringify(QUEUED_PROGRESS), now, id);
      this.appendEvent(id, 'state', now);
      return rowToRecord(this.row(id)!);
    });
  }

  async events(id: string, afterSeq: number): Promise<JobEvent[]> {
    const after = Number.isFinite(afterSeq) ? Math.max(0, Math.floor(afterSeq)) : 0;
    const rows = this.sql('SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq').all(id, after) as unknown as EventRow[];
    return rows.map(rowToEvent);
  }

  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    if (this.closed) return () => {};
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    if (!this.pollTimer) {
      // Start from what exists now: history is read with events(), live ones arrive here.
      this.lastEventId = this.maxEventId();
      this.pollTimer = setInterval(() => this.poll(), this.pollMs);
      this.pollTimer.unref();
    }
    return () => {
      const current = this.listeners.get(id);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(id);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  async queuePosition(id: string): Promise<number | null> {
    // Every poll of a queued job asks this. Counting the jobs ahead per poll is O(queue) (~0.5 ms with 500
    // queued, 250 polls/s); instead the whole order is read once and kept until something could change it:
    // a local write, another connection's commit (data_version), or a retry coming due.
    const now = this.now();
    const version = (this.sql('PRAGMA data_version').get() as { data_version: number }).data_version;
    const r = this.ranks;
    if (!r || r.writes !== this.orderWrites || r.version !== version || now >= r.nextDue || now < r.at) {
      this.ranks = this.readRanks(now, version);
    }
    return this.ranks!.positions.get(id) ?? null;
  }

  private readRanks(now: number, version: number): Ranks {
    const rows = this.sql(`SELECT id FROM jobs WHERE state = 'queued' OR (state = 'retrying' AND run_after <= ?)
      ORDER BY priority DESC, turn, n`).all(now) as { id: string }[];
    const next = this.sql("SELECT min(run_after) AS t FROM jobs WHERE state = 'retrying' AND run_after > ?").get(now) as { t: number | null };
    const positions = new Map<string, number>();
    rows.forEach((row, i) => positions.set(row.id, i + 1));
    return { at: now, version, writes: this.orderWrites, nextDue: next.t ?? Infinity, positions };
  }

  async stats(): Promise<JobStats> {
    const byState = Object.fromEntries(ALL_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.sql('SELECT state, count(*) AS c FROM jobs GROUP BY state').all() as { state: JobState; c: number }[]) {
      byState[r.state] = r.c;
    }
    const since = this.now() - this.statsWindowMs;
    const w = this.sql(`SELECT
        coalesce(sum(state = 'succeeded'), 0) AS ok,
        coalesce(sum(state = 'failed'), 0) AS bad,
        avg(CASE WHEN state = 'succeeded' AND started_at IS NOT NULL THEN finished_at - started_at END) AS mean_ms
      FROM jobs WHERE finished_at >= ? AND state IN ('succeeded', 'failed')`).get(since) as { ok: number; bad: number; mean_ms: number | null };
    return {
      byState,
      queueDepth: byState.queued + byState.retrying,
      successRate: w.ok + w.bad > 0 ? w.ok / (w.ok + w.bad) : null,
      meanDurationSeconds: w.mean_ms === null ? null : w.mean_ms / 1000,
    };
  }

  async countLive(owner: string | null): Promise<number> {
    return this.liveOf(owner);
  }

  /** Days of finished-job history (kept when rows are purged), oldest first. */
  async history(sinceDay?: string): Promise<DailyHistory[]> {
    const rows = this.sql('SELECT * FROM history_daily WHERE day >= ? ORDER BY day').all(sinceDay ?? '') as unknown as {
      day: string; succeeded: number; failed: number; cancelled: number; duration_ms_total: number; duration_count: number;
    }[];
    return rows.map((r) => ({
      day: r.day,
      succeeded: r.succeeded,
      failed: r.failed,
      cancelled: r.cancelled,
      successRate: r.succeeded + r.failed > 0 ? r.succeeded / (r.succeeded + r.failed) : null,
      meanDurationSeconds: r.duration_count > 0 ? r.duration_ms_total / r.duration_count / 1000 : null,
    }));
  }

  async findByCacheKey(cacheKey: string): Promise<JobRecord | null> {
    const row = this.sql("SELECT * FROM jobs WHERE cache_key = ? AND state = 'succeeded' ORDER BY finished_at DESC, n DESC LIMIT 1")
      .get(cacheKey) as JobRow | undefined;
    return row ? rowToRecord(row) : null;
  }

  async purgeFinishedBefore(before: number): Promise<number> {
    return this.write(() => {
      const doomed = "SELECT id FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?";
      this.sql(`DELETE FROM events WHERE job_id IN (${doomed})`).run(before);
      this.sql(`DELETE FROM checkpoints WHERE job_id IN (${doomed})`).run(before);
      return Number(this.sql("DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?").run(before).changes);
    });
  }

  async remove(id: string): Promise<boolean> {
    if (typeof id !== 'string') return false;
    return this.write(() => {
      const row = this.row(id);
      if (!row) return false;
      if (row.state !== 'succeeded' && row.state !== 'failed' && row.state !== 'cancelled') {
        throw new BeatSyncError('CONFLICT', `job ${id} is ${row.state}; only finished jobs can be deleted`);
      }
      // The idempotency key and the cache key live on the row, so they go with it; history_daily stays.
      this.sql('DELETE FROM events WHERE job_id = ?').run(id);
      this.sql('DELETE FROM checkpoints WHERE job_id = ?').run(id);
      this.sql('DELETE FROM jobs WHERE id = ?').run(id);
      return true;
    });
  }

  // ---- worker side ----

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<Claim | null> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    if (types.length === 0) return null;
    const typesJson = JSON.stringify(types);
    return this.tx(() => {
      const now = this.now();
      // Two indexed lookups (ready queue, due retries), the better of the two wins: priority, then the
      // owner's turn (round-robin between owners), then first in.
      const queued = this.sql(`SELECT * FROM jobs WHERE state = 'queued' AND type IN (SELECT value FROM json_each(?))
          ORDER BY priority DESC, turn, n LIMIT 1`).get(typesJson) as JobRow | undefined;
      const due = this.sql(`SELECT * FROM jobs WHERE state = 'retrying' AND run_after <= ? AND type IN (SELECT value FROM json_each(?))
          ORDER BY priority DESC, turn, n LIMIT 1`).get(now, typesJson) as JobRow | undefined;
      const before = (a: JobRow, b: JobRow) => a.priority > b.priority || (a.priority === b.priority && (a.turn < b.turn || (a.turn === b.turn && a.n < b.n)));
      const pick = !queued ? due : !due ? queued : before(due, queued) ? due : queued;
      if (!pick) return null;
      const token = randomId();
      const leaseUntil = now + leaseMs;
      this.sql(`UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = ?, lease_until = ?, worker_id = ?,
          started_at = coalesce(started_at, ?), run_after = NULL, updated_at = ? WHERE id = ?`)
        .run(token, leaseUntil, String(workerId), now, now, pick.id);
      this.appendEvent(pick.id, 'state', now);
      const checkpoints: Record<string, unknown> = {};
      for (const c of this.sql('SELECT stage, data FROM checkpoints WHERE job_id = ?').all(pick.id) as { stage: string; data: string }[]) {
        checkpoints[c.stage] = JSON.parse(c.data) as unknown;
      }
      return { job: rowToRecord(this.row(pick.id)!), leaseToken: token, leaseUntil, checkpoints };
    });
  }

  async heartbeat(id: string, leaseToken: string, leaseMs: number, progress?: JobProgress): Promise<{ cancelRequested: boolean }> {
    if (!(Number.isFinite(leaseMs) && leaseMs > 0)) throw badRequest('leaseMs must be > 0');
    const next = progress === undefined ? null : cleanProgress(progress);
    return this.tx(() => {
      const row = this.held(id, leaseToken);
      const now = this.now();
      this.sql('UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?').run(now + leaseMs, now, id);
      if (next && JSON.stringify(next) !== row.progress) {
        this.sql('UPDATE jobs SET progress = ? WHERE id = ?').run(JSON.stringify(next), id);
        this.appendEvent(id, 'progress', now);
      }
      return { cancelRequested: row.cancel_requested === 1 };
    }, false);
  }

  async saveCheckpoint(id: string, leaseToken: string, stage: string, data: unknown): Promise<void> {
    if (typeof stage !== 'string' || stage.length === 0 || stage.length > 100) throw badRequest('stage must be a non-empty string');
    const json = toJson(data, 'checkpoint data');
    this.tx(() => {
      this.held(id, leaseToken);
      this.sql('INSERT INTO checkpoints (job_id, stage, data, at) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, stage) DO UPDATE SET data = excluded.data, at = excluded.at')
        .run(id, stage, json, this.now());
    }, false);
  }

  async complete(id: string, leaseToken: string, result: unknown): Promise<JobRecord> {
    const json = toJson(result ?? null, 'result');
    return this.write(() => {
      const row = this.held(id, leaseToken);
      const progress = { ...(JSON.parse(row.progress) as JobProgress), percent: 100 };
      this.finish(row, 'succeeded', this.now(), { resultJson: json, progress });
      return rowToRecord(this.row(id)!);
    });
  }

  async fail(id: string, leaseToken: string, error: JobError): Promise<JobRecord> {
    const err = cleanError(error);
    return this.write(() => {
      const row = this.held(id, leaseToken);
      const now = this.now();
      if (row.cancel_requested === 1 || err.code === 'CANCELLED') {
        this.finish(row, 'cancelled', now, { error: err.code === 'CANCELLED' ? err : cancelledError() });
      } else if (err.retryable && isShortage(err)) {
        // Not the job's fault: the attempt is given back and counted as an interruption.
        const interruptions = row.interruptions + 1;
        this.sql('UPDATE jobs SET attempts = max(attempts - 1, 0), interruptions = ? WHERE id = ?').run(interruptions, id);
        if (interruptions >= this.maxInterruptions) {
          this.finish(row, 'failed', now, { error: tooOftenError(interruptions, err) });
        } else {
          const runAfter = now + backoffDelay(interruptions, this.backoff, this.random);
          this.sql(`UPDATE jobs SET state = 'retrying', error = ?, run_after = ?, lease_token = NULL, lease_until = NULL,
              worker_id = NULL, updated_at = ? WHERE id = ?`).run(JSON.stringify(err), runAfter, now, id);
          this.appendEvent(id, 'state', now);
        }
      } else if (err.retryable && row.attempts < row.max_attempts) {
        const runAfter = now + backoffDelay(row.attempts, this.backoff, this.random);
        this.sql(`UPDATE jobs SET state = 'retrying', error = ?, run_after = ?, lease_token = NULL, lease_until = NULL,
            worker_id = NULL, updated_at = ? WHERE id = ?`).run(JSON.stringify(err), runAfter, now, id);
        this.appendEvent(id, 'state', now);
      } else {
        this.finish(row, 'failed', now, { error: err });
      }
      return rowToRecord(this.row(id)!);
    });
  }

  async release(id: string, leaseToken: string): Promise<JobRecord> {
    return this.write(() => {
      const row = this.held(id, leaseToken);
      const now = this.now();
      if (row.cancel_requested === 1) {
        this.finish(row, 'cancelled', now, { error: cancelledError() });
      } else {
        // A graceful hand-back (shutdown): the attempt did not fail, so it is not counted.
        this.sql(`UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), lease_token = NULL, lease_until = NULL,
            worker_id = NULL, updated_at = ? WHERE id = ?`).run(now, id);
        this.appendEvent(id, 'state', now);
      }
      return rowToRecord(this.row(id)!);
    });
  }

  async recoverExpired(): Promise<number> {
    return this.tx(() => {
      const now = this.now();
      const rows = this.sql("SELECT * FROM jobs WHERE state = 'running' AND lease_until < ?").all(now) as unknown as JobRow[];
      for (const row of rows) this.takeBack(row, now);
      return rows.length;
    });
  }

  /**
   * Start-up of the single-process embedded mode: every job still `running` belonged to a process
   * that is gone, so it is taken back at once (attempt counted) instead of waiting for its lease.
   * Only call it when no other live process works on this database.
   */
  async recoverAllRunning(): Promise<number> {
    return this.tx(() => {
      const now = this.now();
      const rows = this.sql("SELECT * FROM jobs WHERE state = 'running'").all() as unknown as JobRow[];
      for (const row of rows) this.takeBack(row, now);
      return rows.length;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.stopPolling();
    this.db.close();
  }

  // ---- internals ----

  /** Runs `fn` in BEGIN IMMEDIATE (the write lock up front, so two claimers can never read the same free job). */
  /** A durable write: resolves once the commit is on disk (group commit: concurrent writes share one fsync). */
  private async write<T>(fn: () => T): Promise<T> {
    const value = this.tx(fn);
    try {
      await this.flush();
    } catch (err) {
      // The disk refused (EIO, ENOSPC on metadata): a shortage the caller may retry, not a crash.
      throw new BeatSyncError('RESOURCE_LIMIT', 'job database could not be synced to disk', { cause: err });
    }
    return value;
  }

  private tx<T>(fn: () => T, reorders = true): T {
    if (this.closed) throw new BeatSyncError('CONFLICT', 'job store is closed');
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      // Another process held the write lock past busy_timeout: a shortage, worth retrying.
      if ((err as { errcode?: number }).errcode === 5) throw new BeatSyncError('RESOURCE_LIMIT', 'job database busy', { cause: err });
      throw err;
    }
    let value: T;
    try {
      value = fn();
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      // Even a rolled-back write may have raced another: the queue's order is read again next time.
      if (reorders) this.orderWrites++;
    }
    this.kick();
    return value;
  }

  /**
   * fsyncs the WAL, which holds every commit made so far in order (a checkpoint syncs the database file before
   * the WAL is reused). Between COMMIT and the sync, readers may see a write that a power cut would undo; it is
   * acknowledged to its caller only after the sync.
   */
  private flush(): Promise<void> {
    if (this.file === ':memory:') return Promise.resolve();
    if (!this.nextFlush) {
      const flush = this.flushChain.then(() => {
        // From here on a new commit needs a new sync: this one may have read the file before it.
        this.nextFlush = null;
        return this.syncFile(`${this.file}-wal`);
      });
      this.nextFlush = flush;
      this.flushChain = flush.catch(() => undefined);
    }
    return this.nextFlush;
  }

  private sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private row(id: string): JobRow | undefined {
    return this.sql('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  /** The job's row when `leaseToken` still holds it; CONFLICT otherwise. */
  private held(id: string, leaseToken: string): JobRow {
    const row = this.row(id);
    if (!row || row.state !== 'running' || row.lease_token !== leaseToken) throw leaseLost(id);
    return row;
  }

  private claimableAt(row: JobRow, now: number): boolean {
    return row.state === 'queued' || (row.state === 'retrying' && row.run_after !== null && row.run_after <= now);
  }

  /**
   * A running job whose worker is gone: cancelled if asked; otherwise an interruption, not an attempt
   * (the job did nothing wrong), queued again at once, or failed INTERRUPTED_TOO_OFTEN at the limit.
   */
  private takeBack(row: JobRow, now: number): void {
    if (row.cancel_requested === 1) {
      this.finish(row, 'cancelled', now, { error: cancelledError() });
      return;
    }
    const interruptions = row.interruptions + 1;
    this.sql('UPDATE jobs SET attempts = max(attempts - 1, 0), interruptions = ? WHERE id = ?').run(interruptions, row.id);
    if (interruptions >= this.maxInterruptions) {
      this.finish(row, 'failed', now, { error: tooOftenError(interruptions, null) });
      return;
    }
    this.sql(`UPDATE jobs SET state = 'queued', error = ?, lease_token = NULL, lease_until = NULL, worker_id = NULL,
        updated_at = ? WHERE id = ?`).run(JSON.stringify(interruptedError(interruptions, this.maxInterruptions)), now, row.id);
    this.appendEvent(row.id, 'state', now);
  }

  /** The owner's queued, retrying and running jobs. */
  private liveOf(owner: string | null): number {
    const sql = owner === null
      ? "SELECT count(*) AS c FROM jobs WHERE owner IS NULL AND state IN ('queued', 'running', 'retrying')"
      : "SELECT count(*) AS c FROM jobs WHERE owner = ? AND state IN ('queued', 'running', 'retrying')";
    const row = (owner === null ? this.sql(sql).get() : this.sql(sql).get(owner)) as { c: number };
    return row.c;
  }

  /** Moves a job to a terminal state, appends its event and counts it in the daily history. */
  private finish(row: JobRow, state: JobState, now: number, extra: { error?: JobError; resultJson?: string; progress?: JobProgress }): void {
    this.sql(`UPDATE jobs SET state = ?, error = ?, result = ?, progress = coalesce(?, progress), finished_at = ?, updated_at = ?,
        run_after = NULL, lease_token = NULL, lease_until = NULL, worker_id = NULL WHERE id = ?`)
      .run(state, extra.error ? JSON.stringify(extra.error) : null, extra.resultJson ?? null,
        extra.progress ? JSON.stringify(extra.progress) : null, now, now, row.id);
    this.appendEvent(row.id, 'state', now, state === 'succeeded');
    const duration = state === 'succeeded' && row.started_at !== null ? now - row.started_at : null;
    this.sql(`INSERT INTO history_daily (day, succeeded, failed, cancelled, duration_ms_total, duration_count)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled,
        duration_ms_total = duration_ms_total + excluded.duration_ms_total, duration_count = duration_count + excluded.duration_count`)
      .run(utcDay(now), Number(state === 'succeeded'), Number(state === 'failed'), Number(state === 'cancelled'),
        duration ?? 0, duration === null ? 0 : 1);
  }

  /** Appends the job's next numbered event from its current row (inside the caller's transaction). */
  private appendEvent(id: string, kind: 'state' | 'progress', now: number, withResult = false): void {
    const row = this.sql('UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq, state, progress, error, result')
      .get(id) as { last_seq: number; state: JobState; progress: string; error: string | null; result: string | null };
    this.sql('INSERT INTO events (job_id, seq, kind, state, progress, at, error, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, row.last_seq, kind, row.state, row.progress, now, kind === 'state' ? row.error : null, withResult ? row.result : null);
  }

  private maxEventId(): number {
    return (this.sql('SELECT coalesce(max(id), 0) AS m FROM events').get() as { m: number }).m;
  }

  /** After a local write: deliver at once instead of waiting for the next poll. */
  private kick(): void {
    if (!this.pollTimer || this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.poll();
    });
  }

  private poll(): void {
    if (this.closed || this.listeners.size === 0) return;
    // Writers are serialised and ids only grow, so everything committed later has a larger id.
    const max = this.maxEventId();
    if (max <= this.lastEventId) return;
    const rows = this.sql(`SELECT * FROM events WHERE id > ? AND id <= ? AND job_id IN (SELECT value FROM json_each(?)) ORDER BY id`)
      .all(this.lastEventId, max, JSON.stringify([...this.listeners.keys()])) as unknown as EventRow[];
    this.lastEventId = max;
    for (const row of rows) {
      const event = rowToEvent(row);
      for (const listener of [...(this.listeners.get(row.job_id) ?? [])]) {
        try {
          listener(event);
        } catch {
          // A broken listener (closed SSE socket) must not stop delivery to the others.
        }
      }
    }
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}

async function syncFileData(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    // No WAL: the last connection checkpointed and removed it, and that checkpoint synced the database file.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function cancelledError(): JobError {
  return { code: 'CANCELLED', message: messageFor('CANCELLED'), retryable: false };
}

