// HTTP requests shaped like real clients' (old web frontend, WeChat mini-program), sent with node:http so that
// nothing is added behind the test's back: Node's fetch always adds `accept-language: *` and `sec-fetch-mode`.
import { openAsBlob } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { basename } from 'node:path';
import { openJobSystem } from '../../src/jobs/index.ts';
import { buildServer } from '../../src/server/app.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { makeDataDir } from './api.ts';
import type { RunningApi } from './api.ts';

/** A real server and job system with no workers: submitted jobs stay queued, so caps can be counted exactly. */
export async function startApiWithoutWorkers(argv: string[] = []): Promise<RunningApi> {
  const dataDir = await makeDataDir();
  const config = await loadServerConfig({ argv: ['--data-dir', dataDir, '--port', '0', '--log-level', 'warn', ...argv], env: {} });
  const system = await openJobSystem({ dataDir, startWorkers: false });
  await system.start();
  const app = await buildServer(config, { system, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`, app, system, config, dataDir,
    async close() {
      await app.close();
      await system.close();
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** One request with exactly these headers (plus Host, and Content-Length for a body). */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (body) headers['content-length'] = String(body.length);
    const req = httpRequest(url, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: data,
          json: <T>() => JSON.parse(data.toString('utf8')) as T,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A multipart/form-data body as a browser or wx.uploadFile builds it: parts in the given order. */
export async function multipartBody(parts: ({ field: string; value: string } | { field: string; path: string; fileName?: string })[]): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  for (const part of parts) {
    if ('path' in part) form.append(part.field, await openAsBlob(part.path), part.fileName ?? basename(part.path));
    else form.append(part.field, part.value);
  }
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type')! };
}

/** The comma-separated tokens of a header, lower-cased. */
export function headerList(value: string | string[] | undefined): string[] {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}
