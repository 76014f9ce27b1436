// How a job looks from the outside: the JSON the job routes answer (and its schemas), built from a
// JobRecord. Also the owner check every job route shares: someone else's job is simply not found.
import { BeatSyncError, messageFor } from '../../errors.ts';
import type { Lang } from '../../errors.ts';
import type { JobEvent, JobRecord, JobState, JobStore } from '../../jobs/types.ts';
import { TERMINAL_STATES } from '../../jobs/types.ts';
import type { SyncJobResult } from '../../jobs/types/beatsync-sync.ts';
import type { CompactLongSide, RequestedVariant, VariantName } from '../../pipeline/types.ts';

export const SYNC_JOB_TYPE = 'beatsync.sync';
/** What a job may ask for; `trimmed` brings one clip per run-through (trimmed, trimmed-2, …). */
export const VARIANTS: readonly RequestedVariant[] = ['trimmed', 'full', 'alternate', 'compact'];
/** Every output name a result may hold: the requested names, the further run-through clips and their compact copies. */
export const OUTPUT_NAME_PATTERN = '^(trimmed|full|alternate|compact|(trimmed|compact)-[1-9][0-9]{0,2})$';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];

export interface SyncOptions {
  variants?: RequestedVariant[];
  nudgeMs?: number;
  compactLongSide?: CompactLongSide;
}

export interface SyncInput {
  danceFileId: string;
  bgmFileId: string;
  options?: SyncOptions;
}

export type SyncJob = JobRecord<SyncInput, SyncJobResult>;

/** Loads a job the caller may see; anyone else's (or a missing one) is NOT_FOUND, so ids cannot be probed. */
export async function loadOwnJob(store: JobStore, id: string, owner: string | null, isAdmin: boolean): Promise<SyncJob> {
  const job = await store.get<SyncInput, SyncJobResult>(id);
  if (!job || job.type !== SYNC_JOB_TYPE || (!isAdmin && job.owner !== owner)) throw new BeatSyncError('NOT_FOUND', 'job');
  return job;
}

export const isTerminal = (state: JobState): boolean => TERMINAL_STATES.includes(state);

export const jobLinks = (id: string) => {
  const base = `/api/jobs/${encodeURIComponent(id)}`;
  return {
    self: base,
    events: `${base}/events`,
    cancel: `${base}/cancel`,
    retry: `${base}/retry`,
    report: `${base}/outputs/report`,
    outputs: Object.fromEntries(VARIANTS.map((v) => [v, outputUrl(id, v)])) as Record<RequestedVariant, string>,
  };
};

export const outputUrl = (id: string, variant: VariantName): string => `/api/jobs/${encodeURIComponent(id)}/outputs/${variant}`;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function errorView(error: JobRecord['error'], lang: Lang) {
  if (!error) return null;
  return { code: error.code, message: messageFor(error.code, lang), retryable: error.retryable };
}

/** `envelopes: false` leaves out the picture's loudness curves (the history list does not draw them). */
export function resultView(job: SyncJob, options: { envelopes?: boolean } = {}) {
  if (job.state !== 'succeeded' || !job.result) return null;
  const report: Partial<SyncJobResult['report']> = { ...job.result.report };
  if (options.envelopes === false) delete report.envelopes;
  const links = jobLinks(job.id);
  return {
    variants: (job.result.variants ?? []).map((v) => {
      const url = outputUrl(job.id, v.variant);
      return {
        variant: v.variant,
        sizeBytes: v.sizeBytes,
        bytes: v.sizeBytes,
        durationSeconds: v.durationSeconds,
        flagged: v.flagged === true,
        url,
        downloadUrl: `${url}?download=1`,
        ...(v.clip !== undefined ? { clip: v.clip, segment: v.segment } : {}),
        ...(v.width !== undefined ? { width: v.width, height: v.height } : {}),
      };
    }),
    reportUrl: links.report,
    report,
  };
}

/** When the job's outputs (and the job) are removed by retention; null while it is not finished. */
export function expiresAt(job: JobRecord, retentionMs: number | null): string | null {
  if (retentionMs === null || job.finishedAt === null) return null;
  return iso(job.finishedAt + retentionMs);
}

export function jobView(job: SyncJob, extra: { lang: Lang; queuePosition: number | null; queueWaitSeconds?: number | null; retentionMs: number | null; envelopes?: boolean }) {
  return {
    jobId: job.id,
    status: job.state,
    progress: { percent: job.progress.percent, stage: job.progress.stage, message: job.progress.message },
    queuePosition: extra.queuePosition,
    queueWaitSeconds: extra.queueWaitSeconds ?? null,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    interruptions: job.interruptions,
    estimatedSeconds: job.estimatedSeconds,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
    expiresAt: expiresAt(job, extra.retentionMs),
    input: {
      danceFileId: job.input.danceFileId,
      bgmFileId: job.input.bgmFileId,
      options: job.input.options ?? {},
    },
    result: resultView(job, { envelopes: extra.envelopes }),
    error: errorView(job.error, extra.lang),
    links: jobLinks(job.id),
  };
}

/** One SSE message's data: the event plus, on the terminal one, what GET /api/jobs/:id would say of the outcome. */
export function eventView(event: JobEvent, job: SyncJob | null, lang: Lang) {
  const data: Record<string, unknown> = {
    seq: event.seq,
    jobId: event.jobId,
    kind: event.kind,
    status: event.state,
    progress: event.progress,
    at: new Date(event.at).toISOString(),
  };
  if (event.error) data.error = errorView(event.error, lang);
  if (event.kind === 'state' && event.state === 'succeeded' && job && job.state === 'succeeded') data.result = resultView(job);
  return data;
}

