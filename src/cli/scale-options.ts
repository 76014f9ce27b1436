// `beatsync serve` options for running on several machines: the node's role, the job backend and the
// file store. Parsed (flags, then BEATSYNC_* environment, then defaults) and removed from the argument
// list before the server's own configuration reads the rest.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import type { JobBackendName } from '../jobs/backends.ts';
import type { FileStoreSpec } from '../jobs/file-spec.ts';

export type NodeRole = 'api' | 'worker' | 'all';

export interface ScaleOptions {
  /** api = HTTP only; worker = jobs + janitor, no public HTTP; all = one machine (default). */
  role: NodeRole;
  backend: JobBackendName;
  redisUrl: string | null;
  redisPrefix: string;
  /** null = local directory under the data dir. */
  storage: FileStoreSpec | null;
  /** Label on this node's metrics. */
  nodeId: string;
  /** Worker role: port of its small /api/health, /api/ready, /metrics listener (0 = none). */
  healthPort: number;
  /** Job lease (how soon a dead worker's job runs elsewhere), ms; null = the pool's default. */
  leaseMs: number | null;
  /** Interruptions (worker or server died, lease lost, shortage) after which a job fails INTERRUPTED_TOO_OFTEN; null = 10. */
  maxInterruptions: number | null;
}

interface Flag {
  flag: string;
  env: string;
  help: string;
  bool?: boolean;
}

const FLAGS = {
  role: { flag: 'role', env: 'BEATSYNC_ROLE', help: 'what this node runs: api (HTTP only) | worker (jobs) | all (all)' },
  backend: { flag: 'backend', env: 'BEATSYNC_BACKEND', help: 'job backend: sqlite | redis (sqlite)' },
  redisUrl: { flag: 'redis-url', env: 'BEATSYNC_REDIS_URL', help: 'Redis for --backend redis, e.g. redis://host:6379/0 (none)' },
  redisPrefix: { flag: 'redis-prefix', env: 'BEATSYNC_REDIS_PREFIX', help: 'key prefix in Redis (bs:)' },
  storage: { flag: 'storage', env: 'BEATSYNC_STORAGE', help: 'file store: local | s3 (local)' },
  s3Bucket: { flag: 's3-bucket', env: 'BEATSYNC_S3_BUCKET', help: 'bucket for --storage s3; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (none)' },
  s3Endpoint: { flag: 's3-endpoint', env: 'BEATSYNC_S3_ENDPOINT', help: 'S3-compatible server URL (none: AWS itself)' },
  s3Region: { flag: 's3-region', env: 'BEATSYNC_S3_REGION', help: 'S3 region (us-east-1)' },
  s3Prefix: { flag: 's3-prefix', env: 'BEATSYNC_S3_PREFIX', help: 'key prefix in the bucket (none)' },
  s3CacheDir: { flag: 's3-cache-dir', env: 'BEATSYNC_S3_CACHE_DIR', help: 'local copies of inputs for ffmpeg (<data dir>/s3-cache)' },
  nodeId: { flag: 'node-id', env: 'BEATSYNC_NODE_ID', help: 'name of this node in metrics (host name-pid)' },
  healthPort: { flag: 'health-port', env: 'BEATSYNC_HEALTH_PORT', help: 'worker role: port for /api/health, /api/ready, /metrics; 0 = none (0)' },
  lease: { flag: 'lease', env: 'BEATSYNC_LEASE', help: 'seconds a job stays held without a heartbeat (15)' },
  maxInterruptions: {
    flag: 'max-interruptions', env: 'BEATSYNC_MAX_INTERRUPTIONS',
    help: 'times a job may be interrupted (server or worker died, lost lease, disk full) before it fails; not its attempts (10)',
  },
} satisfies Record<string, Flag>;

type FlagName = keyof typeof FLAGS;

export function scaleHelp(): string {
  return Object.values(FLAGS).map((o) => `  --${o.flag.padEnd(22)} ${o.help}  [${o.env}]`).join('\n');
}

function bad(name: FlagName, text: string): BeatSyncError {
  return new BeatSyncError('BAD_REQUEST', `invalid value for --${FLAGS[name].flag} / ${FLAGS[name].env}: ${JSON.stringify(text)}`);
}

