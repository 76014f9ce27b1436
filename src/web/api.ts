// The page's HTTP client: an anonymous session token kept in localStorage, JSON calls in the page's language,
// errors as ApiError {code, message, retryable}, and retries with backoff while the network is flaky.
import { lang } from './i18n.ts';
import { backoffMs, retryDelayMs } from './retry.ts';

const TOKEN_KEY = 'beatsync.token';

export interface ApiErrorBody {
  code: string;
  message: string;
  retryable: boolean;
}

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.status = status;
    this.retryable = body.retryable;
  }
}

/** A network failure (no answer at all): always worth retrying. */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetworkError';
  }
}

export type Progress = { percent: number; stage: string; message: string };
export type JobStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';
/** `trimmed-2`, `trimmed-3` … are the further run-throughs (`trimmed` is the first); `compact`, `compact-2` … their phone-size copies. */
export type VariantName = 'trimmed' | 'full' | 'alternate' | 'compact' | `trimmed-${number}` | `compact-${number}`;

// The server sends the engine's own alignment object.
import type { Alignment as EngineAlignment } from '../align/types.ts';
/** Jobs finished before the engine reported ambiguity and run-throughs lack those fields. */
export type Alignment = Omit<EngineAlignment, 'ambiguous' | 'segments'> & Partial<Pick<EngineAlignment, 'ambiguous' | 'segments'>>;

export interface VariantView {
  variant: VariantName;
  /** Older servers say `sizeBytes`, newer ones may say `bytes`. */
  sizeBytes?: number;
  bytes?: number;
  durationSeconds: number;
  flagged?: boolean;
  url: string;
  downloadUrl: string;
  /** Run-through number for `trimmed` (1) and `trimmed-n`, and for their phone-size copies. */
  clip?: number;
  segment?: { danceStart: number; danceEnd: number; offsetSeconds: number };
  width?: number;
  height?: number;
}

export const sizeOf = (v: VariantView): number => v.sizeBytes ?? v.bytes ?? 0;

export interface JobView {
  jobId: string;
  status: JobStatus;
  progress: Progress;
  queuePosition: number | null;
  /** While queued: about how long until it starts (older servers leave it out). */
  queueWaitSeconds?: number | null;
  estimatedSeconds: number | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  expiresAt: string | null;
  input: { danceFileId: string; bgmFileId: string; options: { nudgeMs?: number; variants?: VariantName[] } };
  result: null | {
    variants: VariantView[];
    report: {
      alignment?: Alignment;
      alternate?: Alignment | null;
      nudgeMs?: number;
      dance?: { durationSeconds: number };
      variants?: { variant: VariantName; danceStart: number; danceEnd: number }[];
      /** Loudness in dBFS per frame, measured by the server (older reports have none). */
      envelopes?: { frameSeconds: number; dance: number[]; bgm: { startSeconds: number; values: number[] } };
    };
  };
  error: ApiErrorBody | null;
}

export interface UploadInfo {
  fileId: string;
  kind: 'video' | 'audio';
  durationSeconds: number;
  streams: { video: unknown[]; audio: unknown[] };
  size: number;
  filename: string;
}

export const TERMINAL: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

// ---- connectivity: one status the header shows ("reconnecting…") ----
/** busy: the server answered "busy" (503, or the rate limiter's 429) and the page is waiting to send again. */
type NetState = 'online' | 'reconnecting' | 'offline' | 'busy';
let netState: NetState = navigator.onLine ? 'online' : 'offline';
const netListeners = new Set<(s: NetState) => void>();
export function onNetState(fn: (s: NetState) => void): void {
  netListeners.add(fn);
  fn(netState);
}
export function setNetState(s: NetState): void {
  if (s === netState) return;
  netState = s;
  for (const fn of netListeners) fn(s);
}
addEventListener('online', () => setNetState('online'));
addEventListener('offline', () => setNetState('offline'));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the browser says it is online again (at once if it is). */
export function whenOnline(): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((r) => addEventListener('online', () => r(), { once: true }));
}

// ---- session ----
let tokenPromise: Promise<string> | null = null;

export function token(): Promise<string> {
  const saved = localStorage.getItem(TOKEN_KEY);
  if (saved) return Promise.resolve(saved);
  tokenPromise ??= (async () => {
    const res = await fetchRetrying('/api/session', { method: 'POST' });
    const body = (await res.json()) as { token: string };
    localStorage.setItem(TOKEN_KEY, body.token);
    tokenPromise = null;
    return body.token;
  })();
  return tokenPromise;
}

