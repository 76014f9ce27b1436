// Builds the HTTP server: Fastify with the shared decorations (context.ts), auth, CORS, rate limits, time-outs,
// OpenAPI at /api/docs, metrics, and every route plugin. Testable in-process (inject) and listenable.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';
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
import { isApiPath, sendStatic } from './static.ts';
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
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
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
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });

  const metrics = createMetrics(system);
  const uploads = createUploadService({ files: system.files, config, metrics });
  const tus = new TusUploads({ files: system.files, uploads, expirySeconds: config.tusExpirySeconds });

  app.decorate('system', system);
  app.decorate('config', config);
  app.decorate('uploads', uploads);
  app.decorate('metrics', metrics);
  app.decorateRequest('owner', null);
  app.decorateRequest('isAdmin', false);
  app.decorateRequest('lang', 'en');

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(async (request, reply) => {
    if (!isApiPath(request.url) && (await sendStatic(config.webDir, request, reply))) return reply;
    return sendError(reply, new BeatSyncError('NOT_FOUND'));
  });
  app.addHook('onRequest', authHook({ tokenSecret: config.tokenSecret, adminToken: config.adminToken }));
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
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
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept-Language', 'Idempotency-Key', 'Last-Event-ID', 'Range', 'If-None-Match', 'If-Range', 'X-Request-Id', ...TUS_HEADERS.filter((h) => h.startsWith('Upload-') || h === 'Tus-Resumable')],
    exposedHeaders: ['Content-Disposition', 'Content-Range', 'Accept-Ranges', 'ETag', 'Retry-After', 'X-Request-Id', ...TUS_HEADERS],
    credentials: false,
    maxAge: 600,
    strictPreflight: false,
  });

  // Counting fails open if Redis hiccups (skipOnError): a rate limit must never take the API down.
  const rateLimitRedis = options.rateLimitRedis
    ? new Redis(options.rateLimitRedis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true })
    : null;
  if (rateLimitRedis) {
    rateLimitRedis.on('error', (err) => app.log.warn({ err: err.message }, 'rate-limit redis'));
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
    errorResponseBuilder: (_request, context) => new BeatSyncError('RATE_LIMITED', `more than ${context.max} requests in ${context.after}`),
    ...(rateLimitRedis ? { redis: rateLimitRedis, nameSpace: `${options.rateLimitRedis!.prefix}rl:`, skipOnError: true } : {}),
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

  const sweep = (): void => {
    tus.sweep().then(
      (n) => n > 0 && app.log.info({ removed: n }, 'expired resumable uploads removed'),
      (err: unknown) => app.log.warn({ err }, 'sweeping resumable uploads failed'),
    );
  };
  const timer = setInterval(sweep, options.tusSweepMs ?? SWEEP_MS);
  timer.unref();
  app.addHook('onReady', async () => sweep());
  app.addHook('onClose', async () => clearInterval(timer));

  return app;
}