// ---- JSON schemas (they also make the OpenAPI document) ----

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
const dateTime = nullable({ type: 'string', format: 'date-time' });

/** Every error answer is the server's ErrorBody (registered by app.ts). */
export const errorResponses = { '4xx': { $ref: 'ErrorBody#' }, '5xx': { $ref: 'ErrorBody#' } } as const;

export const progressSchema = {
  type: 'object',
  properties: { percent: { type: 'number' }, stage: { type: 'string' }, message: { type: 'string' } },
  required: ['percent', 'stage', 'message'],
} as const;

const jobErrorSchema = nullable({
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, retryable: { type: 'boolean' } },
  required: ['code', 'message', 'retryable'],
});

export const syncOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    variants: {
      type: 'array', items: { type: 'string', enum: VARIANTS }, minItems: 1, maxItems: VARIANTS.length, uniqueItems: true,
      description: '`trimmed` gives one clip per run-through (trimmed, trimmed-2, …); `compact` a phone-size H.264 copy of each clip (compact, compact-2, …).',
    },
    nudgeMs: { type: 'number', minimum: -5000, maximum: 5000, description: 'Extra shift (ms) added to the found offset.' },
    compactLongSide: { type: 'integer', enum: [1280, 1920], description: 'Longest side of `compact` in pixels (default 1280).' },
  },
} as const;

const linksSchema = {
  type: 'object',
  properties: {
    self: { type: 'string' },
    events: { type: 'string' },
    cancel: { type: 'string' },
    retry: { type: 'string' },
    report: { type: 'string' },
    outputs: { type: 'object', properties: Object.fromEntries(VARIANTS.map((v) => [v, { type: 'string' }])) },
  },
} as const;

const numbers = { type: 'array', items: { type: 'number' } } as const;

/** Loudness curves for drawing the alignment (reports made before they existed have none). */
const envelopesSchema = {
  type: 'object',
  description: 'RMS loudness in dBFS per frame: the recording from its start, the song from BGM time `bgm.startSeconds`.',
  properties: {
    frameSeconds: { type: 'number' },
    dance: numbers,
    bgm: { type: 'object', properties: { startSeconds: { type: 'number' }, values: numbers }, required: ['startSeconds', 'values'] },
  },
  required: ['frameSeconds', 'dance', 'bgm'],
} as const;

const resultSchema = nullable({
  type: 'object',
  properties: {
    variants: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          variant: { type: 'string', pattern: OUTPUT_NAME_PATTERN },
          sizeBytes: { type: 'number' },
          bytes: { type: 'number', description: 'Same as sizeBytes.' },
          durationSeconds: { type: 'number' },
          flagged: { type: 'boolean', description: 'True for `alternate`: the second most plausible alignment.' },
          clip: { type: 'integer', minimum: 1, description: 'Run-through clips and their compact copies: 1 = `trimmed` (the longest) and `compact`, 2 = `trimmed-2` and `compact-2`, …' },
          segment: {
            type: 'object',
            description: 'The stretch a clip follows: dance seconds, and BGM time = offsetSeconds + speed × dance time there.',
            properties: { danceStart: { type: 'number' }, danceEnd: { type: 'number' }, offsetSeconds: { type: 'number' } },
          },
          width: { type: 'integer', description: '`compact`: picture width.' },
          height: { type: 'integer', description: '`compact`: picture height.' },
          url: { type: 'string', description: 'Inline (for a player, Range-capable).' },
          downloadUrl: { type: 'string', description: 'As an attachment.' },
        },
      },
    },
    reportUrl: { type: 'string' },
    report: {
      type: 'object',
      additionalProperties: true,
      description: 'The alignment report (offset, drift, confidence, timings).',
      properties: { envelopes: envelopesSchema },
    },
  },
});

export const jobSchema = {
  type: 'object',
  properties: {
    jobId: { type: 'string' },
    status: { type: 'string', enum: JOB_STATES },
    progress: progressSchema,
    queuePosition: nullable({ type: 'integer' }),
    queueWaitSeconds: { ...nullable({ type: 'number' }), description: 'While queued: about how long until it starts (the jobs ahead at the recent pace); null otherwise' },
    attempts: { type: 'integer', description: "Runs that ended in the job's own retryable error (or running now)" },
    maxAttempts: { type: 'integer' },
    interruptions: { type: 'integer', description: 'Runs stopped through no fault of the job (server restart, lost worker, shortage); they do not use attempts' },
    estimatedSeconds: nullable({ type: 'number' }),
    createdAt: dateTime,
    startedAt: dateTime,
    finishedAt: dateTime,
    updatedAt: dateTime,
    expiresAt: { ...dateTime, description: 'When the outputs are deleted (retention); null until the job ends.' },
    input: {
      type: 'object',
      properties: { danceFileId: { type: 'string' }, bgmFileId: { type: 'string' }, options: { type: 'object', additionalProperties: true } },
    },
    result: resultSchema,
    error: jobErrorSchema,
    links: linksSchema,
  },
} as const;

export const acceptedSchema = {
  type: 'object',
  properties: {
    jobId: { type: 'string' },
    status: { type: 'string', enum: JOB_STATES },
    estimatedSeconds: nullable({ type: 'number' }),
    links: linksSchema,
  },
  required: ['jobId', 'status', 'links'],
} as const;

export const jobIdParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['id'],
} as const;
