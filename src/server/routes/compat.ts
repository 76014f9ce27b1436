// The earlier service's API, kept byte-for-byte in field names so its web and phone clients keep working:
// POST /api/upload, POST /api/process, GET /api/status/{task_id}, GET /api/download/{task_id}, GET /api/task/{task_id}.
//
// Access: these routes need no token. Without one they run in "legacy" mode (owner null): a legacy caller sees
// only legacy uploads and tasks, never a token's. The trade-off: legacy things are shared by all legacy callers,
// so the unguessable 22-character ids are the only protection. With a token (header or `?access_token=`), the
// routes act for that token like the new API, and still see legacy things: a client that made a task before it
// had a token keeps it (anyone may read legacy things anyway, so this gives a token holder nothing new).
//
// Job caps: with a token, /api/process applies the same per-owner live-job quota as POST /api/jobs. Legacy
// callers share one owner, so they are capped per client IP instead (`--quota-jobs-ip`). The job record has no
// field for the IP, so a legacy job carries it, as a keyed hash, in its idempotency key (`legacy-ip:<hash>:<random>`):
// durable, shared by every API node, and never matching another submit.
//
// Language: the old service spoke Chinese, and its clients show `message` as is: without an Accept-Language
// header these routes answer in zh-CN.
//
// What `modular_status` and `v2_status` hold: the old service rendered two versions separately; here one job
// renders both, as the `trimmed` (modular) and `full` (v2) variants. Each field is that variant's status in the
// old vocabulary: "pending" while the task waits, "processing" while it runs, "success" when the task succeeded
// and that variant's file exists, "failed" when the task failed or was cancelled (or the variant is missing).
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError, messageFor, toBeatSyncError } from '../../errors.ts';
import type { Lang } from '../../errors.ts';
import type { JobState, JobStore } from '../../jobs/types.ts';
import { checkDanceInput } from '../../media/index.ts';
import type { VariantName } from '../../pipeline/types.ts';
import { quotaMarkerKey, uploadDataKey, uploadMetaKey } from '../../storage/types.ts';
import type { UploadMeta } from '../../storage/types.ts';
import { sendVariant } from './downloads.ts';
import { checkJobQuota } from './jobs.ts';
import { errorResponses, jobIdParams, SYNC_JOB_TYPE } from './job-view.ts';
import type { SyncInput, SyncJob } from './job-view.ts';

type LegacyType = 'dance' | 'bgm';
type OldStatus = 'pending' | 'processing' | 'success' | 'failed';

const VERSION_VARIANT: Record<'modular' | 'v2', VariantName> = { modular: 'trimmed', v2: 'full' };
/** Prefix of the idempotency key that tags a legacy job with its client (see the top of this file). */
const LEGACY_IP_KEY = 'legacy-ip:';
/** A job cap answer (429/503) tells the client when to come back. */
const CAP_RETRY_AFTER_SECONDS = 60;

/** The old service fell back to modular for any other `version`. */
const variantOfVersion = (version: string | undefined): VariantName => (version?.trim().toLowerCase() === 'v2' ? VERSION_VARIANT.v2 : VERSION_VARIANT.modular);
const downloadUrl = (id: string, version: 'modular' | 'v2'): string => `/api/download/${encodeURIComponent(id)}?version=${version}`;

const OLD_STATUS: Record<JobState, OldStatus> = {
  queued: 'pending',
  running: 'processing',
  retrying: 'processing',
  succeeded: 'success',
  failed: 'failed',
  cancelled: 'failed',
};

const TEXT = {
  uploaded: { en: 'File uploaded successfully', zh: '文件上传成功' },
  submitted: { en: 'Task submitted, processing will start shortly', zh: '任务已提交，即将开始处理' },
  pending: { en: 'Waiting in the queue', zh: '排队等待中' },
  processing: { en: 'Processing', zh: '处理中' },
  success: { en: 'Processing complete', zh: '处理完成' },
} as const;

const say = (key: keyof typeof TEXT, lang: Lang): string => (lang === 'zh-CN' ? TEXT[key].zh : TEXT[key].en);

function variantStatus(job: SyncJob, variant: VariantName): OldStatus {
  const status = OLD_STATUS[job.state];
  if (status !== 'success') return status;
  return job.result?.variants.some((v) => v.variant === variant) ? 'success' : 'failed';
}

function progressOf(job: SyncJob): number {
  return job.state === 'succeeded' ? 100 : Math.max(0, Math.min(100, Math.round(job.progress.percent)));
}

function messageOf(job: SyncJob, lang: Lang): string {
  if (job.error && (job.state === 'failed' || job.state === 'cancelled')) return messageFor(job.error.code, lang);
  if (job.state === 'succeeded') return say('success', lang);
  if (job.state === 'queued') return say('pending', lang);
  return job.progress.message || say('processing', lang);
}

