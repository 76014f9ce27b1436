// The deployment files cannot be run here (no Docker, no systemd), so this checks what can be checked:
// the compose file parses, Redis is durable and never evicts, and every `beatsync serve` command in the
// compose file, the systemd units and the Dockerfile is accepted by the CLI's own option parsers, with
// the roles on the shared backend and storage that test/scale.test.ts runs. nginx keeps SSE unbuffered.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseScaleOptions } from '../src/cli/scale-options.ts';
import type { ScaleOptions } from '../src/cli/scale-options.ts';
import { loadServerConfig } from '../src/server/config.ts';

const DEPLOY = new URL('../deploy/', import.meta.url);
const read = (name: string) => readFile(new URL(name, DEPLOY), 'utf8');
const ENV = { BEATSYNC_TOKEN_SECRET: 'a-test-secret-of-enough-length' };

/** Runs a `serve …` argument list through the same parsers `beatsync serve` uses. */
async function parseServe(args: string[]): Promise<ScaleOptions> {
  assert.equal(args[0], 'serve');
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-deploy-test-'));
  try {
    const { options, rest } = parseScaleOptions(args.slice(1), ENV, dir);
    await loadServerConfig({ argv: [...rest, '--data-dir', dir], env: ENV });
    return options;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Service {
  command?: string[];
  image?: string;
  deploy?: { replicas?: number };
}

test('compose: parses; Redis has AOF fsync always and noeviction; api and worker commands are valid CLI flags', async () => {
  const compose = parse(await read('compose.yaml')) as { services: Record<string, Service> };
  const { redis, api, worker, s3 } = compose.services;
  assert.ok(redis && api && worker && s3, 'redis, s3, api and worker services');
  const redisArgs = redis.command!.join(' ');
  assert.match(redisArgs, /--appendonly yes/);
  assert.match(redisArgs, /--appendfsync always/);
  assert.match(redisArgs, /--maxmemory-policy noeviction/);

  const apiOptions = await parseServe(api.command!);
  assert.equal(apiOptions.role, 'api');
  const workerOptions = await parseServe(worker.command!);
  assert.equal(workerOptions.role, 'worker');
  assert.ok(workerOptions.healthPort > 0);
  for (const o of [apiOptions, workerOptions]) {
    assert.equal(o.backend, 'redis');
    assert.equal(o.redisUrl, 'redis://redis:6379/0');
    assert.equal(o.storage?.backend, 's3');
  }
  assert.ok((api.deploy?.replicas ?? 1) >= 2 && (worker.deploy?.replicas ?? 1) >= 2, 'several nodes of each role');
});

test('systemd units and the Dockerfile run `beatsync serve` with flags the CLI accepts', async () => {
  for (const [unit, role] of [['systemd/beatsync-api.service', 'api'], ['systemd/beatsync-worker.service', 'worker']] as const) {
    const exec = /^ExecStart=(.*)$/m.exec(await read(unit))?.[1];
    assert.ok(exec, `${unit} has ExecStart`);
    const words = exec.split(/\s+/);
    assert.match(words[0], /node_modules\/\.bin\/node$/);
    assert.match(words[1], /bin\/beatsync\.js$/);
    const options = await parseServe(words.slice(2));
    assert.equal(options.role, role);
    assert.equal(options.backend, 'redis');
    assert.equal(options.storage?.backend, 's3');
  }
  const dockerfile = await read('Dockerfile');
  assert.match(dockerfile, /^FROM .* AS build$/m, 'multi-stage');
  assert.match(dockerfile, /apt-get install[^\n]*ffmpeg/);
  const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]) as string[];
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[];
  assert.deepEqual(entry.slice(-2), ['/app/node_modules/.bin/node', '/app/bin/beatsync.js']);
  assert.equal((await parseServe(cmd)).role, 'all');
});

test('nginx: upload size, unbuffered long-lived SSE, Range passed through', async () => {
  const conf = await read('nginx.conf');
  assert.match(conf, /client_max_body_size\s+\d+[kmg]?;/);
  const sse = /location ~ \^\/api\/jobs\/\[\^\/\]\+\/events\$ \{([^}]*)\}/.exec(conf)?.[1] ?? '';
  assert.match(sse, /proxy_buffering off;/);
  assert.match(sse, /proxy_read_timeout\s+\d{3,}s;/);
  assert.match(conf, /proxy_set_header Range \$http_range;/);
});

test('roles without a shared backend and storage are refused with a clear error', async () => {
  assert.throws(() => parseScaleOptions(['--role', 'worker'], {}), /needs --backend redis/);
  assert.throws(() => parseScaleOptions(['--role', 'api', '--backend', 'redis', '--redis-url', 'redis://r:6379'], {}), /needs shared storage/);
  assert.throws(() => parseScaleOptions(['--backend', 'redis'], {}), /--redis-url/);
  assert.throws(() => parseScaleOptions(['--storage', 's3'], {}), /--s3-bucket/);
  assert.throws(() => parseScaleOptions(['--role', 'boss'], {}), /--role/);
  const env = parseScaleOptions(['--port', '9000'], { BEATSYNC_ROLE: 'all', BEATSYNC_BACKEND: 'redis', BEATSYNC_REDIS_URL: 'redis://x:1' });
  assert.deepEqual(env.rest, ['--port', '9000']);
  assert.equal(env.options.backend, 'redis');
});
