// Liveness, readiness (job backend, storage space, ffmpeg) and Prometheus metrics.
import type { FastifyInstance } from 'fastify';
import { ffmpegVersion } from '../../media/index.ts';
import { IGNORE_BAD_TOKEN, requireAdmin } from '../auth.ts';

export type CheckState = 'ok' | 'failed';
export interface ReadinessCheck {
  state: CheckState;
  detail: string;
}

const CHECK_TIMEOUT_MS = 5000;

async function check(run: () => Promise<string>): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    return { state: 'ok', detail: await Promise.race([run(), timeout]) };
  } catch (error) {
    // Readiness is for operators: say what failed, but not as a stack trace.
    return { state: 'failed', detail: error instanceof Error ? error.message.split('\n')[0].slice(0, 200) : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

const checkSchema = { type: 'object', properties: { state: { type: 'string', enum: ['ok', 'failed'] }, detail: { type: 'string' } } };
const readySchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    checks: { type: 'object', properties: { jobs: checkSchema, storage: checkSchema, ffmpeg: checkSchema } },
  },
};

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const startedAt = Date.now();

  // Node names, free disk and job counts are for operators; whether the node is ready is for anyone (load balancers).
  const opsGuard = app.config.publicOps ? {} : { preHandler: requireAdmin };

  app.get('/api/health', {
    config: { rateLimit: false, ...IGNORE_BAD_TOKEN },
    schema: {
      summary: 'Alive: the process answers',
      tags: ['operations'],
      response: { 200: { type: 'object', properties: { status: { type: 'string' }, uptimeSeconds: { type: 'number' } } } },
    },
  }, async () => ({ status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }));

  app.get('/api/ready', {
    config: { rateLimit: false, ...IGNORE_BAD_TOKEN },
    schema: {
      summary: 'Ready: the job backend answers, storage has room, ffmpeg runs (503 otherwise)',
      description: 'The checks\' details only with the admin token (or when the server makes operations routes public).',
      tags: ['operations'],
      response: { 200: readySchema, 503: readySchema },
    },
  }, async (request, reply) => {
    const [jobs, storage, ffmpeg] = await Promise.all([
      check(async () => {
        const stats = await app.system.store.stats();
        return `${stats.queueDepth} waiting, ${stats.byState.running ?? 0} running`;
      }),
      check(async () => {
        const free = await app.system.files.freeBytes();
        if (free === null) return 'free space unknown';
        const text = `${(free / 2 ** 30).toFixed(1)} GiB free`;
        // Below this much free space new uploads could not be taken: not ready.
        if (free < app.config.minFreeDisk.readyBytes) throw new Error(`only ${text}`);
        return text;
      }),
      check(async () => `ffmpeg ${await ffmpegVersion()}`),
    ]);
    const ready = jobs.state === 'ok' && storage.state === 'ok' && ffmpeg.state === 'ok';
    reply.code(ready ? 200 : 503);
    return reply.send(app.config.publicOps || request.isAdmin ? { ready, checks: { jobs, storage, ffmpeg } } : { ready });
  });

  app.get('/metrics', {
    ...opsGuard,
    config: { rateLimit: false },
    schema: { summary: 'Prometheus metrics of this node', tags: ['operations'], produces: ['text/plain'], response: { 200: { type: 'string' } } },
  }, async (_request, reply) => {
    const text = await app.metrics.registry.metrics();
    return reply.type(app.metrics.registry.contentType).send(text);
  });
}
