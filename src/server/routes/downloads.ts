// Download routes: a finished job's videos and its alignment report, streamed from the file store with
// Range, ETag and a file name that says what the file is (`<dance-name>-beatsync-trimmed.mp4`).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import type { VariantName } from '../../pipeline/types.ts';
import { outputKey } from '../../storage/types.ts';
import { bearerSecurity, requireToken } from '../auth.ts';
import { errorResponses, jobIdParams, loadOwnJob, OUTPUT_NAME_PATTERN } from './job-view.ts';
import type { SyncJob } from './job-view.ts';
import { contentDisposition, fileStem, serveObject } from './serve-object.ts';

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  webm: 'video/webm',
  json: 'application/json; charset=utf-8',
};

const extensionOf = (file: string): string => /\.([A-Za-z0-9]{1,5})$/.exec(file)?.[1].toLowerCase() ?? 'mp4';

/** The dance upload's name without extension, or "video" when the upload is gone (retention) or nameless. */
async function danceStem(app: FastifyInstance, job: SyncJob): Promise<string> {
  try {
    const meta = await app.uploads.get(job.input.danceFileId, job.owner, true);
    return fileStem(meta.filename);
  } catch {
    return 'video';
  }
}

function finishedJob(job: SyncJob): NonNullable<SyncJob['result']> {
  if (job.state !== 'succeeded' || !job.result) throw new BeatSyncError('CONFLICT', `the job is ${job.state}; outputs exist once it has succeeded`);
  return job.result;
}

/** Streams one variant of a succeeded job (also used by the old client's /api/download). */
export async function sendVariant(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, job: SyncJob, variant: VariantName, attachment: boolean): Promise<FastifyReply> {
  const output = finishedJob(job).variants.find((v) => v.variant === variant);
  if (!output) throw new BeatSyncError('NOT_FOUND', `the job has no ${variant} variant`);
  const ext = extensionOf(output.file);
  return serveObject(app.system.files, request, reply, {
    key: output.key || outputKey(job.id, output.file),
    fileName: `${await danceStem(app, job)}-beatsync-${variant}.${ext}`,
    contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
    attachment,
  });
}

const downloadQuery = {
  type: 'object',
  properties: { download: { type: 'string', enum: ['0', '1', 'true', 'false'], description: '1 = as an attachment (Save as), else inline (for a player)' } },
} as const;

const wantsAttachment = (q: { download?: string }): boolean => q.download === '1' || q.download === 'true';

const fileResponses = {
  200: { description: 'The whole file', content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } } },
  206: { description: 'The requested byte range', content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } } },
  304: { description: 'Not modified (If-None-Match)', type: 'null' },
  416: { description: 'Range not satisfiable', type: 'null' },
  ...errorResponses,
};

export default async function downloadRoutes(app: FastifyInstance): Promise<void> {
  // Static segment: registered before the parametric one, find-my-way prefers it anyway.
  app.route<{ Params: { id: string }; Querystring: { download?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/api/jobs/:id/outputs/report',
    preHandler: requireToken,
    schema: {
      summary: "A succeeded job's alignment report (JSON)",
      tags: ['downloads'],
      security: bearerSecurity,
      params: jobIdParams,
      querystring: downloadQuery,
      response: { ...fileResponses, 200: { description: 'report.json', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } } },
    },
    handler: async (request, reply) => {
      const job = await loadOwnJob(app.system.store, request.params.id, request.owner, request.isAdmin);
      const result = finishedJob(job);
      const fileName = `${await danceStem(app, job)}-beatsync-report.json`;
      const key = outputKey(job.id, 'report.json');
      if (await app.system.files.stat(key)) {
        return serveObject(app.system.files, request, reply, { key, fileName, contentType: CONTENT_TYPES.json, attachment: wantsAttachment(request.query) });
      }
      // The report is always in the job's result; the file copy is optional.
      reply.type(CONTENT_TYPES.json).header('content-disposition', contentDisposition(fileName, wantsAttachment(request.query)));
      return reply.send(JSON.stringify(result.report ?? {}, null, 2));
    },
  });

  app.route<{ Params: { id: string; variant: VariantName }; Querystring: { download?: string } }>({
    method: ['GET', 'HEAD'],
    url: '/api/jobs/:id/outputs/:variant',
    preHandler: requireToken,
    schema: {
      summary: "A succeeded job's video (Range, ETag; inline or as an attachment)",
      tags: ['downloads'],
      security: bearerSecurity,
      params: {
        type: 'object',
        properties: { ...jobIdParams.properties, variant: { type: 'string', pattern: OUTPUT_NAME_PATTERN } },
        required: ['id', 'variant'],
      },
      querystring: downloadQuery,
      response: fileResponses,
    },
    handler: async (request, reply) => {
      const job = await loadOwnJob(app.system.store, request.params.id, request.owner, request.isAdmin);
      return sendVariant(app, request, reply, job, request.params.variant, wantsAttachment(request.query));
    },
  });
}
