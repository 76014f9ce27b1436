// The job record as our Redis keys hold it (record-scripts.ts): hash ↔ JobRecord, owner keys, store
// failures. Pure functions, no connection; the checks both backends share are in store-common.ts.
import { BeatSyncError, messageFor } from '../errors.ts';
import type { JobError, JobProgress, JobRecord, JobState } from './types.ts';

export type Hash = Record<string, string>;

/** Redis unreachable or refusing writes (e.g. out of memory under noeviction): a shortage, worth retrying. */
export function storeFailure(err: unknown): BeatSyncError {
  if (err instanceof BeatSyncError) return err;
  return new BeatSyncError('RESOURCE_LIMIT', `job store (Redis) failed: ${(err as Error).message}`, { cause: err });
}

export function cancelledJson(): string {
  return JSON.stringify({ code: 'CANCELLED', message: messageFor('CANCELLED'), retryable: false });
}

/** Owner as stored in keys: 'n:' for none, 'o:<owner>' otherwise (no owner string can collide with none). */
export function ownerKey(owner: string | null): string {
  return owner === null ? 'n:' : `o:${owner}`;
}

const num = (text: string | undefined): number | null => (text === undefined || text === '' ? null : Number(text));
const json = (text: string | undefined): unknown => (text === undefined || text === '' ? null : (JSON.parse(text) as unknown));

export function pairsToHash(pairs: string[]): Hash {
  const out: Hash = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[pairs[i]] = pairs[i + 1];
  return out;
}

export function hashToRecord(h: Hash): JobRecord {
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
    // Records written before interruptions and turns were kept have neither.
    interruptions: Number(h.intr ?? 0),
    turn: Number(h.turn ?? 0),
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
