// What every route plugin can count on: the typed Fastify decorations set up by buildServer (app.ts).
//
//   app.system    the job system (store, files, submit…) — see src/jobs
//   app.config    the resolved ServerConfig (src/server/config.ts)
//   app.uploads   the upload service (src/server/uploads.ts): save / get, owner-checked
//   app.metrics   the Prometheus registry and the counters others may bump (src/server/metrics.ts)
//   app.sessions  session lifetimes and revocation (src/server/sessions.ts)
//   request.owner   session id from the bearer token, null without one ("legacy" mode of the compat routes)
//   request.isAdmin true with the admin token: sees everything
//   request.lang    'en' | 'zh-CN' from Accept-Language, for error messages
//
// Errors: throw a BeatSyncError (src/errors.ts) from any handler; the error handler answers
// { error: { code, message (in request.lang), retryable } } with httpStatusFor(code).
// Routes that need a token add `preHandler: requireToken` (src/server/auth.ts) and `security: bearerSecurity`
// to their schema. Browsers that cannot set headers (EventSource, <video src>, <a download>) may pass the
// token as the `access_token` query parameter instead (it is redacted from logs).
import type { Readable } from 'node:stream';
import type { Lang } from '../errors.ts';
import type { JobSystem } from '../jobs/index.ts';
import type { UploadMeta } from '../storage/types.ts';
import type { ServerConfig } from './config.ts';
import type { ServerMetrics } from './metrics.ts';
import type { SessionRegistry } from './sessions.ts';

export type { JobSystem } from '../jobs/index.ts';

export interface SaveUploadOptions {
  owner: string | null;
  /** Original name as the client sent it; sanitised before it is kept (display only). */
  filename: string;
  /** Defaults to config.maxUploadBytes; the owner's storage quota may lower it. */
  maxBytes?: number;
  /** Set by the compatibility routes (old client's file_type). Also picks the dance/bgm checks. */
  legacyType?: 'dance' | 'bgm';
  /** Which checks to apply besides the general ones; legacyType implies it. */
  purpose?: 'dance' | 'bgm';
  signal?: AbortSignal;
}

export interface UploadService {
  /** Streams into the store (size limit while streaming, sha256 on the fly), probes, checks; a file that fails leaves nothing behind. */
  save(source: Readable | AsyncIterable<Uint8Array>, options: SaveUploadOptions): Promise<UploadMeta>;
  /** Throws NOT_FOUND when missing or owned by someone else (unless admin). Legacy (owner null) sees only owner-null uploads. */
  get(fileId: string, owner: string | null, isAdmin: boolean): Promise<UploadMeta>;
  /** Bytes the owner may still upload under the storage quota (Infinity for legacy and admin). */
  allowance(owner: string | null): Promise<number>;
}

declare module 'fastify' {
  interface FastifyInstance {
    system: JobSystem;
    config: ServerConfig;
    uploads: UploadService;
    metrics: ServerMetrics;
    sessions: SessionRegistry;
  }
  interface FastifyRequest {
    owner: string | null;
    isAdmin: boolean;
    lang: Lang;
  }
}
