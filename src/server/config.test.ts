import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeConfig, loadServerConfig, parseBytes } from './config.ts';

describe('loadServerConfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beatsync-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('defaults, then environment, then flags', async () => {
    const base = await loadServerConfig({ argv: ['--data-dir', dir], env: {} });
    assert.equal(base.port, 8080);
    assert.equal(base.host, '127.0.0.1');
    assert.equal(base.maxUploadBytes, 1024 ** 3);
    assert.equal(base.maxDurationSeconds, 1200);
    assert.deepEqual(base.corsOrigins, []);
    const env = { BEATSYNC_PORT: '9000', BEATSYNC_MAX_UPLOAD_BYTES: '500M', BEATSYNC_CORS_ORIGINS: 'https://a.example, https://b.example/', BEATSYNC_TRUST_PROXY: 'yes' };
    const fromEnv = await loadServerConfig({ argv: ['--data-dir', dir], env });
    assert.equal(fromEnv.port, 9000);
    assert.equal(fromEnv.maxUploadBytes, 500 * 1024 ** 2);
    assert.deepEqual(fromEnv.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(fromEnv.trustProxy, true);
    const fromFlags = await loadServerConfig({ argv: ['--data-dir', dir, '--port', '7000', '--trust-proxy'], env: { ...env, BEATSYNC_TRUST_PROXY: 'no' } });
    assert.equal(fromFlags.port, 7000);
    assert.equal(fromFlags.trustProxy, true);
  });

  test('bad values and unknown flags are BAD_REQUEST naming the option', async () => {
    await assert.rejects(loadServerConfig({ argv: ['--data-dir', dir, '--port', '70000'], env: {} }), { code: 'BAD_REQUEST', message: /--port/ });
    await assert.rejects(loadServerConfig({ argv: ['--data-dir', dir], env: { BEATSYNC_MAX_UPLOAD_BYTES: 'lots' } }), { code: 'BAD_REQUEST', message: /BEATSYNC_MAX_UPLOAD_BYTES/ });
    await assert.rejects(loadServerConfig({ argv: ['--data-dir', dir, '--frobnicate'], env: {} }), { code: 'BAD_REQUEST' });
    await assert.rejects(loadServerConfig({ argv: ['--data-dir', dir, '--admin-token', 'short'], env: {} }), { code: 'BAD_REQUEST' });
  });

  test('the token secret is generated once, kept private in the data dir, and reused', async () => {
    const first = await loadServerConfig({ argv: ['--data-dir', dir], env: {} });
    const second = await loadServerConfig({ argv: ['--data-dir', dir], env: {} });
    assert.ok(first.tokenSecret.length >= 32);
    assert.equal(second.tokenSecret, first.tokenSecret);
    const file = join(dir, 'secrets', 'token-secret');
    assert.equal(await readFile(file, 'utf8'), first.tokenSecret);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const given = await loadServerConfig({ argv: ['--data-dir', dir], env: { BEATSYNC_TOKEN_SECRET: 'shared-by-every-api-node' } });
    assert.equal(given.tokenSecret, 'shared-by-every-api-node');
  });

  test('the printed configuration masks secrets', async () => {
    const config = await loadServerConfig({ argv: ['--data-dir', dir, '--admin-token', 'admin-token-0123456789'], env: {} });
    const text = describeConfig(config);
    assert.doesNotMatch(text, /admin-token-0123456789/);
    assert.ok(!text.includes(config.tokenSecret));
    assert.match(text, /admin token\s+\*{8} \(22 chars\)/);
  });
});

test('parseBytes', () => {
  assert.equal(parseBytes('1G'), 1024 ** 3);
  assert.equal(parseBytes('16K'), 16384);
  assert.equal(parseBytes('1.5MiB'), 1.5 * 1024 ** 2);
  assert.equal(parseBytes('123'), 123);
  assert.equal(parseBytes('-1'), null);
  assert.equal(parseBytes('ten'), null);
});
