// A real BeatSync server on 127.0.0.1 with a random port and its own data directory, for integration tests.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openJobSystem } from '../../src/jobs/index.ts';
import type { JobSystem, JobSystemConfig } from '../../src/jobs/index.ts';
import { buildServer } from '../../src/server/app.ts';
import type { BuildOptions } from '../../src/server/app.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import type { ServerConfig } from '../../src/server/config.ts';

export interface TestServer {
  url: string;
  port: number;
  app: FastifyInstance;
  system: JobSystem;
  config: ServerConfig;
  dataDir: string;
  /** A fresh session token. */
  session(): Promise<string>;
  /** Every stored object key (relative to the file store root), e.g. to prove nothing was left behind. */
  storedKeys(): Promise<string[]>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Extra flags for loadServerConfig (e.g. ['--max-upload-bytes', '64K']). */
  argv?: string[];
  /** Applied to the loaded config. */
  adjust?: (config: ServerConfig) => void;
  system?: Partial<JobSystemConfig>;
  build?: Partial<BuildOptions>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'beatsync-server-'));
  const config = await loadServerConfig({ argv: ['--data-dir', dataDir, '--port', '0', ...(options.argv ?? [])], env: {} });
  options.adjust?.(config);
  const system = await openJobSystem({ dataDir, startWorkers: false, ...options.system });
  await system.start();
  const app = await buildServer(config, { system, logger: false, ...options.build });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const url = `http://127.0.0.1:${address.port}`;
  const filesRoot = join(dataDir, 'files');
  return {
    url,
    port: address.port,
    app,
    system,
    config,
    dataDir,
    async session() {
      const res = await fetch(`${url}/api/session`, { method: 'POST' });
      if (res.status !== 201) throw new Error(`session: ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    },
    async storedKeys() {
      const entries = await readdir(filesRoot, { recursive: true, withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isFile()).map((e) => relative(filesRoot, join(e.parentPath, e.name)).split('\\').join('/')).sort();
    },
    async close() {
      await app.close();
      await system.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request over node:http with full control of the body (streamed chunks, early answers): resolves with
 * the answer even when the server replies before the body is sent and then closes the connection.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | AsyncIterable<Buffer> },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // Writing after the server answered and closed is expected here; the answer is what counts.
    req.on('error', (err) => {
      if (!(req as unknown as { res?: unknown }).res) reject(err);
    });
    const body = options.body;
    if (!body) {
      req.end();
    } else if (Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      (async () => {
        try {
          for await (const chunk of body) {
            if (req.destroyed) return;
            if (!req.write(chunk)) {
              await new Promise<void>((r) => {
                const done = (): void => {
                  req.off('drain', done);
                  req.off('close', done);
                  r();
                };
                req.on('drain', done);
                req.on('close', done);
              });
            }
          }
          req.end();
        } catch (err) {
          req.destroy(err as Error);
        }
      })();
    }
  });
}

/** A multipart/form-data body with one file part (and optional fields before it). */
export function multipartBody(file: { field?: string; filename: string; contentType?: string; data: Buffer }, fields: Record<string, string> = {}): { body: Buffer; contentType: string } {
  const boundary = `----beatsync${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'file'}"; filename="${file.filename}"\r\n` +
    `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`,
  ));
  parts.push(file.data, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** POST /api/uploads with one file; returns status and parsed JSON. */
export async function uploadFile(server: TestServer, token: string | null, filename: string, data: Buffer, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const { body, contentType } = multipartBody({ filename, data });
  const res = await rawRequest(`${server.url}/api/uploads${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'content-length': body.length, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  return { status: res.status, json: JSON.parse(res.body) as Record<string, unknown> };
}