const taskParams = {
  type: 'object',
  properties: { task_id: jobIdParams.properties.id },
  required: ['task_id'],
} as const;

const compatErrors = errorResponses;

function stringField(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  // @fastify/multipart field objects carry their text in `value`.
  if (value && typeof value === 'object' && 'value' in value && typeof (value as { value: unknown }).value === 'string') return (value as { value: string }).value;
  return undefined;
}

function legacyTypeOf(value: string | undefined): LegacyType {
  const t = value?.trim().toLowerCase();
  if (t === 'dance' || t === 'bgm') return t;
  throw new BeatSyncError('BAD_REQUEST', 'file_type must be "dance" or "bgm"');
}

export default async function compatRoutes(app: FastifyInstance): Promise<void> {
  // Runs after the auth hook, which set request.lang from the header (or 'en'). `*` states no preference either.
  app.addHook('onRequest', async (request) => {
    const wanted = request.headers['accept-language']?.trim();
    if (!wanted || wanted === '*') request.lang = 'zh-CN';
  });

  // The old client posted /api/process as an HTML form. Fastify parses JSON only; this parser is local to this plugin.
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: app.config.bodyLimitBytes }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
  }

  // Errors keep the product's { error: {…} } shape and add the old service's `detail` string, which its clients show.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    try {
      const body = JSON.parse(payload) as { error?: { message?: string; detail?: string }; detail?: unknown };
      const text = body.error?.detail ? `${body.error.message} (${body.error.detail})` : body.error?.message;
      if (text && body.detail === undefined) return JSON.stringify({ ...body, detail: text });
    } catch {
      // not JSON after all: leave it alone
    }
    return payload;
  });

  app.post('/api/upload', {
    schema: {
      summary: 'Old client: upload the dance video or the music (multipart `file` + `file_type`)',
      tags: ['compat'],
      consumes: ['multipart/form-data'],
      response: {
        200: {
          type: 'object',
          properties: { file_id: { type: 'string' }, file_type: { type: 'string', enum: ['dance', 'bgm'] }, filename: { type: 'string' }, size: { type: 'integer' }, message: { type: 'string' } },
          required: ['file_id', 'file_type', 'filename', 'size', 'message'],
        },
        ...compatErrors,
      },
    },
  }, async (request, reply) => {
    if (!request.isMultipart()) throw new BeatSyncError('BAD_REQUEST', 'send multipart/form-data with `file` and `file_type`');
    // Whatever goes wrong, the rest of a big body is not worth reading: close the connection after answering.
    reply.header('connection', 'close');
    let fileType: LegacyType | undefined;
    let meta: UploadMeta | undefined;
    const limits = { fileSize: app.config.maxUploadBytes + 1, files: 1, fields: 8, fieldSize: 1024, parts: 10, headerPairs: 16, headerSize: 8 * 1024 };
    try {
      for await (const part of request.parts({ limits })) {
        if (part.type === 'file') {
          // The old web page names it `file`; wx.uploadFile lets the caller choose: the first file part is the upload.
          if (meta) {
            part.file.resume();
            continue;
          }
          meta = await app.uploads.save(part.file, { owner: request.owner, filename: part.filename, legacyType: fileType });
        } else if (part.fieldname === 'file_type') {
          const type = legacyTypeOf(stringField(part));
          if (meta && !fileType) await applyLateType(app, meta, type);
          fileType = type;
        }
      }
      if (!meta) throw new BeatSyncError('BAD_REQUEST', 'the form has no file');
      if (!fileType) throw new BeatSyncError('BAD_REQUEST', 'file_type must be "dance" or "bgm"');
    } catch (err) {
      // Refused after the file was stored (a bad or missing file_type, too many fields, a broken body): keep nothing.
      if (meta) await forget(app, meta);
      throw err;
    }
    reply.removeHeader('connection');
    return { file_id: meta.fileId, file_type: fileType, filename: meta.filename, size: meta.size, message: say('uploaded', request.lang) };
  });

  app.post('/api/process', {
    schema: {
      summary: 'Old client: start processing (form fields `dance_file_id`, `bgm_file_id`)',
      tags: ['compat'],
      consumes: ['application/x-www-form-urlencoded', 'multipart/form-data', 'application/json'],
      response: {
        200: {
          type: 'object',
          properties: { task_id: { type: 'string' }, status: { type: 'string', enum: ['pending'] }, message: { type: 'string' } },
          required: ['task_id', 'status', 'message'],
        },
        ...compatErrors,
      },
    },
  }, async (request, reply) => {
    const fields = await formFields(request);
    const danceFileId = fields.dance_file_id?.trim();
    const bgmFileId = fields.bgm_file_id?.trim();
    if (!danceFileId || !bgmFileId) throw new BeatSyncError('BAD_REQUEST', 'dance_file_id and bgm_file_id are required');
    for (const id of [danceFileId, bgmFileId]) await checkUpload(app, request, id);
    let idempotencyKey: string | null = null;
    try {
      if (request.owner !== null) {
        await checkJobQuota(app.system.store, request.owner, request.isAdmin, app.config.quota.runningJobs);
      } else {
        const tag = legacyClientTag(app.config.tokenSecret, request.ip);
        await checkLegacyIpCap(app.system.store, tag, app.config.quota.legacyJobsPerIp);
        idempotencyKey = `${LEGACY_IP_KEY}${tag}:${randomBytes(12).toString('base64url')}`;
      }
    } catch (err) {
      const e = toBeatSyncError(err);
      if (e.retryable && !reply.hasHeader('retry-after')) reply.header('retry-after', String(e.retryAfterSeconds ?? CAP_RETRY_AFTER_SECONDS));
      throw e;
    }
    // The old service always made both versions.
    const input: SyncInput = { danceFileId, bgmFileId, options: { variants: ['trimmed', 'full'] } };
    const { job } = await app.system.submit(SYNC_JOB_TYPE, input, { owner: request.owner, idempotencyKey, priority: 0 });
    return { task_id: job.id, status: 'pending' as const, message: say('submitted', request.lang) };
  });

  app.get<{ Params: { task_id: string } }>('/api/status/:task_id', {
    schema: {
      summary: 'Old client: task status (lower-case status, per-version status)',
      tags: ['compat'],
      params: taskParams,
      response: {
        200: {
          type: 'object',
          properties: {
            task_id: { type: 'string' },
            status: { type: 'string', enum: ['pending', 'processing', 'success', 'failed'] },
            message: { type: 'string' },
            progress: { type: 'integer', minimum: 0, maximum: 100 },
            modular_status: { type: 'string', enum: ['pending', 'processing', 'success', 'failed'], description: 'Status of the `modular` (trimmed) version' },
            v2_status: { type: 'string', enum: ['pending', 'processing', 'success', 'failed'], description: 'Status of the `v2` (full) version' },
            modular_output: { type: 'string', description: 'Download URL of the modular version, once it exists (the old frontend shows its button only then)' },
            v2_output: { type: 'string', description: 'Download URL of the v2 version, once it exists' },
            error: { type: 'string' },
          },
          required: ['task_id', 'status', 'message', 'progress', 'modular_status', 'v2_status'],
        },
        ...compatErrors,
      },
    },
  }, async (request) => {
    const job = await loadTask(app, request);
    const body: Record<string, unknown> = {
      task_id: job.id,
      status: OLD_STATUS[job.state],
      message: messageOf(job, request.lang),
      progress: progressOf(job),
      modular_status: variantStatus(job, 'trimmed'),
      v2_status: variantStatus(job, 'full'),
    };
    if (body.modular_status === 'success') body.modular_output = downloadUrl(job.id, 'modular');
    if (body.v2_status === 'success') body.v2_output = downloadUrl(job.id, 'v2');
    if (job.error && OLD_STATUS[job.state] === 'failed') body.error = messageFor(job.error.code, request.lang);
    return body;
  });

  app.get<{ Params: { task_id: string } }>('/api/task/:task_id', {
    schema: {
      summary: 'Old client: task status (upper-case status)',
      tags: ['compat'],
      params: taskParams,
      response: {
        200: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['PENDING', 'PROCESSING', 'SUCCESS', 'FAILED'] },
            progress: { type: 'integer', minimum: 0, maximum: 100 },
            message: { type: 'string' },
            output_file: { type: 'string', description: 'Download URL of the modular (trimmed) version, once done' },
            error: { type: 'string' },
          },
          required: ['status', 'progress', 'message'],
        },
        ...compatErrors,
      },
    },
  }, async (request) => {
    const job = await loadTask(app, request);
    const status = OLD_STATUS[job.state];
    const body: Record<string, unknown> = { status: status.toUpperCase(), progress: progressOf(job), message: messageOf(job, request.lang) };
    if (status === 'success') body.output_file = downloadUrl(job.id, 'modular');
    if (job.error && status === 'failed') body.error = messageFor(job.error.code, request.lang);
    return body;
  });

  app.route<{ Params: { task_id: string }; Querystring: { version?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/api/download/:task_id',
    schema: {
      summary: 'Old client: download a version (modular = trimmed, v2 = full), as an attachment',
      tags: ['compat'],
      params: taskParams,
      querystring: { type: 'object', properties: { version: { type: 'string', maxLength: 64, description: '`modular` (default; also for any unknown value, as before) or `v2`' } } },
      response: {
        200: { description: 'The video', content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'A byte range of it', content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } } },
        ...compatErrors,
      },
    },
    handler: async (request, reply: FastifyReply) => {
      const job = await loadTask(app, request);
      // The old service answered 404 until the file existed.
      if (job.state !== 'succeeded') throw new BeatSyncError('NOT_FOUND', `the task is ${OLD_STATUS[job.state]}; its files exist once it has succeeded`);
      return sendVariant(app, request, reply, job, variantOfVersion(request.query.version), true);
    },
  });
}

