// A private redis-server for tests and benchmarks: a free loopback port, AOF fsynced on every write,
// noeviction, its own temp directory; never the shared instance on 6379.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface RedisServer {
  url: string;
  port: number;
  pid: number;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

/** True when a redis-server binary is on PATH (tests skip without it). */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  return launch(await freePort(), mkdtempSync(join(tmpdir(), 'beatsync-redis-')));
}

/** kill -9 of the server, then a new one on the same port and directory (it reloads the AOF). */
export async function restartRedisServer(old: RedisServer): Promise<RedisServer> {
  process.kill(old.pid, 'SIGKILL');
  const state = launched.get(old);
  if (!state) throw new Error('not a server started here');
  await state.exited;
  return launch(old.port, state.dir);
}

const launched = new WeakMap<RedisServer, { dir: string; exited: Promise<void> }>();

async function launch(port: number, dir: string): Promise<RedisServer> {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction',
  ], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`redis-server did not start on port ${port}`);
      }
      await sleep(50);
    }
  }
  probe.disconnect();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: RedisServer = {
    url,
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  launched.set(server, { dir, exited });
  return server;
}
