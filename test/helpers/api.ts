// A real BeatSync server on 127.0.0.1 (random port) with its embedded job system and real workers, plus the
// small HTTP client pieces the API tests share: sessions, multipart uploads, an SSE reader, JSON calls.
import { mkdtemp, rm } from 'node:fs/promises';
import { openAsBlob } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openJobSystem } from '../../src/jobs/index.ts';
import type { JobSystem } from '../../src/jobs/index.ts';
import { buildServer } from '../../src/server/app.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import type { ServerConfig } from '../../src/server/config.ts';

export interface RunningApi {
  url: string;
  app: FastifyInstance;
  system: JobSystem;
  config: ServerConfig;
  dataDir: string;
  /** Closes the server and the job system (running jobs go back to the queue); the data dir stays. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Reuse a data dir (restart); default a new temp dir. */
  dataDir?: string;
  /** Extra `beatsync serve` flags. */
  argv?: string[];
  concurrency?: number;
  sseHeartbeatMs?: number;
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'beatsync-api-'));
}

export async function removeDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function startApi(options: StartOptions = {}): Promise<RunningApi> {
  const dataDir = options.dataDir ?? (await makeDataDir());
  const config = await loadServerConfig({
    argv: ['--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--concurrency', String(options.concurrency ?? 1), ...(options.argv ?? [])],
    env: {},
  });
  const system = await openJobSystem({
    dataDir,
    startWorkers: true,
    concurrency: config.concurrency,
    retention: { outputsMs: config.retentionSeconds * 1000 },
    leaseMs: 5_000,
    heartbeatMs: 500,
    pollMs: 50,
  });
  await system.start();
  const app = await buildServer(config, { system, logger: false, ...(options.sseHeartbeatMs ? { sseHeartbeatMs: options.sseHeartbeatMs } : {}) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  let closed = false;
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    system,
    config,
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await system.close();
    },
  };
}

export async function newToken(url: string): Promise<string> {
  const res = await fetch(`${url}/api/session`, { method: 'POST' });
  if (res.status !== 201) throw new Error(`POST /api/session → ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export const auth = (token: string | null | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** Sends `fields` and then the file as multipart/form-data, in that order (as browsers append them). */
export async function postFile(url: string, path: string, options: { token?: string | null; fileField?: string; fields?: [string, string][]; fieldsAfter?: [string, string][]; fileName?: string } = {}): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of options.fields ?? []) form.append(k, v);
  form.append(options.fileField ?? 'file', await openAsBlob(path), options.fileName ?? basename(path));
  for (const [k, v] of options.fieldsAfter ?? []) form.append(k, v);
  return fetch(url, { method: 'POST', body: form, headers: auth(options.token) });
}

/** New-API upload: POST /api/uploads → fileId. */
export async function upload(api: RunningApi, token: string, path: string, purpose?: 'dance' | 'bgm', fileName?: string): Promise<string> {
  const res = await postFile(`${api.url}/api/uploads${purpose ? `?purpose=${purpose}` : ''}`, path, { token, fileName });
  const body = (await res.json()) as { fileId?: string };
  if (res.status !== 201 || !body.fileId) throw new Error(`upload → ${res.status} ${JSON.stringify(body)}`);
  return body.fileId;
}

export async function getJson<T = Record<string, unknown>>(url: string, token?: string | null, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, { headers: { ...auth(token), ...headers } });
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

export async function sendJson<T = Record<string, unknown>>(method: string, url: string, body: unknown, token?: string | null, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { ...auth(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** Messages as they arrive; ends when the server ends the stream. */
  messages: AsyncGenerator<SseMessage>;
  /** Comment lines seen so far (heartbeats). */
  comments: string[];
  /** Drops the connection (a client going away). */
  abort(): void;
}

/** Opens an SSE stream with fetch and parses it as the EventSource algorithm does (fields, blank-line dispatch, comments). */
export async function openSse(url: string, token?: string | null, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...auth(token), ...headers }, signal: controller.signal });
  const comments: string[] = [];
  async function* messages(): AsyncGenerator<SseMessage> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let id: string | null = null;
    let event = '';
    let data: string[] = [];
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            if (data.length > 0) yield { id, event: event || 'message', data: data.join('\n') };
            event = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
  return { status: res.status, headers: res.headers, messages: messages(), comments, abort: () => controller.abort() };
}

/** Polls `check` every `everyMs` until it returns a value (not undefined); gives up after `limitMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, limitMs = 120_000, everyMs = 200): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('waitFor: gave up');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
