// The job record as our Redis keys hold it (record-scripts.ts): request checks, hash ↔ JobRecord,
// list cursors. Pure functions, no connection.
import { randomBytes } from 'node:crypto';
import { BeatSyncError, isErrorCode, messageFor } from '../errors.ts';
import type { JobError, JobProgress, JobRecord, JobState } from './types.ts';

export type Hash = Record<string, string>;

export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

export function badRequest(detail: string): BeatSyncError {
  return new BeatSyncError('BAD_REQUEST', detail);
}

export function leaseLost(id: string): BeatSyncError {
  return new BeatSyncError('CONFLICT', `lease on job ${id} is no longer held`);
}

/** Redis unreachable or refusing writes (e.g. out of memory under noeviction): a shortage, worth retrying. */
export function storeFailure(err: unknown): BeatSyncError {
  if (err instanceof BeatSyncError) return err;
  return new BeatSyncError('RESOURCE_LIMIT', `job store (Redis) failed: ${(err as Error).message}`, { cause: err });
}

export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new BeatSyncError('BAD_REQUEST', `${what} is not JSON-serialisable`, { cause: err });
  }
  if (typeof text !== 'string') throw badRequest(`${what} is not JSON-serialisable`);
  return text;
}

export function optionalString(value: unknown, what: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw badRequest(`${what} must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

export function cleanProgress(p: JobProgress): JobProgress {
  if (!p || typeof p !== 'object') throw badRequest('progress must be an object');
  const percent = Number.isFinite(p.percent) ? Math.min(100, Math.max(0, p.percent)) : 0;
  return { percent, stage: String(p.stage ?? ''), message: String(p.message ?? '') };
}

export function cleanError(e: JobError): JobError {
  if (!e || typeof e !== 'object' || !isErrorCode(e.code)) throw badRequest('error must carry a known error code');
  return { code: e.code, message: String(e.message ?? messageFor(e.code)), retryable: Boolean(e.retryable) };
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

export function encodeCursor(n: number): string {
  return Buffer.from(`n:${n}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const match = /^n:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badRequest('invalid cursor');
  return Number(match[1]);
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
