// `beatsync serve` options that reach the server and the job system, proved on the real command
// (src/cli/serve.ts in a child process on loopback): free-disk thresholds, who may read operations routes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { makeAudio, makeVideo } from './helpers/media.ts';
import { postFile } from './helpers/api.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const SERVE = join(ROOT, 'src/cli/serve.ts');
const ADMIN = 'admin-token-for-the-tests-0123';

interface Served { url: string; child: ChildProcess; dataDir: string; stop(): Promise<void> }

async function serve(args: string[]): Promise<Served> {
  const dataDir = await mkdtemp(join(tmpdir(), 'beatsync-serve-opts-'));
  const child = spawn(NODE, [SERVE, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--concurrency', '1', ...args], {
    cwd: ROOT, env: { ...process.env, BEATSYNC_TOKEN_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /BeatSync listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1].replace('[::1]', '127.0.0.1'));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return {
    url, child, dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

describe('beatsync serve: free-disk thresholds', () => {
  const running: Served[] = [];
  after(async () => {
    for (const s of running) await s.stop();
  });

  test('--min-free-disk refuses new jobs and --min-free-disk-ready fails readiness when set above the free space', async () => {
    const dance = await makeVideo('serve-opts-dance.mp4', { seconds: 2 });
    const bgm = await makeAudio('serve-opts-bgm.wav', { format: 'wav', seconds: 2 });
    const tight = await serve(['--min-free-disk', '1000T', '--min-free-disk-ready', '1000T', '--admin-token', ADMIN]);
    running.push(tight);
    const ready = await fetch(`${tight.url}/api/ready`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { checks: { storage: { state: string } } };
    assert.equal(body.checks.storage.state, 'failed');

    const token = ((await (await fetch(`${tight.url}/api/session`, { method: 'POST' })).json()) as { token: string }).token;
    const ids: string[] = [];
    for (const [path, purpose] of [[dance, 'dance'], [bgm, 'bgm']] as const) {
      const res = await postFile(`${tight.url}/api/uploads?purpose=${purpose}`, path, { token });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      ids.push((JSON.parse(text) as { fileId: string }).fileId);
    }
    const submit = await fetch(`${tight.url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ danceFileId: ids[0], bgmFileId: ids[1] }),
    });
    assert.equal(submit.status, 503);
    assert.equal(((await submit.json()) as { error: { code: string } }).error.code, 'RESOURCE_LIMIT');
    assert.ok(submit.headers.get('retry-after'));

    const roomy = await serve(['--min-free-disk', '1K', '--min-free-disk-ready', '1K', '--admin-token', ADMIN]);
    running.push(roomy);
    assert.equal((await fetch(`${roomy.url}/api/ready`, { headers: { authorization: `Bearer ${ADMIN}` } })).status, 200);
  });
});
