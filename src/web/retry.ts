// Which failed answers the page sends again by itself, and when: a busy gateway or the rate limiter goes
// away on its own, so waiting and retrying helps; a full queue of one's own (TOO_MANY_JOBS) only empties
// when a job finishes, so the user must hear it at once instead of watching "Submitting…" for minutes.

/** 1 s, 2 s, 4 s … capped at 30 s, with ±20 % jitter so many phones do not retry in step. */
export function backoffMs(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Milliseconds to wait before sending the same request again, or null when the answer is final.
 * `code` is the answer's error code (null when its body was not ours, e.g. a proxy's 429 page).
 */
export function retryDelayMs(status: number, code: string | null, retryAfter: string | null, attempt: number): number | null {
  const gateway = status === 502 || status === 503 || status === 504;
  const rateLimited = status === 429 && (code === null || code === 'RATE_LIMITED');
  if (!gateway && !rateLimited) return null;
  const after = Number(retryAfter);
  return after > 0 ? Math.min(after * 1000, 30_000) : backoffMs(attempt);
}
