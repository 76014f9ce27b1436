// The server's configuration: one loader reading command-line flags, then BEATSYNC_* environment variables,
// then defaults; the token secret is generated once and kept in the data directory so tokens survive restarts.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BeatSyncError } from '../errors.ts';

export interface ServerConfig {
  port: number;
  host: string;
  /** Absolute. Local storage, the job database and the token secret live here. */
  dataDir: string;
  /** Jobs run at once by this process's workers. */
  concurrency: number;
  maxUploadBytes: number;
  maxDurationSeconds: number;
  rateLimit: {
    windowMs: number;
    /** Requests per window from one IP without a token. */
    perIp: number;
    /** Requests per window with one token. */
    perToken: number;
    /** New sessions per window from one IP (tokens are free, so their creation is what is limited). */
    sessionsPerIp: number;
  };
  quota: {
    /** Bytes of uploads one token may keep. */
    storageBytes: number;
    /** Jobs one token may have queued or running. */
    runningJobs: number;
    /** Jobs the old-client routes may have queued or running for one IP without a token (they share one owner). */
    legacyJobsPerIp: number;
  };
  /** How long uploads and outputs are kept. */
  retentionSeconds: number;
  /** Unfinished tus uploads expire after this. */
  tusExpirySeconds: number;
  /** Origins allowed by CORS; empty = same origin only; ['*'] = any. */
  corsOrigins: string[];
  adminToken: string | null;
  tokenSecret: string;
  timeouts: {
    /** Whole request, body included (an upload must arrive within this). */
    requestMs: number;
    /** Headers must arrive within this (slowloris). */
    headersMs: number;
    /** A socket silent this long is closed (SSE streams send heartbeats well within it). */
    idleMs: number;
    keepAliveMs: number;
  };
  maxHeaderBytes: number;
  /** JSON / form bodies (uploads are streamed and limited by maxUploadBytes instead). */
  bodyLimitBytes: number;
  /** Behind a reverse proxy: take the client IP from X-Forwarded-For. */
  trustProxy: boolean;
  /** Built web page served at / when the directory exists. */
  webDir: string;
  logLevel: string;
  /** How long running jobs may take to finish on shutdown. */
  shutdownGraceMs: number;
  uploadGuard: {
    /** A body slower than this (bytes/s) averaged over the window is cut off. */
    minBytesPerSecond: number;
    windowMs: number;
    /** Uploads one client address may have open at once. */
    perIp: number;
  };
  /** A session token unused this long stops working (each use renews it). */
  sessionTtlSeconds: number;
  /** /metrics, /api/stats and /api/ready's details without the admin token (default: only with it). */
  publicOps: boolean;
  minFreeDisk: {
    /** Below this much free space new jobs are refused (503 RESOURCE_LIMIT). */
    jobsBytes: number;
    /** Below this much /api/ready answers 503. */
    readyBytes: number;
  };
  /** Deadline of each Redis call made while serving a request (Redis backend, shared rate limits). */
  redisTimeoutMs: number;
}

export interface ConfigSources {
  argv?: readonly string[];
  env?: Record<string, string | undefined>;
}

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

interface Option {
  flag: string;
  env: string;
  /** Parses the text into the value; throws BAD_REQUEST naming the flag when invalid. */
  kind: 'int' | 'bytes' | 'seconds' | 'string' | 'list' | 'bool';
  help: string;
}

