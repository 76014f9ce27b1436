// A BeatSync cluster on loopback for the scale test and bench:scale: a private Redis (AOF), an
// S3-compatible server, and API / worker nodes started as real `beatsync serve` processes with the same
// flags the deployment files use.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisServer } from '../../src/jobs/testing/redis-server.ts';
import type { RedisServer } from '../../src/jobs/testing/redis-server.ts';
import { S3_TEST_CREDENTIALS, startS3Server } from '../../src/storage/testing/s3-server.ts';
import type { S3Server } from '../../src/storage/testing/s3-server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NODE_BIN = join(ROOT, 'node_modules/.bin/node');
export const BEATSYNC_BIN = join(ROOT, 'bin/beatsync.js');

export interface ClusterNode {
  role: 'api' | 'worker';
  name: string;
  child: ChildProcess;
  /** API: the HTTP base URL. Worker: its health listener. */
  url: string;
  exited: Promise<void>;
  logFile: string;
}

export interface Cluster {
  redis: RedisServer;
  s3: S3Server;
  dir: string;
  prefix: string;
  /** Every node ever started (killed ones included). */
  nodes: ClusterNode[];
  /** Env value carried by every node and its job processes, to find leftovers. */
  mark: string;
  markEnv: string;
  startNode(role: 'api' | 'worker', extra?: string[]): Promise<ClusterNode>;
  /** The flags every node gets (what compose.yaml / the systemd units pass). */
  commonFlags(): string[];
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Extra flags for every node. */
  flags?: string[];
  /** Jobs at once per worker node. */
  concurrency?: number;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'beatsync-cluster-'));
  const redis = await startRedisServer();
  const s3 = await startS3Server();
  const prefix = 'bs:';
  const mark = randomBytes(8).toString('hex');
  const markEnv = 'BEATSYNC_CLUSTER_TEST';
  const tokenSecret = randomBytes(24).toString('base64url');
  const nodes: ClusterNode[] = [];
  let counter = 0;

  const commonFlags = () => [
    '--backend', 'redis', '--redis-url', redis.url, '--redis-prefix', prefix,
    '--storage', 's3', '--s3-bucket', s3.bucket, '--s3-endpoint', s3.endpoint,
    '--host', '127.0.0.1', '--log-level', 'warn', '--shutdown-grace', '2',
    '--concurrency', String(options.concurrency ?? 1),
    ...(options.flags ?? []),
  ];

  async function startNode(role: 'api' | 'worker', extra: string[] = []): Promise<ClusterNode> {
    const name = `${role}${++counter}`;
    const port = await freePort();
    const dataDir = join(dir, name);
    const args = [BEATSYNC_BIN, 'serve', '--role', role, ...commonFlags(), '--node-id', name, '--data-dir', dataDir,
      ...(role === 'api' ? ['--port', String(port)] : ['--health-port', String(port)]), ...extra];
    const logFile = join(dir, `${name}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(NODE_BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
        BEATSYNC_TOKEN_SECRET: tokenSecret,
        [markEnv]: mark,
      },
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const node: ClusterNode = { role, name, child, url: `http://127.0.0.1:${port}`, exited, logFile };
    nodes.push(node);
    await waitReady(node);
    return node;
  }

  return {
    redis, s3, dir, prefix, nodes, mark, markEnv, startNode, commonFlags,
    async stop() {
      for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
      const all = Promise.all(nodes.map((n) => n.exited));
      const late = setTimeout(() => {
        for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
      }, 8_000);
      await all;
      clearTimeout(late);
      await Promise.all([redis.stop(), s3.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the node's /api/ready answers 200 (or fails with its log when it exits). */
async function waitReady(node: ClusterNode): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (node.child.exitCode !== null) throw new Error(`${node.name} exited during start-up:\n${await readFile(node.logFile, 'utf8').catch(() => '')}`);
    try {
      const res = await fetch(`${node.url}/api/ready`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${node.name} not ready:\n${await readFile(node.logFile, 'utf8').catch(() => '')}`);
    await sleep(100);
  }
}

/** kill -9 of one node; resolves once it is gone. */
export async function killNode(node: ClusterNode): Promise<void> {
  node.child.kill('SIGKILL');
  await node.exited;
}
