// A fresh install serves the page (issue #12 item 3): `bash scripts/setup.sh` builds it into the directory
// `beatsync serve` serves by default. The script itself runs here, with its installers replaced by recorders on
// PATH (the test must not run apt or npm ci): npm's `run build:web` runs the real Vite build, into a temp dir.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import viteConfig from '../vite.config.ts';
import { loadServerConfig } from '../src/server/config.ts';
import { removeDataDir } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { rawRequest, startApiWithoutWorkers } from './helpers/clients.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

describe('scripts/setup.sh builds the page that beatsync serve serves', () => {
  let scratch: string;
  let outDir: string;
  let npmLog: string;
  let api: RunningApi | undefined;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'beatsync-setup-'));
    outDir = join(scratch, 'web');
    npmLog = join(scratch, 'npm.log');
    const bin = join(scratch, 'bin');
    await mkdir(bin);
    const shim = async (name: string, body: string) => {
      await writeFile(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
      await chmod(join(bin, name), 0o755);
    };
    // Present, so the script installs no system packages; apt or sudo would fail the run.
    for (const name of ['ffmpeg', 'ffprobe', 'redis-server']) await shim(name, 'exit 0');
    for (const name of ['apt-get', 'sudo']) await shim(name, `echo "setup ran ${name}" >&2; exit 97`);
    // npm: recorded; the page build runs for real (package.json's build:web is `vite build`, checked below).
    await shim('npm', [
      'echo "$*" >> "$NPM_LOG"',
      'if [ "$1 $2" = "run build:web" ]; then exec "$PWD/node_modules/.bin/node" "$PWD/node_modules/vite/bin/vite.js" build --outDir "$WEB_OUT" --emptyOutDir; fi',
      'exit 0',
    ].join('\n'));
    await run('bash', [join(ROOT, 'scripts/setup.sh')], {
      cwd: scratch,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NPM_LOG: npmLog, WEB_OUT: outDir, BEATSYNC_SKIP_BROWSER: '1' },
      timeout: 120_000,
    });
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
    await rm(scratch, { recursive: true, force: true });
  });

  test('the script installs the packages, then builds the page', async () => {
    const calls = (await readFile(npmLog, 'utf8')).trim().split('\n');
    assert.match(calls[0], /^(ci|install) /);
    assert.equal(calls.at(-1), 'run build:web', 'the page is built last, after the packages it needs');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['build:web'], 'vite build');
    assert.ok((await stat(join(outDir, 'index.html'))).isFile());
  });

  test('that build is what `beatsync serve` serves at / by default', async () => {
    const defaults = await loadServerConfig({ argv: ['--data-dir', join(scratch, 'data')], env: {} });
    assert.equal(defaults.webDir, resolve(String(viteConfig.build?.outDir)));
    assert.equal(defaults.webDir, join(ROOT, 'dist/web'));

    api = await startApiWithoutWorkers(['--web-dir', outDir]);
    const page = await rawRequest(`${api.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body.toString(), /<div id="app"><\/div>/);
    const script = /<script[^>]+src="([^"]+)"/.exec(page.body.toString())?.[1];
    assert.ok(script, 'the page loads its script');
    assert.equal((await rawRequest(`${api.url}${script}`)).status, 200);
    // Uptime pingers.
    const head = await rawRequest(`${api.url}/api/health`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });
});