/** A file that arrived before its `file_type`: the general checks ran at save; the dance checks run now. */
async function applyLateType(app: FastifyInstance, meta: UploadMeta, type: LegacyType): Promise<void> {
  if (type === 'dance') checkDanceInput(meta.media, { maxDurationSeconds: app.config.maxDurationSeconds });
}

async function forget(app: FastifyInstance, meta: UploadMeta): Promise<void> {
  const files = app.system.files;
  await files.delete(uploadDataKey(meta.fileId)).catch(() => undefined);
  await files.delete(uploadMetaKey(meta.fileId)).catch(() => undefined);
  if (meta.owner !== null) await files.delete(quotaMarkerKey(meta.owner, meta.fileId, meta.size)).catch(() => undefined);
}

/** A task the caller may see: its own, or a legacy one (any caller may read those); anything else is NOT_FOUND. */
async function loadTask(app: FastifyInstance, request: FastifyRequest<{ Params: { task_id: string } }>): Promise<SyncJob> {
  const job = await app.system.store.get<SyncInput, SyncJob['result']>(request.params.task_id);
  if (!job || job.type !== SYNC_JOB_TYPE || !(request.isAdmin || job.owner === request.owner || job.owner === null)) {
    throw new BeatSyncError('NOT_FOUND', 'task');
  }
  return job as SyncJob;
}

