// Turns anything thrown in a request into the one error answer: { error: { code, message, retryable } },
// with the message in the caller's language and no stack or host path ever leaving the server.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError, httpStatusFor, isErrorCode, messageFor } from '../errors.ts';
import type { ErrorCode, Lang } from '../errors.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable: boolean; detail?: string };
}

/** JSON schema of the error answer, for route schemas and the OpenAPI document. */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable'],
      properties: {
        code: { type: 'string', description: 'Stable machine code (FILE_TOO_LARGE, NOT_FOUND…)' },
        message: { type: 'string', description: 'For people, in the language of Accept-Language (en or zh-CN)' },
        retryable: { type: 'boolean' },
        detail: { type: 'string', description: 'Which field was invalid (request validation only)' },
      },
    },
  },
} as const;

/** Fastify/plugin error codes that are the client's fault, mapped to ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_REQ_FILE_TOO_LARGE: 'FILE_TOO_LARGE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'FILE_TOO_LARGE',
  FST_PARTS_LIMIT: 'BAD_REQUEST',
  FST_FILES_LIMIT: 'BAD_REQUEST',
  FST_FIELDS_LIMIT: 'BAD_REQUEST',
  FST_PROTO_VIOLATION: 'BAD_REQUEST',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'BAD_REQUEST',
  FST_NO_FORM_DATA: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
};

/** What an error means for the client: a BeatSyncError as is, a known client mistake by its code, anything else PROCESSING_FAILED. */
export function classify(err: unknown): { error: BeatSyncError; expected: boolean } {
  if (err instanceof BeatSyncError) return { error: err, expected: err.code !== 'PROCESSING_FAILED' };
  const e = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (e && typeof e === 'object') {
    if (e.validation) {
      // Validation messages name the field ("body/danceFileId must be string"): useful and safe.
      return { error: new BeatSyncError('BAD_REQUEST', String(e.message ?? '').slice(0, 300)), expected: true };
    }
    if (typeof e.code === 'string' && e.code in FASTIFY_CODES) return { error: new BeatSyncError(FASTIFY_CODES[e.code]), expected: true };
    if (typeof e.code === 'string' && isErrorCode(e.code)) return { error: new BeatSyncError(e.code), expected: true };
    const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code: ErrorCode =
        status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : status === 409 ? 'CONFLICT'
          : status === 413 ? 'FILE_TOO_LARGE' : status === 429 ? 'RATE_LIMITED' : status === 408 ? 'TIMEOUT' : 'BAD_REQUEST';
      return { error: new BeatSyncError(code), expected: true };
    }
  }
  return { error: new BeatSyncError('PROCESSING_FAILED', undefined, { cause: err }), expected: false };
}

export function errorBody(error: BeatSyncError, lang: Lang): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: messageFor(error.code, lang, error.messageParams), retryable: error.retryable } };
  if (error.code === 'BAD_REQUEST' && error.detail) body.error.detail = error.detail;
  return body;
}

/** Answers with the error; usable from any handler (or let the handler throw, which ends here too). */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const request = reply.request;
  const { error, expected } = classify(err);
  if (expected) request.log.info({ code: error.code, detail: error.detail }, 'request refused');
  else request.log.error({ err }, 'request failed');
  const status = httpStatusFor(error.code);
  // Every 429 and 503 says when to come back (the error's own estimate, else a default).
  const retryAfter = error.retryAfterSeconds ?? (error.code === 'RATE_LIMITED' ? 60 : status === 503 || status === 429 ? 30 : undefined);
  if (retryAfter !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error, request.lang ?? 'en'));
}

export function errorHandler(err: unknown, _request: FastifyRequest, reply: FastifyReply): void {
  if (reply.sent || reply.raw.headersSent) {
    // A streamed answer broke midway: nothing can be said any more; closing tells the client.
    reply.raw.destroy();
    return;
  }
  sendError(reply, err);
}

export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, new BeatSyncError('NOT_FOUND'));
}
