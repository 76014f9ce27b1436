// The server's edges on a real loopback port: health, readiness, metrics, sessions, errors in two languages,
// the OpenAPI document, rate limits, CORS and the static web page.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeAudio } from './helpers/media.ts';
import { rawRequest, startTestServer, uploadFile } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';
import { hasRedisServer, startRedisServer } from '../src/jobs/testing/redis-server.ts';

interface ErrorJson {
  error: { code: string; message: string; retryable: boolean };
}

describe('operations and errors', () => {
  let server: TestServer;
  const ops = { headers: { authorization: 'Bearer basics-admin-token-0123' } };
  before(async () => {
    server = await startTestServer({ argv: ['--admin-token', 'basics-admin-token-0123'] });
  });
  after(() => server.close());

  test('health, readiness with each check, and a request id on every answer', async () => {
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.match(health.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);

    const ready = await fetch(`${server.url}/api/ready`, ops);
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, { state: string; detail: string }> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.equal(body.ready, true);
    assert.deepEqual(Object.keys(body.checks).sort(), ['ffmpeg', 'jobs', 'storage']);
    assert.match(body.checks.ffmpeg.detail, /^ffmpeg \d/);
    assert.match(body.checks.storage.detail, /GiB free/);
  });

  test('metrics: HTTP latency by route, jobs by state, queue depth, upload bytes, disk free', async () => {
    const token = await server.session();
    const audio = await readFile(await makeAudio('basics.wav', { format: 'wav', seconds: 1 }));
    assert.equal((await uploadFile(server, token, 'a.wav', audio)).status, 201);
    const res = await fetch(`${server.url}/metrics`, ops);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /beatsync_http_request_duration_seconds_count\{method="POST",route="\/api\/session",status="201"\} 1/);
    assert.match(text, /beatsync_jobs\{state="queued"\} 0/);
    assert.match(text, /beatsync_queue_depth 0/);
    assert.match(text, new RegExp(`beatsync_upload_bytes_total\\{via="multipart"\\} ${audio.length}`));
    assert.match(text, /beatsync_disk_free_bytes \d+/);
  });

  test('errors have one shape, in English or Chinese by Accept-Language, and unknown routes are NOT_FOUND', async () => {
    const en = await fetch(`${server.url}/api/no-such-thing`);
    assert.equal(en.status, 404);
    assert.deepEqual(await en.json(), { error: { code: 'NOT_FOUND', message: 'Not found.', retryable: false } });

    const zh = await fetch(`${server.url}/api/uploads/${'B'.repeat(22)}`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5', authorization: 'Bearer nonsense' } });
    assert.equal(zh.status, 401);
    const zhBody = (await zh.json()) as ErrorJson;
    assert.equal(zhBody.error.code, 'UNAUTHORIZED');
    assert.equal(zhBody.error.message, '请重新登录（令牌缺失或无效）。');

    const token = await server.session();
    const tooLong = await fetch(`${server.url}/api/uploads/${'C'.repeat(100)}`, { headers: { authorization: `Bearer ${token}`, 'accept-language': 'zh' } });
    assert.equal(tooLong.status, 400);
    const bad = (await tooLong.json()) as ErrorJson;
    assert.equal(bad.error.code, 'BAD_REQUEST');
    assert.equal(bad.error.message, '请求无效。');
  });

  test('a session token is stateless: another server with the same secret accepts it', async () => {
    const token = await server.session();
    assert.match(token, /^bs1\.[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{43}$/);
    const twin = await startTestServer({ adjust: (c) => (c.tokenSecret = server.config.tokenSecret) });
    const stranger = await startTestServer();
    try {
      const opts = { headers: { authorization: `Bearer ${token}` } };
      // 404 (not 401): the token is valid there, the upload simply does not exist.
      assert.equal((await fetch(`${twin.url}/api/uploads/${'D'.repeat(22)}`, opts)).status, 404);
      assert.equal((await fetch(`${stranger.url}/api/uploads/${'D'.repeat(22)}`, opts)).status, 401);
    } finally {
      await twin.close();
      await stranger.close();
    }
  });

  test('the OpenAPI document is served and lists every route', async () => {
    const res = await fetch(`${server.url}/api/docs/json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses?: unknown }>>; components: { securitySchemes: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    const expected = [
      'post /api/session', 'get /api/health', 'get /api/ready', 'get /metrics',
      'post /api/uploads', 'get /api/uploads/{fileId}',
      'options /api/uploads/tus', 'post /api/uploads/tus', 'head /api/uploads/tus/{id}', 'patch /api/uploads/tus/{id}', 'delete /api/uploads/tus/{id}',
      'post /api/jobs', 'get /api/jobs', 'get /api/jobs/{id}', 'delete /api/jobs/{id}', 'post /api/jobs/{id}/retry', 'get /api/jobs/{id}/events',
      'get /api/stats', 'get /api/jobs/{id}/outputs/{variant}',
      'post /api/upload', 'post /api/process', 'get /api/status/{task_id}', 'get /api/download/{task_id}', 'get /api/task/{task_id}',
    ];
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    for (const route of expected) assert.ok(documented.includes(route), `${route} is not documented`);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) assert.ok(op.responses, `${method} ${path} documents no responses`);
    }
    const ui = await fetch(`${server.url}/api/docs`, { redirect: 'follow' });
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
  });
});

describe('rate limits', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--rate-limit-ip', '5', '--rate-limit-token', '8', '--rate-limit-sessions', '3'] });
  });
  after(() => server.close());

  test('sessions per IP, requests per token and per IP, answered RATE_LIMITED; health is never limited', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push(await server.session());
    const fourth = await fetch(`${server.url}/api/session`, { method: 'POST' });
    assert.equal(fourth.status, 429);
    assert.equal(((await fourth.json()) as ErrorJson).error.code, 'RATE_LIMITED');
    assert.ok(Number(fourth.headers.get('retry-after')) > 0);

    const get = (token?: string) => fetch(`${server.url}/api/uploads/${'E'.repeat(22)}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    for (let i = 0; i < 8; i++) assert.equal((await get(tokens[0])).status, 404);
    const limited = await get(tokens[0]);
    assert.equal(limited.status, 429);
    const body = (await limited.json()) as ErrorJson;
    assert.equal(body.error.code, 'RATE_LIMITED');
    assert.equal(body.error.retryable, true);
    // Another token has its own budget.
    assert.equal((await get(tokens[1])).status, 404);
    // Without a token the IP is limited.
    for (let i = 0; i < 5; i++) assert.equal((await get()).status, 401);
    assert.equal((await get()).status, 429);
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
  });
});

describe('rate limits shared by several API nodes (Redis)', { skip: !hasRedisServer() && 'redis-server is not installed' }, () => {
  test('a client cannot multiply its limit by spreading requests over two nodes', async (t) => {
    const redis = await startRedisServer();
    t.after(() => redis.stop());
    const shared = { rateLimitRedis: { url: redis.url, prefix: `rl-test-${process.pid}:` } };
    const argv = ['--rate-limit-ip', '6'];
    const a = await startTestServer({ argv, build: shared });
    t.after(() => a.close());
    const b = await startTestServer({ argv, build: shared });
    t.after(() => b.close());
    const get = (server: TestServer) => fetch(`${server.url}/api/uploads/${'E'.repeat(22)}`);
    for (let i = 0; i < 6; i++) assert.equal((await get(i % 2 ? a : b)).status, 401, `request ${i + 1} is within the limit`);
    for (const server of [a, b]) {
      const limited = await get(server);
      assert.equal(limited.status, 429);
      assert.equal(((await limited.json()) as ErrorJson).error.code, 'RATE_LIMITED');
    }
  });
});

describe('CORS and the web page', () => {
  let server: TestServer;
  let webDir: string;
  before(async () => {
    webDir = await mkdtemp(join(tmpdir(), 'beatsync-web-'));
    await mkdir(join(webDir, 'assets'));
    await writeFile(join(webDir, 'index.html'), '<!doctype html><title>BeatSync</title>');
    await writeFile(join(webDir, 'assets', 'app-1a2b3c.js'), 'console.log(1)');
    server = await startTestServer({ argv: ['--cors-origins', 'https://app.example', '--web-dir', webDir] });
  });
  after(async () => {
    await server.close();
    await rm(webDir, { recursive: true, force: true });
  });

  test('only allowed origins get CORS headers; tus and download headers are exposed', async () => {
    const preflight = await rawRequest(`${server.url}/api/uploads/tus`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,upload-length,tus-resumable' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(String(preflight.headers['access-control-allow-headers']), /Upload-Length/i);

    const allowed = await fetch(`${server.url}/api/health`, { headers: { origin: 'https://app.example' } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(allowed.headers.get('access-control-expose-headers') ?? '', /Upload-Offset/);

    const other = await fetch(`${server.url}/api/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  test('the page: index revalidated, hashed assets cached for a year, page paths fall back, nothing outside is served', async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const etag = index.headers.get('etag') ?? '';
    assert.equal((await fetch(`${server.url}/`, { headers: { 'if-none-match': etag } })).status, 304);

    const asset = await fetch(`${server.url}/assets/app-1a2b3c.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);

    const deep = await fetch(`${server.url}/jobs/abc`);
    assert.equal(deep.status, 200);
    assert.match(await deep.text(), /BeatSync/);

    assert.equal((await fetch(`${server.url}/assets/missing.js`)).status, 404);
    const api = await fetch(`${server.url}/api/nothing-here`);
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as ErrorJson).error.code, 'NOT_FOUND');

    for (const path of ['/..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fetc%2fhostname']) {
      const res = await rawRequest(`${server.url}${path}`, {});
      assert.doesNotMatch(res.body, /root:|localhost/, path);
    }
  });
});