/** Takes this module's flags out of `argv` (both `--flag value` and `--flag=value`); returns them and the rest. */
export function parseScaleOptions(argv: readonly string[], env: Record<string, string | undefined>, dataDir?: string): { options: ScaleOptions; rest: string[] } {
  const byFlag = new Map(Object.entries(FLAGS).map(([name, o]) => [o.flag, name as FlagName]));
  const given = new Map<FlagName, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const name = match ? byFlag.get(match[1]) : undefined;
    if (!match || !name) {
      rest.push(arg);
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new BeatSyncError('BAD_REQUEST', `--${match[1]} needs a value`);
      i++;
    }
    given.set(name, value);
  }
  const raw = (name: FlagName): string | undefined => {
    const v = given.get(name) ?? env[FLAGS[name].env];
    return v === undefined || v === '' ? undefined : v;
  };
  const oneOf = <T extends string>(name: FlagName, allowed: readonly T[], fallback: T): T => {
    const text = raw(name);
    if (text === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(text)) throw bad(name, text);
    return text as T;
  };

  const role = oneOf<NodeRole>('role', ['api', 'worker', 'all'], 'all');
  const backend = oneOf<JobBackendName>('backend', ['sqlite', 'redis'], 'sqlite');
  const redisUrl = raw('redisUrl') ?? null;
  if (backend === 'redis' && (!redisUrl || !/^rediss?:\/\//.test(redisUrl))) throw bad('redisUrl', redisUrl ?? '');
  // Separate roles only make sense on a shared backend: an API node with SQLite would queue jobs nobody runs.
  if (role !== 'all' && backend !== 'redis') throw new BeatSyncError('BAD_REQUEST', `--role ${role} needs --backend redis (roles share one queue)`);

  const storageKind = oneOf('storage', ['local', 's3'], 'local');
  let storage: FileStoreSpec | null = null;
  if (storageKind === 's3') {
    const bucket = raw('s3Bucket');
    if (!bucket) throw bad('s3Bucket', '');
    const endpoint = raw('s3Endpoint');
    if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw bad('s3Endpoint', endpoint);
    storage = {
      backend: 's3',
      bucket,
      region: raw('s3Region') ?? 'us-east-1',
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(raw('s3Prefix') ? { prefix: raw('s3Prefix') } : {}),
      cacheDir: resolve(raw('s3CacheDir') ?? resolve(dataDir ?? './data', 's3-cache')),
    };
  } else if (role !== 'all') {
    // Workers on other machines cannot read an API node's local directory.
    throw new BeatSyncError('BAD_REQUEST', `--role ${role} needs shared storage (--storage s3)`);
  }

  const healthText = raw('healthPort');
  const healthPort = healthText === undefined ? 0 : Number(healthText);
  if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) throw bad('healthPort', healthText ?? '');
  const leaseText = raw('lease');
  const leaseSeconds = leaseText === undefined ? null : Number(leaseText);
  if (leaseSeconds !== null && !(Number.isFinite(leaseSeconds) && leaseSeconds >= 0.5 && leaseSeconds <= 3600)) throw bad('lease', leaseText ?? '');
  const interruptionsText = raw('maxInterruptions');
  const maxInterruptions = interruptionsText === undefined ? null : Number(interruptionsText);
  if (maxInterruptions !== null && !(Number.isInteger(maxInterruptions) && maxInterruptions >= 1 && maxInterruptions <= 1000)) {
    throw bad('maxInterruptions', interruptionsText ?? '');
  }

  return {
    options: {
      role,
      backend,
      redisUrl,
      redisPrefix: raw('redisPrefix') ?? 'bs:',
      storage,
      nodeId: raw('nodeId') ?? `${hostname()}-${process.pid}`,
      healthPort,
      leaseMs: leaseSeconds === null ? null : Math.round(leaseSeconds * 1000),
      maxInterruptions,
    },
    rest,
  };
}

/** The data dir as the server config will resolve it (flag, env, default), for the S3 cache default. */
export function dataDirOf(argv: readonly string[], env: Record<string, string | undefined>): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--data-dir' && argv[i + 1]) return resolve(argv[i + 1]);
    if (argv[i].startsWith('--data-dir=')) return resolve(argv[i].slice('--data-dir='.length));
  }
  return resolve(env.BEATSYNC_DATA_DIR || './data');
}

/** One line per setting, as printed at start. */
export function describeScale(o: ScaleOptions): string {
  const storage = o.storage?.backend === 's3'
    ? `s3 bucket ${o.storage.bucket}${o.storage.endpoint ? ` at ${o.storage.endpoint}` : ''}${o.storage.prefix ? ` prefix ${o.storage.prefix}` : ''}`
    : 'local directory';
  const redis = o.redisUrl ? ` (${o.redisUrl.replace(/\/\/([^@/]*:)?[^@/]*@/, '//***@')}, prefix ${o.redisPrefix})` : '';
  return [
    ['role', o.role],
    ['node', o.nodeId],
    ['job backend', `${o.backend}${redis}`],
    ['file store', storage],
  ].map(([k, v]) => `  ${k.padEnd(16)} ${v}`).join('\n');
}

/** The part of openJobSystem's config these options decide. */
export function jobSystemOptions(o: ScaleOptions): {
  startWorkers: boolean; startJanitor: boolean; backend: JobBackendName; redisUrl?: string; redisPrefix: string; storage?: FileStoreSpec; leaseMs?: number;
  maxInterruptions?: number;
} {
  return {
    startWorkers: o.role !== 'api',
    startJanitor: o.role !== 'api',
    backend: o.backend,
    ...(o.redisUrl ? { redisUrl: o.redisUrl } : {}),
    redisPrefix: o.redisPrefix,
    ...(o.storage ? { storage: o.storage } : {}),
    ...(o.leaseMs !== null ? { leaseMs: o.leaseMs } : {}),
    ...(o.maxInterruptions !== null ? { maxInterruptions: o.maxInterruptions } : {}),
  };
}
