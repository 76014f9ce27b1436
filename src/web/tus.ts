// Resumable uploads over tus 1.0: create, PATCH in chunks (XHR, for true byte progress), resume from the
// server's offset after a drop or a page reload (the upload URL and the file's fingerprint are kept in
// localStorage), retry with backoff, and report the server's checks (not a media file, no sound…).
import { ApiError, authHeaders, getUpload, setNetState, sleep, token, whenOnline } from './api.ts';
import type { ApiErrorBody, UploadInfo } from './api.ts';
import { backoffMs } from './retry.ts';
import { fingerprintOf, savedUpload, saveUpload } from './store.ts';

const ENDPOINT = '/api/uploads/tus';
const TUS = { 'tus-resumable': '1.0.0' };

export type Slot = 'dance' | 'bgm';
export type UploadPhase = 'uploading' | 'checking' | 'retrying' | 'offline' | 'done' | 'error';

export interface UploadState {
  phase: UploadPhase;
  name: string;
  size: number;
  /** Bytes the server has (or is receiving in the current chunk). */
  sent: number;
  /** Bytes per second over the last few seconds; 0 when not measured. */
  speed: number;
  /** Bytes already on the server when this run started (a resume). */
  resumedFrom: number;
  retryInSeconds: number;
  info: UploadInfo | null;
  error: ApiErrorBody | null;
}

/** Chunks: ~20 per file for fine-grained resume, between 256 KiB and 8 MiB (proxies and phones cope). */
export function chunkSizeFor(size: number): number {
  return Math.min(8 * 1024 * 1024, Math.max(256 * 1024, Math.ceil(size / 20)));
}

class Fatal extends Error {
  readonly body: ApiErrorBody;
  constructor(body: ApiErrorBody) {
    super(body.message);
    this.body = body;
  }
}

/** The answer of one PATCH, or why there was none. */
interface PatchAnswer {
  status: number;
  offset: number | null;
  fileId: string | null;
  error: ApiErrorBody | null;
}

export class TusUpload {
  readonly slot: Slot;
  readonly file: File;
  state: UploadState;
  private readonly onChange: (s: UploadState) => void;
  private xhr: XMLHttpRequest | null = null;
  private stopped = false;
  private samples: { at: number; bytes: number }[] = [];

  constructor(slot: Slot, file: File, onChange: (s: UploadState) => void) {
    this.slot = slot;
    this.file = file;
    this.onChange = onChange;
    this.state = { phase: 'uploading', name: file.name, size: file.size, sent: 0, speed: 0, resumedFrom: 0, retryInSeconds: 0, info: null, error: null };
  }

