// Job routes: submit a sync job, read it, follow it live (Server-Sent Events), cancel, delete, retry, list, stats.
// The HTTP layer validates, authorises (someone else's job is 404) and translates; the job system does the rest.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import type { Lang } from '../../errors.ts';
import { checkOwnerJobs } from '../../jobs/admission.ts';
import type { JobEvent, JobState, JobStore } from '../../jobs/types.ts';
import { bearerSecurity, requireAdmin, requireToken } from '../auth.ts';
import {
  acceptedSchema, errorResponses, eventView, isTerminal, JOB_STATES, jobIdParams, jobLinks, jobSchema, jobView, loadOwnJob,
  SYNC_JOB_TYPE, syncOptionsSchema,
} from './job-view.ts';
import type { SyncInput, SyncJob } from './job-view.ts';

export interface JobRoutesOptions {
  /** Comment lines that keep SSE connections (and proxies) alive; ~15 s. */
  heartbeatMs?: number;
}

interface IdParams { id: string }

export default async function jobRoutes(app: FastifyInstance, opts: JobRoutesOptions): Promise<void> {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const store = (): JobStore => app.system.store;
  const retentionMs = (): number => app.config.retentionSeconds * 1000;
  const pace = queuePace(store);
  const view = async (job: SyncJob, request: FastifyRequest, envelopes = true) => {
    const queuePosition = await queuePositionOf(store(), job);
    const queueWaitSeconds = queuePosition === null ? null : await pace.waitSeconds(queuePosition, job.estimatedSeconds);
    return jobView(job, { lang: request.lang, queuePosition, queueWaitSeconds, retentionMs: retentionMs(), envelopes });
  };

  const cancelAndView = async (job: SyncJob, request: FastifyRequest) => {
    await store().cancel(job.id);
    return view(await loadOwnJob(store(), job.id, request.owner, request.isAdmin), request);
  };

  app.post<{ Body: { danceFileId: string; bgmFileId: string; options?: SyncInput['options'] }; Headers: { 'idempotency-key'?: string } }>('/api/jobs', {
    preHandler: requireToken,
    schema: {
      summary: 'Submit a sync job (dance video + music)',
      tags: ['jobs'],
      security: bearerSecurity,
      headers: {
        type: 'object',
        properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, description: 'Same key + same token → the same job' } },
      },
      body: {
        type: 'object',
        required: ['danceFileId', 'bgmFileId'],
        additionalProperties: false,
        properties: {
          danceFileId: { type: 'string', minLength: 1, maxLength: 128 },
          bgmFileId: { type: 'string', minLength: 1, maxLength: 128 },
          options: syncOptionsSchema,
        },
      },
      response: { 200: acceptedSchema, 202: acceptedSchema, ...errorResponses },
    },
  }, async (request, reply) => {
    const { danceFileId, bgmFileId } = request.body;
    const options = request.body.options ?? {};
    const idempotencyKey = request.headers['idempotency-key'] ?? null;
    // Both uploads must be the caller's; "not found" rather than "not yours".
    await uploadOrFileNotFound(app, danceFileId, request);
    await uploadOrFileNotFound(app, bgmFileId, request);
    const input: SyncInput = { danceFileId, bgmFileId, options };

    try {
      await checkJobQuota(store(), request.owner, request.isAdmin, app.config.quota.runningJobs);
    } catch (err) {
      // A replay of an accepted request must not be refused by the quota it already counts in.
      if (idempotencyKey === null || !(await sameKeyJobExists(store(), request.owner, idempotencyKey))) throw err;
    }
    const { job, created } = await app.system.submit(SYNC_JOB_TYPE, input, { owner: request.owner, idempotencyKey, priority: 0 });
    if (!created && idempotencyKey !== null && job.idempotencyKey === idempotencyKey && !sameInput(job.input as SyncInput, input)) {
      throw new BeatSyncError('CONFLICT', 'this Idempotency-Key was used for a different request');
    }
    reply.code(created ? 202 : 200).header('location', jobLinks(job.id).self);
    return { jobId: job.id, status: job.state, estimatedSeconds: job.estimatedSeconds, links: jobLinks(job.id) };
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id', {
    preHandler: requireToken,
    schema: {
      summary: 'A job: state, progress, queue position, times, result or error',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      response: { 200: jobSchema, ...errorResponses },
    },
  }, async (request) => view(await loadOwnJob(store(), request.params.id, request.owner, request.isAdmin), request));

  app.delete<{ Params: IdParams }>('/api/jobs/:id', {
    preHandler: requireToken,
    schema: {
      summary: 'Cancel a live job, or delete a finished one with its outputs',
      description:
        'A queued, running or retrying job is cancelled (a running one stops within a heartbeat) and answered 200 with its state. ' +
        'A succeeded, failed or cancelled job is deleted with its output files: 204, and afterwards the job and its downloads are 404. ' +
        'The uploads it used stay until their own retention. To cancel without ever deleting, use POST /api/jobs/{id}/cancel.',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      response: { 200: jobSchema, 204: { description: 'The finished job and its outputs were deleted', type: 'null' }, ...errorResponses },
    },
  }, async (request, reply) => {
    const job = await loadOwnJob(store(), request.params.id, request.owner, request.isAdmin);
    if (!isTerminal(job.state)) return cancelAndView(job, request);
    // Gone meanwhile (another delete, retention): the answer is the same as for a missing job.
    if (!(await app.system.deleteJob(job.id))) throw new BeatSyncError('NOT_FOUND', 'job');
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/api/jobs/:id/cancel', {
    preHandler: requireToken,
    schema: {
      summary: 'Cancel a job; never deletes (a finished job is answered as it is)',
      description: 'For a Cancel button: a job that finished just before the click keeps its result.',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      response: { 200: jobSchema, ...errorResponses },
    },
  }, async (request) => {
    const job = await loadOwnJob(store(), request.params.id, request.owner, request.isAdmin);
    if (isTerminal(job.state)) return view(job, request);
    return cancelAndView(job, request);
  });

  app.post<{ Params: IdParams }>('/api/jobs/:id/retry', {
    preHandler: requireToken,
    schema: {
      summary: 'Run a failed or cancelled job again',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      response: { 202: jobSchema, ...errorResponses },
    },
  }, async (request, reply) => {
    const job = await loadOwnJob(store(), request.params.id, request.owner, request.isAdmin);
    if (job.state !== 'failed' && job.state !== 'cancelled') throw new BeatSyncError('CONFLICT', `only failed or cancelled jobs can be retried (this one is ${job.state})`);
    await checkJobQuota(store(), request.owner, request.isAdmin, app.config.quota.runningJobs);
    await store().retry(job.id);
    reply.code(202);
    return view(await loadOwnJob(store(), job.id, request.owner, request.isAdmin), request);
  });

  app.get<{ Querystring: { status?: JobState; cursor?: string; limit?: number } }>('/api/jobs', {
    preHandler: requireToken,
    schema: {
      summary: "The caller's jobs, newest first (history)",
      tags: ['jobs'],
      security: bearerSecurity,
      querystring: {
        type: 'object',
        properties: {
          status: { type: 'string', enum: JOB_STATES },
          cursor: { type: 'string', maxLength: 512 },
          limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: { jobs: { type: 'array', items: jobSchema }, nextCursor: { anyOf: [{ type: 'string' }, { type: 'null' }] } },
        },
        ...errorResponses,
      },
    },
  }, async (request) => {
    const { status, cursor, limit } = request.query;
    const page = await store().list({
      // The admin token lists everyone's jobs.
      ...(request.isAdmin ? {} : { owner: request.owner }),
      state: status,
      cursor: cursor ?? null,
      limit: limit ?? 20,
    });
    const jobs = [];
    for (const job of page.jobs) {
      if (job.type !== SYNC_JOB_TYPE) continue;
      jobs.push(await view(job as SyncJob, request, false));
    }
    return { jobs, nextCursor: page.nextCursor };
  });

  app.get('/api/stats', {
    ...(app.config.publicOps ? {} : { preHandler: requireAdmin }),
    schema: {
      summary: 'Service statistics: success rate, mean duration, queue depth',
      tags: ['jobs'],
      response: {
        200: {
          type: 'object',
          properties: {
            successRate: { anyOf: [{ type: 'number' }, { type: 'null' }], description: 'succeeded / (succeeded + failed), 0..1' },
            meanDurationSeconds: { anyOf: [{ type: 'number' }, { type: 'null' }] },
            queueDepth: { type: 'integer' },
            byState: { type: 'object', properties: Object.fromEntries(JOB_STATES.map((s) => [s, { type: 'integer' }])) },
          },
        },
        ...errorResponses,
      },
    },
  }, async () => {
    const s = await store().stats();
    return { successRate: s.successRate, meanDurationSeconds: s.meanDurationSeconds, queueDepth: s.queueDepth, byState: s.byState };
  });

  // ---- Server-Sent Events ----
  const openStreams = new Set<() => void>();
  // Open streams would keep server.close() waiting forever: end them first (clients reconnect with Last-Event-ID).
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });

  app.get<{ Params: IdParams; Querystring: { lastEventId?: string } }>('/api/jobs/:id/events', {
    preHandler: requireToken,
    schema: {
      summary: 'Live progress and state (Server-Sent Events); resumable with Last-Event-ID',
      description:
        'Each message has `id:` = the event number, `event:` state|progress and JSON data. Old events after Last-Event-ID ' +
        '(header, or `?lastEventId=`) are replayed first. The last event is always the terminal state, then the stream ends. ' +
        'A comment line is sent every ~15 s. Resuming after the terminal event answers 204 (EventSource then stops reconnecting).',
      tags: ['jobs'],
      security: bearerSecurity,
      params: jobIdParams,
      headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 20 } } },
      querystring: { type: 'object', properties: { lastEventId: { type: 'string', maxLength: 20 } } },
      response: {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        204: { description: 'Nothing left to send: the job ended before Last-Event-ID', type: 'null' },
        ...errorResponses,
      },
    },
  }, async (request, reply) => {
    const job = await loadOwnJob(store(), request.params.id, request.owner, request.isAdmin);
    const header = request.headers['last-event-id'];
    const after = parseEventId((Array.isArray(header) ? header[0] : header) ?? request.query.lastEventId);
    return streamEvents({ store: store(), job, after, request, reply, heartbeatMs, openStreams });
  });
}

