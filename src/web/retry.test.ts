import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from './retry.ts';

test('the rate limiter and busy gateways are waited out, honouring Retry-After (capped at 30 s)', () => {
  assert.equal(retryDelayMs(429, 'RATE_LIMITED', '7', 0), 7000);
  assert.equal(retryDelayMs(429, null, '2', 3), 2000, "a proxy's 429 without our body");
  assert.equal(retryDelayMs(503, null, '300', 0), 30_000);
  const backoff = retryDelayMs(502, null, null, 1)!;
  assert.ok(backoff >= 1600 && backoff <= 2400, `backoff ${backoff}`);
});

test('a full queue of your own, and every other refusal, is final', () => {
  assert.equal(retryDelayMs(429, 'TOO_MANY_JOBS', '60', 0), null);
  assert.equal(retryDelayMs(400, 'BAD_REQUEST', null, 0), null);
  assert.equal(retryDelayMs(404, 'NOT_FOUND', null, 0), null);
  assert.equal(retryDelayMs(500, 'PROCESSING_FAILED', null, 0), null);
});
