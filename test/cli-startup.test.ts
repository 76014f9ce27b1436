// `beatsync --help` and each command's `--help`: fast (none of the server's, the job backends' or the S3
// client's modules load) and complete (every option with a description and its default).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadServerConfig } from '../src/server/config.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const BIN = join(ROOT, 'bin/beatsync.js');

// Preloaded into the child: appends the URL of every module it loads (ESM and CommonJS) to $RECORD_MODULES.
const RECORDER = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(process.env.RECORD_MODULES, url + '\\n'); return next(url, context); } });
`)}`;

const HEAVY = ['fastify', '@aws-sdk', 'bullmq', 'ioredis', 'pino', 'prom-client'];

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-cli-startup-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

let runs = 0;
function beatsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; modules: () => Promise<string[]> }> {
  const record = join(work, `modules-${++runs}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['--import', RECORDER, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, LANG: 'en_US.UTF-8', LC_ALL: '', RECORD_MODULES: record, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({
      code,
      stdout,
      modules: async () => (await readFile(record, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    }));
  });
}

function heavyIn(modules: string[]): string[] {
  return modules.filter((url) => HEAVY.some((name) => url.includes(`/node_modules/${name}/`)));
}

describe('start-up: help loads nothing heavy', { concurrency: 2 }, () => {
  for (const args of [['--help'], ['analyze', '--help'], ['sync', '--help'], ['serve', '--help'], ['help', 'serve'], ['--version']]) {
    test(`beatsync ${args.join(' ')}`, async () => {
      const run = await beatsync(args);
      assert.equal(run.code, 0);
      const modules = await run.modules();
      // The recorder works: it saw the CLI's own modules.
      assert.ok(modules.some((m) => m.endsWith('/src/cli/app.ts')), modules.join('\n'));
      assert.deepEqual(heavyIn(modules), []);
    });
  }

  test('the CLI keeps its stripped TypeScript in a compile cache, so a second start strips nothing', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const env: Record<string, string> = { TMPDIR: tmp, NODE_COMPILE_CACHE: '' };
    const first = await beatsync(['--version'], env);
    assert.equal(first.code, 0);
    const cacheRoot = join(tmp, 'node-compile-cache');
    const entries = await readdir(cacheRoot, { recursive: true });
    // One entry per module the CLI loaded (Node names them by hash).
    assert.ok(entries.length >= 10, `cache entries: ${entries.join(', ')}`);
    const second = await beatsync(['--version'], env);
    assert.equal(second.stdout, first.stdout);
  });

  test('a usage mistake in serve is refused before the server loads', async () => {
    const run = await beatsync(['serve', '--port', 'eighty']);
    assert.equal(run.code, 2);
    assert.deepEqual(heavyIn(await run.modules()), []);
  });
});

/** The option lines (`  --flag …`) of a help text. */
function optionLines(text: string): string[] {
  return text.split('\n').filter((l) => /^ {2}(-\w, )?--[a-z]/.test(l));
}

describe('every command\'s --help lists its options with defaults', { concurrency: 2 }, () => {
  test('serve --help: the full option list, every flag accepted by the parser', async () => {
    const run = await beatsync(['serve', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: beatsync serve \[options\]/);
    const lines = optionLines(run.stdout);
    assert.ok(lines.length >= 30, run.stdout);
    for (const flag of ['port', 'host', 'data-dir', 'concurrency', 'quota-jobs', 'cors-origins', 'shutdown-grace', 'role', 'backend', 'redis-url', 'storage', 's3-bucket', 'health-port', 'lease']) {
      assert.ok(lines.some((l) => l.startsWith(`  --${flag} `)), `--${flag} missing`);
    }
    for (const line of lines) {
      if (line.startsWith('  --help')) continue;
      // A description, then the environment variable.
      assert.match(line, /^ {2}--[a-z0-9-]+ +\S.* \[BEATSYNC_[A-Z0-9_]+\]$/, line);
      // …and its default, in parentheses.
      assert.match(line, /\(.+\)/, `no default: ${line}`);
    }
    // Defaults: the ones users ask about.
    assert.match(run.stdout, /--port +.*\(8080\)/);
    assert.match(run.stdout, /--data-dir +.*\(\.\/data\)/);
    assert.match(run.stdout, /--role +.*\(all\)/);
    assert.match(run.stdout, /--backend +.*\(sqlite\)/);
    assert.match(run.stdout, /--health-port +.*\(0\)/);
    assert.match(run.stdout, /--lease +.*\(15\)/);
    // Each server flag listed is one the configuration loader knows (no stale help).
    const serverFlags = lines.map((l) => /^ {2}--([a-z0-9-]+)/.exec(l)![1]).filter((f) => f !== 'help');
    const scaleFlags = ['role', 'backend', 'redis-url', 'redis-prefix', 'storage', 's3-bucket', 's3-endpoint', 's3-region', 's3-prefix', 's3-cache-dir', 'node-id', 'health-port', 'lease', 'max-interruptions'];
    for (const flag of serverFlags.filter((f) => !scaleFlags.includes(f))) {
      await assert.rejects(loadServerConfig({ argv: ['--token-secret=0123456789abcdef0123', `--data-dir=${work}`, `--${flag}=@@bad@@`], env: {} }).then(() => { throw new Error('accepted'); }), (e: Error) => !/Unknown option/.test(e.message), `--${flag}`);
    }
  });

  test('the same text from `beatsync help serve`', async () => {
    const [a, b] = await Promise.all([beatsync(['serve', '--help']), beatsync(['help', 'serve'])]);
    assert.equal(a.stdout, b.stdout);
  });

  for (const [name, flags] of [['sync', ['output', 'variant', 'compact-long-side', 'nudge-ms', 'json', 'help']], ['analyze', ['json', 'help']]] as const) {
    test(`${name} --help, in English and in Chinese`, async () => {
      for (const [lang, defaultWord] of [['en_US.UTF-8', '(default: '], ['zh_CN.UTF-8', '（默认：']] as const) {
        const run = await beatsync([name, '--help'], { LANG: lang });
        assert.equal(run.code, 0);
        assert.ok(run.stdout.includes(`beatsync ${name} <dance-video> <music>`), run.stdout);
        const lines = optionLines(run.stdout);
        assert.deepEqual(lines.map((l) => /--([a-z-]+)/.exec(l)![1]), [...flags]);
        for (const line of lines) {
          if (line.includes('--help')) continue;
          assert.ok(line.includes(defaultWord), `${lang}: ${line}`);
        }
      }
    });
  }

  test('sync --help names the defaults of --variant and --nudge-ms', async () => {
    const run = await beatsync(['sync', '--help']);
    assert.match(run.stdout, /--nudge-ms <ms> .*\(default: 0\)/);
    assert.match(run.stdout, /--variant <list> .*\(default: trimmed,full/);
  });

  test('an embedded `serve` (SQLite, local files) loads neither BullMQ, ioredis nor the S3 client', { timeout: 60_000 }, async () => {
    const record = join(work, 'modules-serve.txt');
    const child = spawn(NODE, ['--import', RECORDER, BIN, 'serve', '--port', '0', '--data-dir', join(work, 'serve-data'), '--shutdown-grace', '1'], {
      cwd: ROOT,
      env: { ...process.env, RECORD_MODULES: record },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const listening = new Promise<string>((resolve, reject) => {
      const look = (s: string) => {
        out += s;
        const url = /BeatSync listening on (http:\/\/\S+)/.exec(out)?.[1];
        if (url) resolve(url);
      };
      child.stdout.setEncoding('utf8').on('data', look);
      child.stderr.setEncoding('utf8').on('data', look);
      child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
    });
    const closed = new Promise((resolve) => child.once('close', resolve));
    try {
      const url = await listening;
      // A request that takes a session and reads a job: the API's usual path is loaded, not just the start.
      const session = await fetch(`${url}/api/session`, { method: 'POST' });
      assert.equal(session.status, 201);
      const { token } = (await session.json()) as { token: string };
      assert.equal((await fetch(`${url}/api/jobs/nope`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
    } finally {
      child.kill('SIGTERM');
      await closed;
    }
    const modules = (await readFile(record, 'utf8')).split('\n');
    assert.ok(modules.some((m) => m.includes('/node_modules/fastify/')), 'the recorder saw the server load');
    assert.deepEqual(modules.filter((url) => ['bullmq', 'ioredis', '@aws-sdk'].some((name) => url.includes(`/node_modules/${name}/`))), []);
  });
});
