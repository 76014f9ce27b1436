// POST /api/session: an anonymous session token (stateless, verifiable on any API node).
import type { FastifyInstance } from 'fastify';
import { createSessionToken } from '../auth.ts';

export default async function sessionRoutes(app: FastifyInstance): Promise<void> {
  app.post('/api/session', {
    // Tokens cost nothing to make, so making them is what is limited per IP.
    config: { rateLimit: { max: app.config.rateLimit.sessionsPerIp, timeWindow: app.config.rateLimit.windowMs, keyGenerator: (request) => `session:${request.ip}` } },
    schema: {
      summary: 'Start an anonymous session',
      description: 'Send the token back as `Authorization: Bearer <token>` (or `?access_token=` where headers cannot be set). Everything made with it belongs to it; anyone else gets 404.',
      tags: ['session'],
      response: {
        201: { type: 'object', required: ['token'], properties: { token: { type: 'string' } } },
        '4xx': { $ref: 'ErrorBody#' },
      },
    },
  }, async (_request, reply) => {
    const { token } = createSessionToken(app.config.tokenSecret);
    return reply.code(201).header('cache-control', 'no-store').send({ token });
  });
}