/** How long the queue takes to move, read from the store's stats at most every few seconds (every poll asks). */
const PACE_MS = 5_000;

/**
 * Seconds until a queued job at `position` starts: the jobs ahead and the running ones' rest, shared by the
 * workers now busy (at least one), each taking the mean run time of the last day (or this job's estimate).
 */
export function estimateQueueWait(position: number, running: number, meanSeconds: number): number {
  const slots = Math.max(1, running);
  const ahead = position - 1 + running / 2;
  return Math.round((ahead / slots) * meanSeconds);
}

function queuePace(store: () => JobStore) {
  let read: { at: number; running: number; meanSeconds: number | null } | null = null;
  let reading: Promise<void> | null = null;
  return {
    async waitSeconds(position: number, estimatedSeconds: number | null): Promise<number | null> {
      if (!read || Date.now() - read.at > PACE_MS) {
        reading ??= store().stats().then((s) => {
          read = { at: Date.now(), running: s.byState.running, meanSeconds: s.meanDurationSeconds };
        }).finally(() => (reading = null));
        await reading;
      }
      const mean = read!.meanSeconds ?? estimatedSeconds;
      return mean === null ? null : estimateQueueWait(position, read!.running, mean);
    },
  };
}

async function queuePositionOf(store: JobStore, job: SyncJob): Promise<number | null> {
  return job.state === 'queued' || job.state === 'retrying' ? store.queuePosition(job.id) : null;
}