/** The caller's upload, or a legacy one; a missing one is FILE_NOT_FOUND as on POST /api/jobs. */
async function checkUpload(app: FastifyInstance, request: FastifyRequest, fileId: string): Promise<void> {
  const owners = request.owner === null ? [null] : [request.owner, null];
  for (const owner of owners) {
    try {
      await app.uploads.get(fileId, owner, request.isAdmin);
      return;
    } catch (err) {
      if (!(err instanceof BeatSyncError && err.code === 'NOT_FOUND')) throw err;
    }
  }
  throw new BeatSyncError('FILE_NOT_FOUND', `upload ${fileId}`);
}

/** The client's tag in a legacy job's idempotency key: a keyed hash, so the IP itself is not stored. */
function legacyClientTag(secret: string, ip: string): string {
  return createHmac('sha256', secret).update(`beatsync-legacy-ip:${ip}`).digest('base64url').slice(0, 16);
}

/** Per-IP cap on live legacy jobs. Legacy jobs are few (the global queue limit bounds them), so they are counted by listing. */
async function checkLegacyIpCap(store: JobStore, tag: string, limit: number): Promise<void> {
  const prefix = `${LEGACY_IP_KEY}${tag}:`;
  let live = 0;
  for (const state of ['queued', 'running', 'retrying'] as const) {
    let cursor: string | null = null;
    do {
      const page = await store.list({ owner: null, state, cursor, limit: 500 });
      live += page.jobs.filter((j) => j.idempotencyKey?.startsWith(prefix)).length;
      if (live >= limit) {
        throw new BeatSyncError('TOO_MANY_JOBS', `at most ${limit} tasks without a token may be queued or running per client address`, { retryAfterSeconds: CAP_RETRY_AFTER_SECONDS });
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
}

/** Fields of a urlencoded, multipart or JSON body (file parts are skipped). */
async function formFields(request: FastifyRequest): Promise<Record<string, string | undefined>> {
  const fields: Record<string, string | undefined> = {};
  if (request.isMultipart()) {
    for await (const part of request.parts({ limits: { files: 0, fields: 16, fieldSize: 1024, parts: 16 } })) {
      if (part.type === 'file') {
        part.file.resume(); // no files here: read past it
        continue;
      }
      fields[part.fieldname] = stringField(part);
    }
    return fields;
  }
  const body = request.body;
  if (!body || typeof body !== 'object') throw new BeatSyncError('BAD_REQUEST', 'send dance_file_id and bgm_file_id as form fields');
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) fields[k] = stringField(v) ?? (typeof v === 'number' ? String(v) : undefined);
  return fields;
}