const OPTIONS = {
  port: { flag: 'port', env: 'BEATSYNC_PORT', kind: 'int', help: 'TCP port (8080)' },
  host: { flag: 'host', env: 'BEATSYNC_HOST', kind: 'string', help: 'address to listen on (127.0.0.1; 0.0.0.0 for all)' },
  dataDir: { flag: 'data-dir', env: 'BEATSYNC_DATA_DIR', kind: 'string', help: 'data directory (./data)' },
  concurrency: { flag: 'concurrency', env: 'BEATSYNC_CONCURRENCY', kind: 'int', help: 'jobs run at once (half the CPU cores, at least 1)' },
  maxUploadBytes: { flag: 'max-upload-bytes', env: 'BEATSYNC_MAX_UPLOAD_BYTES', kind: 'bytes', help: 'largest upload (1G)' },
  maxDuration: { flag: 'max-duration', env: 'BEATSYNC_MAX_DURATION', kind: 'seconds', help: 'longest media in seconds (1200)' },
  rateWindow: { flag: 'rate-window', env: 'BEATSYNC_RATE_WINDOW', kind: 'seconds', help: 'rate-limit window in seconds (60)' },
  rateIp: { flag: 'rate-limit-ip', env: 'BEATSYNC_RATE_LIMIT_IP', kind: 'int', help: 'requests per window per IP without token (300)' },
  rateToken: { flag: 'rate-limit-token', env: 'BEATSYNC_RATE_LIMIT_TOKEN', kind: 'int', help: 'requests per window per token (1200)' },
  rateSessions: { flag: 'rate-limit-sessions', env: 'BEATSYNC_RATE_LIMIT_SESSIONS', kind: 'int', help: 'new sessions per window per IP (30)' },
  quotaStorage: { flag: 'quota-storage', env: 'BEATSYNC_QUOTA_STORAGE', kind: 'bytes', help: 'upload bytes kept per token (5G)' },
  quotaJobs: { flag: 'quota-jobs', env: 'BEATSYNC_QUOTA_JOBS', kind: 'int', help: 'jobs one token may have queued or running; more get 429 TOO_MANY_JOBS (20)' },
  quotaJobsIp: { flag: 'quota-jobs-ip', env: 'BEATSYNC_QUOTA_JOBS_IP', kind: 'int', help: 'queued+running old-client jobs per IP without a token (6)' },
  retention: { flag: 'retention', env: 'BEATSYNC_RETENTION', kind: 'seconds', help: 'seconds uploads and outputs are kept (259200 = 3 days)' },
  tusExpiry: { flag: 'tus-expiry', env: 'BEATSYNC_TUS_EXPIRY', kind: 'seconds', help: 'seconds an unfinished resumable upload is kept (86400)' },
  cors: { flag: 'cors-origins', env: 'BEATSYNC_CORS_ORIGINS', kind: 'list', help: 'comma-separated allowed origins (none)' },
  adminToken: { flag: 'admin-token', env: 'BEATSYNC_ADMIN_TOKEN', kind: 'string', help: 'token that sees everything (none)' },
  tokenSecret: { flag: 'token-secret', env: 'BEATSYNC_TOKEN_SECRET', kind: 'string', help: 'HMAC secret for session tokens; the same on every API node (generated into the data dir)' },
  requestTimeout: { flag: 'request-timeout', env: 'BEATSYNC_REQUEST_TIMEOUT', kind: 'seconds', help: 'seconds a whole request (an upload) may take (1800)' },
  headersTimeout: { flag: 'headers-timeout', env: 'BEATSYNC_HEADERS_TIMEOUT', kind: 'seconds', help: 'seconds for the request headers (20)' },
  idleTimeout: { flag: 'idle-timeout', env: 'BEATSYNC_IDLE_TIMEOUT', kind: 'seconds', help: 'seconds a silent connection is kept (60)' },
  maxHeaderBytes: { flag: 'max-header-bytes', env: 'BEATSYNC_MAX_HEADER_BYTES', kind: 'bytes', help: 'largest request header block (16K)' },
  trustProxy: { flag: 'trust-proxy', env: 'BEATSYNC_TRUST_PROXY', kind: 'bool', help: 'take the client IP from X-Forwarded-For (off)' },
  webDir: { flag: 'web-dir', env: 'BEATSYNC_WEB_DIR', kind: 'string', help: 'built web page (dist/web)' },
  logLevel: { flag: 'log-level', env: 'BEATSYNC_LOG_LEVEL', kind: 'string', help: 'pino level (info)' },
  shutdownGrace: { flag: 'shutdown-grace', env: 'BEATSYNC_SHUTDOWN_GRACE', kind: 'seconds', help: 'seconds running jobs get on shutdown (30)' },
  uploadMinRate: { flag: 'upload-min-rate', env: 'BEATSYNC_UPLOAD_MIN_RATE', kind: 'bytes', help: 'bytes per second an upload must average over the window, else it is closed (1K)' },
  uploadRateWindow: { flag: 'upload-rate-window', env: 'BEATSYNC_UPLOAD_RATE_WINDOW', kind: 'seconds', help: 'seconds over which the upload rate is averaged (60)' },
  uploadsPerIp: { flag: 'uploads-per-ip', env: 'BEATSYNC_UPLOADS_PER_IP', kind: 'int', help: 'uploads one address may have open at once (8)' },
  sessionTtl: { flag: 'session-ttl', env: 'BEATSYNC_SESSION_TTL', kind: 'seconds', help: 'seconds a session token may go unused before it expires (2592000 = 30 days)' },
  publicOps: { flag: 'public-metrics', env: 'BEATSYNC_PUBLIC_METRICS', kind: 'bool', help: '/metrics, /api/stats and /api/ready details without the admin token (off)' },
  minFreeJobs: { flag: 'min-free-disk', env: 'BEATSYNC_MIN_FREE_DISK', kind: 'bytes', help: 'free disk below which new jobs are refused (2G)' },
  minFreeReady: { flag: 'min-free-disk-ready', env: 'BEATSYNC_MIN_FREE_DISK_READY', kind: 'bytes', help: 'free disk below which /api/ready answers 503 (512M)' },
  redisTimeout: {
    flag: 'redis-timeout-ms', env: 'BEATSYNC_REDIS_TIMEOUT_MS', kind: 'int',
    help: 'ms a request waits for Redis before it answers 503 RESOURCE_LIMIT; the rate limiter lets it through instead (2000)',
  },
} satisfies Record<string, Option>;

