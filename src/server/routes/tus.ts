// tus 1.0 resumable uploads at /api/uploads/tus (core protocol + creation, expiration, termination).
// A completed upload becomes a normal upload: its id is sent in `BeatSync-File-Id` and GET /api/uploads/:fileId works.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import { bearerSecurity, requireToken } from '../auth.ts';
import { errorBody, HttpRefusal } from '../errors.ts';
import { parseUploadMetadata } from '../tus.ts';
import type { TusInfo, TusUploads } from '../tus.ts';

const TUS_VERSION = '1.0.0';
const BASE = '/api/uploads/tus';
export const TUS_HEADERS = ['Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Expires', 'Location', 'BeatSync-File-Id'];

const errors = { '4xx': { $ref: 'ErrorBody#' }, '5xx': { $ref: 'ErrorBody#' } };
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
const tusHeader = { 'tus-resumable': { type: 'string', description: 'Must be 1.0.0' } };

export default async function tusRoutes(app: FastifyInstance, opts: { tus: TusUploads }): Promise<void> {
  const { tus } = opts;
  const maxSize = app.config.maxUploadBytes;

  // PATCH bodies are read by the handler as they arrive, never buffered by a parser; with no parser refusing
  // other types first, the handler can answer a wrong Content-Type with the 415 tus asks for.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('tus-resumable', TUS_VERSION);
  });

  /** tus asks for 412 when the client speaks another protocol version. */
  function versionRefused(request: FastifyRequest, reply: FastifyReply): boolean {
    if (request.headers['tus-resumable'] === TUS_VERSION) return false;
    reply.code(412).header('tus-version', TUS_VERSION).send(errorBody(new BeatSyncError('BAD_REQUEST'), request.lang));
    return true;
  }
  const expires = (info: TusInfo): string => new Date(info.expiresAt).toUTCString();

  app.options(BASE, {
    schema: { summary: 'tus discovery: versions, extensions and the largest upload', tags: ['uploads (tus)'], response: { 204: { type: 'null' } } },
  }, async (_request, reply) => {
    reply.code(204)
      .header('tus-version', TUS_VERSION)
      .header('tus-extension', 'creation,expiration,termination')
      .header('tus-max-size', String(maxSize))
      .send();
  });

  app.post(BASE, {
    preHandler: requireToken,
    schema: {
      summary: 'Create a resumable upload (tus creation)',
      description: 'Headers: Upload-Length (bytes), Upload-Metadata with `filename` and optionally `purpose` (dance|bgm). Answers 201 with Location.',
      tags: ['uploads (tus)'],
      security: bearerSecurity,
      headers: { type: 'object', properties: { ...tusHeader, 'upload-length': { type: 'string' }, 'upload-metadata': { type: 'string' } } },
      response: { 201: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    if (versionRefused(request, reply)) return reply;
    if (request.headers['upload-defer-length'] !== undefined) throw new BeatSyncError('BAD_REQUEST', 'Upload-Defer-Length is not supported');
    const lengthText = request.headers['upload-length'];
    if (typeof lengthText !== 'string' || !/^\d{1,16}$/.test(lengthText)) throw new BeatSyncError('BAD_REQUEST', 'Upload-Length is required');
    const length = Number(lengthText);
    if (length === 0) throw new BeatSyncError('INVALID_FORMAT', 'the file is empty (0 bytes)');
    if (length > maxSize) throw new BeatSyncError('FILE_TOO_LARGE', `Upload-Length ${length} > ${maxSize}`);
    if (length > (await app.uploads.allowance(request.owner))) throw new BeatSyncError('RESOURCE_LIMIT', 'the upload would exceed the storage quota of this token');
    const metadata = parseUploadMetadata(request.headers['upload-metadata'] as string | undefined);
    const info = await tus.create(request.owner, length, metadata);
    return reply.code(201).header('location', `${BASE}/${info.id}`).header('upload-expires', expires(info)).send();
  });

  app.head(`${BASE}/:id`, {
    preHandler: requireToken,
    config: { swagger: { exposeHeadRoute: true } },
    schema: {
      summary: 'Where a resumable upload stands (Upload-Offset)',
      tags: ['uploads (tus)'],
      security: bearerSecurity,
      params: idParams,
      headers: { type: 'object', properties: tusHeader },
      response: { 200: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    if (versionRefused(request, reply)) return reply;
    const info = await tus.get((request.params as { id: string }).id, request);
    reply.header('cache-control', 'no-store')
      .header('upload-offset', String(await tus.offset(info)))
      .header('upload-length', String(info.length))
      .header('upload-expires', expires(info));
    if (info.fileId) reply.header('beatsync-file-id', info.fileId);
    return reply.code(200).send();
  });

  app.patch(`${BASE}/:id`, {
    preHandler: requireToken,
    schema: {
      summary: 'Append bytes at Upload-Offset (Content-Type: application/offset+octet-stream)',
      description: 'Answers 204 with the new Upload-Offset; the PATCH that completes the upload also runs the checks and answers BeatSync-File-Id, or the check\'s error.',
      tags: ['uploads (tus)'],
      security: bearerSecurity,
      consumes: ['application/offset+octet-stream'],
      params: idParams,
      headers: { type: 'object', properties: { ...tusHeader, 'upload-offset': { type: 'string' } } },
      response: { 204: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    if (versionRefused(request, reply)) return reply;
    if ((request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() !== 'application/offset+octet-stream') {
      // tus asks for 415 here (our code says why; the status is the protocol's).
      throw new HttpRefusal('BAD_REQUEST', 415, 'Content-Type must be application/offset+octet-stream');
    }
    const offsetText = request.headers['upload-offset'];
    if (typeof offsetText !== 'string' || !/^\d{1,16}$/.test(offsetText)) throw new BeatSyncError('BAD_REQUEST', 'Upload-Offset is required');
    const info = await tus.get((request.params as { id: string }).id, request);
    const { offset, upload } = await tus.append(info, Number(offsetText), request.raw);
    reply.header('upload-offset', String(offset)).header('upload-expires', expires(info));
    if (upload) reply.header('beatsync-file-id', upload.fileId);
    return reply.code(204).send();
  });

  app.delete(`${BASE}/:id`, {
    preHandler: requireToken,
    schema: {
      summary: 'Abandon a resumable upload (tus termination)',
      tags: ['uploads (tus)'],
      security: bearerSecurity,
      params: idParams,
      response: { 204: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    if (versionRefused(request, reply)) return reply;
    const info = await tus.get((request.params as { id: string }).id, request);
    if (info.fileId) throw new BeatSyncError('CONFLICT', 'the upload is complete; it is now a normal upload');
    await tus.remove(info.id, info);
    return reply.code(204).send();
  });
}
