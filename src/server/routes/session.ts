// POST /api/session: an anonymous session token (verifiable on any API node); DELETE /api/session signs the
// caller's token out; POST /api/session/revoke lets the admin revoke any token. A token unused for the
// session lifetime (--session-ttl, 30 days) expires; each use renews it. Expired or revoked tokens are 401.
import type { FastifyInstance } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import { bearerSecurity, createSessionToken, requireAdmin, requireToken, verifySessionToken } from '../auth.ts';

const errors = { '4xx': { $ref: 'ErrorBody#' }, '5xx': { $ref: 'ErrorBody#' } };

export default async function sessionRoutes(app: FastifyInstance): Promise<void> {
  app.post('/api/session', {
    // Tokens cost nothing to make, so making them is what is limited per IP.
    config: { rateLimit: { max: app.config.rateLimit.sessionsPerIp, timeWindow: app.config.rateLimit.windowMs, keyGenerator: (request) => `session:${request.ip}` } },
    schema: {
      summary: 'Start an anonymous session',
      description:
        'Send the token back as `Authorization: Bearer <token>` (or `?access_token=` where headers cannot be set). Everything made with it belongs to it; anyone else gets 404. ' +
        'A token unused for `expiresInSeconds` expires (each use renews it); an expired or revoked token is answered 401.',
      tags: ['session'],
      response: {
        201: { type: 'object', required: ['token'], properties: { token: { type: 'string' }, expiresInSeconds: { type: 'integer' } } },
        ...errors,
      },
    },
  }, async (_request, reply) => {
    const { token, sessionId } = createSessionToken(app.config.tokenSecret);
    await app.sessions.created(sessionId);
    return reply.code(201).header('cache-control', 'no-store').send({ token, expiresInSeconds: Math.round(app.sessions.lifetimeMs / 1000) });
  });

  app.delete('/api/session', {
    preHandler: requireToken,
    schema: {
      summary: 'Sign out: revoke the token of this request',
      tags: ['session'],
      security: bearerSecurity,
      response: { 204: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    if (request.isAdmin) throw new BeatSyncError('BAD_REQUEST', 'the admin token is configured, not revoked');
    await app.sessions.revoke(request.owner!);
    return reply.code(204).send();
  });

  app.post<{ Body: { token?: string; sessionId?: string } }>('/api/session/revoke', {
    preHandler: requireAdmin,
    schema: {
      summary: 'Admin: revoke a session token (given as the token, or as its session id — the owner of its jobs)',
      tags: ['session'],
      security: bearerSecurity,
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: { token: { type: 'string', maxLength: 200 }, sessionId: { type: 'string', pattern: '^[A-Za-z0-9_-]{24}$' } },
      },
      response: { 204: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    const { token, sessionId } = request.body;
    const id = token !== undefined ? verifySessionToken(app.config.tokenSecret, token) : sessionId!;
    if (id === null) throw new BeatSyncError('BAD_REQUEST', 'not a token of this service');
    await app.sessions.revoke(id);
    return reply.code(204).send();
  });
}
