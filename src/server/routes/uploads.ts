// POST /api/uploads (multipart, streamed) and GET /api/uploads/:fileId: the HTTP side of the upload service.
import type { FastifyInstance } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import type { UploadMeta } from '../../storage/types.ts';
import { bearerSecurity, requireToken } from '../auth.ts';

/** What a client learns about an upload. */
export function uploadAnswer(meta: UploadMeta) {
  return {
    fileId: meta.fileId,
    kind: meta.kind,
    durationSeconds: meta.durationSeconds,
    streams: { video: meta.media.video, audio: meta.media.audio, other: meta.media.otherStreams },
    sha256: meta.sha256,
    size: meta.size,
    filename: meta.filename,
    container: meta.media.container,
    createdAt: meta.createdAt,
  };
}

export const uploadAnswerSchema = {
  $id: 'Upload',
  type: 'object',
  required: ['fileId', 'kind', 'durationSeconds', 'streams', 'sha256', 'size', 'filename'],
  properties: {
    fileId: { type: 'string' },
    kind: { type: 'string', enum: ['video', 'audio'] },
    durationSeconds: { type: 'number' },
    streams: {
      type: 'object',
      properties: {
        video: { type: 'array', items: { type: 'object', additionalProperties: true } },
        audio: { type: 'array', items: { type: 'object', additionalProperties: true } },
        other: { type: 'integer', description: 'Streams that are neither audio nor video' },
      },
    },
    sha256: { type: 'string', description: 'Hex SHA-256 of the bytes received' },
    size: { type: 'integer' },
    filename: { type: 'string', description: 'Sanitised original name, for display' },
    container: { type: 'string' },
    createdAt: { type: 'integer', description: 'ms since the epoch' },
  },
} as const;

const errors = { '4xx': { $ref: 'ErrorBody#' }, '5xx': { $ref: 'ErrorBody#' } };

export default async function uploadRoutes(app: FastifyInstance): Promise<void> {
  app.post('/api/uploads', {
    preHandler: requireToken,
    schema: {
      summary: 'Upload a dance video or a music file (multipart/form-data, one file part under any field name)',
      description:
        'The file is streamed to storage with its size limit enforced while it arrives, hashed, probed and checked. ' +
        'Use `purpose` to apply the dance (needs picture and sound) or music (needs sound) checks now. ' +
        'For big files on shaky networks use the resumable tus endpoint /api/uploads/tus instead.',
      tags: ['uploads'],
      security: bearerSecurity,
      consumes: ['multipart/form-data'],
      querystring: {
        type: 'object',
        // access_token: the token for clients that cannot set headers (read by the auth hook, listed so it is allowed).
        properties: { purpose: { type: 'string', enum: ['dance', 'bgm'] }, access_token: { type: 'string' } },
        additionalProperties: false,
      },
      response: { 201: { $ref: 'Upload#' }, ...errors },
    },
  }, async (request, reply) => {
    const { purpose } = request.query as { purpose?: 'dance' | 'bgm' };
    // Whatever goes wrong, the rest of a big body is not worth reading: close the connection after answering.
    reply.header('connection', 'close');
    const part = await request.file({
      limits: {
        // One byte over the limit reaches the store, which refuses it and removes the partial file.
        fileSize: app.config.maxUploadBytes + 1,
        files: 1,
        fields: 8,
        fieldSize: 1024,
        parts: 10,
        headerPairs: 16,
        headerSize: 8 * 1024,
      },
    });
    if (!part) throw new BeatSyncError('BAD_REQUEST', 'no file part in the form');
    const meta = await app.uploads.save(part.file, { owner: request.owner, filename: part.filename, purpose });
    reply.removeHeader('connection');
    return reply.code(201).send(uploadAnswer(meta));
  });

  app.get('/api/uploads/:fileId', {
    preHandler: requireToken,
    schema: {
      summary: "An upload's facts (only its owner sees it)",
      tags: ['uploads'],
      security: bearerSecurity,
      params: { type: 'object', required: ['fileId'], properties: { fileId: { type: 'string', maxLength: 64 } } },
      response: { 200: { $ref: 'Upload#' }, ...errors },
    },
  }, async (request) => {
    const { fileId } = request.params as { fileId: string };
    return uploadAnswer(await app.uploads.get(fileId, request.owner, request.isAdmin));
  });
}
