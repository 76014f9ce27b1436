// What both JobStore backends (sqlite-store.ts, bullmq-store.ts) share: request checks and value
// cleaning (so a bad request gets the same BAD_REQUEST detail on either), list cursors, constants.
import { randomBytes } from 'node:crypto';
import { BeatSyncError, isErrorCode, messageFor } from '../errors.ts';
import type { JobError, JobProgress, JobState, SubmitRequest } from './types.ts';

export const ALL_STATES: readonly JobState[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];
export const QUEUED_PROGRESS: JobProgress = { percent: 0, stage: 'queued', message: '' };
export const MAX_LIST_LIMIT = 500;
/** Interruptions (crash, lost lease, shortage) after which a job ends INTERRUPTED_TOO_OFTEN. */
export const DEFAULT_MAX_INTERRUPTIONS = 10;
/** Priorities are |p| ≤ MAX_PRIORITY and turns 0..MAX_TURN, so both fit one BullMQ priority (bullmq-queues.ts). */
export const MAX_PRIORITY = 1000;
export const MAX_TURN = 1023;
export const LIVE_STATES: readonly JobState[] = ['queued', 'running', 'retrying'];

/** One day of finished jobs, kept after the job records are purged. */
export interface DailyHistory {
  day: string;
  succeeded: number;
  failed: number;
  cancelled: number;
  successRate: number | null;
  meanDurationSeconds: number | null;
}

/** A submit request after its checks: what a backend stores. */
export interface CheckedSubmit {
  inputJson: string;
  owner: string | null;
  idempotencyKey: string | null;
  cacheKey: string | null;
  priority: number;
  maxAttempts: number;
  estimated: number | null;
}

/** 128 random bits, URL-safe. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

export function badRequest(detail: string): BeatSyncError {
  return new BeatSyncError('BAD_REQUEST', detail);
}

export function leaseLost(id: string): BeatSyncError {
  return new BeatSyncError('CONFLICT', `lease on job ${id} is no longer held`);
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

/** Checks a submit request (BAD_REQUEST on anything wrong); `defaultMaxAttempts` fills a missing maxAttempts. */
export function checkSubmit(req: SubmitRequest<unknown>, defaultMaxAttempts: number): CheckedSubmit {
  if (!req || typeof req !== 'object') throw badRequest('submit needs a request');
  if (typeof req.type !== 'string' || req.type.length === 0 || req.type.length > 100) throw badRequest('type must be a non-empty string');
  const inputJson = toJson(req.input, 'input');
  const owner = optionalString(req.owner, 'owner', 200);
  const idempotencyKey = optionalString(req.idempotencyKey, 'idempotencyKey', 200);
  const cacheKey = optionalString(req.cacheKey, 'cacheKey', 500);
  const priority = req.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) throw badRequest(`priority must be an integer within ±${MAX_PRIORITY}`);
  const maxAttempts = req.maxAttempts ?? defaultMaxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) throw badRequest('maxAttempts must be 1..100');
  const estimated = req.estimatedSeconds ?? null;
  if (estimated !== null && !(Number.isFinite(estimated) && estimated >= 0)) throw badRequest('estimatedSeconds must be >= 0');
  return { inputJson, owner, idempotencyKey, cacheKey, priority, maxAttempts, estimated };
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

export function checkMaxInterruptions(value: number | undefined): number {
  const n = value ?? DEFAULT_MAX_INTERRUPTIONS;
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new RangeError(`maxInterruptions must be 1..1000, not ${n}`);
  return n;
}

/** A shortage is not the job's fault: its run counts as an interruption, not an attempt. */
export function isShortage(error: JobError): boolean {
  return error.code === 'RESOURCE_LIMIT';
}

/** The error a job keeps while it waits to run again after its worker went away. */
export function interruptedError(interruptions: number, maxInterruptions: number): JobError {
  return {
    code: 'PROCESSING_FAILED',
    message: `The worker stopped without finishing (crash or lost lease): interruption ${interruptions} of at most ${maxInterruptions}; the job runs again.`,
    retryable: true,
  };
}

/** The final error of a job interrupted maxInterruptions times (a poison job, or a long outage). */
export function tooOftenError(interruptions: number, last: JobError | null): JobError {
  const cause = last && last.code !== 'PROCESSING_FAILED' ? ` (last: ${last.code})` : '';
  return { code: 'INTERRUPTED_TOO_OFTEN', message: `${messageFor('INTERRUPTED_TOO_OFTEN')} [${interruptions} interruptions${cause}]`, retryable: false };
}

/** List cursors: the job's insertion number, opaque to callers. */
export function encodeCursor(n: number): string {
  return Buffer.from(`n:${n}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const match = /^n:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badRequest('invalid cursor');
  return Number(match[1]);
}
