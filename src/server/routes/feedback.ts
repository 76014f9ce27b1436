// "The sync is off": a job's owner records how far off it sounded (the nudge in ms that fixed it, or none),
// so bad cases can be collected; an admin lists them. Kept in the FileStore under feedback/<jobId>/, which
// works the same on local disk and object storage and needs nothing new from the job store.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import { readStoredJson, writeStoredJson } from '../../storage/json.ts';
import { bearerSecurity, requireToken } from '../auth.ts';
import { errorResponses, jobIdParams, loadOwnJob } from './job-view.ts';

export interface SyncFeedback {
  jobId: string;
  owner: string | null;
  /** The shift (ms) the user heard as right; null when they only said it was off. */
  nudgeMs: number | null;
  /** The shift the job was rendered with, and what the engine found: the case to reproduce. */
  jobNudgeMs: number;
  offsetSeconds: number | null;
  confidence: number | null;
  variant: string | null;
  comment: string;
  at: string;
}

const PREFIX = 'feedback/';
/** The admin list reads at most this many (newest first). */
const LIST_LIMIT = 500;


export default async function feedbackRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { id: string }; Body: { nudgeMs?: number | null; variant?: string; comment?: string } }>('/api/jobs/:id/feedback', {
    preHandler: requireToken,
    schema: {
      summary: 'Say that a finished job is out of sync (optionally by how much)',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          nudgeMs: { type: ['integer', 'null'], minimum: -600_000, maximum: 600_000 },
          variant: { type: 'string', maxLength: 32, pattern: '^[a-z0-9-]+$' },
          comment: { type: 'string', maxLength: 500 },
        },
      },
      response: { 201: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }, ...errorResponses },
    },
  }, async (request, reply) => {
    const job = await loadOwnJob(app.system.store, request.params.id, request.owner, request.isAdmin);
    if (job.state !== 'succeeded' || !job.result) throw new BeatSyncError('CONFLICT', 'only a finished job can be out of sync');
    const alignment = job.result.report?.alignment;
    const entry: SyncFeedback = {
      jobId: job.id,
      owner: job.owner,
      nudgeMs: request.body.nudgeMs ?? null,
      jobNudgeMs: job.result.report?.nudgeMs ?? 0,
      offsetSeconds: alignment?.offsetSeconds ?? null,
      confidence: alignment?.confidence ?? null,
      variant: request.body.variant ?? null,
      comment: request.body.comment ?? '',
      at: new Date().toISOString(),
    };
    // One object per press: nothing to read-modify-write, so two API nodes cannot lose each other's entry.
    const key = `${PREFIX}${encodeURIComponent(job.id)}/${Date.now()}-${randomUUID()}.json`;
    await writeStoredJson(app.system.files, key, entry, { maxBytes: 16 * 1024 });
    return reply.code(201).send({ ok: true });
  });

  app.get('/api/admin/feedback', {
    schema: {
      summary: 'Every "the sync is off" report, newest first (admin token)',
      tags: ['admin'],
      security: bearerSecurity,
      response: { 200: { type: 'object', properties: { feedback: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errorResponses },
    },
  }, async (request) => {
    if (!request.isAdmin) throw new BeatSyncError(request.owner ? 'NOT_FOUND' : 'UNAUTHORIZED');
    const keys: { key: string; mtimeMs: number }[] = [];
    for await (const object of app.system.files.list(PREFIX)) if (object.key.endsWith('.json')) keys.push(object);
    keys.sort((a, b) => b.key.split('/').pop()!.localeCompare(a.key.split('/').pop()!, 'en', { numeric: true }));
    const feedback: unknown[] = [];
    for (const { key } of keys.slice(0, LIST_LIMIT)) {
      // A job removed by retention may take its entry's object with it mid-list.
      feedback.push(await readStoredJson(app.system.files, key).catch(() => null));
    }
    return { feedback: feedback.filter(Boolean) };
  });
}
