// Turns anything thrown in a request into the one error answer: { error: { code, message, retryable } },
// with the message in the caller's language and no stack or host path ever leaving the server.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError, httpStatusFor, isErrorCode, langFrom, messageFor } from '../errors.ts';
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

/** A refusal whose HTTP status is not its code's usual one (a protocol asks for another: 414, 415). */
export class HttpRefusal extends BeatSyncError {
  readonly status: number;
  constructor(code: ErrorCode, status: number, detail?: string) {
    super(code, detail);
    this.status = status;
  }
}

/** Seconds a client is told to wait (Retry-After) for a shortage the server cannot name a time for. */
const SHORTAGE_RETRY_SECONDS = 30;

/** Fastify/plugin error codes whose status we keep (their code is BAD_REQUEST: the request is wrong, not our state). */
const FASTIFY_STATUS: Record<string, number> = {
  FST_ERR_MAX_PARAM_LENGTH: 414,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
};

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
  FST_ERR_MAX_PARAM_LENGTH: 'BAD_REQUEST',
  FST_INVALID_JSON_FIELD_ERROR: 'BAD_REQUEST',
  FST_MP_PREMATURE_CLOSE: 'BAD_REQUEST',
};

// busboy (under @fastify/multipart) throws plain Errors for a body that is not the multipart it claims to be.
const MALFORMED_MULTIPART =
  /^(Multipart: Boundary not found|Boundary required|Unexpected end of (multipart data|form)|.* terminated early due to unexpected end of multipart data|Malformed part header|Unsupported Content-Type\.|The needle cannot have a length bigger than \d+\.)$/;
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e && typeof e === 'object' && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * What an upload's failure means when it is not the server's fault: a full disk (a shortage: retryable),
 * or a multipart body that is malformed or cut short (the client's). Null for anything else. Looks through
 * `cause`, since the file store wraps what it meets.
 */
export function uploadFault(err: unknown): BeatSyncError | null {
  if (err instanceof BeatSyncError && err.code !== 'PROCESSING_FAILED') return null;
  for (const e of causes(err)) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && DISK_FULL.has(code)) {
      return new BeatSyncError('RESOURCE_LIMIT', 'no space left on the server\'s disk', { retryAfterSeconds: SHORTAGE_RETRY_SECONDS, cause: err });
    }
    if (code === 'FST_MP_PREMATURE_CLOSE' || (typeof message === 'string' && !(e instanceof BeatSyncError) && MALFORMED_MULTIPART.test(message))) {
      return new BeatSyncError('BAD_REQUEST', 'malformed or truncated multipart body', { cause: err });
    }
  }
  return null;
}

/** What an error means for the client: a BeatSyncError as is, a known client mistake by its code, anything else PROCESSING_FAILED. */
export function classify(err: unknown): { error: BeatSyncError; expected: boolean; status: number } {
  const { error, expected } = classifyCode(err);
  return { error, expected, status: error instanceof HttpRefusal ? error.status : httpStatusFor(error.code) };
}

function classifyCode(err: unknown): { error: BeatSyncError; expected: boolean } {
  if (err instanceof BeatSyncError && err.code !== 'PROCESSING_FAILED') return { error: err, expected: true };
  const fault = uploadFault(err);
  if (fault) return { error: fault, expected: true };
  if (err instanceof BeatSyncError) return { error: err, expected: false };
  const e = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (e && typeof e === 'object') {
    if (e.validation) {
      // Validation messages name the field ("body/danceFileId must be string"): useful and safe.
      return { error: new BeatSyncError('BAD_REQUEST', String(e.message ?? '').slice(0, 300)), expected: true };
    }
    if (typeof e.code === 'string' && e.code in FASTIFY_STATUS) return { error: new HttpRefusal(FASTIFY_CODES[e.code] ?? 'BAD_REQUEST', FASTIFY_STATUS[e.code]), expected: true };
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
  const { error, expected, status } = classify(err);
  if (!expected) request.log.error({ err }, 'request failed');
  else if (error.code === 'RATE_LIMITED') request.log.debug({ code: error.code }, 'request refused');
  else request.log.info({ code: error.code, detail: error.detail }, 'request refused');
  // Every 429, 503 and 507 says when to come back (the error's own estimate, else a default).
  const retryAfter = error.retryAfterSeconds
    ?? (error.code === 'RATE_LIMITED' ? 60 : status === 503 || status === 507 ? SHORTAGE_RETRY_SECONDS : status === 429 ? 30 : undefined);
  if (retryAfter !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfter))));
  // Router errors are answered before the hook that sets request.lang runs (it is still the default then);
  // a route may have chosen another language (the old-client routes default to zh-CN).
  const lang = !request.lang || request.lang === 'en' ? langFrom(request.headers['accept-language']) : request.lang;
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error, lang));
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