type OptionName = keyof typeof OPTIONS;

/** `beatsync serve --help` text. */
export function configHelp(): string {
  return Object.values(OPTIONS)
    .map((o) => `  --${o.flag.padEnd(22)} ${o.help}  [${o.env}]`)
    .join('\n');
}

const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../dist/web', import.meta.url));

/** Flags win over environment, environment over defaults. Unknown flags and bad values are BAD_REQUEST. */
export async function loadServerConfig(sources: ConfigSources = {}): Promise<ServerConfig> {
  const env = sources.env ?? process.env;
  let parsed;
  try {
    parsed = parseArgs({
      args: [...(sources.argv ?? [])],
      options: Object.fromEntries(
        Object.values(OPTIONS).map((o) => [o.flag, { type: o.kind === 'bool' ? 'boolean' : 'string' } as const]),
      ),
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new BeatSyncError('BAD_REQUEST', (error as Error).message);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;

  const raw = (name: OptionName): string | undefined => {
    const o = OPTIONS[name];
    const flag = flags[o.flag];
    if (typeof flag === 'boolean') return flag ? 'true' : 'false';
    if (flag !== undefined) return flag;
    const fromEnv = env[o.env];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const int = (name: OptionName, fallback: number, min = 0): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw invalid(name, text);
    return value;
  };
  const bytes = (name: OptionName, fallback: number): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = parseBytes(text);
    if (value === null) throw invalid(name, text);
    return value;
  };
  const seconds = (name: OptionName, fallback: number): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw invalid(name, text);
    return value;
  };
  const bool = (name: OptionName): boolean => {
    const text = raw(name);
    if (text === undefined) return false;
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw invalid(name, text);
  };

  const port = int('port', 8080);
  if (port > 65535) throw invalid('port', String(port));
  const dataDir = resolve(raw('dataDir') ?? './data');
  const windowSeconds = seconds('rateWindow', 60);
  const corsText = raw('cors');
  const config: ServerConfig = {
    port,
    host: raw('host') ?? '127.0.0.1',
    dataDir,
    concurrency: int('concurrency', Math.max(1, Math.floor(cpus().length / 2)), 1),
    maxUploadBytes: bytes('maxUploadBytes', GIB),
    maxDurationSeconds: seconds('maxDuration', 20 * 60),
    rateLimit: {
      windowMs: Math.round(windowSeconds * 1000),
      perIp: int('rateIp', 300, 1),
      perToken: int('rateToken', 1200, 1),
      sessionsPerIp: int('rateSessions', 30, 1),
    },
    quota: {
      storageBytes: bytes('quotaStorage', 5 * GIB),
      runningJobs: int('quotaJobs', 20, 1),
      legacyJobsPerIp: int('quotaJobsIp', 6, 1),
    },
    retentionSeconds: seconds('retention', 3 * 24 * 3600),
    tusExpirySeconds: seconds('tusExpiry', 24 * 3600),
    corsOrigins: corsText ? corsText.split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean) : [],
    adminToken: raw('adminToken') ?? null,
    tokenSecret: raw('tokenSecret') ?? '',
    timeouts: {
      requestMs: Math.round(seconds('requestTimeout', 1800) * 1000),
      headersMs: Math.round(seconds('headersTimeout', 20) * 1000),
      idleMs: Math.round(seconds('idleTimeout', 60) * 1000),
      keepAliveMs: 5000,
    },
    maxHeaderBytes: bytes('maxHeaderBytes', 16 * KIB),
    bodyLimitBytes: MIB,
    trustProxy: bool('trustProxy'),
    webDir: resolve(raw('webDir') ?? DEFAULT_WEB_DIR),
    logLevel: raw('logLevel') ?? 'info',
    shutdownGraceMs: Math.round(seconds('shutdownGrace', 30) * 1000),
    uploadGuard: {
      minBytesPerSecond: bytes('uploadMinRate', KIB),
      windowMs: Math.round(seconds('uploadRateWindow', 60) * 1000),
      perIp: int('uploadsPerIp', 8, 1),
    },
    sessionTtlSeconds: seconds('sessionTtl', 30 * 24 * 3600),
    publicOps: bool('publicOps'),
    minFreeDisk: { jobsBytes: bytes('minFreeJobs', 2 * GIB), readyBytes: bytes('minFreeReady', 512 * MIB) },
    redisTimeoutMs: int('redisTimeout', 2000, 50),
  };
  if (config.adminToken !== null && config.adminToken.length < 16) {
    throw new BeatSyncError('BAD_REQUEST', 'the admin token must be at least 16 characters');
  }
  // Node refuses a request time-out shorter than the headers time-out.
  if (config.timeouts.requestMs < config.timeouts.headersMs) config.timeouts.requestMs = config.timeouts.headersMs;
  if (!config.tokenSecret) config.tokenSecret = await persistedTokenSecret(dataDir);
  return config;
}

