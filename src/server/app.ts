// Builds the HTTP server: Fastify with the shared decorations (context.ts), auth, CORS, rate limits, time-outs,
// OpenAPI at /api/docs, metrics, and every route plugin. Testable in-process (inject) and listenable.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';
import { BeatSyncError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { authHook } from './auth.ts';
import type { ServerConfig } from './config.ts';
import type { JobSystem } from './context.ts';
import './context.ts';
import { errorBody, errorBodySchema, errorHandler, sendError } from './errors.ts';
import { createMetrics } from './metrics.ts';
import compatRoutes from './routes/compat.ts';
import downloadRoutes from './routes/downloads.ts';
import feedbackRoutes from './routes/feedback.ts';
import healthRoutes from './routes/health.ts';
import jobRoutes from './routes/jobs.ts';
import sessionRoutes from './routes/session.ts';
import tusRoutes, { TUS_HEADERS } from './routes/tus.ts';
import uploadRoutes, { uploadAnswerSchema } from './routes/uploads.ts';
import { failOpenRedisStore } from './rate-limit-store.ts';
import { isApiPath, sendStatic } from './static.ts';
import { SessionRegistry } from './sessions.ts';
import { uploadGuard } from './upload-guard.ts';
import { TusUploads } from './tus.ts';
import { createUploadService } from './uploads.ts';

export interface BuildOptions {
  system: JobSystem;
  /** false for silence (tests); a pino logger made with loggerOptions(); default: a new one. */
  logger?: false | FastifyBaseLogger;
  /** Between sweeps of expired resumable uploads (default 10 min). */
  tusSweepMs?: number;
  /** Passed to the job routes (SSE heartbeat). */
  sseHeartbeatMs?: number;
  /** With several API nodes: rate-limit counters shared in Redis, so a client cannot multiply its limit by the node count. */
  rateLimitRedis?: { url: string; prefix: string };
}

const SWEEP_MS = 10 * 60_000;
/** After the shared rate-limit counters fail, requests pass uncounted this long before Redis is asked again. */
const RATE_LIMIT_PAUSE_MS = 5_000;
const RATE_LIMIT_WARN_EVERY_MS = 60_000;
/** Routes whose bodies are uploads (the old clients' one included): minimum rate and per-address cap. */
const UPLOAD_ROUTES = ['POST /api/uploads', 'PATCH /api/uploads/tus/:id', 'POST /api/upload'];

/** A proxy's request id is kept only when it looks like one: it is echoed and logged. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Request headers a cross-origin client may send. Beyond our own API's: what real clients add on their own — the
 * old frontend's health check sends Cache-Control and Pragma (a preflight missing them blocks its every upload),
 * jQuery/axios-style X-Requested-With, tus-js-client's Upload-* / Tus-Resumable / X-HTTP-Method-Override.
 */
export const CORS_REQUEST_HEADERS = [
  'Authorization', 'Content-Type', 'Accept-Language', 'Idempotency-Key', 'Last-Event-ID', 'Range', 'If-None-Match', 'If-Range',
  'X-Request-Id', 'Cache-Control', 'Pragma', 'X-Requested-With', 'X-HTTP-Method-Override',
  'Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length', 'Upload-Concat', 'Upload-Checksum',
];
/** Response headers a cross-origin client may read (file name, ranges, tus state, where a job went, when to retry). */
export const CORS_EXPOSED_HEADERS = [
  'Content-Disposition', 'Content-Range', 'Accept-Ranges', 'ETag', 'Retry-After', 'X-Request-Id', ...TUS_HEADERS,
];

/** The URL as logged: the `access_token` query parameter is a credential. */
function loggedUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}

/** pino options for the server and whatever runs beside it (the job system's log). */
export function loggerOptions(config: Pick<ServerConfig, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: ['req.headers.authorization'],
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: loggedUrl(req.url), remoteAddress: req.ip }),
    },
  };
}

