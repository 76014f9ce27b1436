// The worker role's only listener: /api/health (alive), /api/ready (job backend and storage answer) and
// /metrics (Prometheus, labelled with the node id so a scrape of every node aggregates). No job API. As on the
// API nodes, /metrics and the readiness details need the admin token unless --public-metrics says otherwise.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { JobSystem } from '../jobs/index.ts';
import type { JobState } from '../jobs/types.ts';
import { sameSecret } from '../server/auth.ts';
import { stopOnSignal } from './stop-on-signal.ts';

const STATES: JobState[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];
const CHECK_TIMEOUT_MS = 5000;

export function workerMetrics(system: JobSystem, nodeId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: 'beatsync_' });
  new Gauge({
    name: 'beatsync_worker_active_jobs',
    help: 'Jobs this worker node runs now',
    registers: [registry],
    collect() {
      this.set(system.pool?.activeCount ?? 0);
    },
  });
  new Gauge({
    name: 'beatsync_worker_slots',
    help: 'Jobs this worker node may run at once',
    registers: [registry],
    collect() {
      this.set(system.pool?.concurrency ?? 0);
    },
  });
  const jobs = new Gauge({
    name: 'beatsync_jobs_by_state',
    help: 'Jobs in the shared backend by state (same value on every node: aggregate with max, not sum)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const stats = await system.store.stats();
      for (const s of STATES) jobs.set({ state: s }, stats.byState[s] ?? 0);
    },
  });
  return registry;
}

async function within<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface WorkerListenerAccess {
  /** /metrics and the readiness details without a token. */
  publicOps: boolean;
  adminToken: string | null;
}

/** Starts the listener; resolves with the server once it listens. */
export async function startWorkerListener(system: JobSystem, nodeId: string, port: number, host: string, access: WorkerListenerAccess): Promise<Server> {
  const registry = workerMetrics(system, nodeId);
  const startedAt = Date.now();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const trusted = access.publicOps || (access.adminToken !== null && auth !== undefined && sameSecret(auth, access.adminToken));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: { code: 'BAD_REQUEST' } });
    if (path === '/api/health') return send(200, { status: 'ok', role: 'worker', node: nodeId, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
    if (path === '/api/ready') {
      void Promise.allSettled([within(system.store.stats()), within(system.files.freeBytes())]).then(([jobs, storage]) => {
        const state = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled'
          ? { state: 'ok', detail: 'answers' }
          : { state: 'failed', detail: String((r.reason as Error)?.message ?? r.reason).split('\n')[0].slice(0, 200) });
        const checks = { jobs: state(jobs), storage: state(storage) };
        const ready = jobs.status === 'fulfilled' && storage.status === 'fulfilled';
        send(ready ? 200 : 503, trusted ? { ready, node: nodeId, checks } : { ready });
      });
      return;
    }
    if (path === '/metrics') {
      if (!trusted) return send(401, { error: { code: 'UNAUTHORIZED', message: 'this route needs the admin token', retryable: false } });
      void registry.metrics().then((text) => send(200, text, registry.contentType), (err: Error) => send(500, err.message, 'text/plain'));
      return;
    }
    send(404, { error: { code: 'NOT_FOUND' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * Runs a worker-only node until SIGTERM/SIGINT: starts the job system (workers + janitor) and the
 * small health listener; on a signal stops claiming, lets running jobs finish within the grace period
 * and hands the rest back. Resolves with the exit code.
 */
export async function runWorkerNode(
  system: JobSystem,
  options: { nodeId: string; healthPort: number; host: string; graceMs: number; access: WorkerListenerAccess },
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void,
): Promise<number> {
  let listener: Server | null = null;
  try {
    await system.start();
    if (options.healthPort > 0) listener = await startWorkerListener(system, options.nodeId, options.healthPort, options.host, options.access);
    process.stdout.write(`BeatSync worker ${options.nodeId} running ${system.pool?.concurrency ?? 0} job slots${listener ? `, health on ${options.host}:${options.healthPort}` : ''}\n`);
  } catch (error) {
    process.stderr.write(`beatsync serve: cannot start the worker: ${(error as Error).message}\n`);
    listener?.close();
    await system.close().catch(() => undefined);
    return 1;
  }
  return stopOnSignal(async (signal) => {
    log('info', 'worker shutting down: running jobs get the grace period', { signal, graceMs: options.graceMs });
    await system.stop({ graceMs: options.graceMs });
    await system.close();
    listener?.close();
  }, {
    onError: (error) => log('error', 'shutdown failed', { error: (error as Error).message }),
  });
}
