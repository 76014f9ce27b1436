// A real S3-compatible server for tests (s3rver, objects on disk), run as its own process on a free
// loopback port. `startS3Server()` spawns this file; run directly it serves until killed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3Server {
  endpoint: string;
  bucket: string;
  pid: number;
  /** Where the objects live (tests look for leftovers here too). */
  dir: string;
  stop(): Promise<void>;
}

/** Starts the server with one bucket; resolves once it listens. */
export async function startS3Server(bucket = 'beatsync'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'beatsync-s3-'));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), dir, bucket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(Number(/port=(\d+)/.exec(line)?.[1] ?? 0)));
    child.once('exit', (code) => reject(new Error(`s3 test server exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    pid: child.pid ?? 0,
    dir,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (import.meta.main) {
  const [dir, bucket] = process.argv.slice(2);
  const { default: S3rver } = await import('s3rver');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const address = (await server.run()) as { port: number };
  process.stdout.write(`port=${address.port}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}
