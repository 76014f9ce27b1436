// Retry delay between attempts: exponential from a base, capped, with jitter taken off the top
// (same shape as BullMQ's built-in 'exponential': base * 2^(attempt-1), then a random cut of up to `jitter`).

export interface BackoffConfig {
  /** Delay after the first failed attempt, before jitter. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** 0..1: the delay is drawn uniformly from [full * (1 - jitter), full]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 2_000, maxMs: 5 * 60_000, jitter: 0.5 };

/** Highest delay for the retry after attempt `attempt` (1-based), before jitter. */
export function backoffCeiling(attempt: number, config: BackoffConfig): number {
  const exponent = Math.max(0, attempt - 1);
  // Past 2^40 the cap has long won; avoids Infinity arithmetic.
  const full = exponent > 40 ? config.maxMs : config.baseMs * 2 ** exponent;
  return Math.min(config.maxMs, full);
}

/** Delay in ms before the retry that follows attempt `attempt`. */
export function backoffDelay(attempt: number, config: BackoffConfig, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(attempt, config);
  const jitter = Math.min(1, Math.max(0, config.jitter));
  return Math.round(ceiling * (1 - jitter * random()));
}

export function validateBackoff(config: BackoffConfig): BackoffConfig {
  const ok = Number.isFinite(config.baseMs) && config.baseMs >= 0 && Number.isFinite(config.maxMs) && config.maxMs >= config.baseMs
    && Number.isFinite(config.jitter) && config.jitter >= 0 && config.jitter <= 1;
  if (!ok) throw new RangeError(`invalid backoff ${JSON.stringify(config)}`);
  return config;
}