function parseEventId(text: string | undefined): number {
  if (text === undefined || !/^\s*\d{1,15}\s*$/.test(text)) return 0;
  return Number(text);
}

async function uploadOrFileNotFound(app: FastifyInstance, fileId: string, request: FastifyRequest): Promise<void> {
  try {
    await app.uploads.get(fileId, request.owner, request.isAdmin);
  } catch (err) {
    if (err instanceof BeatSyncError && err.code === 'NOT_FOUND') throw new BeatSyncError('FILE_NOT_FOUND', `upload ${fileId}`);
    throw err;
  }
}

function sameInput(a: SyncInput, b: SyncInput): boolean {
  // compactLongSide changes the compact video, so it is part of what "the same request" means.
  const norm = (x: SyncInput) =>
    JSON.stringify([x.danceFileId, x.bgmFileId, [...(x.options?.variants ?? [])].sort(), x.options?.nudgeMs ?? 0, x.options?.compactLongSide ?? 1280]);
  return norm(a) === norm(b);
}

async function sameKeyJobExists(store: JobStore, owner: string | null, key: string): Promise<boolean> {
  let cursor: string | null = null;
  for (let page = 0; page < 5; page++) {
    const res = await store.list({ owner, cursor, limit: 100 });
    if (res.jobs.some((j) => j.idempotencyKey === key)) return true;
    if (!res.nextCursor) return false;
    cursor = res.nextCursor;
  }
  return false;
}

