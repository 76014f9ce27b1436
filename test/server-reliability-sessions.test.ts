// Session tokens expire when unused (each use renews them) and can be revoked — by their holder or the admin —
// with the revocation kept in the store, so another node (or a restarted one) refuses the token too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildServer } from '../src/server/app.ts';
import { rawRequest, startTestServer } from './helpers/server.ts';
import type { TestServer } from './helpers/server.ts';

const ADMIN = 'sessions-admin-token-0123';

describe('session lifetimes and revocation', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--session-ttl', '1.5', '--admin-token', ADMIN] });
  });
  after(() => server.close());

  const jobs = (token: string) => rawRequest(`${server.url}/api/jobs`, { headers: { authorization: `Bearer ${token}` } });
  function assertRefused(res: { status: number; body: string }, what: string): void {
    assert.equal(res.status, 401, `${what}: ${res.status} ${res.body}`);
    assert.deepEqual(JSON.parse(res.body), { error: { code: 'UNAUTHORIZED', message: 'Please sign in again (missing or invalid token).', retryable: false } }, what);
  }

  test('a token in use outlives its lifetime; an unused one expires', async () => {
    const created = await rawRequest(`${server.url}/api/session`, { method: 'POST' });
    const { token, expiresInSeconds } = JSON.parse(created.body) as { token: string; expiresInSeconds: number };
    assert.equal(expiresInSeconds, 2);
    const start = Date.now();
    while (Date.now() - start < 3_000) {
      assert.equal((await jobs(token)).status, 200, `in use after ${Date.now() - start} ms`);
      await sleep(400);
    }
    await sleep(2_000);
    assertRefused(await jobs(token), 'unused for longer than the lifetime');
    // An expired token never makes the health check fail.
    assert.equal((await rawRequest(`${server.url}/api/health`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('DELETE /api/session signs a token out; the admin revokes by token or session id; revocation is persisted', async () => {
    const [own, byToken, byId, other] = await Promise.all([server.session(), server.session(), server.session(), server.session()]);
    assert.equal((await rawRequest(`${server.url}/api/session`, { method: 'DELETE', headers: { authorization: `Bearer ${own}` } })).status, 204);
    assertRefused(await jobs(own), 'signed out');

    const revoke = (body: unknown, token = ADMIN) => rawRequest(`${server.url}/api/session/revoke`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)),
    });
    assert.equal((await revoke({ token: byToken }, other)).status, 401, 'only the admin revokes others');
    assert.equal((await jobs(byToken)).status, 200);
    assert.equal((await revoke({ token: byToken })).status, 204);
    assert.equal((await revoke({ sessionId: byId.split('.')[1] })).status, 204);
    assert.equal((await revoke({ token: 'bs1.forged.token' })).status, 400);
    assertRefused(await jobs(byToken), 'revoked by token');
    assertRefused(await jobs(byId), 'revoked by session id');
    assert.equal((await jobs(other)).status, 200, 'others unaffected');

    // A second node on the same store (or this one restarted) knows nothing in memory, and still refuses them.
    const second = await buildServer(server.config, { system: server.system, logger: false });
    try {
      for (const token of [own, byToken, byId]) {
        const res = await second.inject({ url: '/api/jobs', headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.statusCode, 401);
        assert.equal(res.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED');
      }
      assert.equal((await second.inject({ url: '/api/jobs', headers: { authorization: `Bearer ${other}` } })).statusCode, 200);
    } finally {
      await second.close();
    }
  });
});
