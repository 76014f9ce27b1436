// The worker role's small listener guards /metrics and the readiness details like the API nodes do: the admin
// token, or --public-metrics; liveness and the bare readiness answer stay public.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startWorkerListener } from '../src/cli/worker-node.ts';
import { openJobSystem } from '../src/jobs/index.ts';
import type { JobSystem } from '../src/jobs/index.ts';

const ADMIN = 'admin-token-0123456789';

describe('the worker listener', () => {
  let dataDir: string;
  let system: JobSystem;
  const servers: Server[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'beatsync-worker-listener-'));
    system = await openJobSystem({ dataDir, startWorkers: false, concurrency: 1 });
  });

  after(async () => {
    for (const s of servers) s.close();
    await system?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function listen(access: { publicOps: boolean; adminToken: string | null }): Promise<string> {
    const server = await startWorkerListener(system, 'w1', 0, '127.0.0.1', access);
    servers.push(server);
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no TCP address');
    return `http://127.0.0.1:${address.port}`;
  }

  test('without the admin token: health and a bare readiness answer, no metrics', async () => {
    const url = await listen({ publicOps: false, adminToken: ADMIN });
    assert.equal((await fetch(`${url}/api/health`)).status, 200);
    const ready = await fetch(`${url}/api/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true });
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${ADMIN}`]) {
      const metrics = await fetch(`${url}/metrics`, { headers: authorization ? { authorization } : {} });
      assert.equal(metrics.status, 401, String(authorization));
      assert.equal(((await metrics.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    }
  });

  test('with the admin token: metrics and the readiness details', async () => {
    const url = await listen({ publicOps: false, adminToken: ADMIN });
    const headers = { authorization: `Bearer ${ADMIN}` };
    const metrics = await fetch(`${url}/metrics`, { headers });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /beatsync_worker_slots\{node="w1"\}/);
    const ready = (await (await fetch(`${url}/api/ready`, { headers })).json()) as { checks: { jobs: { state: string } } };
    assert.equal(ready.checks.jobs.state, 'ok');
  });

  test('no admin token configured: metrics only with --public-metrics', async () => {
    const closed = await listen({ publicOps: false, adminToken: null });
    assert.equal((await fetch(`${closed}/metrics`)).status, 401);
    const open = await listen({ publicOps: true, adminToken: null });
    assert.equal((await fetch(`${open}/metrics`)).status, 200);
  });
});