/** Errors Node's HTTP parser meets before Fastify sees a request (oversized headers, header time-out, garbage), in our error shape. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code]: [number, ErrorCode] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'TIMEOUT'] : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'BAD_REQUEST'] : [400, 'BAD_REQUEST'];
  const body = JSON.stringify(errorBody(new BeatSyncError(code), 'en'));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

export async function buildServer(config: ServerConfig, options: BuildOptions): Promise<FastifyInstance> {
  const { system } = options;
  const logging = options.logger === false ? { logger: false } : options.logger ? { loggerInstance: options.logger } : { logger: loggerOptions(config) };
  const app = Fastify({
    ...logging,
    // Keep a proxy's request id when it looks like one, so logs line up across hops.
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    bodyLimit: config.bodyLimitBytes,
    connectionTimeout: config.timeouts.idleMs,
    keepAliveTimeout: config.timeouts.keepAliveMs,
    requestTimeout: config.timeouts.requestMs,
    http: {
      maxHeaderSize: config.maxHeaderBytes,
      headersTimeout: config.timeouts.headersMs,
      // Node checks the header and request time-outs on this interval (30 s by default): keep it below them.
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(config.timeouts.headersMs / 2))),
    },
    clientErrorHandler: answerClientError,
    // One line per request, logged by the hooks below: a flood of refusals must not flood the log.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    // Router errors (a too-long id, a bad %-escape) are answered before any hook: in our shape all the same.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      sendError(reply, error);
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  const metrics = createMetrics(system);
  const rateLimited = new WeakSet<FastifyRequest>();
  const uploads = createUploadService({ files: system.files, config, metrics });
  const tus = new TusUploads({ files: system.files, uploads, expirySeconds: config.tusExpirySeconds });

  // wx.request and some HTTP libraries send content-type application/json with no body at all: that is no body,
  // not a broken one (a route that needs a body still says so through its schema).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body.toString(), done);
  });

  app.decorate('system', system);
  app.decorate('config', config);
  app.decorate('uploads', uploads);
  app.decorate('metrics', metrics);
  const sessions = new SessionRegistry({
    files: system.files,
    ttlMs: config.sessionTtlSeconds * 1000,
    onError: (err) => app.log.warn({ err: (err as Error).message }, 'session lifetime check failed; the token is let through'),
  });
  app.decorate('sessions', sessions);
  app.decorateRequest('owner', null);
  app.decorateRequest('isAdmin', false);
  app.decorateRequest('lang', 'en');

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(async (request, reply) => {
    if (!isApiPath(request.url) && (await sendStatic(config.webDir, request, reply))) return reply;
    return sendError(reply, new BeatSyncError('NOT_FOUND'));
  });
  // The id first, so that a refusal by the auth hook carries it too.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    request.log.debug({ req: request }, 'incoming request');
  });
  app.addHook('onRequest', authHook({ tokenSecret: config.tokenSecret, adminToken: config.adminToken, sessions }));
  app.addHook('onRequest', uploadGuard({ ...config.uploadGuard, routes: UPLOAD_ROUTES }));
  app.addHook('onResponse', async (request, reply) => {
    // Rate-limited refusals come in floods (115 000 in one load run): at debug only.
    const level = rateLimited.has(request) ? 'debug' : 'info';
    request.log[level]({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(cors, {
    origin: (origin, cb) => {
      if (!origin) return cb(null, false);
      const allowed = config.corsOrigins.includes('*') || config.corsOrigins.includes(origin);
      cb(null, allowed ? origin : false);
    },
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: CORS_REQUEST_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
    strictPreflight: false,
  });

  // Counting fails open when Redis is frozen or down (rate-limit-store.ts). It gets a quarter of the request
  // deadline, so a request that then needs Redis itself still answers within about one deadline.
  // ioredis is loaded only when counters are shared: an embedded server never needs it.
  const rateLimitRedis: Redis | null = options.rateLimitRedis
    ? new (await import('ioredis')).Redis(options.rateLimitRedis.url, {
        maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, commandTimeout: Math.max(20, Math.floor(config.redisTimeoutMs / 4)),
      })
    : null;
  if (rateLimitRedis) {
    // Every reconnect attempt emits one: the store's own (rate-limited) warning says it once.
    rateLimitRedis.on('error', () => {});
    // Connected before the first request, so no early request goes uncounted.
    await rateLimitRedis.connect().catch((err: Error) => app.log.warn({ err: err.message }, 'rate-limit redis: counting fails open until it connects'));
    app.addHook('onClose', async () => {
      await rateLimitRedis.quit().catch(() => rateLimitRedis.disconnect());
    });
  }
  await app.register(rateLimit, {
    global: true,
    timeWindow: config.rateLimit.windowMs,
    // A token is limited as itself; without one, the client IP is.
    keyGenerator: (request) => (request.owner ? `token:${request.owner}` : `ip:${request.ip}`),
    max: (request) => (request.isAdmin ? 1_000_000 : request.owner ? config.rateLimit.perToken : config.rateLimit.perIp),
    errorResponseBuilder: (request, context) => {
      rateLimited.add(request);
      return new BeatSyncError('RATE_LIMITED', `more than ${context.max} requests in ${context.after}`);
    },
    ...(rateLimitRedis
      ? {
          store: failOpenRedisStore({
            redis: rateLimitRedis,
            nameSpace: `${options.rateLimitRedis!.prefix}rl:`,
            pauseMs: RATE_LIMIT_PAUSE_MS,
            warnEveryMs: RATE_LIMIT_WARN_EVERY_MS,
            warn: (message, err) => app.log.warn({ err: err.message }, message),
          }),
          skipOnError: true,
        }
      : {}),
  });

  await app.register(multipart, {
    // Field and part limits are set per request by the upload routes; these are the fallbacks.
    limits: { fileSize: config.maxUploadBytes + 1, files: 1, fields: 8, fieldSize: 1024, parts: 10, headerPairs: 16 },
  });

  app.addSchema(errorBodySchema);
  app.addSchema(uploadAnswerSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'BeatSync API',
        version: '1',
        description:
          'Replace a dance class recording\'s sound with the clean song, in sync. Start with POST /api/session, upload both files, ' +
          'submit a job, follow it over SSE and download the variants. Every error is `{ error: { code, message, retryable } }`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'Token from POST /api/session' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', uiConfig: { docExpansion: 'list', deepLinking: false } });

  await app.register(healthRoutes);
  await app.register(sessionRoutes);
  await app.register(uploadRoutes);
  await app.register(tusRoutes, { tus });
  await app.register(jobRoutes, options.sseHeartbeatMs ? { heartbeatMs: options.sseHeartbeatMs } : {});
  await app.register(downloadRoutes);
  await app.register(feedbackRoutes);
  await app.register(compatRoutes);

  // Passes in flight are awaited on close, so nothing writes into the data directory after the server stopped.
  const sweeping = new Set<Promise<unknown>>();
  const track = (pass: Promise<unknown>): void => {
    sweeping.add(pass);
    void pass.finally(() => sweeping.delete(pass));
  };
  const sweep = (): void => {
    track(tus.sweep().then(
      (n) => n > 0 && app.log.info({ removed: n }, 'expired resumable uploads removed'),
      (err: unknown) => app.log.warn({ err }, 'sweeping resumable uploads failed'),
    ));
    track(sessions.prune().then(
      (n) => n > 0 && app.log.info({ removed: n }, 'expired sessions forgotten'),
      (err: unknown) => app.log.warn({ err }, 'pruning expired sessions failed'),
    ));
  };
  const timer = setInterval(sweep, options.tusSweepMs ?? SWEEP_MS);
  timer.unref();
  app.addHook('onReady', async () => sweep());
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await Promise.allSettled([...sweeping]);
  });

  return app;
}