/** Per-token limit of queued, retrying and running jobs: TOO_MANY_JOBS (429, Retry-After); the admin token is exempt. */
export async function checkJobQuota(store: JobStore, owner: string | null, isAdmin: boolean, limit: number): Promise<void> {
  if (isAdmin) return;
  await checkOwnerJobs(store, owner, limit);
}

// A live event reaches every stream of its job as the same object: format it once per language, not once per client.
const formatted = new WeakMap<JobEvent, Map<string, Promise<string>>>();

function formatEvent(store: JobStore, jobId: string, event: JobEvent, final: boolean, lang: Lang): Promise<string> {
  const key = `${lang}:${final}`;
  let byLang = formatted.get(event);
  if (!byLang) {
    byLang = new Map();
    formatted.set(event, byLang);
  }
  let text = byLang.get(key);
  if (!text) {
    text = (async () => {
      const current = final && event.state === 'succeeded' ? ((await store.get(jobId)) as SyncJob | null) : null;
      return `id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(eventView(event, current, lang))}\n\n`;
    })();
    byLang.set(key, text);
    text.catch(() => byLang.delete(key));
  }
  return text;
}

interface StreamContext {
  store: JobStore;
  job: SyncJob;
  after: number;
  request: FastifyRequest;
  reply: FastifyReply;
  heartbeatMs: number;
  openStreams: Set<() => void>;
}

/**
 * Replays stored events after `after`, then forwards live ones, in seq order without duplicates.
 * Subscribing before reading the stored events closes the gap between the two; the heartbeat also
 * re-reads the store, so an event a live listener missed (another node, a hiccup) still arrives.
 */
async function streamEvents(ctx: StreamContext): Promise<FastifyReply> {
  const { store, job, request, reply } = ctx;
  let lastSeq = ctx.after;
  let buffered: JobEvent[] | null = [];
  let closed = false;
  let chain: Promise<void> = Promise.resolve();
  const out = new PassThrough();

  const unsubscribe = store.subscribe(job.id, (event) => {
    if (buffered) buffered.push(event);
    else enqueue([event]);
  });
  const heartbeat: { timer?: NodeJS.Timeout } = {};

  const end = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(heartbeat.timer);
    ctx.openStreams.delete(end);
    out.end();
  };

  // Within one batch a terminal event ends the stream only when nothing follows it (a retried job goes on).
  // A batch (a reconnect's replayed history) goes out as one write: one syscall, not one per event.
  const deliver = async (events: JobEvent[]) => {
    const fresh = events.filter((e) => e.seq > lastSeq).sort((a, b) => a.seq - b.seq);
    let batch = '';
    let final = false;
    for (let i = 0; i < fresh.length && !closed; i++) {
      const event = fresh[i];
      if (event.seq <= lastSeq) continue;
      final = isTerminal(event.state) && i === fresh.length - 1;
      batch += await formatEvent(store, job.id, event, final, request.lang);
      lastSeq = event.seq;
    }
    if (closed) return;
    if (batch) out.write(batch);
    if (final) end();
  };
  const enqueue = (events: JobEvent[]) => {
    chain = chain.then(() => deliver(events)).catch((err) => {
      request.log.warn({ err }, 'SSE delivery failed');
      end();
    });
  };

  let stored: JobEvent[];
  let current: SyncJob | null;
  try {
    stored = await store.events(job.id, ctx.after);
    current = (await store.get(job.id)) as SyncJob | null;
  } catch (err) {
    unsubscribe();
    throw err;
  }
  const pending = buffered;
  buffered = null;
  if (stored.length === 0 && pending.length === 0 && (!current || isTerminal(current.state))) {
    // The client already has the terminal event: 204 tells EventSource to stop reconnecting.
    unsubscribe();
    return reply.code(204).send();
  }

  ctx.openStreams.add(end);
  reply.raw.on('close', end);
  heartbeat.timer = setInterval(() => {
    if (closed) return;
    out.write(': keep-alive\n\n');
    chain = chain
      .then(async () => deliver(await store.events(job.id, lastSeq)))
      .catch((err) => request.log.warn({ err }, 'SSE catch-up failed'));
  }, ctx.heartbeatMs);
  heartbeat.timer.unref();

  out.write('retry: 3000\n\n');
  enqueue(stored);
  enqueue(pending);
  reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .header('x-accel-buffering', 'no');
  return reply.send(out);
}