/** "1G", "500M", "16K", "1048576" → bytes (binary units); null when not a size. */
export function parseBytes(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!match) return null;
  const unit = { '': 1, k: KIB, m: MIB, g: GIB, t: 1024 * GIB }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const value = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(value) ? value : null;
}

function invalid(name: OptionName, text: string): BeatSyncError {
  const o = OPTIONS[name];
  return new BeatSyncError('BAD_REQUEST', `invalid value for --${o.flag} / ${o.env}: ${JSON.stringify(text)}`);
}

/** Reads dataDir/secrets/token-secret, creating it (exclusively, so concurrent starts agree) the first time. */
async function persistedTokenSecret(dataDir: string): Promise<string> {
  const dir = join(dataDir, 'secrets');
  const file = join(dir, 'token-secret');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < 16) throw new BeatSyncError('PROCESSING_FAILED', `the token secret file is damaged (${file})`);
  return secret;
}

/** The configuration as printed at start: secrets masked. */
export function describeConfig(config: ServerConfig): string {
  const mask = (s: string | null): string => (s ? `${'*'.repeat(8)} (${s.length} chars)` : '(none)');
  const mib = (n: number): string => `${(n / MIB).toFixed(0)} MiB`;
  const lines: [string, string][] = [
    ['listen', `${config.host}:${config.port}`],
    ['data dir', config.dataDir],
    ['concurrency', String(config.concurrency)],
    ['max upload', mib(config.maxUploadBytes)],
    ['max duration', `${config.maxDurationSeconds} s`],
    ['rate limits', `${config.rateLimit.perIp}/IP, ${config.rateLimit.perToken}/token, ${config.rateLimit.sessionsPerIp} sessions/IP per ${config.rateLimit.windowMs / 1000} s`],
    ['quota per token', `${mib(config.quota.storageBytes)} storage, ${config.quota.runningJobs} jobs`],
    ['old clients', `${config.quota.legacyJobsPerIp} jobs per IP without a token`],
    ['retention', `${config.retentionSeconds} s (unfinished resumable uploads ${config.tusExpirySeconds} s)`],
    ['CORS origins', config.corsOrigins.length ? config.corsOrigins.join(', ') : '(same origin only)'],
    ['admin token', mask(config.adminToken)],
    ['operations', config.publicOps ? '/metrics, /api/stats, /api/ready public' : '/metrics, /api/stats, /api/ready details need the admin token'],
    ['token secret', mask(config.tokenSecret)],
    ['slow uploads', `closed below ${config.uploadGuard.minBytesPerSecond} bytes/s over ${config.uploadGuard.windowMs / 1000} s; ${config.uploadGuard.perIp} at once per address`],
    ['session lifetime', `${config.sessionTtlSeconds} s unused`],
    ['time-outs', `request ${config.timeouts.requestMs / 1000} s, headers ${config.timeouts.headersMs / 1000} s, idle ${config.timeouts.idleMs / 1000} s`],
    ['max header size', `${config.maxHeaderBytes} bytes`],
    ['trust proxy', config.trustProxy ? 'yes' : 'no'],
    ['min free disk', `${mib(config.minFreeDisk.jobsBytes)} for new jobs, ${mib(config.minFreeDisk.readyBytes)} for readiness`],
    ['redis deadline', `${config.redisTimeoutMs} ms per call while serving a request`],
    ['web page', config.webDir],
  ];
  return lines.map(([k, v]) => `  ${k.padEnd(16)} ${v}`).join('\n');
}
