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

/** kill -9 of the server (unless it is already gone), then a new one on the same port and directory (it reloads the AOF). */
export async function restartRedisServer(old: RedisServer): Promise<RedisServer> {
  const state = launched.get(old);
  if (!state) throw new Error('not a server started here');
  if (!state.gone) process.kill(old.pid, 'SIGKILL');
  await state.exited;
  return launch(old.port, state.dir);
}

/** kill -9 of the server, keeping its directory for restartRedisServer. */
export async function killRedisServer(server: RedisServer): Promise<void> {
  const state = launched.get(server);
  if (!state) throw new Error('not a server started here');
  if (!state.gone) process.kill(server.pid, 'SIGKILL');
  await state.exited;
}

const launched = new WeakMap<RedisServer, { dir: string; exited: Promise<void>; gone: boolean }>();

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
  const state = { dir, exited, gone: false };
  void exited.then(() => {
    state.gone = true;
  });
  launched.set(server, state);
  return server;
}