  /** Runs to the end: done, a refusal (error), or stop(). Never throws. */
  async start(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        const fileId = await this.runOnce();
        if (this.stopped) return;
        this.update({ phase: 'checking', sent: this.file.size });
        const info = await getUpload(fileId);
        saveUpload(this.slot, { fingerprint: fingerprintOf(this.file), name: this.file.name, size: this.file.size, url: null, fileId, offset: this.file.size });
        this.update({ phase: 'done', info, speed: 0 });
        return;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof Fatal || (err instanceof ApiError && !err.retryable && err.status !== 404)) {
          const body = err instanceof Fatal ? err.body : { code: err.code, message: err.message, retryable: false };
          saveUpload(this.slot, null);
          this.update({ phase: 'error', error: body, speed: 0 });
          return;
        }
        // A drop, a time-out, a busy server: wait, then ask the server where we stand and go on.
        if (!navigator.onLine) {
          this.update({ phase: 'offline', speed: 0 });
          setNetState('offline');
          await whenOnline();
          continue;
        }
        setNetState('reconnecting');
        const wait = backoffMs(attempt++);
        for (let left = Math.ceil(wait / 1000); left > 0 && !this.stopped && !this.skipWait; left--) {
          this.update({ phase: 'retrying', retryInSeconds: left, speed: 0 });
          await sleep(1000);
        }
        this.skipWait = false;
      }
    }
  }

  private skipWait = false;

  /** "Retry now": ends the current wait. */
  retryNow(): void {
    this.skipWait = true;
  }

  /** Stops sending; `forget` also abandons the upload on the server and forgets it here. */
  stop(forget: boolean): void {
    this.stopped = true;
    this.xhr?.abort();
    if (forget) {
      const saved = savedUpload(this.slot);
      if (saved?.url && !saved.fileId) void this.terminate(saved.url);
      saveUpload(this.slot, null);
    }
  }

  private async terminate(url: string): Promise<void> {
    const tok = await token();
    await fetch(url, { method: 'DELETE', headers: { ...authHeaders(tok), ...TUS } }).catch(() => undefined);
  }

  private update(patch: Partial<UploadState>): void {
    this.state = { ...this.state, ...patch };
    this.onChange(this.state);
  }

  /** One pass: find or create the upload, send what is missing; resolves with the fileId. */
  private async runOnce(): Promise<string> {
    const tok = await token();
    const fingerprint = fingerprintOf(this.file);
    const saved = savedUpload(this.slot);
    let url: string | null = null;
    let offset = 0;
    if (saved && saved.fingerprint === fingerprint) {
      if (saved.fileId) {
        // Already uploaded earlier (before a reload): reuse it if the server still has it.
        const ok = await getUpload(saved.fileId).then(() => true, (e: unknown) => {
          if (e instanceof ApiError && e.status === 404) return false;
          throw e;
        });
        if (ok) return saved.fileId;
      } else if (saved.url) {
        const head = await fetch(saved.url, { method: 'HEAD', headers: { ...authHeaders(tok), ...TUS }, cache: 'no-store' });
        if (head.ok) {
          const done = head.headers.get('beatsync-file-id');
          if (done) return done;
          url = saved.url;
          offset = Number(head.headers.get('upload-offset') ?? 0);
          if (this.state.resumedFrom === 0 && offset > 0) this.update({ resumedFrom: offset });
        } else if (head.status >= 500) {
          throw new Error(`HEAD ${head.status}`);
        }
      }
    } else if (saved?.url && !saved.fileId) {
      void this.terminate(saved.url);
    }
    if (!url) {
      url = await this.create(tok);
      saveUpload(this.slot, { fingerprint, name: this.file.name, size: this.file.size, url, fileId: null, offset: 0 });
    }
    this.update({ phase: 'uploading', sent: offset });
    const chunk = chunkSizeFor(this.file.size);
    for (;;) {
      if (this.stopped) throw new Error('stopped');
      const end = Math.min(this.file.size, offset + chunk);
      const answer = await this.patch(url, tok, offset, end);
      if (answer.status === 204 && answer.offset !== null) {
        offset = answer.offset;
        saveUpload(this.slot, { fingerprint, name: this.file.name, size: this.file.size, url, fileId: null, offset });
        if (answer.fileId) return answer.fileId;
        if (offset >= this.file.size) throw new Error('complete without a file id');
        continue;
      }
      if (answer.status === 409 || answer.status === 0 || answer.status >= 500 || answer.status === 429) {
        // Where the server stands decides the next offset; 0 = the connection broke.
        throw new Error(`PATCH answered ${answer.status}`);
      }
      if (answer.status === 404 || answer.status === 410) {
        saveUpload(this.slot, null);
        throw new Error('the upload expired on the server');
      }
      throw new Fatal(answer.error ?? { code: 'INVALID_FORMAT', message: `HTTP ${answer.status}`, retryable: false });
    }
  }

  private async create(tok: string): Promise<string> {
    const meta = `filename ${b64(this.file.name)},purpose ${b64(this.slot)}`;
    const res = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { ...authHeaders(tok), ...TUS, 'upload-length': String(this.file.size), 'upload-metadata': meta },
    });
    if (res.status === 201) {
      const location = res.headers.get('location');
      if (!location) throw new Error('no Location');
      return new URL(location, globalThis.location.href).pathname;
    }
    const body = (await res.json().catch(() => null)) as { error?: ApiErrorBody } | null;
    if (res.status >= 400 && res.status < 500 && res.status !== 429 && body?.error) throw new Fatal(body.error);
    throw new Error(`create answered ${res.status}`);
  }

  private patch(url: string, tok: string, from: number, to: number): Promise<PatchAnswer> {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open('PATCH', url);
      for (const [k, v] of Object.entries({ ...authHeaders(tok), ...TUS, 'upload-offset': String(from), 'content-type': 'application/offset+octet-stream' })) {
        xhr.setRequestHeader(k, v);
      }
      xhr.upload.onprogress = (e) => {
        const sent = from + e.loaded;
        this.update({ phase: sent >= this.file.size ? 'checking' : 'uploading', sent, speed: this.measure(sent) });
      };
      const finish = (status: number) => {
        this.xhr = null;
        let error: ApiErrorBody | null = null;
        try {
          error = status >= 400 ? ((JSON.parse(xhr.responseText) as { error?: ApiErrorBody }).error ?? null) : null;
        } catch {
          error = null;
        }
        const offsetText = status ? xhr.getResponseHeader('upload-offset') : null;
        resolve({ status, offset: offsetText === null ? null : Number(offsetText), fileId: status ? xhr.getResponseHeader('beatsync-file-id') : null, error });
      };
      xhr.onload = () => {
        if (xhr.status === 204) setNetState('online');
        finish(xhr.status);
      };
      xhr.onerror = () => finish(0);
      xhr.onabort = () => finish(0);
      xhr.ontimeout = () => finish(0);
      xhr.send(this.file.slice(from, to));
    });
  }

  /** Bytes per second over the last ~3 s of progress events. */
  private measure(sent: number): number {
    const now = performance.now();
    this.samples.push({ at: now, bytes: sent });
    while (this.samples.length > 2 && now - this.samples[0].at > 3000) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.at) / 1000;
    return dt > 0.25 ? Math.max(0, (sent - first.bytes) / dt) : this.state.speed;
  }
}

function b64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
