// Rate-limit counters shared by the API nodes in Redis, failing open: when Redis misses its deadline or is
// down, the request goes through uncounted (a rate limit must never take the API down), Redis is left alone
// for a short pause so that every request does not wait out the deadline again, and a warning is logged at
// most once per interval (a frozen Redis would otherwise log once per request).
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

/** One window's count: the first hit starts the window (its TTL), later hits only count. */
const COUNT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`;
const COMMAND = 'beatsyncRateCount';

export interface FailOpenStoreOptions {
  /** With a command deadline and no offline queue, so that a call fails instead of waiting. */
  redis: Redis;
  /** Key prefix of the counters. */
  nameSpace: string;
  /** After a failure Redis is not asked again for this long; requests pass uncounted meanwhile. */
  pauseMs: number;
  /** At most one warning per this interval. */
  warnEveryMs: number;
  warn(message: string, err: Error): void;
}

type Count = (key: string, windowMs: number) => Promise<[number, number]>;

interface Shared {
  opts: FailOpenStoreOptions;
  count: Count;
  pausedUntil: number;
  warnedAt: number;
}

class FailOpenStore implements FastifyRateLimitStore {
  private readonly prefix: string;
  private readonly shared: Shared;

  constructor(prefix: string, shared: Shared) {
    this.prefix = prefix;
    this.shared = shared;
  }

  incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
    const shared = this.shared;
    const uncounted = { current: 0, ttl: timeWindow };
    if (Date.now() < shared.pausedUntil) {
      callback(null, uncounted);
      return;
    }
    shared.count(this.prefix + key, timeWindow).then(
      ([current, ttl]) => callback(null, { current, ttl: ttl > 0 ? ttl : timeWindow }),
      (err: Error) => {
        const now = Date.now();
        shared.pausedUntil = now + shared.opts.pauseMs;
        if (now - shared.warnedAt >= shared.opts.warnEveryMs) {
          shared.warnedAt = now;
          shared.opts.warn(`rate-limit counters unavailable: requests pass uncounted (Redis is retried every ${shared.opts.pauseMs} ms)`, err);
        }
        callback(null, uncounted);
      },
    );
  }

  child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    // The plugin hands the route's merged settings, the route itself under routeInfo.
    const route = (routeOptions as unknown as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo ?? {};
    return new FailOpenStore(`${this.prefix}${String(route.method)}${String(route.url)}-`, this.shared);
  }
}

/** The store class for @fastify/rate-limit's `store` option. */
export function failOpenRedisStore(opts: FailOpenStoreOptions): FastifyRateLimitStoreCtor {
  opts.redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: COUNT_SCRIPT });
  const command = (opts.redis as unknown as Record<string, (key: string, windowMs: number) => Promise<[number, number]>>)[COMMAND];
  const shared: Shared = {
    opts,
    count: (key, windowMs) => command.call(opts.redis, key, windowMs),
    pausedUntil: 0,
    warnedAt: Number.NEGATIVE_INFINITY,
  };
  return class extends FailOpenStore {
    constructor() {
      super(opts.nameSpace, shared);
    }
  };
}