/** For URLs the browser fetches itself (video src, EventSource, download links), which cannot carry a header. */
export async function withToken(path: string, extra: Record<string, string> = {}): Promise<string> {
  const params = new URLSearchParams({ ...extra, access_token: await token() });
  return `${path}${path.includes('?') ? '&' : '?'}${params}`;
}

export function authHeaders(tok: string): Record<string, string> {
  return { authorization: `Bearer ${tok}`, 'accept-language': lang() };
}

/** The error code of a JSON error answer, without consuming the body the caller will read. */
async function codeOf(res: Response): Promise<string | null> {
  const body = (await res.clone().json().catch(() => null)) as { error?: { code?: unknown } } | null;
  return typeof body?.error?.code === 'string' ? body.error.code : null;
}

/** fetch that retries network failures and passing refusals (502/503/504, the rate limiter's 429) with backoff. */
async function fetchRetrying(path: string, init: RequestInit, attempts = 6): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(path, init);
      const wait = res.ok || attempt >= attempts - 1 ? null : retryDelayMs(res.status, res.status === 429 ? await codeOf(res) : null, res.headers.get('retry-after'), attempt);
      if (wait !== null) {
        // Said in the header, so a long wait for a busy server is not a silent "Starting…".
        setNetState('busy');
        await sleep(wait);
        continue;
      }
      setNetState('online');
      return res;
    } catch (err) {
      if (attempt >= attempts - 1) throw new NetworkError((err as Error).message);
      setNetState(navigator.onLine ? 'reconnecting' : 'offline');
      await whenOnline();
      await sleep(backoffMs(attempt));
    }
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { error?: ApiErrorBody } | null;
  return new ApiError(res.status, body?.error ?? { code: res.status === 404 ? 'NOT_FOUND' : 'PROCESSING_FAILED', message: res.statusText, retryable: res.status >= 500 });
}

/** A JSON call with the session token; a stale token (401) is replaced once. */
export async function api<T>(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; retry?: boolean } = {}): Promise<T> {
  for (let round = 0; round < 2; round++) {
    const tok = await token();
    const headers: Record<string, string> = { ...authHeaders(tok), ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const req: RequestInit = { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) };
    // Only safe or idempotent calls are retried automatically.
    const res = init.retry === false ? await fetch(path, req).catch((e: Error) => { throw new NetworkError(e.message); }) : await fetchRetrying(path, req);
    if (res.status === 401 && round === 0) {
      localStorage.removeItem(TOKEN_KEY);
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
  throw new ApiError(401, { code: 'UNAUTHORIZED', message: 'unauthorized', retryable: false });
}

export const getJob = (id: string): Promise<JobView> => api<JobView>(`/api/jobs/${encodeURIComponent(id)}`);
/** Cancel only: a job that finished just before the click keeps its result. */
export const cancelJob = (id: string): Promise<JobView> => api<JobView>(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
/** Deletes a finished job and its files on the server (204); a job already gone counts as deleted. */
export async function deleteJob(id: string): Promise<void> {
  try {
    await api<void>(`/api/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'NOT_FOUND')) throw err;
  }
}
export const retryJob = (id: string): Promise<JobView> => api<JobView>(`/api/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' });
export const getUpload = (fileId: string): Promise<UploadInfo> => api<UploadInfo>(`/api/uploads/${encodeURIComponent(fileId)}`);

/** "The sync is off": the user's shift (ms, or null when they only say it is off) recorded with the job. */
export function sendSyncFeedback(jobId: string, body: { nudgeMs: number | null; variant: string }): Promise<{ ok: boolean }> {
  return api(`/api/jobs/${encodeURIComponent(jobId)}/feedback`, { method: 'POST', body, retry: false });
}

/** What the page shows: both versions, the other place when there is one, and the phone-size copy it shares. */
const PAGE_VARIANTS: VariantName[] = ['trimmed', 'full', 'alternate', 'compact'];

export function submitJob(danceFileId: string, bgmFileId: string, options: { nudgeMs?: number } = {}): Promise<{ jobId: string; status: JobStatus; estimatedSeconds: number | null }> {
  // One key per press: a request retried after a lost answer is the same job, not a second one.
  const key = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return api('/api/jobs', { method: 'POST', body: { danceFileId, bgmFileId, options: { variants: PAGE_VARIANTS, ...options } }, headers: { 'idempotency-key': key } });
}

export function listJobs(cursor: string | null): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
  const q = new URLSearchParams({ limit: '20' });
  if (cursor) q.set('cursor', cursor);
  return api(`/api/jobs?${q}`);
}
