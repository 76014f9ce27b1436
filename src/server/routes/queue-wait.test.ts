import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateQueueWait } from './jobs.ts';

test('queue wait: the jobs ahead plus half of each running one, shared by the busy workers', () => {
  // Nothing running: every job ahead takes a whole mean run.
  assert.equal(estimateQueueWait(1, 0, 30), 0);
  assert.equal(estimateQueueWait(3, 0, 30), 60);
  // Two workers busy: the first in line waits about half a run, the fifth about two and a half.
  assert.equal(estimateQueueWait(1, 2, 30), 15);
  assert.equal(estimateQueueWait(5, 2, 30), 75);
});
