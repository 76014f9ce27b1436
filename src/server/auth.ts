// Anonymous sessions without server state: a token is a random session id plus its HMAC, so any API node
// holding the same secret can verify it. The session id is the owner of everything made with the token.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError, langFrom } from '../errors.ts';
import type { SessionRegistry } from './sessions.ts';

const PREFIX = 'bs1';
/** Owner name of whatever the admin token creates (session ids are 24 base64url characters, never this). */
export const ADMIN_OWNER = 'admin';

function mac(secret: string, sessionId: string): string {
  return createHmac('sha256', secret).update(`beatsync-session:${sessionId}`).digest('base64url');
}

export function createSessionToken(secret: string): { token: string; sessionId: string } {
  const sessionId = randomBytes(18).toString('base64url');
  return { token: `${PREFIX}.${sessionId}.${mac(secret, sessionId)}`, sessionId };
}

/** The session id when the token is genuine, else null. */
export function verifySessionToken(secret: string, token: string): string | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !/^[A-Za-z0-9_-]{24}$/.test(parts[1])) return null;
  const expected = Buffer.from(mac(secret, parts[1]));
  const given = Buffer.from(parts[2]);
  return given.length === expected.length && timingSafeEqual(given, expected) ? parts[1] : null;
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHmac('sha256', 'compare').update(a).digest();
  const y = createHmac('sha256', 'compare').update(b).digest();
  return timingSafeEqual(x, y);
}

/** The token from `Authorization: Bearer …`, or from `?access_token=` for browsers that cannot set headers. */
function presentedToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new BeatSyncError('UNAUTHORIZED', 'malformed Authorization header');
    return match[1];
  }
  const query = request.query as Record<string, unknown> | undefined;
  const fromQuery = query?.access_token;
  return typeof fromQuery === 'string' && fromQuery !== '' ? fromQuery : null;
}

/**
 * Route `config` of routes anyone may call whatever they send (liveness): a stale or malformed token there is
 * treated as no token, so a client's old Authorization header never makes a health check fail.
 */
export const IGNORE_BAD_TOKEN = { ignoreBadToken: true } as const;

/** onRequest hook: sets request.lang, request.owner and request.isAdmin; a token that is present but wrong is 401. */
export function authHook(options: { tokenSecret: string; adminToken: string | null; sessions?: SessionRegistry }) {
  const identify = identifyWith(options);
  return async (request: FastifyRequest): Promise<void> => {
    request.lang = langFrom(request.headers['accept-language']);
    request.owner = null;
    request.isAdmin = false;
    try {
      await identify(request);
    } catch (error) {
      if ((request.routeOptions.config as { ignoreBadToken?: boolean } | undefined)?.ignoreBadToken) {
        request.owner = null;
        request.isAdmin = false;
        return;
      }
      throw error;
    }
  };
}

/** Tokens already verified by this node (a poller sends the same one every 2 s): no HMAC per request. */
const KNOWN_TOKENS_MAX = 20_000;

function identifyWith(options: { tokenSecret: string; adminToken: string | null; sessions?: SessionRegistry }) {
  const known = new Map<string, string>();
  return async (request: FastifyRequest): Promise<void> => {
    const token = presentedToken(request);
    if (token === null) return;
    let sessionId = known.get(token) ?? null;
    if (sessionId === null) {
      if (options.adminToken && sameSecret(token, options.adminToken)) {
        request.isAdmin = true;
        request.owner = ADMIN_OWNER;
        return;
      }
      sessionId = verifySessionToken(options.tokenSecret, token);
      if (sessionId !== null) {
        if (known.size >= KNOWN_TOKENS_MAX) known.clear();
        known.set(token, sessionId);
      }
    }
    if (sessionId === null) throw new BeatSyncError('UNAUTHORIZED', 'invalid token');
    const state = options.sessions ? await options.sessions.use(sessionId) : 'ok';
    if (state !== 'ok') throw new BeatSyncError('UNAUTHORIZED', state === 'expired' ? 'the token has expired' : 'the token was revoked');
    request.owner = sessionId;
  };
}

/** preHandler for routes that need a token (compat routes do not use it: they run in legacy mode). */
export async function requireToken(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (request.owner === null && !request.isAdmin) throw new BeatSyncError('UNAUTHORIZED', 'this route needs a token from POST /api/session');
}

/** preHandler for operations routes (metrics, stats) unless the server was told to make them public. */
export async function requireAdmin(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!request.isAdmin) throw new BeatSyncError('UNAUTHORIZED', 'this route needs the admin token');
}

/** Route schema `security` for routes that need a token. */
export const bearerSecurity = [{ bearerAuth: [] }];

/** Whether `request` may see a thing owned by `owner` (legacy requests see only owner-null things). */
export function canSee(request: { owner: string | null; isAdmin: boolean }, owner: string | null): boolean {
  return request.isAdmin || owner === request.owner;
}
