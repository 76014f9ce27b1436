import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { LocalFileStore } from '../storage/local.ts';
import { SessionRegistry } from './sessions.ts';

const DAY = 24 * 3600_000;

async function ageKey(root: string, key: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  await utimes(join(root, key), when, when);
}

test('prune forgets expired sessions and their revocation marks, and they stay refused', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'beatsync-sessions-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const files = new LocalFileStore(root);
  const registry = new SessionRegistry({ files, ttlMs: 30 * DAY });
  await registry.created('fresh');
  await registry.created('stale');
  await registry.created('stale-revoked');
  await registry.revoke('stale-revoked');
  await registry.created('fresh-revoked');
  await registry.revoke('fresh-revoked');
  await registry.prune(); // writes the epoch
  // Lifetimes began 40 days ago; two sessions were last used 31 days ago.
  await ageKey(root, 'sessions/epoch', 40 * DAY);
  await ageKey(root, 'sessions/stale', 31 * DAY);
  await ageKey(root, 'sessions/stale-revoked', 31 * DAY);

  const later = new SessionRegistry({ files, ttlMs: 30 * DAY });
  assert.equal(await later.prune(), 2);
  const keys: string[] = [];
  for await (const o of files.list('sessions')) keys.push(o.key);
  assert.deepEqual(keys.sort(), ['sessions-revoked/fresh-revoked', 'sessions/epoch', 'sessions/fresh', 'sessions/fresh-revoked']);

  const fresh = new SessionRegistry({ files, ttlMs: 30 * DAY });
  assert.equal(await fresh.use('fresh'), 'ok');
  assert.equal(await fresh.use('fresh-revoked'), 'revoked');
  // Records gone, yet not a pre-lifetime token starting afresh: expired.
  assert.equal(await fresh.use('stale'), 'expired');
  assert.equal(await fresh.use('stale-revoked'), 'expired');
});

test('a token from before lifetimes began starts its lifetime at first use, within one lifetime of the epoch', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'beatsync-sessions-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const files = new LocalFileStore(root);
  const registry = new SessionRegistry({ files, ttlMs: 30 * DAY });
  assert.equal(await registry.use('old-token'), 'ok');
  assert.ok(await files.stat('sessions/old-token'));
  await files.put('sessions/epoch', Readable.from([Buffer.alloc(0)]));
  await ageKey(root, 'sessions/epoch', 31 * DAY);
  assert.equal(await new SessionRegistry({ files, ttlMs: 30 * DAY }).use('another-old-token'), 'expired');
});
